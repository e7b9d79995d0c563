/**
 * The "Submit to MLTF" dialog: filled from POST preview + GET config, validated on the client and by the
 * server (field errors next to the field), remembers the last choices per directory.
 */
import { Dialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import {
  api,
  formatBytes,
  formatMem,
  getConfig,
  IConfig,
  IEntryPoint,
  IJob,
  IParameter,
  IPartition,
  IPreview,
  IResources,
  ISubmitRequest,
  MLTFApiError,
  parseMem,
  parseSlurmTime
} from './api';
import { IChoices, loadChoices, saveChoices } from './choices';
import { el } from './dom';

export interface ISubmitTarget {
  /** Project directory, relative to the server root ('' is the root). */
  path: string;
  /** The notebook the submission came from, relative to the server root. */
  notebook?: string | null;
  /** Values to start from (re-submit with changes); they win over the remembered ones. */
  prefill?: IChoices;
}

type ResourceField = 'partition' | 'gpus' | 'gpu_type' | 'time' | 'mem' | 'cpus';
const MAX_FILES_LISTED = 200;

function paramField(name: string): string {
  return `param:${name}`;
}

function defaultString(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  return String(value);
}

/**
 * Which form field a server message is about: "parameter 'lr' must be float", "time 99:00:00 is over the
 * limit", "gpus=3 is more than ...", "partition 'x' does not exist", "unknown parameter(s) 'x'".
 */
export function fieldOfMessage(message: string, paramNames: string[]): string | null {
  const param =
    /parameter(?:\(s\))?\s+'([^']+)'/.exec(message) ||
    /parameter(?:\(s\))?\s+"([^"]+)"/.exec(message);
  if (param && paramNames.includes(param[1])) {
    return paramField(param[1]);
  }
  for (const name of paramNames) {
    if (message.startsWith(`${name} `) || message.startsWith(`${name}=`)) {
      return paramField(name);
    }
  }
  const lead = /^(gpu_type|gpus|partition|time|mem|cpus|nodes|entry point|name|experiment)\b/.exec(
    message
  );
  if (lead) {
    return lead[1] === 'entry point' ? 'entry_point' : lead[1];
  }
  const anywhere = /\b(gpu_type|gpus|partition|time|mem|cpus)\b/.exec(message);
  if (anywhere) {
    return anywhere[1];
  }
  if (/entry point/.test(message)) {
    return 'entry_point';
  }
  return null;
}

/**
 * The dialog's body: all fields, hints and the project's file summary.
 */
export class SubmitForm extends Widget {
  constructor(readonly target: ISubmitTarget) {
    super();
    this.addClass('mltf-submit-form');
    this.node.dataset.path = target.path;
    this._status = el('div', { class: 'mltf-form-status' }, 'Reading the project…');
    this._content = el('div', { class: 'mltf-form-content' });
    this._formError = el('div', { class: 'mltf-form-error', role: 'alert' });
    this.node.append(this._status, this._content, this._formError);
    this.ready = this._load();
  }

  /** Resolves true once the preview is shown and can be submitted (false: the reason is shown). */
  readonly ready: Promise<boolean>;

  get job(): IJob | null {
    return this._job;
  }

  getValue(): IJob | null {
    return this._job;
  }

  get preview(): IPreview | null {
    return this._preview;
  }

  private async _load(): Promise<boolean> {
    try {
      const [config, preview] = await Promise.all([
        getConfig(),
        api.preview(this._apiPath, this._apiNotebook)
      ]);
      this._config = config;
      this._preview = preview;
    } catch (error) {
      this._status.textContent = '';
      this._formError.textContent =
        error instanceof MLTFApiError ? error.message : `Cannot read the project: ${String(error)}`;
      this.node.classList.add('mltf-mod-failed');
      return false;
    }
    this._status.textContent = '';
    if (!this._preview.project) {
      this._formError.textContent =
        this._preview.project_error || 'This directory cannot be submitted as it is.';
      this.node.classList.add('mltf-mod-failed');
      this._content.append(this._renderFiles(this._preview));
      return false;
    }
    this._render();
    // over the size limit: the server would refuse it; the banner says what to do, Submit stays off
    return !this._overLimit;
  }

