/**
 * The dialog's resource fields (partition, GPUs, GPU type, time, memory, CPUs) with the chosen partition's
 * limits shown as hints. The limits are only shown here: the server checks them (POST check / jobs).
 */
import { initialPartition, partitionHints, partitionLabel } from '../format';
import { IConfig, IPartition, IResources } from '../model';
import { el } from './dom';
import { makeField, makeInput, makeSelect, readValue, setHint } from './fields';

export class ResourceFields {
  constructor(
    private readonly _config: IConfig,
    initial: IResources
  ) {
    const partitions = _config.partitions;
    this.partition = makeSelect(
      'partition',
      partitions.map(p => [p.name, partitionLabel(p)])
    );
    const start = initialPartition(partitions, initial);
    if (start) {
      this.partition.value = start.name;
    }
    const gpus = makeInput('gpus', String(initial.gpus ?? 0), '0', 'number');
    this.gpuType = makeSelect('gpu_type');
    this._pendingGpuType = initial.gpu_type || '';
    const cpus = makeInput('cpus', initial.cpus ? String(initial.cpus) : '', 'default', 'number');
    const grid = el(
      'div',
      { class: 'mltf-grid' },
      makeField('partition', 'Partition', this.partition, ''),
      makeField('gpus', 'GPUs', gpus, ''),
      makeField('gpu_type', 'GPU type', this.gpuType, ''),
      makeField('time', 'Time limit', makeInput('time', initial.time || '', 'HH:MM:SS'), ''),
      makeField('mem', 'Memory', makeInput('mem', initial.mem || '', 'e.g. 16G'), ''),
      makeField('cpus', 'CPUs', cpus, '')
    );
    this.node = el(
      'section',
      { class: 'mltf-section mltf-resources' },
      el('h3', {}, 'Resources'),
      grid
    );
    const notes = _config.capabilities?.notes;
    if (notes?.length) {
      this.node.append(el('div', { class: 'mltf-notes' }, notes.join(' ')));
    }
    this.partition.addEventListener('change', () => this.update());
    gpus.addEventListener('input', () => this.update());
    this.update();
  }

  readonly node: HTMLElement;
  readonly partition: HTMLSelectElement;
  readonly gpuType: HTMLSelectElement;

  /** The partition chosen now. */
  chosen(): IPartition | undefined {
    const name = readValue(this.node, 'partition');
    return this._config.partitions.find(p => p.name === name);
  }

  /** Show the chosen partition's limits next to the fields and offer its GPU types. */
  update(): void {
    const p = this.chosen();
    const types = p?.gpu_types || [];
    const current = this.gpuType.value || this._pendingGpuType;
    this.gpuType.textContent = '';
    this.gpuType.append(el('option', { value: '' }, 'any'));
    for (const t of types) {
      this.gpuType.append(el('option', { value: t }, t));
    }
    if (current && !types.includes(current)) {
      // a remembered type this partition does not offer: keep it visible, the server says why it fails
      this.gpuType.append(el('option', { value: current }, current));
    }
    this.gpuType.value = current;
    this._pendingGpuType = '';
    this.gpuType.disabled = !p || !p.gpus_per_node;
    const hints = partitionHints(p);
    for (const field of ['partition', 'gpus', 'time', 'mem', 'cpus'] as const) {
      setHint(this.node, field, hints[field]);
    }
    // no min/max attributes: an :invalid input silently disables the Dialog's Submit button; the
    // server's check explains a limit next to the field instead
  }

  private _pendingGpuType = '';
}
