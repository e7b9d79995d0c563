/**
 * The last choices made in the submit dialog, remembered per project directory (browser localStorage).
 */
import { PageConfig } from '@jupyterlab/coreutils';

import { IResources } from './api';

export interface IChoices {
  entry_point?: string;
  params?: { [name: string]: string };
  resources?: IResources;
  name?: string;
  experiment?: string;
}

const PREFIX = 'jupyter-mltf:choices:';
const MAX_ENTRIES = 50;

function key(dir: string): string {
  // one server (base URL) may be used by several users of one browser profile: keep them apart
  return `${PREFIX}${PageConfig.getBaseUrl()}:${dir}`;
}

export function loadChoices(dir: string): IChoices | null {
  try {
    const raw = window.localStorage.getItem(key(dir));
    if (!raw) {
      return null;
    }
    const data = JSON.parse(raw);
    return data && typeof data === 'object' ? (data.choices as IChoices) : null;
  } catch {
    return null;
  }
}

export function saveChoices(dir: string, choices: IChoices): void {
  try {
    window.localStorage.setItem(key(dir), JSON.stringify({ at: Date.now(), choices }));
    pruneOld();
  } catch {
    // storage full or disabled: remembering is a convenience only
  }
}

function pruneOld(): void {
  const entries: [string, number][] = [];
  for (let i = 0; i < window.localStorage.length; i++) {
    const k = window.localStorage.key(i);
    if (k && k.startsWith(PREFIX)) {
      try {
        entries.push([k, JSON.parse(window.localStorage.getItem(k) || '{}').at || 0]);
      } catch {
        entries.push([k, 0]);
      }
    }
  }
  if (entries.length <= MAX_ENTRIES) {
    return;
  }
  entries.sort((a, b) => a[1] - b[1]);
  for (const [k] of entries.slice(0, entries.length - MAX_ENTRIES)) {
    window.localStorage.removeItem(k);
  }
}
