/**
 * The extension's commands: submit (the current notebook's directory, or a path), submit a directory from
 * the file browser, show the jobs panel, open a job's log; and the panel's actions built on them.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget, Notification, WidgetTracker } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { browserStore, IChoices, recallJobPath, rememberJobPath } from './choices';
import { mltfIcon } from './components/icons';
import { createLogWidget, LogView } from './components/logView';
import { showSubmitDialog } from './components/submitDialog';
import { dirname, relativeProjectDir } from './format';
import { api } from './handler';
import { IJobsActions, JobsModel } from './jobsModel';
import { IJob } from './model';
import { CommandIDs } from './tokens';

export interface ICommandContext {
  app: JupyterFrontEnd;
  notebooks: INotebookTracker | null;
  browsers: IFileBrowserFactory | null;
  model: JobsModel;
  panelId: string;
  logs: WidgetTracker<MainAreaWidget<LogView>>;
}

/** What the panel's rows and the notifications do: open a log, re-submit with changes. */
export function jobsActions(app: JupyterFrontEnd): IJobsActions {
  return {
    openLog: (job: IJob) => void app.commands.execute(CommandIDs.openLog, { id: job.id }),
    resubmit: (job: IJob) => {
      const known = recallJobPath(browserStore(), job.id);
      const path = known
        ? known.path
        : relativeProjectDir(job.project_dir, PageConfig.getOption('serverRoot'));
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
}

/** The directory and notebook to submit for a command's args; saves the notebook first. */
async function submitTarget(
  ctx: ICommandContext,
  args: ReadonlyPartialJSONObject
): Promise<{ path: string; notebook: string | null }> {
  let path = typeof args.path === 'string' ? args.path : null;
  let notebook = typeof args.notebook === 'string' ? args.notebook : null;
  if (path === null && notebook === null && ctx.notebooks?.currentWidget) {
    notebook = ctx.notebooks.currentWidget.context.path;
  }
  if (notebook) {
    const nb = ctx.notebooks?.find(w => w.context.path === notebook);
    // the job gets the files on disk: save what the user sees first
    if (nb && nb.context.model.dirty && !nb.context.model.readOnly) {
      try {
        await nb.context.save();
      } catch (error) {
        console.warn('jupyter-mltf: could not save the notebook before submitting', error);
      }
    }
    path = path ?? dirname(notebook);
  }
  if (path === null) {
    path = (ctx.browsers?.tracker.currentWidget?.model.path ?? '').replace(/^[^/]*:/, ''); // drive prefix
  }
  return { path, notebook };
}

async function submit(
  ctx: ICommandContext,
  args: ReadonlyPartialJSONObject
): Promise<string | null> {
  const { path, notebook } = await submitTarget(ctx, args);
  const job = await showSubmitDialog({
    path,
    notebook,
    prefill: (args.prefill as unknown as IChoices) || undefined
  });
  if (!job) {
    return null;
  }
  rememberJobPath(browserStore(), job.id, path, notebook);
  ctx.model.add(job);
  ctx.app.shell.activateById(ctx.panelId);
  Notification.success(
    `Submitted ${job.name || job.id} to MLTF (job ${job.native_id || job.id}, ${job.state})`,
    {
      autoClose: 5000,
      actions: [
        {
          label: 'Show log',
          callback: () => void ctx.app.commands.execute(CommandIDs.openLog, { id: job.id })
        }
      ]
    }
  );
  return job.id;
}

async function openLog(ctx: ICommandContext, id: string): Promise<void> {
  if (!id) {
    return;
  }
  const existing = ctx.logs.find(w => w.content.jobId === id);
  if (existing) {
    ctx.app.shell.activateById(existing.id);
    return;
  }
  const job = ctx.model.jobs.find(j => j.id === id) || (await api.job(id));
  const widget = createLogWidget(job, ctx.model);
  void ctx.logs.add(widget);
  ctx.app.shell.add(widget, 'main', { mode: 'split-bottom' });
  ctx.app.shell.activateById(widget.id);
}

export function addCommands(ctx: ICommandContext): void {
  const { app, browsers } = ctx;
  app.commands.addCommand(CommandIDs.submit, {
    label: 'Submit to MLTF',
    caption: 'Submit the current notebook’s directory to the MLTF GPU cluster as an MLflow project',
    icon: args => (args.isPalette ? undefined : mltfIcon),
    execute: args => submit(ctx, args)
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
      app.shell.activateById(ctx.panelId);
    }
  });
  app.commands.addCommand(CommandIDs.openLog, {
    label: args => (args.id ? `Show log of MLTF job ${args.id}` : 'Show MLTF job log'),
    execute: args => openLog(ctx, String(args.id || ''))
  });
}