  /** The request's `path`: relative to the server root, '.' for the root itself. */
  private get _apiPath(): string {
    return this.target.path.replace(/^\/+|\/+$/g, '') || '.';
  }

  /** The request's `notebook`: the notebook's name inside the project directory. */
  private get _apiNotebook(): string | null {
    const nb = this.target.notebook;
    if (!nb) {
      return null;
    }
    const dir = this.target.path.replace(/^\/+|\/+$/g, '');
    if (!dir) {
      return nb.includes('/') ? null : nb;
    }
    return nb.startsWith(`${dir}/`) ? nb.slice(dir.length + 1) : null;
  }

  /** Merge: config defaults < project's gateway_config.json < remembered < prefill (re-submit). */
  private _initialChoices(): IChoices {
    const remembered = loadChoices(this.target.path) || {};
    const prefill = this.target.prefill || {};
    const clean = (r: IResources | undefined): IResources => {
      const out: IResources = {};
      for (const [k, v] of Object.entries(r || {})) {
        if (v !== null && v !== undefined && v !== '') {
          (out as any)[k] = v;
        }
      }
      return out;
    };
    return {
      entry_point: prefill.entry_point || remembered.entry_point,
      name: prefill.name ?? remembered.name,
      experiment: prefill.experiment ?? remembered.experiment,
      params: { ...(remembered.params || {}), ...(prefill.params || {}) },
      resources: {
        ...clean(this._config!.defaults?.resources),
        ...clean(this._preview!.resources),
        ...clean(remembered.resources),
        ...clean(prefill.resources)
      }
    };
  }

