/**
 * Pure functions of the submit dialog: which form field an error of the server is about, the type checks
 * that need no knowledge of the cluster (a number field that is not a number), and the request built from
 * the form's values. Limits of partitions (GPUs per node, max time, memory...) are NOT checked here: the
 * server checks them in one place (POST check / POST jobs) and the dialog shows its answer.
 */
import { IEnvDecision, IParameter, IResources, ISubmitRequest } from './model';

/** The form field (`data-field`, input `name`) of a parameter. */
export const PARAM_FIELD_PREFIX = 'param:';

export function paramField(name: string): string {
  return `${PARAM_FIELD_PREFIX}${name}`;
}

/** The resource inputs of the dialog, by their request key. */
export const RESOURCE_INPUTS = ['partition', 'gpus', 'gpu_type', 'time', 'mem', 'cpus'] as const;

/** Top-level request fields that have an input of their own in the dialog. */
const TOP_LEVEL_INPUTS = ['entry_point', 'name', 'experiment', 'env_manager'];

/** The Environment select of the dialog (the request's `env_manager`): value, label. */
export const ENV_MANAGERS: [string, string][] = [
  ['auto', "auto: the project's env if it declares one, else the notebook's"],
  ['notebook', "notebook: the notebook's own env"],
  ['project', 'project: the env the project declares']
];

/** The select's starting value: the remembered one, else the server's default, else auto. */
export function initialEnvManager(
  remembered: string | null | undefined,
  serverDefault: string | null | undefined
): string {
  const known = ENV_MANAGERS.map(([value]) => value);
  for (const value of [remembered, serverDefault]) {
    if (value && known.includes(value)) {
      return value;
    }
  }
  return 'auto';
}

/**
 * The one line the dialog shows about the env a submit will use, from the `env` block of POST check:
 * `Environment: project env: python_env.yaml, Python 3.10.13 (3.10 asked)` or `Environment: notebook
 * env: the project declares no environment`, then the server's note on the Python. '' when the server
 * sends no `env` (an older server).
 */
export function envLine(env: IEnvDecision | null | undefined): string {
  if (!env || typeof env !== 'object' || !env.used) {
    return '';
  }
  let python = env.python_used ? `Python ${env.python_used}` : '';
  if (python && env.python_requested) {
    python += ` (${env.python_requested} asked)`;
  }
  const first = env.used === 'project' ? env.spec_file || env.why : env.why;
  const what = [first, python].filter(Boolean).join(', ');
  let line = `Environment: ${env.used} env${what ? `: ${what}` : ''}`;
  if (env.cached === false) {
    line += '; built at submit';
  }
  return env.note ? `${line}. ${env.note}` : line;
}

/**
 * The dialog's form field for the `field` of an error body: `params.lr` -> `param:lr`,
 * `resources.time` -> `time`, `entry_point` -> `entry_point`. Null for fields without an input of their
 * own (`path`, `notebook`, `resources` as a whole, `resources.nodes`...) and for null: those messages go
 * to the dialog's general error line.
 */
export function formFieldOf(field: string | null | undefined): string | null {
  if (!field) {
    return null;
  }
  if (field.startsWith('params.') && field.length > 'params.'.length) {
    return paramField(field.slice('params.'.length));
  }
  if (field.startsWith('resources.')) {
    const key = field.slice('resources.'.length);
    return (RESOURCE_INPUTS as readonly string[]).includes(key) ? key : null;
  }
  return TOP_LEVEL_INPUTS.includes(field) ? field : null;
}

export interface IFieldError {
  /** the error body's `field` (request notation: `params.lr`, `resources.gpus`...) or a form field */
  field: string | null;
  message: string;
}

export interface IPlacedErrors {
  /** form field -> message */
  fields: { [formField: string]: string };
  /** messages about no field shown in the form */
  general: string[];
}

/**
 * Where each message is shown: next to its form field when the form shows that field (`shown`), on the
 * general error line otherwise. Request notation (`params.x`, `resources.y`) and form names both work.
 */
export function placeErrors(
  errors: IFieldError[],
  shown: (formField: string) => boolean
): IPlacedErrors {
  const placed: IPlacedErrors = { fields: {}, general: [] };
  for (const { field, message } of errors) {
    const form = field && shown(field) ? field : formFieldOf(field);
    if (form && shown(form) && !(form in placed.fields)) {
      placed.fields[form] = message;
    } else {
      placed.general.push(message);
    }
  }
  return placed;
}

