/**
 * The TypeScript types of the REST payloads of `/mltf/api/...` (jupyter_mltf/openapi.yaml), and the few
 * constants about their values (job states) that the dialog and the panel share. Types only: no requests.
 */

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

/** A partition of the cluster with its limits, as GET config serves it (the dialog only shows them). */
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

export interface IPreviewFiles {
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
}

export interface IProjectInfo {
  name: string;
  generated: boolean;
  mlproject: string | null;
  entry_points: IEntryPoint[];
  env_spec: unknown;
  notes: string[];
}

/**
 * Which environment a submit runs in, and why (the `env` block of POST check, preview and dry run).
 * Absent from an older server.
 */
export interface IEnvDecision {
  /** what was asked: auto, notebook or project */
  policy: string;
  /** what runs: notebook or project */
  used: string;
  why: string;
  spec_file: string | null;
  python_requested: string | null;
  python_used: string | null;
  note: string | null;
  cached?: boolean | null;
}

export interface IPreview {
  path: string;
  /** set when the directory cannot be used as it is (then `project` is null) */
  project_error?: string | null;
  project: IProjectInfo | null;
  files: IPreviewFiles;
  resources: IResources;
  warnings: string[];
  env?: IEnvDecision | null;
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

/** The body of POST jobs (submit) and of POST check (the same request, checked only). */
export interface ISubmitRequest {
  path: string;
  notebook?: string | null;
  entry_point?: string;
  params: { [name: string]: string };
  resources: IResources;
  name?: string;
  experiment?: string;
  /** auto | notebook | project; absent: the server's default */
  env_manager?: string;
  idempotency_key?: string;
}

/** The 200 answer of POST check: what a submit of the same body would run; nothing was created. */
export interface ICheckResult {
  ok: true;
  command: string;
  params: { [name: string]: string };
  /** the resolved resources, the default partition filled in */
  resources: IResources;
  warnings: string[];
  env_manager?: string;
  env?: IEnvDecision | null;
  launcher?: string;
  experiment?: string;
}

export interface ILogChunk {
  text: string;
  offset: number;
  next_offset: number;
  complete: boolean;
}

/**
 * Every error answer of the REST API. `field` names the request field the error is about: a top-level
 * field (`entry_point`, `name`, `path`...), `resources` or `resources.<key>`, or `params.<name>`; null
 * when it is about no single field.
 */
export interface IErrorBody {
  message: string;
  reason: string | null;
  field: string | null;
  job_id?: string;
}

/** States of a job that is running on a node. */
export const ACTIVE_STATES: ReadonlySet<string> = new Set(['RUNNING', 'COMPLETING', 'CONFIGURING']);
/** States of a job waiting for the cluster. */
export const WAITING_STATES: ReadonlySet<string> = new Set([
  'PENDING',
  'SUBMITTING',
  'REQUEUED',
  'SUSPENDED'
]);
/** The terminal state that is a success. */
export const GOOD_END: ReadonlySet<string> = new Set(['COMPLETED']);
/** Terminal states that are neither a success nor a failure. */
export const NEUTRAL_END: ReadonlySet<string> = new Set(['CANCELLED', 'REVOKED']);