  private _render(): void {
    const preview = this._preview!;
    const proj = preview.project!;
    const config = this._config!;
    const initial = this._initialChoices();
    this._initial = initial;
    const c = this._content;
    c.textContent = '';

    // -- project
    const project = el('section', { class: 'mltf-section mltf-project' });
    const nameLine = el(
      'div',
      { class: 'mltf-project-line' },
      el('span', { class: 'mltf-label' }, 'Project'),
      el('span', { class: 'mltf-project-name' }, proj.name),
      el(
        'span',
        { class: 'mltf-project-path' },
        `/${preview.path || this.target.path}`.replace(/\/+$/, '') || '/'
      )
    );
    if (proj.generated) {
      nameLine.append(
        el('span', { class: 'mltf-badge mltf-badge-generated' }, 'MLproject generated')
      );
    }
    project.append(nameLine);
    const entrySelect = el('select', {
      name: 'entry_point',
      class: 'mltf-select'
    }) as HTMLSelectElement;
    for (const ep of proj.entry_points) {
      entrySelect.append(el('option', { value: ep.name }, ep.name));
    }
    const eps = proj.entry_points.map(e => e.name);
    entrySelect.value =
      initial.entry_point && eps.includes(initial.entry_point)
        ? initial.entry_point
        : eps.includes('main')
          ? 'main'
          : eps[0] || '';
    entrySelect.addEventListener('change', () => this._renderParams(true));
    project.append(
      this._field('entry_point', 'Entry point', entrySelect, ''),
      this._field(
        'name',
        'Run name',
        this._input('name', initial.name || '', proj.name),
        'Name of the Slurm job and the MLflow run.'
      ),
      this._field(
        'experiment',
        'MLflow experiment',
        this._input('experiment', initial.experiment || '', 'Default'),
        ''
      )
    );
    this._command = el('code', { class: 'mltf-command' });
    project.append(this._command);
    c.append(project);

    // -- parameters
    this._params = el('section', { class: 'mltf-section mltf-params' });
    c.append(this._params);
    this._renderParams(false);

    // -- resources
    const res = el('section', { class: 'mltf-section mltf-resources' }, el('h3', {}, 'Resources'));
    const grid = el('div', { class: 'mltf-grid' });
    const r = initial.resources || {};
    const partSelect = el('select', {
      name: 'partition',
      class: 'mltf-select'
    }) as HTMLSelectElement;
    for (const p of config.partitions) {
      const gpuNote = p.gpus_per_node
        ? `${p.gpus_per_node} GPU${p.gpus_per_node === 1 ? '' : 's'}`
        : 'CPU';
      const down = p.state && p.state !== 'up' ? ` · ${p.state}` : '';
      partSelect.append(
        el(
          'option',
          { value: p.name },
          `${p.name}${p.default ? ' (default)' : ''} · ${gpuNote}${down}`
        )
      );
    }
    const defaultPart =
      config.partitions.find(p => p.name === r.partition) ||
      ((r.gpus || 0) > 0
        ? config.partitions.find(p => p.default && p.gpus_per_node) ||
          config.partitions.find(p => p.gpus_per_node)
        : undefined) ||
      config.partitions.find(p => p.default) ||
      config.partitions[0];
    if (defaultPart) {
      partSelect.value = defaultPart.name;
    }
    const gpus = this._input('gpus', String(r.gpus ?? 0), '0', 'number');
    const gpuType = el('select', { name: 'gpu_type', class: 'mltf-select' }) as HTMLSelectElement;
    this._pendingGpuType = r.gpu_type || '';
    grid.append(
      this._field('partition', 'Partition', partSelect, ''),
      this._field('gpus', 'GPUs', gpus, ''),
      this._field('gpu_type', 'GPU type', gpuType, ''),
      this._field('time', 'Time limit', this._input('time', r.time || '', 'HH:MM:SS'), ''),
      this._field('mem', 'Memory', this._input('mem', r.mem || '', 'e.g. 16G'), ''),
      this._field(
        'cpus',
        'CPUs',
        this._input('cpus', r.cpus ? String(r.cpus) : '', 'default', 'number'),
        ''
      )
    );
    partSelect.addEventListener('change', () => this._updateLimits());
    gpus.addEventListener('input', () => this._updateLimits());
    res.append(grid);
    if (config.capabilities?.notes?.length) {
      res.append(el('div', { class: 'mltf-notes' }, config.capabilities.notes.join(' ')));
    }
    c.append(res);
    this._updateLimits();

    // -- files
    c.append(this._renderFiles(preview));

    // -- generated MLproject
    if (proj.generated && proj.mlproject) {
      const details = el(
        'details',
        { class: 'mltf-section mltf-mlproject', open: '' },
        el(
          'summary',
          {},
          'No MLproject in this directory: this one will be used (and written to the job copy)'
        ),
        el('pre', { class: 'mltf-mlproject-text' }, proj.mlproject)
      );
      c.append(details);
    }

    // -- warnings and notes
    const notes = [...(config.warnings || []), ...(preview.warnings || []), ...(proj.notes || [])];
    if (notes.length) {
      const ul = el('ul', { class: 'mltf-section mltf-warnings' });
      for (const n of notes) {
        ul.append(el('li', {}, n));
      }
      c.append(ul);
    }
  }

  private _entryPoint(): IEntryPoint | undefined {
    const name = this._value('entry_point');
    return this._preview!.project!.entry_points.find(e => e.name === name);
  }

  private _renderParams(keepTyped: boolean): void {
    const typed: { [k: string]: string } = {};
    if (keepTyped) {
      for (const input of Array.from(
        this._params.querySelectorAll<HTMLInputElement>('[data-param]')
      )) {
        typed[input.dataset.param!] = input.value;
      }
    }
    this._params.textContent = '';
    this._params.append(el('h3', {}, 'Parameters'));
    const ep = this._entryPoint();
    this._command.textContent = ep ? ep.command : '';
    if (!ep || ep.parameters.length === 0) {
      this._params.append(
        el('div', { class: 'mltf-empty' }, 'This entry point takes no parameters.')
      );
      return;
    }
    const grid = el('div', { class: 'mltf-grid' });
    const remembered = this._initial.params || {};
    for (const p of ep.parameters) {
      const value = typed[p.name] ?? remembered[p.name] ?? defaultString(p.default);
      let input: HTMLInputElement | HTMLSelectElement;
      if (p.type === 'bool') {
        input = el('select', { class: 'mltf-select' }) as HTMLSelectElement;
        for (const v of ['true', 'false']) {
          input.append(el('option', { value: v }, v));
        }
        input.value = ['1', 'true', 'yes', 'on'].includes(value.toLowerCase()) ? 'true' : 'false';
      } else {
        input = this._input(paramField(p.name), value, p.required ? 'required' : '');
        if (p.type === 'float' || p.type === 'int' || p.type === 'integer') {
          input.setAttribute('inputmode', p.type === 'float' ? 'decimal' : 'numeric');
        }
      }
      input.setAttribute('name', paramField(p.name));
      input.dataset.param = p.name;
      input.dataset.type = p.type;
      const hint =
        p.default !== null && p.default !== undefined
          ? `default ${defaultString(p.default)}`
          : 'required';
      grid.append(this._field(paramField(p.name), `${p.name}`, input, `${p.type} · ${hint}`));
    }
    this._params.append(grid);
  }

