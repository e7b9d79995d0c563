/**
 * Typed client for the jupyter-mltf server extension (`/mltf/api/...`, see docs/CONTRACT.md).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface IResources {
  gpus?: number | null;
  gpu_type?: string | null;
  partition?: string | null;
  time?: string | null;
  mem?: string | null;
  cpus?: number | null;
  nodes?: number | null;
  account?: string | null;
  qos?: string | null;
}

export interface IPartition {
  name: string;
  default: boolean;
  max_time: string | null;
  default_time: string | null;
  max_nodes: number | null;
  nodes: number;
  cpus_per_node: number | null;
  mem_per_node_mb: number | null;
  gpus_per_node: number;
  gpu_types: string[];
  state: string;
}

export interface IConfig {
  backend: string;
  backends: string[];
  capabilities: {
    cancel: boolean;
    logs: boolean;
    log_offsets: boolean;
    gpus: boolean;
    partitions: boolean;
    arrays: boolean;
    multi_node: boolean;
    pending_reason: boolean;
    notes: string[];
  };
  partitions: IPartition[];
  defaults: { resources: IResources; env_manager?: string | null };
  limits: { max_project_bytes: number; warn_project_bytes: number };
  mlflow_ui_url: string | null;
  tracking_uri: string | null;
  user: string | null;
  poll_interval: number | null;
  warnings?: string[];
}

export interface IParameter {
  name: string;
  type: string;
  default: unknown;
  required: boolean;
}

export interface IEntryPoint {
  name: string;
  command: string;
  parameters: IParameter[];
}

export interface IFileEntry {
  path: string;
  size: number;
}

export interface IPreview {
  path: string;
  /** null when the directory cannot be used as it is: project_error says why */
  project_error?: string | null;
  project: {
    name: string;
    generated: boolean;
    mlproject: string | null;
    entry_points: IEntryPoint[];
    env_spec: unknown;
    notes: string[];
  } | null;
  files: {
    count: number;
    total_bytes: number;
    largest: IFileEntry[];
    files: IFileEntry[];
    excluded: { path: string; reason: string }[];
    limit_bytes: number;
    warn_bytes: number;
    over_limit: boolean;
    warn: boolean;
    truncated?: boolean;
  };
  resources: IResources;
  warnings: string[];
}

export interface IJob {
  id: string;
  backend: string;
  native_id: string;
  name: string;
  project_dir: string;
  entry_point: string;
  params: { [name: string]: string };
  resources: IResources;
  run_id: string | null;
  experiment_id: string | null;
  tracking_uri: string | null;
  mlflow_url: string | null;
  state: string;
  reason: string | null;
  nodes: string[];
  exit_code: number | null;
  submitted_at: number;
  started_at: number | null;
  ended_at: number | null;
  estimated_start: number | null;
  elapsed: number | null;
  terminal: boolean;
  job_dir: string | null;
  log_path: string | null;
  user: string | null;
  metrics?: { [name: string]: number };
}

export interface ISubmitRequest {
  path: string;
  notebook?: string | null;
  entry_point?: string;
  params: { [name: string]: string };
  resources: IResources;
  name?: string;
  experiment?: string;
  idempotency_key?: string;
}

export interface ILogChunk {
  text: string;
  offset: number;
  next_offset: number;
  complete: boolean;
}

/**
 * An error answer of the REST API: `{message, reason}` with its HTTP status.
 */
export class MLTFApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string
  ) {
    super(message);
    this.name = 'MLTFApiError';
  }

  /** 4xx: the user's input was wrong (the message says what to fix). */
  get isInputError(): boolean {
    return this.status >= 400 && this.status < 500;
  }
}

/**
 * Call `/mltf/api/<endpoint>`; JSON in, JSON out; errors become {@link MLTFApiError}.
 */
