/**
 * The jobs model (polling + notifications), the "MLTF Jobs" side panel and the log viewer.
 */
import { Dialog, MainAreaWidget, Notification, showDialog } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { ISignal, Signal } from '@lumino/signaling';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { api, formatDuration, getConfig, IJob, MLTFApiError } from './api';
import { el } from './dom';

/** Rows shown at first (and added per "Show more"); the newest jobs come first. */
const PAGE = 50;
const ACTIVE_STATES = new Set(['RUNNING', 'COMPLETING', 'CONFIGURING']);
const GOOD_END = new Set(['COMPLETED']);
const NEUTRAL_END = new Set(['CANCELLED', 'REVOKED']);

export interface IJobsActions {
  openLog(job: IJob): void;
  resubmit(job: IJob): void;
}

export interface IJobsSettings {
  /** seconds; 0: the server's poll_interval */
  pollInterval: number;
  notifications: boolean;
  backgroundPolling: boolean;
}

/**
 * Keeps the job list fresh. Polls at the interval while the panel is visible; while it is hidden, only
 * when some job is still queued or running (4x slower, for notifications), or not at all.
 */
export class JobsModel {
  constructor(private _actions: IJobsActions) {}

  get jobs(): IJob[] {
    return this._jobs;
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get error(): string {
    return this._error;
  }

  get lastUpdate(): number {
    return this._lastUpdate;
  }

  /** Milliseconds since the last successful refresh (for the elapsed-time ticker). */
  get sinceUpdate(): number {
    return Date.now() - this._lastUpdate;
  }

  get settings(): IJobsSettings {
    return this._settings;
  }

  set settings(value: IJobsSettings) {
    this._settings = value;
    this._schedule(0);
  }

  set visible(value: boolean) {
    if (value === this._visible) {
      return;
    }
    this._visible = value;
    this._schedule(value ? 0 : (this._pace() ?? 0));
  }

  get visible(): boolean {
    return this._visible;
  }

  /** Start watching (called once at activation). */
  start(): void {
    this._started = true;
    void getConfig()
      .then(c => {
        this._serverInterval = c.poll_interval || this._serverInterval;
      })
      .catch(() => undefined)
      .finally(() => this._schedule(0));
  }

  /** A job this browser just submitted: show it at once and notify about its transitions. */
  add(job: IJob): void {
    this._jobs = [job, ...this._jobs.filter(j => j.id !== job.id)];
    this._states.set(job.id, job.state);
    this._lastUpdate = Date.now();
    this._changed.emit();
    this._schedule(0);
  }

  /** Replace one job (after cancel) without waiting for the next poll. */
  update(job: IJob): void {
    const i = this._jobs.findIndex(j => j.id === job.id);
    if (i >= 0) {
      this._jobs = [...this._jobs];
      this._jobs[i] = job;
      this._notify(job);
      this._changed.emit();
    }
  }

  async refresh(): Promise<void> {
    if (this._inFlight) {
      return this._inFlight;
    }
    this._inFlight = (async () => {
      try {
        const jobs = await api.jobs();
        const first = this._lastUpdate === 0;
        for (const job of jobs) {
          if (first && !this._states.has(job.id)) {
            this._states.set(job.id, job.state);
          } else {
            this._notify(job);
          }
        }
        this._jobs = jobs;
        this._error = '';
        this._lastUpdate = Date.now();
      } catch (error) {
        this._error = error instanceof MLTFApiError ? error.message : String(error);
      } finally {
        this._inFlight = null;
        this._changed.emit();
      }
    })();
    return this._inFlight;
  }

  dispose(): void {
    this._started = false;
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _interval(): number {
    const s = this._settings.pollInterval > 0 ? this._settings.pollInterval : this._serverInterval;
    return Math.max(1, s) * 1000;
  }

  /** Polling pace now; null: do not poll. */
  private _pace(): number | null {
    if (this._visible) {
      return this._interval();
    }
    if (!this._settings.backgroundPolling || !this._settings.notifications) {
      return null;
    }
    const active = this._jobs.some(j => !j.terminal);
    return active ? Math.max(this._interval() * 4, 15000) : null;
  }

  /** (Re)arm the timer; with nothing to watch it stays off (except for the very first load). */
  private _schedule(delay: number): void {
    if (!this._started) {
      return;
    }
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
    if (this._pace() === null && this._lastUpdate !== 0) {
      return;
    }
    this._timer = window.setTimeout(async () => {
      this._timer = null;
      await this.refresh();
      const next = this._pace();
      if (next !== null) {
        this._schedule(next);
      }
    }, delay);
  }

  /** Notify about a state change of a known job (first sight of an old job says nothing). */
  private _notify(job: IJob): void {
    const before = this._states.get(job.id);
    this._states.set(job.id, job.state);
    if (before === undefined || before === job.state || !this._settings.notifications) {
      return;
    }
    const name = `${job.name || job.id} (${job.native_id || job.id})`;
    const actions: Notification.IAction[] = [
      {
        label: 'Show log',
        caption: 'Open the job log',
        callback: () => this._actions.openLog(job)
      }
    ];
    if (job.mlflow_url) {
      const url = job.mlflow_url;
      actions.push({
        label: 'MLflow run',
        caption: 'Open the MLflow run in a new tab',
        callback: () => window.open(url, '_blank', 'noopener')
      });
    }
    if (ACTIVE_STATES.has(job.state) && !ACTIVE_STATES.has(before)) {
      const where = job.nodes?.length ? ` on ${job.nodes.join(', ')}` : '';
      Notification.info(`MLTF job ${name} started${where}`, { autoClose: 5000, actions });
    } else if (job.terminal) {
      if (GOOD_END.has(job.state)) {
        Notification.success(`MLTF job ${name} finished`, { autoClose: 8000, actions });
      } else if (NEUTRAL_END.has(job.state)) {
        Notification.info(`MLTF job ${name} was cancelled`, { autoClose: 5000, actions });
      } else {
        const code =
          job.exit_code !== null && job.exit_code !== undefined
            ? `, exit code ${job.exit_code}`
            : '';
        Notification.error(`MLTF job ${name} ended ${job.state}${code}`, {
          autoClose: false,
          actions
        });
      }
    }
  }

  private _jobs: IJob[] = [];
  private _states = new Map<string, string>();
  private _changed = new Signal<this, void>(this);
  private _error = '';
  private _lastUpdate = 0;
  private _visible = false;
  private _started = false;
  private _timer: number | null = null;
  private _inFlight: Promise<void> | null = null;
  private _serverInterval = 5;
  private _settings: IJobsSettings = {
    pollInterval: 0,
    notifications: true,
    backgroundPolling: true
  };
}

// ------------------------------------------------------------------------------------------------

function stateClass(state: string): string {
  if (state === 'COMPLETED') {
    return 'mltf-state-ok';
  }
  if (state === 'CANCELLED') {
    return 'mltf-state-cancelled';
  }
  if (ACTIVE_STATES.has(state)) {
    return 'mltf-state-running';
  }
  if (['PENDING', 'SUBMITTING', 'REQUEUED', 'SUSPENDED'].includes(state)) {
    return 'mltf-state-pending';
  }
  if (state === 'UNKNOWN') {
    return 'mltf-state-unknown';
  }
  return 'mltf-state-failed';
}

function gpuText(job: IJob): string {
  const r = job.resources || {};
  if (!r.gpus) {
    return 'CPU';
  }
  return `${r.gpus}× ${r.gpu_type || 'GPU'}`;
}

function when(ts: number | null): string {
  if (!ts) {
    return '';
  }
  const d = new Date(ts * 1000);
  const today = new Date();
  return d.toDateString() === today.toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
}

/** One row of the panel; updated in place on every poll so that clicks and focus survive. */
class JobRow {
  constructor(
    job: IJob,
    private _panel: JobsPanel
  ) {
    this.node = el('li', { class: 'mltf-job-row', 'data-job-id': job.id });
    this._name = el('span', { class: 'mltf-job-name' });
    this._state = el('span', { class: 'mltf-job-state' });
    this._meta = el('div', { class: 'mltf-job-meta' });
    this._native = el('span', { class: 'mltf-job-native' });
    this._gpus = el('span', { class: 'mltf-job-gpus' });
    this._elapsed = el('span', { class: 'mltf-job-elapsed' });
    this._submitted = el('span', { class: 'mltf-job-submitted' });
    this._meta.append(this._native, this._gpus, this._elapsed, this._submitted);
    this._reason = el('div', { class: 'mltf-job-reason' });
    this._metrics = el('div', { class: 'mltf-job-metrics' });
    const logBtn = this._button(
      'Log',
      'mltf-job-log',
      'Show the job log (tails while running)',
      () => this._panel.actions.openLog(this.job)
    );
    this._cancel = this._button(
      'Cancel',
      'mltf-job-cancel',
      'Cancel the job (scancel)',
      () => void this._panel.cancel(this.job)
    );
    this._mlflow = el(
      'a',
      { class: 'mltf-job-mlflow', target: '_blank', rel: 'noopener noreferrer' },
      'MLflow run'
    ) as HTMLAnchorElement;
    const resubmit = this._button(
      'Re-submit…',
      'mltf-job-resubmit',
      'Open the submit dialog with this job’s choices',
      () => this._panel.actions.resubmit(this.job)
    );
    const actions = el(
      'div',
      { class: 'mltf-job-actions' },
      logBtn,
      this._cancel,
      this._mlflow,
      resubmit
    );
    this.node.append(
      el('div', { class: 'mltf-job-head' }, this._name, this._state),
      this._meta,
      this._reason,
      this._metrics,
      actions
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
    let reason = '';
    if (job.state === 'PENDING' && job.reason) {
      reason = `waiting: ${job.reason}`;
      if (job.estimated_start) {
        reason += ` · expected start ${when(job.estimated_start)}`;
      }
    } else if (
      job.terminal &&
      !GOOD_END.has(job.state) &&
      !NEUTRAL_END.has(job.state) &&
      job.exit_code !== null &&
      job.exit_code !== undefined
    ) {
      reason = `exit code ${job.exit_code}`;
    }
    this._reason.textContent = reason;
    const metrics = Object.entries(job.metrics || {});
    this._metrics.textContent = metrics
      .map(([k, v]) => `${k}=${Number(v).toPrecision(4)}`)
      .join('  ');
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

  private _button(
    label: string,
    cls: string,
    title: string,
    onClick: () => void
  ): HTMLButtonElement {
    const b = el('button', { class: cls, title, type: 'button' }, label) as HTMLButtonElement;
    b.addEventListener('click', ev => {
      ev.stopPropagation();
      onClick();
    });
    return b;
  }

  private _name: HTMLElement;
  private _state: HTMLElement;
  private _meta: HTMLElement;
  private _native: HTMLElement;
  private _gpus: HTMLElement;
  private _elapsed: HTMLElement;
  private _submitted: HTMLElement;
  private _reason: HTMLElement;
  private _metrics: HTMLElement;
  private _cancel: HTMLButtonElement;
  private _mlflow: HTMLAnchorElement;
}

/**
 * The "MLTF Jobs" side panel.
 */
export class JobsPanel extends Widget {
  constructor(
    readonly model: JobsModel,
    readonly actions: IJobsActions
  ) {
    super();
    this.id = 'mltf-jobs-panel';
    this.addClass('mltf-jobs-panel');
    this.title.caption = 'MLTF Jobs';
    const refresh = el(
      'button',
      { class: 'mltf-refresh', title: 'Refresh now', type: 'button' },
      'Refresh'
    );
    refresh.addEventListener('click', () => void this.model.refresh());
    this._status = el('div', { class: 'mltf-panel-status' });
    this._list = el('ul', { class: 'mltf-job-list' });
    this._empty = el(
      'div',
      { class: 'mltf-empty' },
      'No jobs yet. Use “Submit to MLTF” in a notebook toolbar.'
    );
    this.node.append(
      el('div', { class: 'mltf-panel-header' }, el('h2', {}, 'MLTF Jobs'), refresh),
      this._status,
      this._empty,
      this._list,
      this._more
    );
    this._more.addEventListener('click', () => {
      this._limit += PAGE;
      this._render();
    });
    model.changed.connect(this._render, this);
  }

  async cancel(job: IJob): Promise<void> {
    const result = await showDialog({
      title: 'Cancel MLTF job?',
      body: `Cancel ${job.name || job.id} (${job.native_id || job.id})? A running job stops now.`,
      buttons: [
        Dialog.cancelButton({ label: 'Keep it' }),
        Dialog.warnButton({ label: 'Cancel job' })
      ]
    });
    if (!result.button.accept) {
      return;
    }
    try {
      const updated = await api.cancel(job.id);
      this.model.update(updated);
    } catch (error) {
      Notification.error(
        `Cannot cancel ${job.name || job.id}: ${error instanceof Error ? error.message : String(error)}`,
        {
          autoClose: 8000
        }
      );
    }
    void this.model.refresh();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.model.visible = true;
    this._startTicker();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.model.visible = false;
    this._stopTicker();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      this.model.visible = true;
      this._startTicker();
    }
  }

  protected onBeforeDetach(msg: Message): void {
    this.model.visible = false;
    this._stopTicker();
    super.onBeforeDetach(msg);
  }

  dispose(): void {
    this._stopTicker();
    super.dispose();
  }

  private _startTicker(): void {
    if (this._ticker === null) {
      this._ticker = window.setInterval(() => {
        const since = this.model.sinceUpdate;
        for (const row of this._rows.values()) {
          row.tick(since);
        }
      }, 1000);
    }
  }

  private _stopTicker(): void {
    if (this._ticker !== null) {
      window.clearInterval(this._ticker);
      this._ticker = null;
    }
  }

  private _render(): void {
    const all = this.model.jobs;
    const jobs = all.slice(0, this._limit);
    const seen = new Set<string>();
    let previous: HTMLElement | null = null;
    for (const job of jobs) {
      seen.add(job.id);
      let row = this._rows.get(job.id);
      if (row) {
        row.update(job);
      } else {
        row = new JobRow(job, this);
        this._rows.set(job.id, row);
      }
      // keep the server's order (newest first) with as few DOM moves as possible
      const expected: ChildNode | null = previous ? previous.nextSibling : this._list.firstChild;
      if (expected !== row.node) {
        this._list.insertBefore(row.node, expected);
      }
      previous = row.node;
    }
    for (const [id, row] of Array.from(this._rows.entries())) {
      if (!seen.has(id)) {
        row.node.remove();
        this._rows.delete(id);
      }
    }
    const more = all.length - jobs.length;
    this._more.hidden = more <= 0;
    this._more.textContent = `Show ${Math.min(more, PAGE)} more (${more} older)`;
    this._empty.hidden = all.length > 0 || !this.model.lastUpdate;
    const err = this.model.error;
    this._status.classList.toggle('mltf-mod-error', !!err);
    this._status.textContent = err
      ? `Cannot refresh: ${err}`
      : this.model.lastUpdate
        ? `${all.length} job${all.length === 1 ? '' : 's'} · updated ${new Date(this.model.lastUpdate).toLocaleTimeString()}`
        : 'Loading…';
  }

  private _rows = new Map<string, JobRow>();
  private _limit = PAGE;
  private _more = el('button', {
    class: 'mltf-show-more',
    type: 'button',
    hidden: ''
  }) as HTMLButtonElement;
  private _list: HTMLElement;
  private _empty: HTMLElement;
  private _status: HTMLElement;
  private _ticker: number | null = null;
}

// ------------------------------------------------------------------------------------------------

const MAX_LOG_CHARS = 2_000_000;

/**
 * A job's log; asks for what was appended since the last offset while the job runs.
 */
export class LogView extends Widget {
  constructor(
    private _job: IJob,
    private _model: JobsModel
  ) {
    super();
    this.addClass('mltf-log-view');
    this.node.dataset.jobId = _job.id;
    this._header = el('div', { class: 'mltf-log-header' });
    this._pre = el('pre', { class: 'mltf-log-text' });
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

  private async _tick(): Promise<void> {
    this._timer = null;
    if (this.isDisposed) {
      return;
    }
    let delay = 2000;
    try {
      const chunk = await api.log(this._job.id, this._offset);
      if (this.isDisposed) {
        return;
      }
      if (chunk.text) {
        const atBottom =
          this.node.scrollTop + this.node.clientHeight >= this.node.scrollHeight - 24;
        let text = (this._pre.textContent || '') + chunk.text;
        if (text.length > MAX_LOG_CHARS) {
          text = '[… earlier output not shown …]\n' + text.slice(text.length - MAX_LOG_CHARS);
        }
        this._pre.textContent = text;
        if (atBottom) {
          this.node.scrollTop = this.node.scrollHeight;
        }
        delay = 500; // more may be waiting
      }
      this._offset = chunk.next_offset;
      const latest = this._model.jobs.find(j => j.id === this._job.id);
      if (latest) {
        this._job = latest;
      }
      if (chunk.complete) {
        this.node.dataset.complete = 'true';
        this._renderHeader(this._pre.textContent ? 'complete' : 'complete (the log is empty)');
        return;
      }
      if (!this._job.terminal) {
        // keep the job's state in the header fresh even when the panel is closed
        try {
          this._job = await api.job(this._job.id);
        } catch {
          // the next tick tries again
        }
      }
      this._renderHeader(
        this._job.terminal
          ? 'reading the rest…'
          : this._job.state === 'PENDING'
            ? 'waiting for the job to start…'
            : 'following…'
      );
    } catch (error) {
      this._renderHeader(
        `cannot read the log: ${error instanceof Error ? error.message : String(error)}`
      );
      delay = 5000;
      if (error instanceof MLTFApiError && (error.status === 404 || error.status === 501)) {
        return;
      }
    }
    this._timer = window.setTimeout(() => void this._tick(), delay);
  }

  private _offset = 0;
  private _timer: number | null = null;
  private _header: HTMLElement;
  private _pre: HTMLElement;
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

/** The project directory of a job, relative to this server's root (null: outside it). */
export function relativeProjectDir(job: IJob): string | null {
  const dir = (job.project_dir || '').replace(/\/+$/, '');
  if (!dir.startsWith('/')) {
    return dir;
  }
  const root = (PageConfig.getOption('serverRoot') || '').replace(/\/+$/, '');
  if (root && !root.startsWith('~')) {
    if (dir === root) {
      return '';
    }
    return dir.startsWith(`${root}/`) ? dir.slice(root.length + 1) : null;
  }
  // "~/x": the browser does not know the home directory; match the part after the ~
  const tail = root.replace(/^~/, '');
  if (tail) {
    const i = dir.indexOf(`${tail}/`);
    return i >= 0 ? dir.slice(i + tail.length + 1) : dir.endsWith(tail) ? '' : null;
  }
  return null;
}
