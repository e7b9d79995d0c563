/**
 * jupyter-mltf JupyterLab extension, table of contents:
 *   tokens.ts      plugin and command ids, DOM ids, storage keys
 *   model.ts       types of the REST payloads (jupyter_mltf/openapi.yaml)
 *   handler.ts     the REST client (/mltf/api/...): errors carry the server's `field`
 *   validate.ts    pure: error field -> form field, type checks, the request from the form
 *   format.ts      pure: sizes, durations, partition hints, job states and notices, paths
 *   choices.ts     what the browser remembers (last dialog choices, job paths)
 *   debounce.ts    ask after the last edit, only the newest answer counts (the server check)
 *   jobsModel.ts   polling GET jobs, notifications
 *   commands.ts    the commands and the panel's actions
 *   components/    the submit dialog (submitDialog, submitForm, projectSection, paramFields,
 *                  resourceFields, filesSection, fields), the jobs panel (jobsPanel, jobRow), the log
 *                  view, the toolbar button, the icon
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { addCommands, jobsActions } from './commands';
import { mltfIcon } from './components/icons';
import { JobsPanel } from './components/jobsPanel';
import { LogView } from './components/logView';
import { SubmitButtonExtension } from './components/submitButton';
import { JobsModel } from './jobsModel';
import { CommandIDs, JOBS_PANEL_ID, LOG_TRACKER_NAMESPACE, PLUGIN_ID } from './tokens';

export { CommandIDs } from './tokens';
export { mltfIcon } from './components/icons';

/** Poll interval, notifications and background polling follow the user's settings. */
function followSettings(registry: ISettingRegistry, model: JobsModel): void {
  void registry
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
    const logs = new WidgetTracker<MainAreaWidget<LogView>>({ namespace: LOG_TRACKER_NAMESPACE });
    const actions = jobsActions(app);
    const model = new JobsModel(actions);
    const panel = new JobsPanel(model, actions);
    panel.title.icon = mltfIcon;
    app.shell.add(panel, 'right', { rank: 800 });
    restorer?.add(panel, JOBS_PANEL_ID);
    model.start();
    if (settingRegistry) {
      followSettings(settingRegistry, model);
    }

    addCommands({ app, notebooks, browsers, model, panelId: panel.id, logs });
    for (const command of [CommandIDs.submit, CommandIDs.showJobs]) {
      palette?.addItem({ command, category: 'MLTF' });
    }
    mainMenu?.runMenu.addGroup(
      [{ command: CommandIDs.submit }, { command: CommandIDs.showJobs }],
      1000
    );
    app.contextMenu.addItem({
      command: CommandIDs.submitDirectory,
      selector: '.jp-DirListing-item[data-isdir="true"]',
      rank: 15
    });
    app.docRegistry.addWidgetExtension('Notebook', new SubmitButtonExtension(app));
  }
};

export default plugin;