  private _renderFiles(preview: IPreview): HTMLElement {
    const f = preview.files;
    const sec = el('section', { class: 'mltf-section mltf-files' }, el('h3', {}, 'Files'));
    sec.append(
      el(
        'div',
        { class: 'mltf-files-summary' },
        `${f.count} file${f.count === 1 ? '' : 's'}, ${formatBytes(f.total_bytes)}` +
          (f.excluded?.length ? ` · ${f.excluded.length} excluded` : '')
      )
    );
    if (f.over_limit) {
      sec.append(
        el(
          'div',
          { class: 'mltf-size-warning mltf-mod-error' },
          `The project is ${formatBytes(f.total_bytes)}, over the limit of ${formatBytes(f.limit_bytes)}: ` +
            'exclude large files with a .mltfignore file (or .gitignore) before submitting.'
        )
      );
      this._overLimit = true;
    } else if (f.warn) {
      sec.append(
        el(
          'div',
          { class: 'mltf-size-warning' },
          `The project is ${formatBytes(f.total_bytes)}, more than ${formatBytes(f.warn_bytes)}: ` +
            'every submission copies it. Exclude data and checkpoints with .mltfignore if you can.'
        )
      );
    }
    const list = el(
      'details',
      { class: 'mltf-file-list' },
      el('summary', {}, 'Files that will be sent')
    );
    const ul = el('ul', {});
    for (const file of (f.files || []).slice(0, MAX_FILES_LISTED)) {
      ul.append(
        el(
          'li',
          { class: 'mltf-file' },
          el('span', {}, file.path),
          el('span', { class: 'mltf-size' }, formatBytes(file.size))
        )
      );
    }
    if ((f.files || []).length > MAX_FILES_LISTED) {
      ul.append(
        el('li', { class: 'mltf-more' }, `… and ${f.files.length - MAX_FILES_LISTED} more`)
      );
    }
    list.append(ul);
    sec.append(list);
    if (f.excluded?.length) {
      const ex = el(
        'details',
        { class: 'mltf-excluded-list' },
        el('summary', {}, `Excluded (${f.excluded.length})`)
      );
      const exul = el('ul', {});
      for (const e of f.excluded.slice(0, MAX_FILES_LISTED)) {
        exul.append(
          el(
            'li',
            { class: 'mltf-excluded' },
            el('span', {}, e.path),
            el('span', { class: 'mltf-reason' }, e.reason)
          )
        );
      }
      ex.append(exul);
      sec.append(ex);
    }
    return sec;
  }

  private _partition(): IPartition | undefined {
    const name = this._value('partition');
    return this._config!.partitions.find(p => p.name === name);
  }