export async function requestAPI<T>(endpoint: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'mltf', 'api', endpoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new MLTFApiError(0, `cannot reach the Jupyter server: ${String(error)}`, 'network');
  }
  const text = await response.text();
  let data: any = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const message =
      (data && typeof data.message === 'string' && data.message) ||
      `${response.status} ${response.statusText || 'error'} from ${endpoint}`;
    const reason = (data && typeof data.reason === 'string' && data.reason) || 'error';
    throw new MLTFApiError(response.status, message, reason);
  }
  return data as T;
}

export const api = {
  config: (): Promise<IConfig> => requestAPI<IConfig>('config'),
  preview: (path: string, notebook?: string | null): Promise<IPreview> =>
    requestAPI<IPreview>('preview', {
      method: 'POST',
      body: JSON.stringify(notebook ? { path, notebook } : { path })
    }),
  submit: (req: ISubmitRequest): Promise<IJob> =>
    requestAPI<IJob>('jobs', { method: 'POST', body: JSON.stringify(req) }),
  jobs: async (): Promise<IJob[]> => (await requestAPI<{ jobs: IJob[] }>('jobs')).jobs,
  job: (id: string): Promise<IJob> => requestAPI<IJob>(`jobs/${encodeURIComponent(id)}`),
  log: (id: string, offset: number): Promise<ILogChunk> =>
    requestAPI<ILogChunk>(`jobs/${encodeURIComponent(id)}/log?offset=${offset}`),
  cancel: (id: string): Promise<IJob> =>
    requestAPI<IJob>(`jobs/${encodeURIComponent(id)}`, { method: 'DELETE' })
};

/** Config is asked for once per page load (partition limits barely change). */
let configPromise: Promise<IConfig> | null = null;
export function getConfig(refresh = false): Promise<IConfig> {
  if (!configPromise || refresh) {
    configPromise = api.config();
    configPromise.catch(() => {
      configPromise = null;
    });
  }
  return configPromise;
}

// ---------------------------------------------------------------------------------------------
// formatting helpers shared by the dialog and the panel

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) {
    return '?';
  }
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '';
  }
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const hms = `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
  return d > 0 ? `${d}-${hms}` : hms;
}

/** Seconds from a Slurm time ("MM", "MM:SS", "HH:MM:SS", "D-HH[:MM[:SS]]") or "90m", "2h", "1d". */
export function parseSlurmTime(value: string): number | null {
  const text = value.trim().toLowerCase();
  if (!text) {
    return null;
  }
  let m = /^(\d+)\s*([smhd])$/.exec(text);
  if (m) {
    const mult: { [k: string]: number } = { s: 1, m: 60, h: 3600, d: 86400 };
    return parseInt(m[1], 10) * mult[m[2]];
  }
  m = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(text);
  if (!m) {
    return null;
  }
  const nums = [m[2], m[3], m[4]].filter(x => x !== undefined).map(x => parseInt(x, 10));
  if (m[1] !== undefined) {
    const [h, mi, s] = [...nums, 0, 0];
    return parseInt(m[1], 10) * 86400 + h * 3600 + mi * 60 + s;
  }
  if (nums.length === 1) {
    return nums[0] * 60;
  }
  if (nums.length === 2) {
    return nums[0] * 60 + nums[1];
  }
  return nums[0] * 3600 + nums[1] * 60 + nums[2];
}

/** Megabytes from "16G", "500M", "16GB", "1T" or a bare number of megabytes. */
export function parseMem(value: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)I?B?$/.exec(value.trim().toUpperCase());
  if (!m) {
    return null;
  }
  const mult: { [k: string]: number } = { K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024, '': 1 };
  return parseFloat(m[1]) * mult[m[2]];
}

export function formatMem(mb: number): string {
  if (mb % (1024 * 1024) === 0) {
    return `${mb / (1024 * 1024)}T`;
  }
  if (mb % 1024 === 0) {
    return `${mb / 1024}G`;
  }
  return `${mb}M`;
}

export function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

export function basename(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}
