/**
 * The jobs list of this user: polling GET jobs and notifications about state changes. Polls at the
 * interval while the panel is visible; while it is hidden, only when some job is still queued or running
 * (4x slower, for notifications), or not at all.
 */
import { Notification } from '@jupyterlab/apputils';
import { ISignal, Signal } from '@lumino/signaling';

import { jobNotice } from './format';
import { api, getConfig, MLTFApiError } from './handler';
import { IJob } from './model';

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
    if (!this._inFlight) {
      this._inFlight = this._load().finally(() => {
        this._inFlight = null;
        this._changed.emit();
      });
    }
    return this._inFlight;
  }

  dispose(): void {
    this._started = false;
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private async _load(): Promise<void> {
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
    const notice = this._settings.notifications ? jobNotice(before, job) : null;
    if (!notice) {
      return;
    }
    const actions: Notification.IAction[] = [
      { label: 'Show log', caption: 'Open the job log', callback: () => this._actions.openLog(job) }
    ];
    if (job.mlflow_url) {
      const url = job.mlflow_url;
      actions.push({
        label: 'MLflow run',
        caption: 'Open the MLflow run in a new tab',
        callback: () => window.open(url, '_blank', 'noopener')
      });
    }
    Notification[notice.kind](notice.text, { autoClose: notice.autoClose, actions });
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