  /** Show the chosen partition's limits next to the fields and offer its GPU types. */
  private _updateLimits(): void {
    const p = this._partition();
    const gpuType = this.node.querySelector<HTMLSelectElement>('select[name="gpu_type"]')!;
    const current = gpuType.value || this._pendingGpuType;
    gpuType.textContent = '';
    gpuType.append(el('option', { value: '' }, 'any'));
    for (const t of p?.gpu_types || []) {
      gpuType.append(el('option', { value: t }, t));
    }
    if (current && !(p?.gpu_types || []).includes(current)) {
      gpuType.append(el('option', { value: current }, current));
    }
    gpuType.value = current;
    this._pendingGpuType = '';
    gpuType.disabled = !p || !p.gpus_per_node;
    const partHint: string[] = [];
    if (p) {
      partHint.push(
        p.gpus_per_node
          ? `${p.gpus_per_node} GPUs/node${p.gpu_types.length ? ` (${p.gpu_types.join(', ')})` : ''}`
          : 'no GPUs'
      );
      if (p.cpus_per_node) {
        partHint.push(`${p.cpus_per_node} CPUs`);
      }
      partHint.push(`${p.nodes} node${p.nodes === 1 ? '' : 's'}`);
    }
    this._hint('partition', partHint.join(' · '));
    this._hint(
      'gpus',
      p ? (p.gpus_per_node ? `0 to ${p.gpus_per_node} per node` : 'this partition has no GPUs') : ''
    );
    this._hint(
      'time',
      p
        ? [p.max_time ? `max ${p.max_time}` : '', p.default_time ? `default ${p.default_time}` : '']
            .filter(Boolean)
            .join(' · ')
        : ''
    );
    this._hint('mem', p && p.mem_per_node_mb ? `max ${formatMem(p.mem_per_node_mb)} per node` : '');
    this._hint('cpus', p && p.cpus_per_node ? `max ${p.cpus_per_node} per node` : '');
    // no min/max attributes: an :invalid input silently disables the Dialog's Submit button; our own
    // check explains the limit next to the field instead
  }

  // ------------------------------------------------------------------------------------------
  // values, validation, errors

  private _value(name: string): string {
    const node = this.node.querySelector<HTMLInputElement | HTMLSelectElement>(
      `[name="${CSS.escape(name)}"]`
    );
    return node ? node.value.trim() : '';
  }

