/**
 * jupyter-mltf JupyterLab extension: "Submit to MLTF" (notebook toolbar, palette, Run menu, file browser),
 * the submit dialog, the "MLTF Jobs" side panel, job logs and notifications.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import {
  ICommandPalette,
  MainAreaWidget,
  Notification,
  ToolbarButton,
  WidgetTracker
} from '@jupyterlab/apputils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { INotebookModel, INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';

import { api, dirname, IJob } from './api';
import { IChoices } from './choices';
import {
  createLogWidget,
  IJobsActions,
  JobsModel,
  JobsPanel,
  LogView,
  relativeProjectDir
} from './jobs';
import { showSubmitDialog } from './submit';

const PLUGIN_ID = 'jupyter-mltf:plugin';

export namespace CommandIDs {
  export const submit = 'mltf:submit';
  export const submitDirectory = 'mltf:submit-directory';
  export const showJobs = 'mltf:show-jobs';
  export const openLog = 'mltf:open-log';
}

const MLTF_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
<g class="jp-icon3" fill="#616161">
<path d="M4 6h16a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1zm1 2v7h14V8H5z"/>
<path d="M7 9.5h2v4H7zm4-1h2v5h-2zm4 2h2v3h-2zM6 18h2v2H6zm5 0h2v2h-2zm5 0h2v2h-2z"/>
</g></svg>`;

export const mltfIcon = new LabIcon({ name: 'jupyter-mltf:cluster', svgstr: MLTF_SVG });

/** job id -> project path as submitted from this browser (for "Re-submit with changes"). */
const JOB_PATHS_KEY = 'jupyter-mltf:job-paths';

function rememberJobPath(job: IJob, path: string, notebook: string | null | undefined): void {
  try {
    const map = JSON.parse(window.localStorage.getItem(JOB_PATHS_KEY) || '{}');
    map[job.id] = { path, notebook: notebook || null };
    const keys = Object.keys(map);
    for (const k of keys.slice(0, Math.max(0, keys.length - 200))) {
      delete map[k];
    }
    window.localStorage.setItem(JOB_PATHS_KEY, JSON.stringify(map));
  } catch {
    // convenience only
  }
}

function recallJobPath(job: IJob): { path: string; notebook: string | null } | null {
  try {
    const map = JSON.parse(window.localStorage.getItem(JOB_PATHS_KEY) || '{}');
    return map[job.id] || null;
  } catch {
    return null;
  }
}

/** Adds "Submit to MLTF" to every notebook's toolbar. */
class SubmitButtonExtension implements DocumentRegistry.IWidgetExtension<
  NotebookPanel,
  INotebookModel
