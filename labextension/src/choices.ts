/**
 * What this browser remembers (localStorage): the last choices of the submit dialog per project
 * directory, and the project path of the jobs it submitted. Pure over a `Storage` passed in (null:
 * storage disabled), so that it runs in tests without a browser.
 */
import { IResources } from './model';
import { CHOICES_KEY_PREFIX, JOB_PATHS_KEY } from './tokens';

export interface IChoices {
  entry_point?: string;
  params?: { [name: string]: string };
  resources?: IResources;
  name?: string;
  experiment?: string;
  env_manager?: string;
}

/** The subset of the Web Storage API used here. */
export type IStore = Pick<Storage, 'getItem' | 'setItem' | 'removeItem' | 'key' | 'length'>;

const MAX_CHOICES = 50;
const MAX_JOB_PATHS = 200;

/** The browser's localStorage, or null where it is disabled. */
export function browserStore(): IStore | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/** One key per server (base URL) and directory: users of one browser profile stay apart. */
export function choicesKey(baseUrl: string, dir: string): string {
  return `${CHOICES_KEY_PREFIX}${baseUrl}:${dir}`;
}

export function loadChoices(store: IStore | null, key: string): IChoices | null {
  try {
    const raw = store?.getItem(key);
    const data = raw ? JSON.parse(raw) : null;
    return data && typeof data === 'object' && data.choices && typeof data.choices === 'object'
      ? (data.choices as IChoices)
      : null;
  } catch {
    return null;
  }
}

export function saveChoices(
  store: IStore | null,
  key: string,
  choices: IChoices,
  now: number = Date.now()
): void {
  try {
    store?.setItem(key, JSON.stringify({ at: now, choices }));
    if (store) {
      pruneChoices(store, MAX_CHOICES);
    }
  } catch {
    // storage full or disabled: remembering is a convenience only
  }
}

/** Keep the `max` most recently saved choices. */
export function pruneChoices(store: IStore, max: number): void {
  const entries: [string, number][] = [];
  for (let i = 0; i < store.length; i++) {
    const k = store.key(i);
    if (k && k.startsWith(CHOICES_KEY_PREFIX)) {
      let at = 0;
      try {
        at = Number(JSON.parse(store.getItem(k) || '{}').at) || 0;
      } catch {
        at = 0;
      }
      entries.push([k, at]);
    }
  }
  entries.sort((a, b) => a[1] - b[1]);
  for (const [k] of entries.slice(0, Math.max(0, entries.length - max))) {
    store.removeItem(k);
  }
}

/** Resources without empty values (an empty value must not hide a default below it). */
export function withoutEmpty(r: IResources | null | undefined): IResources {
  const out: { [key: string]: unknown } = {};
  for (const [k, v] of Object.entries(r || {})) {
    if (v !== null && v !== undefined && v !== '') {
      out[k] = v;
    }
  }
  return out as IResources;
}

/**
 * The dialog's starting values. Resources: config defaults < the project's gateway_config.json <
 * remembered < prefill (re-submit); the rest: remembered < prefill.
 */
export function mergeChoices(
  configDefaults: IResources | null | undefined,
  projectResources: IResources | null | undefined,
  remembered: IChoices | null,
  prefill: IChoices | null | undefined
): IChoices {
  const mem = remembered || {};
  const pre = prefill || {};
  return {
    entry_point: pre.entry_point || mem.entry_point,
    name: pre.name ?? mem.name,
    experiment: pre.experiment ?? mem.experiment,
    env_manager: pre.env_manager || mem.env_manager,
    params: { ...(mem.params || {}), ...(pre.params || {}) },
    resources: {
      ...withoutEmpty(configDefaults),
      ...withoutEmpty(projectResources),
      ...withoutEmpty(mem.resources),
      ...withoutEmpty(pre.resources)
    }
  };
}

export interface IJobPath {
  path: string;
  notebook: string | null;
}

/** Remember where a job was submitted from (the newest `MAX_JOB_PATHS` jobs). */
export function rememberJobPath(
  store: IStore | null,
  jobId: string,
  path: string,
  notebook: string | null | undefined
): void {
  try {
    const map = JSON.parse(store?.getItem(JOB_PATHS_KEY) || '{}');
    map[jobId] = { path, notebook: notebook || null };
    const keys = Object.keys(map);
    for (const k of keys.slice(0, Math.max(0, keys.length - MAX_JOB_PATHS))) {
      delete map[k];
    }
    store?.setItem(JOB_PATHS_KEY, JSON.stringify(map));
  } catch {
    // convenience only
  }
}

export function recallJobPath(store: IStore | null, jobId: string): IJobPath | null {
  try {
    const map = JSON.parse(store?.getItem(JOB_PATHS_KEY) || '{}');
    const entry = map && typeof map === 'object' ? map[jobId] : null;
    return entry && typeof entry.path === 'string' ? entry : null;
  } catch {
    return null;
  }
}
