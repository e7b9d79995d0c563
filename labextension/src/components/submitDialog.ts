/**
 * The "Submit to MLTF" dialog: a JupyterLab Dialog around {@link SubmitForm} whose Submit button is off
 * while the form cannot be submitted, and which only closes once the server accepted the job.
 */
import { Dialog } from '@jupyterlab/apputils';

import { IJob } from '../model';
import { ISubmitTarget, SubmitForm } from './submitForm';

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
    this._sync();
    _form.stateChanged.connect(this._sync, this);
    void _form.ready.then(() => this._sync());
  }

  private _accept(): HTMLButtonElement {
    return this.node.querySelector('.jp-Dialog-footer .jp-mod-accept') as HTMLButtonElement;
  }

  /** Submit is on when the form can be submitted and no submit is under way. */
  private _sync(): void {
    if (!this.isDisposed) {
      this._accept().disabled = this._busy || !this._form.canSubmit;
    }
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
    this._sync();
    void this._form
      .submit()
      .then(job => {
        if (job) {
          super.resolve(1);
        }
      })
      .finally(() => {
        this._busy = false;
        this._sync();
      });
  }

  private _busy = false;
}

/** Open the dialog; resolves with the submitted job, or null when the user cancelled. */
export async function showSubmitDialog(target: ISubmitTarget): Promise<IJob | null> {
  const form = new SubmitForm(target);
  const dialog = new SubmitDialog(form);
  const result = await dialog.launch();
  const job = result.button.accept ? form.job : null;
  dialog.dispose();
  return job;
}