> {
  constructor(private _app: JupyterFrontEnd) {}

  createNew(panel: NotebookPanel): IDisposable {
    const button = new ToolbarButton({
      className: 'mltf-submit-button',
      icon: mltfIcon,
      label: 'Submit to MLTF',
      tooltip: 'Submit this notebook’s directory to the MLTF GPU cluster',
      onClick: () => {
        void this._app.commands.execute(CommandIDs.submit, { notebook: panel.context.path });
      }
    });
    panel.toolbar.insertItem(10, 'mltfSubmit', button);
    return new DisposableDelegate(() => button.dispose());
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Submit notebook directories to the MLTF Slurm GPU cluster and follow the jobs.',
  autoStart: true,
  optional: [
    INotebookTracker,
    ICommandPalette,
    IMainMenu,
    ILayoutRestorer,
    IFileBrowserFactory,
    ISettingRegistry
  ],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker | null,
    palette: ICommandPalette | null,
    mainMenu: IMainMenu | null,
    restorer: ILayoutRestorer | null,
    browsers: IFileBrowserFactory | null,
    settingRegistry: ISettingRegistry | null
  ) => {
    const logs = new WidgetTracker<MainAreaWidget<LogView>>({ namespace: 'mltf-logs' });

    const actions: IJobsActions = {
      openLog: (job: IJob) => {
        void app.commands.execute(CommandIDs.openLog, { id: job.id });
      },
      resubmit: (job: IJob) => {
        const known = recallJobPath(job);
        const path = known ? known.path : relativeProjectDir(job);
        if (path === null) {
          Notification.error(
            `Cannot re-submit ${job.name || job.id}: its directory ${job.project_dir} is outside this server's root.`,
            { autoClose: 8000 }
          );
          return;
        }
        const prefill: IChoices = {
          entry_point: job.entry_point,
          params: { ...(job.params || {}) },
          resources: { ...(job.resources || {}) },
          name: job.name
        };
        void app.commands.execute(CommandIDs.submit, {
          path,
          notebook: known?.notebook || null,
          prefill: prefill as unknown as ReadonlyPartialJSONObject
        });
      }
    };

    const model = new JobsModel(actions);
    const panel = new JobsPanel(model, actions);
    panel.title.icon = mltfIcon;
    app.shell.add(panel, 'right', { rank: 800 });
    if (restorer) {
      restorer.add(panel, 'mltf-jobs-panel');
    }
    model.start();

    if (settingRegistry) {
      void settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          const apply = (): void => {
            model.settings = {
              pollInterval: Number(settings.get('pollInterval').composite) || 0,
              notifications: settings.get('notifications').composite !== false,
              backgroundPolling: settings.get('backgroundPolling').composite !== false
            };
          };
          apply();
          settings.changed.connect(apply);
        })
        .catch(reason => console.warn('jupyter-mltf: cannot load settings', reason));
    }

    app.commands.addCommand(CommandIDs.submit, {
      label: 'Submit to MLTF',
      caption:
        'Submit the current notebook’s directory to the MLTF GPU cluster as an MLflow project',
      icon: args => (args.isPalette ? undefined : mltfIcon),
      execute: async args => {
        let path = typeof args.path === 'string' ? args.path : null;
        let notebook = typeof args.notebook === 'string' ? args.notebook : null;
        if (path === null && notebook === null && notebooks?.currentWidget) {
          notebook = notebooks.currentWidget.context.path;
        }
        if (notebook) {
          const nb = notebooks?.find(w => w.context.path === notebook);
          // the job gets the files on disk: save what the user sees first
          if (nb && nb.context.model.dirty && !nb.context.model.readOnly) {
            try {
              await nb.context.save();
            } catch (error) {
              console.warn('jupyter-mltf: could not save the notebook before submitting', error);
            }
          }
          if (path === null) {
            path = dirname(notebook);
          }
        }
        if (path === null) {
          path = browsers?.tracker.currentWidget?.model.path ?? '';
          path = path.replace(/^[^/]*:/, ''); // drive prefix
        }
        const job = await showSubmitDialog({
          path,
          notebook,
          prefill: (args.prefill as unknown as IChoices) || undefined
        });
        if (!job) {
          return null;
        }
        rememberJobPath(job, path, notebook);
        model.add(job);
        app.shell.activateById(panel.id);
        Notification.success(
          `Submitted ${job.name || job.id} to MLTF (job ${job.native_id || job.id}, ${job.state})`,
          {
            autoClose: 5000,
            actions: [{ label: 'Show log', callback: () => actions.openLog(job) }]
          }
        );
        return job.id;
      }
    });

    app.commands.addCommand(CommandIDs.submitDirectory, {
      label: 'Submit directory to MLTF',
      caption: 'Submit this directory to the MLTF GPU cluster as an MLflow project',
      icon: mltfIcon,
      isVisible: () => {
        const item = browsers?.tracker.currentWidget?.selectedItems().next();
        return !item || item.done || item.value.type === 'directory';
      },
      execute: () => {
        const browser = browsers?.tracker.currentWidget;
        if (!browser) {
          return;
        }
        const first = browser.selectedItems().next();
        const path =
          !first.done && first.value.type === 'directory' ? first.value.path : browser.model.path;
        return app.commands.execute(CommandIDs.submit, { path: path.replace(/^[^/]*:/, '') });
      }
    });

    app.commands.addCommand(CommandIDs.showJobs, {
      label: 'Show MLTF Jobs',
      caption: 'Open the MLTF Jobs side panel',
      execute: () => {
        app.shell.activateById(panel.id);
      }
    });

    app.commands.addCommand(CommandIDs.openLog, {
      label: args => (args.id ? `Show log of MLTF job ${args.id}` : 'Show MLTF job log'),
      execute: async args => {
        const id = String(args.id || '');
        if (!id) {
          return;
        }
        const existing = logs.find(w => w.content.jobId === id);
        if (existing) {
          app.shell.activateById(existing.id);
          return;
        }
        let job = model.jobs.find(j => j.id === id);
        if (!job) {
          job = await api.job(id);
        }
        const widget = createLogWidget(job, model);
        void logs.add(widget);
        app.shell.add(widget, 'main', { mode: 'split-bottom' });
        app.shell.activateById(widget.id);
      }
    });

    if (palette) {
      for (const command of [CommandIDs.submit, CommandIDs.showJobs]) {
        palette.addItem({ command, category: 'MLTF' });
      }
    }
    if (mainMenu) {
      mainMenu.runMenu.addGroup(
        [{ command: CommandIDs.submit }, { command: CommandIDs.showJobs }],
        1000
      );
    }
    app.contextMenu.addItem({
      command: CommandIDs.submitDirectory,
      selector: '.jp-DirListing-item[data-isdir="true"]',
      rank: 15
    });
    app.docRegistry.addWidgetExtension('Notebook', new SubmitButtonExtension(app));
  }
};

export default plugin;