/** What an error answer of POST check means for the Submit button. */
export type CheckVerdict = 'blocked' | 'unavailable' | 'failed';

/**
 * `blocked`: the server refused the request (4xx): Submit stays off until a check passes.
 * `unavailable`: this server has no check endpoint (404/405/501): submit, the server checks then.
 * `failed`: the check itself failed (network, 5xx): say so, but do not block a submit.
 */
export function checkVerdict(status: number): CheckVerdict {
  if (status === 404 || status === 405 || status === 501) {
    return 'unavailable';
  }
  return status >= 400 && status < 500 ? 'blocked' : 'failed';
}

const FLOAT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const INT = /^[-+]?\d+$/;

/** A parameter's value against its MLproject type; null when it is fine (or the server must say). */
export function checkParam(p: IParameter, value: string): string | null {
  const v = value.trim();
  if (v === '') {
    return p.required ? `parameter '${p.name}' is required` : null;
  }
  if (p.type === 'float' && !FLOAT.test(v)) {
    return `parameter '${p.name}' must be float, not '${v}'`;
  }
  if ((p.type === 'int' || p.type === 'integer') && !INT.test(v)) {
    return `parameter '${p.name}' must be int, not '${v}'`;
  }
  return null;
}

/** A count field (gpus, cpus): empty or digits only. */
export function checkWholeNumber(name: string, value: string): string | null {
  const v = value.trim();
  return v === '' || /^\d+$/.test(v) ? null : `${name} must be a whole number, not '${v}'`;
}

/** The values of the dialog's inputs, trimmed ('' for an empty or missing input). */
export interface IFormValues {
  path: string;
  notebook: string | null;
  entry_point: string;
  name: string;
  experiment: string;
  /** auto | notebook | project ('' : the server's default) */
  env_manager: string;
  params: { [name: string]: string };
  partition: string;
  gpus: string;
  gpu_type: string;
  time: string;
  mem: string;
  cpus: string;
}

/**
 * The type checks of the form (form field -> message): an entry point is chosen, parameters match their
 * types, counts are whole numbers. Everything that needs the cluster is the server's.
 */
export function typeErrors(
  values: IFormValues,
  parameters: IParameter[] | null
): { [formField: string]: string } {
  const errors: { [formField: string]: string } = {};
  if (parameters === null) {
    errors.entry_point = 'choose an entry point';
  }
  for (const p of parameters || []) {
    const error = checkParam(p, values.params[p.name] ?? '');
    if (error) {
      errors[paramField(p.name)] = error;
    }
  }
  for (const name of ['gpus', 'cpus'] as const) {
    const error = checkWholeNumber(name, values[name]);
    if (error) {
      errors[name] = error;
    }
  }
  return errors;
}

/** The body of POST check / POST jobs from the form's values; empty values are left out. */
export function requestOf(values: IFormValues): ISubmitRequest {
  const params: { [name: string]: string } = {};
  for (const [name, value] of Object.entries(values.params)) {
    if (value !== '') {
      params[name] = value;
    }
  }
  const resources: IResources = { gpus: values.gpus === '' ? 0 : Number(values.gpus) };
  for (const key of ['partition', 'gpu_type', 'time', 'mem'] as const) {
    if (values[key]) {
      resources[key] = values[key];
    }
  }
  if (values.cpus) {
    resources.cpus = Number(values.cpus);
  }
  if (!resources.gpus) {
    delete resources.gpu_type;
  }
  const req: ISubmitRequest = { path: values.path, params, resources };
  if (values.entry_point) {
    req.entry_point = values.entry_point;
  }
  for (const key of ['notebook', 'name', 'experiment', 'env_manager'] as const) {
    if (values[key]) {
      req[key] = values[key]!;
    }
  }
  return req;
}

/** The request's `path`: relative to the server root, '.' for the root itself. */
export function apiPath(dir: string): string {
  return dir.replace(/^\/+|\/+$/g, '') || '.';
}

/** The request's `notebook`: the notebook's name inside the project directory (null: not inside it). */
export function apiNotebook(dir: string, notebook: string | null | undefined): string | null {
  if (!notebook) {
    return null;
  }
  const d = dir.replace(/^\/+|\/+$/g, '');
  if (!d) {
    return notebook.includes('/') ? null : notebook;
  }
  return notebook.startsWith(`${d}/`) ? notebook.slice(d.length + 1) : null;
}
