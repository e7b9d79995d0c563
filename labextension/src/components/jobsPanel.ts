/**
 * The "MLTF Jobs" side panel: the newest jobs first, "Show more", a refresh button, a status line, and
 * the cancel confirmation. Rows tick their elapsed time while the panel is shown.
 */
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { panelStatus } from '../format';
import { api } from '../handler';
import { IJobsActions, JobsModel } from '../jobsModel';
import { IJob } from '../model';
import { JOBS_PANEL_ID } from '../tokens';
import { el } from './dom';
import { JobRow } from './jobRow';

/** Rows shown at first (and added per "Show more"). */
const PAGE = 50;

export class JobsPanel extends Widget {
  constructor(
    readonly model: JobsModel,
    readonly actions: IJobsActions
  ) {
    super();
    this.id = JOBS_PANEL_ID;
    this.addClass('mltf-jobs-panel');
    this.title.caption = 'MLTF Jobs';
    const refresh = el(
      'button',
      { class: 'mltf-refresh', title: 'Refresh now', type: 'button' },
      'Refresh'
    );
    refresh.addEventListener('click', () => void this.model.refresh());
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
      this.model.update(await api.cancel(job.id));
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      Notification.error(`Cannot cancel ${job.name || job.id}: ${why}`, { autoClose: 8000 });
    }
    void this.model.refresh();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._shown(true);
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this._shown(false);
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      this._shown(true);
    }
  }

  protected onBeforeDetach(msg: Message): void {
    this._shown(false);
    super.onBeforeDetach(msg);
  }

  dispose(): void {
    this._stopTicker();
    super.dispose();
  }

  /** The model polls at full pace, and rows tick, only while the panel is shown. */
  private _shown(visible: boolean): void {
    this.model.visible = visible;
    if (visible) {
      this._startTicker();
    } else {
      this._stopTicker();
    }
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

  private _row(job: IJob): JobRow {
    let row = this._rows.get(job.id);
    if (row) {
      row.update(job);
    } else {
      row = new JobRow(job, {
        openLog: j => this.actions.openLog(j),
        resubmit: j => this.actions.resubmit(j),
        cancel: j => void this.cancel(j)
      });
      this._rows.set(job.id, row);
    }
    return row;
  }

  private _render(): void {
    const all = this.model.jobs;
    const jobs = all.slice(0, this._limit);
    const seen = new Set<string>();
    let previous: HTMLElement | null = null;
    for (const job of jobs) {
      seen.add(job.id);
      const row = this._row(job);
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
    const error = this.model.error;
    this._status.classList.toggle('mltf-mod-error', !!error);
    this._status.textContent = panelStatus(all.length, this.model.lastUpdate, error);
  }

  private _rows = new Map<string, JobRow>();
  private _limit = PAGE;
  private _more = el('button', {
    class: 'mltf-show-more',
    type: 'button',
    hidden: ''
  }) as HTMLButtonElement;
  private _list = el('ul', { class: 'mltf-job-list' });
  private _empty = el(
    'div',
    { class: 'mltf-empty' },
    'No jobs yet. Use “Submit to MLTF” in a notebook toolbar.'
  );
  private _status = el('div', { class: 'mltf-panel-status' });
  private _ticker: number | null = null;
}
