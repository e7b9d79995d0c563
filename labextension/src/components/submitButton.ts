/**
 * "Submit to MLTF" in every notebook's toolbar.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ToolbarButton } from '@jupyterlab/apputils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel, NotebookPanel } from '@jupyterlab/notebook';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';

import { CommandIDs } from '../tokens';
import { mltfIcon } from './icons';

export class SubmitButtonExtension implements DocumentRegistry.IWidgetExtension<
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
