/**
 * Pure formatting helpers shared by the dialog and the panel: sizes, durations, partition hints, job
 * state classes and notices, paths. No DOM, no requests.
 */
import {
  ACTIVE_STATES,
  GOOD_END,
  IJob,
  IPartition,
  IResources,
  NEUTRAL_END,
  WAITING_STATES
} from './model';

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

/** Seconds as HH:MM:SS, or D-HH:MM:SS from a day on; '' for no value. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '';
  }
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const two = (n: number): string => String(n).padStart(2, '0');
  const hms = `${two(Math.floor((s % 86400) / 3600))}:${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
  return d > 0 ? `${d}-${hms}` : hms;
}

/** Megabytes the way Slurm writes them: 16G, 500M, 1T. */
export function formatMem(mb: number): string {
  if (mb % (1024 * 1024) === 0) {
    return `${mb / (1024 * 1024)}T`;
  }
  if (mb % 1024 === 0) {
    return `${mb / 1024}G`;
  }
  return `${mb}M`;
}

/** A parameter's default as the text of its input ('' for none). */
export function defaultString(value: unknown): string {
  return value === null || value === undefined ? '' : String(value);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The text of a partition's option: "gpu (default) · 2 GPUs", "cpu · CPU · down". */
export function partitionLabel(p: IPartition): string {
  const gpus = p.gpus_per_node ? plural(p.gpus_per_node, 'GPU') : 'CPU';
  const down = p.state && p.state !== 'up' ? ` · ${p.state}` : '';
  return `${p.name}${p.default ? ' (default)' : ''} · ${gpus}${down}`;
}

export interface IPartitionHints {
  partition: string;
  gpus: string;
  time: string;
  mem: string;
  cpus: string;
}

/** The limits of a partition, shown next to the resource fields (the server checks them). */
export function partitionHints(p: IPartition | undefined): IPartitionHints {
  if (!p) {
    return { partition: '', gpus: '', time: '', mem: '', cpus: '' };
  }
  const types = p.gpu_types.length ? ` (${p.gpu_types.join(', ')})` : '';
  const partition = [p.gpus_per_node ? `${p.gpus_per_node} GPUs/node${types}` : 'no GPUs'];
  if (p.cpus_per_node) {
    partition.push(`${p.cpus_per_node} CPUs`);
  }
  partition.push(plural(p.nodes, 'node'));
  const time = [
    p.max_time ? `max ${p.max_time}` : '',
    p.default_time ? `default ${p.default_time}` : ''
  ];
  return {
    partition: partition.join(' · '),
    gpus: p.gpus_per_node ? `0 to ${p.gpus_per_node} per node` : 'this partition has no GPUs',
    time: time.filter(Boolean).join(' · '),
    mem: p.mem_per_node_mb ? `max ${formatMem(p.mem_per_node_mb)} per node` : '',
    cpus: p.cpus_per_node ? `max ${p.cpus_per_node} per node` : ''
  };
}

/**
 * The partition the dialog starts with: the one asked for, else (with GPUs) the default GPU partition or
 * any GPU partition, else the default, else the first.
 */
export function initialPartition(partitions: IPartition[], r: IResources): IPartition | undefined {
  const named = partitions.find(p => p.name === r.partition);
  const gpu =
    (r.gpus || 0) > 0
      ? partitions.find(p => p.default && p.gpus_per_node) || partitions.find(p => p.gpus_per_node)
      : undefined;
  return named || gpu || partitions.find(p => p.default) || partitions[0];
}

/** The CSS class of a job state's badge. */
export function stateClass(state: string): string {
  if (GOOD_END.has(state)) {
    return 'mltf-state-ok';
  }
  if (state === 'CANCELLED') {
    return 'mltf-state-cancelled';
  }
  if (ACTIVE_STATES.has(state)) {
    return 'mltf-state-running';
  }
  if (WAITING_STATES.has(state)) {
    return 'mltf-state-pending';
  }
  return state === 'UNKNOWN' ? 'mltf-state-unknown' : 'mltf-state-failed';
}

/** "2× a100", "1× GPU", "CPU". */
export function gpuText(job: IJob): string {
  const r = job.resources || {};
  return r.gpus ? `${r.gpus}× ${r.gpu_type || 'GPU'}` : 'CPU';
}

/** A timestamp (seconds): the time of day today, date and time otherwise. */
export function when(ts: number | null, now: Date = new Date()): string {
  if (!ts) {
    return '';
  }
  const d = new Date(ts * 1000);
  return d.toDateString() === now.toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
}

/** Why a job waits, or how it failed; '' otherwise. */
export function jobReason(job: IJob, at: (ts: number | null) => string = when): string {
  if (job.state === 'PENDING' && job.reason) {
    return `waiting: ${job.reason}${job.estimated_start ? ` · expected start ${at(job.estimated_start)}` : ''}`;
  }
  const failed = job.terminal && !GOOD_END.has(job.state) && !NEUTRAL_END.has(job.state);
  return failed && job.exit_code !== null && job.exit_code !== undefined
    ? `exit code ${job.exit_code}`
    : '';
}

/** "loss=0.1235  acc=0.9000". */
export function metricsText(metrics: { [name: string]: number } | undefined): string {
  return Object.entries(metrics || {})
    .map(([k, v]) => `${k}=${Number(v).toPrecision(4)}`)
    .join('  ');
}

export interface IJobNotice {
  kind: 'info' | 'success' | 'error';
  text: string;
  /** milliseconds; false: stays until closed */
  autoClose: number | false;
}

/** The notification for a job's state change from `before` (null: nothing worth saying). */
export function jobNotice(before: string | undefined, job: IJob): IJobNotice | null {
  if (before === undefined || before === job.state) {
    return null;
  }
  const name = `${job.name || job.id} (${job.native_id || job.id})`;
  if (ACTIVE_STATES.has(job.state) && !ACTIVE_STATES.has(before)) {
    const where = job.nodes?.length ? ` on ${job.nodes.join(', ')}` : '';
    return { kind: 'info', text: `MLTF job ${name} started${where}`, autoClose: 5000 };
  }
  if (!job.terminal) {
    return null;
  }
  if (GOOD_END.has(job.state)) {
    return { kind: 'success', text: `MLTF job ${name} finished`, autoClose: 8000 };
  }
  if (NEUTRAL_END.has(job.state)) {
    return { kind: 'info', text: `MLTF job ${name} was cancelled`, autoClose: 5000 };
  }
  const code =
    job.exit_code !== null && job.exit_code !== undefined ? `, exit code ${job.exit_code}` : '';
  return { kind: 'error', text: `MLTF job ${name} ended ${job.state}${code}`, autoClose: false };
}

/** The panel's status line. */
export function panelStatus(count: number, lastUpdate: number, error: string): string {
  if (error) {
    return `Cannot refresh: ${error}`;
  }
  if (!lastUpdate) {
    return 'Loading…';
  }
  return `${count} job${count === 1 ? '' : 's'} · updated ${new Date(lastUpdate).toLocaleTimeString()}`;
}

/** The most characters kept on screen: older output is dropped from the top. */
const MAX_LOG_CHARS = 2_000_000;

/** The log text after appending `chunk`, the oldest part cut when it grows over `max`. */
export function appendLog(text: string, chunk: string, max: number = MAX_LOG_CHARS): string {
  const all = text + chunk;
  return all.length > max ? '[… earlier output not shown …]\n' + all.slice(all.length - max) : all;
}

export function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/**
 * A job's project directory relative to this server's root (`serverRoot`, PageConfig's option), or null
 * when it is outside it.
 */
export function relativeProjectDir(projectDir: string, serverRoot: string): string | null {
  const dir = (projectDir || '').replace(/\/+$/, '');
  if (!dir.startsWith('/')) {
    return dir;
  }
  const root = (serverRoot || '').replace(/\/+$/, '');
  if (root && !root.startsWith('~')) {
    if (dir === root) {
      return '';
    }
    return dir.startsWith(`${root}/`) ? dir.slice(root.length + 1) : null;
  }
  // "~/x": the browser does not know the home directory; match the part after the ~
  const tail = root.replace(/^~/, '');
  if (tail) {
    const i = dir.indexOf(`${tail}/`);
    return i >= 0 ? dir.slice(i + tail.length + 1) : dir.endsWith(tail) ? '' : null;
  }
  return null;
}