  /** Client-side checks (the server checks again); returns field -> message. */
  validate(): { [field: string]: string } {
    const errors: { [field: string]: string } = {};
    const ep = this._entryPoint();
    if (!ep) {
      errors.entry_point = 'choose an entry point';
    }
    for (const p of ep?.parameters || []) {
      const v = this._value(paramField(p.name));
      const f = paramField(p.name);
      if (v === '') {
        if (p.required) {
          errors[f] = `parameter '${p.name}' is required`;
        }
        continue;
      }
      if (p.type === 'float' && !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v)) {
        errors[f] = `parameter '${p.name}' must be float, not '${v}'`;
      } else if ((p.type === 'int' || p.type === 'integer') && !/^[-+]?\d+$/.test(v)) {
        errors[f] = `parameter '${p.name}' must be int, not '${v}'`;
      }
    }
    const part = this._partition();
    const gpusText = this._value('gpus');
    const gpus = gpusText === '' ? 0 : Number(gpusText);
    if (!/^\d*$/.test(gpusText) || !Number.isInteger(gpus)) {
      errors.gpus = `gpus must be a whole number, not '${gpusText}'`;
    } else if (part && gpus > 0 && !part.gpus_per_node) {
      const withGpus = this._config!.partitions.filter(p => p.gpus_per_node).map(p => p.name);
      errors.gpus = `partition '${part.name}' has no GPUs${withGpus.length ? `: use partition ${withGpus.join(' or ')}` : ''}`;
    } else if (part && gpus > part.gpus_per_node) {
      errors.gpus = `gpus=${gpus} is more than the ${part.gpus_per_node} GPUs per node of partition '${part.name}'`;
    }
    const time = this._value('time');
    if (time) {
      const secs = parseSlurmTime(time);
      if (secs === null || secs <= 0) {
        errors.time = `time '${time}' is not a time limit: use HH:MM:SS (01:30:00), D-HH:MM:SS or 90m`;
      } else if (part?.max_time) {
        const max = parseSlurmTime(part.max_time);
        if (max !== null && secs > max) {
          errors.time = `time ${time} is over the limit of partition '${part.name}': at most ${part.max_time}`;
        }
      }
    }
    const mem = this._value('mem');
    if (mem) {
      const mb = parseMem(mem);
      if (mb === null || mb < 1) {
        errors.mem = `mem '${mem}' is not a memory size: use a number with a unit, like 16G or 500M`;
      } else if (part?.mem_per_node_mb && mb > part.mem_per_node_mb) {
        errors.mem = `mem=${mem} is more than the ${formatMem(part.mem_per_node_mb)} per node of partition '${part.name}'`;
      }
    }
    const cpus = this._value('cpus');
    if (cpus && !/^\d+$/.test(cpus)) {
      errors.cpus = `cpus must be a whole number, not '${cpus}'`;
    } else if (cpus && part?.cpus_per_node && Number(cpus) > part.cpus_per_node) {
      errors.cpus = `cpus=${cpus} is more than the ${part.cpus_per_node} CPUs per node of partition '${part.name}'`;
    }
    if (this._overLimit) {
      errors[''] = 'the project is over the size limit';
    }
    return errors;
  }

  request(): ISubmitRequest {
    const ep = this._entryPoint();
    const params: { [k: string]: string } = {};
    for (const p of ep?.parameters || []) {
      const v = this._value(paramField(p.name));
      if (v !== '') {
        params[p.name] = v;
      }
    }
    const resources: IResources = {};
    const gpus = this._value('gpus');
    resources.gpus = gpus === '' ? 0 : Number(gpus);
    for (const k of ['partition', 'gpu_type', 'time', 'mem'] as ResourceField[]) {
      const v = this._value(k);
      if (v) {
        (resources as any)[k] = v;
      }
    }
    const cpus = this._value('cpus');
    if (cpus) {
      resources.cpus = Number(cpus);
    }
    if (!resources.gpus) {
      delete resources.gpu_type;
    }
    const req: ISubmitRequest = {
      path: this._apiPath,
      entry_point: ep?.name,
      params,
      resources
    };
    const notebook = this._apiNotebook;
    if (notebook) {
      req.notebook = notebook;
    }
    const name = this._value('name');
    if (name) {
      req.name = name;
    }
    const experiment = this._value('experiment');
    if (experiment) {
      req.experiment = experiment;
    }
    return req;
  }

  clearErrors(): void {
    for (const node of Array.from(this.node.querySelectorAll('.mltf-field-error'))) {
      node.textContent = '';
    }
    for (const node of Array.from(this.node.querySelectorAll('.mltf-field.mltf-mod-invalid'))) {
      node.classList.remove('mltf-mod-invalid');
    }
    this._formError.textContent = '';
  }

  /** Show each message next to its field; messages about no known field go above the buttons. */
  showErrors(errors: { [field: string]: string }): void {
    this.clearErrors();
    let first: HTMLElement | null = null;
    const general: string[] = [];
    for (const [field, message] of Object.entries(errors)) {
      const box = field
        ? this.node.querySelector<HTMLElement>(`.mltf-field[data-field="${CSS.escape(field)}"]`)
        : null;
      if (!box) {
        general.push(message);
        continue;
      }
      box.classList.add('mltf-mod-invalid');
      box.querySelector('.mltf-field-error')!.textContent = message;
      first = first || box;
    }
    this._formError.textContent = general.join('\n');
    const focus = first?.querySelector<HTMLElement>('input, select');
    if (focus) {
      focus.focus();
      first!.scrollIntoView({ block: 'nearest' });
    } else if (general.length) {
      this._formError.scrollIntoView({ block: 'nearest' });
    }
  }

  /** Validate, then POST jobs. Resolves with the job, or null when errors are shown. */
  async submit(): Promise<IJob | null> {
    if (!this._preview || !this._config) {
      return null;
    }
    const errors = this.validate();
    if (Object.keys(errors).length) {
      this.showErrors(errors);
      return null;
    }
    this.clearErrors();
    const req = this.request();
    req.idempotency_key = this._idempotencyKey;
    this._status.textContent = 'Submitting…';
    try {
      const job = await api.submit(req);
      this._job = job;
      saveChoices(this.target.path, {
        entry_point: req.entry_point,
        params: req.params,
        resources: req.resources,
        name: req.name,
        experiment: req.experiment
      });
      return job;
    } catch (error) {
      if (error instanceof MLTFApiError && error.isInputError && error.status !== 409) {
        const names = (this._entryPoint()?.parameters || []).map((p: IParameter) => p.name);
        const field = fieldOfMessage(error.message, names);
        this.showErrors({ [field || '']: error.message });
        // the server refused it: nothing was submitted, a retry may reuse the key
      } else {
        this.showErrors({ '': error instanceof Error ? error.message : String(error) });
        // the server may have taken it (timeout, 5xx): keep the key so a retry cannot submit twice
      }
      return null;
    } finally {
      this._status.textContent = '';
    }
  }

  // ------------------------------------------------------------------------------------------
  // DOM helpers

  private _input(
    name: string,
    value: string,
    placeholder: string,
    type = 'text'
  ): HTMLInputElement {
    const input = el('input', {
      class: 'jp-mod-styled',
      type,
      name,
      placeholder,
      autocomplete: 'off',
      spellcheck: 'false'
    }) as HTMLInputElement;
    if (type === 'number') {
      // 'any': a step mismatch (1.5) would make the input :invalid, which silently disables the Dialog's
      // Submit button; our own check explains the problem next to the field instead
      input.setAttribute('step', 'any');
    }
    input.value = value;
    return input;
  }

  private _field(field: string, label: string, input: HTMLElement, hint: string): HTMLElement {
    const id = `mltf-${Private.nextId()}`;
    input.id = id;
    const box = el(
      'div',
      { class: 'mltf-field', 'data-field': field },
      el('label', { for: id }, label),
      input,
      el('div', { class: 'mltf-hint' }, hint),
      el('div', { class: 'mltf-field-error', 'aria-live': 'polite' })
    );
    input.addEventListener('input', () => {
      box.classList.remove('mltf-mod-invalid');
      box.querySelector('.mltf-field-error')!.textContent = '';
    });
    return box;
  }

  private _hint(field: string, text: string): void {
    const node = this.node.querySelector(`.mltf-field[data-field="${field}"] .mltf-hint`);
    if (node) {
      node.textContent = text;
    }
  }

  private _config: IConfig | null = null;
  private _preview: IPreview | null = null;
  private _job: IJob | null = null;
  private _initial: IChoices = {};
  private _status: HTMLElement;
  private _content: HTMLElement;
  private _formError: HTMLElement;
  private _params!: HTMLElement;
  private _command!: HTMLElement;
  private _pendingGpuType = '';
  private _overLimit = false;
  private _idempotencyKey = Private.uuid();
}

