/**
 * The body of the "Submit to MLTF" dialog: filled from POST preview + GET config, shows the chosen
 * partition's limits, checks types locally and everything else with the server (POST check, debounced,
 * only the newest answer counts), marks the field an error names (`field` of the error body), submits
 * (POST jobs) and remembers the last choices per directory.
 */
import { PageConfig } from '@jupyterlab/coreutils';
import { ISignal, Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import {
  browserStore,
  choicesKey,
  IChoices,
  loadChoices,
  mergeChoices,
  saveChoices
} from '../choices';
import { LatestOnly, Settled } from '../debounce';
import { api, getConfig, MLTFApiError } from '../handler';
import { ICheckResult, IConfig, IEntryPoint, IJob, IPreview, ISubmitRequest } from '../model';
import { CHECK_DELAY_MS } from '../tokens';
import {
  apiNotebook,
  apiPath,
  checkVerdict,
  envLine,
  IFieldError,
  IFormValues,
  paramField,
  placeErrors,
  requestOf,
  typeErrors
} from '../validate';
import { el } from './dom';
import { fieldBox, readValue, showErrors } from './fields';
import { renderParams, typedParams } from './paramFields';
import { IProjectSection, renderProject } from './projectSection';
import { renderFiles } from './filesSection';
import { ResourceFields } from './resourceFields';

export interface ISubmitTarget {
  /** Project directory, relative to the server root ('' is the root). */
  path: string;
  /** The notebook the submission came from, relative to the server root. */
  notebook?: string | null;
  /** Values to start from (re-submit with changes); they win over the remembered ones. */
  prefill?: IChoices;
}

export class SubmitForm extends Widget {
  constructor(readonly target: ISubmitTarget) {
    super();
    this.addClass('mltf-submit-form');
    this.node.dataset.path = target.path;
    this._status = el('div', { class: 'mltf-form-status' }, 'Reading the project…');
    this._content = el('div', { class: 'mltf-form-content' });
    this._formError = el('div', { class: 'mltf-form-error', role: 'alert' });
    this.node.append(this._status, this._content, this._formError);
    // every edit (typing, a select's change) asks for a check once the edits stop
    for (const type of ['input', 'change']) {
      this._content.addEventListener(type, () => this._checks.schedule(() => this._checkable()));
    }
    this.ready = this._load();
  }

  /** Resolves true once the preview is shown and can be submitted (false: the reason is shown). */
  readonly ready: Promise<boolean>;

  get job(): IJob | null {
    return this._job;
  }

  getValue(): IJob | null {
    return this._job;
  }

  get preview(): IPreview | null {
    return this._preview;
  }

  /** Submit may be pressed: loaded, not over the size limit, no type error, the last check passed. */
  get canSubmit(): boolean {
    return this._loaded && !this._overLimit && !this._hasTypeErrors && !this._blocked;
  }

  /** Emitted when {@link canSubmit} may have changed. */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  /** The last successful answer of POST check (null: none yet, or it failed since). */
  get lastCheck(): ICheckResult | null {
    return this._lastCheck;
  }

  dispose(): void {
    this._checks.dispose();
    super.dispose();
  }

  private async _load(): Promise<boolean> {
    try {
      const [config, preview] = await Promise.all([
        getConfig(),
        api.preview(apiPath(this.target.path), apiNotebook(this.target.path, this.target.notebook))
      ]);
      this._config = config;
      this._preview = preview;
    } catch (error) {
      this._fail(
        error instanceof MLTFApiError ? error.message : `Cannot read the project: ${String(error)}`
      );
      return false;
    }
    this._status.textContent = '';
    const preview = this._preview;
    if (!preview.project) {
      this._fail(preview.project_error || 'This directory cannot be submitted as it is.');
      this._content.append(renderFiles(preview.files));
      return false;
    }
    this._render(this._config, preview);
    this._loaded = true;
    this._checkNow(); // the first check, as the dialog opens
    // over the size limit: the server would refuse it; the banner says what to do, Submit stays off
    return !this._overLimit;
  }

  private _fail(message: string): void {
    this._status.textContent = '';
    this._formError.textContent = message;
    this.node.classList.add('mltf-mod-failed');
  }

  private _render(config: IConfig, preview: IPreview): void {
    const proj = preview.project!;
    const initial = mergeChoices(
      config.defaults?.resources,
      preview.resources,
      loadChoices(browserStore(), this._choicesKey),
      this.target.prefill
    );
    this._remembered = initial.params || {};
    this._project = renderProject(
      preview,
      proj,
      this.target.path,
      initial,
      config.defaults?.env_manager
    );
    this._project.env.textContent = envLine(preview.env);
    this._project.entrySelect.addEventListener('change', () => this._renderParams(true));
    this._params = el('section', { class: 'mltf-section mltf-params' });
    const resources = new ResourceFields(config, initial.resources || {});
    this._overLimit = preview.files.over_limit;
    this._checkWarnings = el('ul', { class: 'mltf-section mltf-warnings mltf-check-warnings' });
    this._content.textContent = '';
    this._content.append(
      this._project.node,
      this._params,
      resources.node,
      renderFiles(preview.files)
    );
    this._renderParams(false);
    if (proj.generated && proj.mlproject) {
      this._content.append(
        el(
          'details',
          { class: 'mltf-section mltf-mlproject', open: '' },
          el(
            'summary',
            {},
            'No MLproject in this directory: this one will be used (and written to the job copy)'
          ),
          el('pre', { class: 'mltf-mlproject-text' }, proj.mlproject)
        )
      );
    }
    const notes = [...(config.warnings || []), ...(preview.warnings || []), ...(proj.notes || [])];
    if (notes.length) {
      this._content.append(
        el('ul', { class: 'mltf-section mltf-warnings' }, ...notes.map(n => el('li', {}, n)))
      );
    }
    this._content.append(this._checkWarnings);
  }

  private _entryPoint(): IEntryPoint | undefined {
    const name = readValue(this.node, 'entry_point');
    return this._preview?.project?.entry_points.find(e => e.name === name);
  }

  private _renderParams(keepTyped: boolean): void {
    const ep = this._entryPoint();
    this._project!.command.textContent = ep ? ep.command : '';
    renderParams(this._params!, ep, keepTyped ? typedParams(this._params!) : {}, this._remembered);
  }

  // ------------------------------------------------------------------------------------------
  // values, checks, errors

  /** The form's values now. */
  values(): IFormValues {
    const params: { [name: string]: string } = {};
    for (const p of this._entryPoint()?.parameters || []) {
      params[p.name] = readValue(this.node, paramField(p.name));
    }
    const value = (name: string): string => readValue(this.node, name);
    return {
      path: apiPath(this.target.path),
      notebook: apiNotebook(this.target.path, this.target.notebook),
      entry_point: this._entryPoint()?.name || '',
      name: value('name'),
      experiment: value('experiment'),
      env_manager: value('env_manager'),
      params,
      partition: value('partition'),
      gpus: value('gpus'),
      gpu_type: value('gpu_type'),
      time: value('time'),
      mem: value('mem'),
      cpus: value('cpus')
    };
  }

  /** The request POST check and POST jobs get. */
  request(): ISubmitRequest {
    return requestOf(this.values());
  }

  /** Type checks only (no cluster knowledge): form field -> message. */
  validate(): { [field: string]: string } {
    const ep = this._entryPoint();
    return typeErrors(this.values(), ep ? ep.parameters : null);
  }

  /** The request to check now, or null (and the type errors shown) when it has type errors. */
  private _checkable(): ISubmitRequest | null {
    if (!this._loaded || this.isDisposed) {
      return null;
    }
    const types = this.validate();
    this._typeErrors = Object.entries(types).map(([field, message]) => ({ field, message }));
    if (this._typeErrors.length) {
      // the server would say the same; an older answer must not land on top of these
      this._checks.cancel();
      this._serverErrors = [];
      this._blocked = false;
      this._lastCheck = null;
      this._renderErrors(false);
      this._stateChanged.emit();
      return null;
    }
    this._stateChanged.emit();
    return this.request();
  }

  private _checkNow(): void {
    const req = this._checkable();
    if (req) {
      void this._checks.now(req);
    }
  }

  private _onCheck(answer: Settled<ICheckResult>): void {
    if (this.isDisposed) {
      return;
    }
    this._serverErrors = [];
    this._blocked = false;
    this._lastCheck = answer.ok ? answer.value : null;
    if (!answer.ok) {
      const error = answer.error;
      const verdict = error instanceof MLTFApiError ? checkVerdict(error.status) : 'failed';
      if (verdict === 'blocked') {
        this._serverErrors = [
          { field: (error as MLTFApiError).field, message: (error as MLTFApiError).message }
        ];
        this._blocked = true;
      } else if (verdict === 'failed') {
        const message = error instanceof Error ? error.message : String(error);
        this._serverErrors = [{ field: null, message: `Cannot check the request now: ${message}` }];
      }
    }
    this._showCheck(this._lastCheck);
    this._renderErrors(false);
    this._stateChanged.emit();
  }

  /** What the server resolved: the command the job runs, and its warnings. */
  private _showCheck(result: ICheckResult | null): void {
    if (this._project) {
      this._project.resolved.textContent = result?.command || '';
      this._project.env.textContent = envLine(result?.env);
    }
    if (this._checkWarnings) {
      this._checkWarnings.textContent = '';
      this._checkWarnings.append(...(result?.warnings || []).map(w => el('li', {}, w)));
    }
  }

  private get _hasTypeErrors(): boolean {
    return this._typeErrors.length > 0;
  }

  private _renderErrors(focus: boolean): void {
    const placed = placeErrors(
      [...this._typeErrors, ...this._serverErrors],
      field => !!fieldBox(this.node, field)
    );
    showErrors(this.node, this._formError, placed, focus);
  }

  /** POST jobs. Resolves with the job, or null when the errors are shown. */
  async submit(): Promise<IJob | null> {
    if (!this._loaded || this._checkable() === null) {
      this._renderErrors(true);
      return null;
    }
    this._checks.cancel(); // the submit's answer is the newest now
    const req = this.request();
    req.idempotency_key = this._idempotencyKey;
    this._status.textContent = 'Submitting…';
    try {
      const job = await api.submit(req);
      this._job = job;
      const { entry_point, params, resources, name, experiment, env_manager } = req;
      saveChoices(browserStore(), this._choicesKey, {
        entry_point,
        params,
        resources,
        name,
        experiment,
        env_manager
      });
      return job;
    } catch (error) {
      if (error instanceof MLTFApiError && error.isInputError && error.status !== 409) {
        // refused: nothing was submitted, a retry may reuse the key; an edit checks again
        this._serverErrors = [{ field: error.field, message: error.message }];
        this._blocked = true;
      } else {
        // the server may have taken it (timeout, 5xx): keep the key so a retry cannot submit twice
        this._serverErrors = [
          { field: null, message: error instanceof Error ? error.message : String(error) }
        ];
      }
      this._renderErrors(true);
      this._stateChanged.emit();
      return null;
    } finally {
      this._status.textContent = '';
    }
  }

  private get _choicesKey(): string {
    return choicesKey(PageConfig.getBaseUrl(), this.target.path);
  }

  private _checks = new LatestOnly<ISubmitRequest, ICheckResult>(
    req => api.check(req),
    answer => this._onCheck(answer),
    CHECK_DELAY_MS
  );
  private _stateChanged = new Signal<this, void>(this);
  private _config: IConfig | null = null;
  private _preview: IPreview | null = null;
  private _job: IJob | null = null;
  private _loaded = false;
  private _overLimit = false;
  private _blocked = false;
  private _typeErrors: IFieldError[] = [];
  private _serverErrors: IFieldError[] = [];
  private _lastCheck: ICheckResult | null = null;
  private _remembered: { [name: string]: string } = {};
  private _status: HTMLElement;
  private _content: HTMLElement;
  private _formError: HTMLElement;
  private _project: IProjectSection | null = null;
  private _params: HTMLElement | null = null;
  private _checkWarnings: HTMLElement | null = null;
  private _idempotencyKey = uuid();
}

function uuid(): string {
  if (typeof crypto !== 'undefined' && 'randomUUID' in crypto) {
    return (crypto as any).randomUUID();
  }
  return `${Date.now().toString(16)}-${Math.random().toString(16).slice(2)}`;
}
