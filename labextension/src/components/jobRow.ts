/**
 * One row of the "MLTF Jobs" panel; updated in place on every poll so that clicks and focus survive.
 */
import { formatDuration, gpuText, jobReason, metricsText, stateClass, when } from '../format';
import { ACTIVE_STATES, IJob } from '../model';
import { el } from './dom';

/** What a row's buttons do (the panel owns the cancel dialog, the plugin the rest). */
export interface IRowActions {
  openLog(job: IJob): void;
  resubmit(job: IJob): void;
  cancel(job: IJob): void;
}

function button(label: string, cls: string, title: string, onClick: () => void): HTMLButtonElement {
  const b = el('button', { class: cls, title, type: 'button' }, label) as HTMLButtonElement;
  b.addEventListener('click', ev => {
    ev.stopPropagation();
    onClick();
  });
  return b;
}

export class JobRow {
  constructor(job: IJob, actions: IRowActions) {
    this.node = el('li', { class: 'mltf-job-row', 'data-job-id': job.id });
    this._meta.append(this._native, this._gpus, this._elapsed, this._submitted);
    this._cancel = button('Cancel', 'mltf-job-cancel', 'Cancel the job (scancel)', () =>
      actions.cancel(this.job)
    );
    const buttons = el(
      'div',
      { class: 'mltf-job-actions' },
      button('Log', 'mltf-job-log', 'Show the job log (tails while running)', () =>
        actions.openLog(this.job)
      ),
      this._cancel,
      this._mlflow,
      button(
        'Re-submit…',
        'mltf-job-resubmit',
        'Open the submit dialog with this job’s choices',
        () => actions.resubmit(this.job)
      )
    );
    this.node.append(
      el('div', { class: 'mltf-job-head' }, this._name, this._state),
      this._meta,
      this._reason,
      this._metrics,
      buttons
    );
    this.job = job;
    this.update(job);
  }

  readonly node: HTMLElement;
  job: IJob;

  update(job: IJob): void {
    this.job = job;
    this.node.dataset.state = job.state;
    this.node.dataset.terminal = String(job.terminal);
    this._name.textContent = job.name || job.id;
    this._name.title = `${job.project_dir} · entry point ${job.entry_point}`;
    this._state.textContent = job.state;
    this._state.className = `mltf-job-state ${stateClass(job.state)}`;
    this._native.textContent = job.native_id ? `#${job.native_id}` : job.id;
    this._native.title = `MLTF id ${job.id}${job.nodes?.length ? ` · nodes ${job.nodes.join(', ')}` : ''}`;
    this._gpus.textContent = gpuText(job);
    this._gpus.title = job.resources?.partition ? `partition ${job.resources.partition}` : '';
    this._submitted.textContent = when(job.submitted_at);
    this._submitted.title = 'submitted';
    this._reason.textContent = jobReason(job);
    this._metrics.textContent = metricsText(job.metrics);
    this._cancel.hidden = job.terminal;
    if (job.mlflow_url) {
      this._mlflow.href = job.mlflow_url;
      this._mlflow.hidden = false;
    } else {
      this._mlflow.removeAttribute('href');
      this._mlflow.hidden = true;
    }
    this.tick(0);
  }

  /** Elapsed time: the server's value plus the time since it answered, while running. */
  tick(sinceUpdateMs: number): void {
    const job = this.job;
    if (job.elapsed === null || job.elapsed === undefined) {
      this._elapsed.textContent = '';
      return;
    }
    const extra = job.terminal || !ACTIVE_STATES.has(job.state) ? 0 : sinceUpdateMs / 1000;
    this._elapsed.textContent = formatDuration(job.elapsed + extra);
    this._elapsed.title = 'elapsed';
  }

  private _name = el('span', { class: 'mltf-job-name' });
  private _state = el('span', { class: 'mltf-job-state' });
  private _meta = el('div', { class: 'mltf-job-meta' });
  private _native = el('span', { class: 'mltf-job-native' });
  private _gpus = el('span', { class: 'mltf-job-gpus' });
  private _elapsed = el('span', { class: 'mltf-job-elapsed' });
  private _submitted = el('span', { class: 'mltf-job-submitted' });
  private _reason = el('div', { class: 'mltf-job-reason' });
  private _metrics = el('div', { class: 'mltf-job-metrics' });
  private _cancel: HTMLButtonElement;
  private _mlflow = el(
    'a',
    { class: 'mltf-job-mlflow', target: '_blank', rel: 'noopener noreferrer' },
    'MLflow run'
  ) as HTMLAnchorElement;
}
