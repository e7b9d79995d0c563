/**
 * A job's log in the main area; asks for what was appended since the last offset while the job runs.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { appendLog, stateClass } from '../format';
import { api, MLTFApiError } from '../handler';
import { JobsModel } from '../jobsModel';
import { IJob } from '../model';
import { el } from './dom';

export class LogView extends Widget {
  constructor(
    private _job: IJob,
    private _model: JobsModel
  ) {
    super();
    this.addClass('mltf-log-view');
    this.node.dataset.jobId = _job.id;
    this.node.append(this._header, this._pre);
    this._renderHeader('');
    void this._tick();
  }

  get jobId(): string {
    return this._job.id;
  }

  dispose(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
    super.dispose();
  }

  private _renderHeader(status: string): void {
    const j = this._job;
    this._header.textContent = '';
    this._header.append(
      el('span', { class: 'mltf-log-title' }, `${j.name || j.id} #${j.native_id || j.id}`),
      el('span', { class: `mltf-job-state ${stateClass(j.state)}` }, j.state),
      el('span', { class: 'mltf-log-status' }, status)
    );
  }

  private _append(text: string): void {
    const atBottom = this.node.scrollTop + this.node.clientHeight >= this.node.scrollHeight - 24;
    this._pre.textContent = appendLog(this._pre.textContent || '', text);
    if (atBottom) {
      this.node.scrollTop = this.node.scrollHeight;
    }
  }

  /** Read what is new; returns the delay to the next read, or null when the log is complete. */
  private async _read(): Promise<number | null> {
    const chunk = await api.log(this._job.id, this._offset);
    if (this.isDisposed) {
      return null;
    }
    if (chunk.text) {
      this._append(chunk.text);
    }
    this._offset = chunk.next_offset;
    this._job = this._model.jobs.find(j => j.id === this._job.id) || this._job;
    if (chunk.complete) {
      this.node.dataset.complete = 'true';
      this._renderHeader(this._pre.textContent ? 'complete' : 'complete (the log is empty)');
      return null;
    }
    if (!this._job.terminal) {
      // keep the job's state in the header fresh even when the panel is closed
      try {
        this._job = await api.job(this._job.id);
      } catch {
        // the next tick tries again
      }
    }
    const state = this._job.terminal
      ? 'reading the rest…'
      : this._job.state === 'PENDING'
        ? 'waiting for the job to start…'
        : 'following…';
    this._renderHeader(state);
    return chunk.text ? 500 : 2000; // after new text more may be waiting
  }

  private async _tick(): Promise<void> {
    this._timer = null;
    if (this.isDisposed) {
      return;
    }
    let delay: number | null;
    try {
      delay = await this._read();
    } catch (error) {
      this._renderHeader(
        `cannot read the log: ${error instanceof Error ? error.message : String(error)}`
      );
      const gone = error instanceof MLTFApiError && (error.status === 404 || error.status === 501);
      delay = gone ? null : 5000;
    }
    if (delay !== null && !this.isDisposed) {
      this._timer = window.setTimeout(() => void this._tick(), delay);
    }
  }

  private _offset = 0;
  private _timer: number | null = null;
  private _header = el('div', { class: 'mltf-log-header' });
  private _pre = el('pre', { class: 'mltf-log-text' });
}

export function createLogWidget(job: IJob, model: JobsModel): MainAreaWidget<LogView> {
  const content = new LogView(job, model);
  const widget = new MainAreaWidget({ content });
  widget.id = `mltf-log-${job.id}`;
  widget.title.label = `Log: ${job.name || job.id}`;
  widget.title.caption = `MLTF job ${job.native_id || job.id} log`;
  widget.title.closable = true;
  widget.addClass('mltf-log-widget');
  return widget;
}