/**
 * A Dialog whose Submit button only closes it once the server accepted the job.
 */
class SubmitDialog extends Dialog<IJob | null> {
  constructor(private _form: SubmitForm) {
    super({
      title: 'Submit to MLTF',
      body: _form,
      buttons: [
        Dialog.cancelButton({ label: 'Cancel' }),
        Dialog.okButton({ label: 'Submit', className: 'mltf-submit-accept' })
      ],
      defaultButton: 1,
      focusNodeSelector: 'select[name="entry_point"]',
      hasClose: true
    });
    this.addClass('mltf-submit-dialog');
    this._accept().disabled = true;
    void _form.ready.then(ok => {
      this._accept().disabled = !ok;
    });
  }

  private _accept(): HTMLButtonElement {
    return this.node.querySelector('.jp-Dialog-footer .jp-mod-accept') as HTMLButtonElement;
  }

  resolve(index?: number): void {
    const idx = index === undefined ? 1 : index;
    if (idx !== 1) {
      super.resolve(idx);
      return;
    }
    if (this._busy || this._accept().disabled) {
      return;
    }
    this._busy = true;
    this._accept().disabled = true;
    void this._form
      .submit()
      .then(job => {
        if (job) {
          super.resolve(1);
        }
      })
      .finally(() => {
        this._busy = false;
        if (!this.isDisposed) {
          this._accept().disabled = false;
        }
      });
  }

  private _busy = false;
}

/** Open the dialog; resolves with the submitted job, or null when the user cancelled. */
export async function showSubmitDialog(target: ISubmitTarget): Promise<IJob | null> {
  const form = new SubmitForm(target);
  const dialog = new SubmitDialog(form);
  const result = await dialog.launch();
  dialog.dispose();
  return result.button.accept ? form.job : null;
}

namespace Private {
  let counter = 0;
  export function nextId(): number {
    return counter++;
  }
  export function uuid(): string {
    if (typeof crypto !== 'undefined' && 'randomUUID' in crypto) {
      return (crypto as any).randomUUID();
    }
    return `${Date.now().toString(16)}-${Math.random().toString(16).slice(2)}`;
  }
}
