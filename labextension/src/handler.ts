/**
 * The REST client of the jupyter-mltf server extension (`/mltf/api/...`, jupyter_mltf/openapi.yaml).
 * JSON in, JSON out; every error answer becomes an {@link MLTFApiError} that carries the body's `field`.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  ICheckResult,
  IConfig,
  IErrorBody,
  IJob,
  ILogChunk,
  IPreview,
  ISubmitRequest
} from './model';
import { API_ROOT } from './tokens';

/**
 * An error answer of the REST API (`{message, reason, field}`) with its HTTP status; status 0: the
 * server could not be reached.
 */
export class MLTFApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string,
    readonly field: string | null = null
  ) {
    super(message);
    this.name = 'MLTFApiError';
  }

  /** 4xx: the user's input was wrong (the message says what to fix). */
  get isInputError(): boolean {
    return this.status >= 400 && this.status < 500;
  }
}

/** JSON of an answer's text; null for an empty or non-JSON text. */
export function parseJson(text: string): any {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/** The error body of an answer's text, or defaults when it is not one (an HTML 404 page, a proxy's 502). */
export function errorBodyOf(
  status: number,
  statusText: string,
  text: string,
  endpoint: string
): IErrorBody {
  const data = parseJson(text);
  const str = (v: unknown): string | null => (typeof v === 'string' && v ? v : null);
  return {
    message: str(data?.message) ?? `${status} ${statusText || 'error'} from ${endpoint}`,
    reason: str(data?.reason) ?? 'error',
    field: str(data?.field)
  };
}

/** The endpoint of one job (`jobs/<id>`, `jobs/<id>/log`...), the id URL-encoded. */
export function jobEndpoint(id: string, sub = ''): string {
  return `jobs/${encodeURIComponent(id)}${sub ? `/${sub}` : ''}`;
}

/** The endpoint of a job's log from a byte offset on. */
export function logEndpoint(id: string, offset: number): string {
  const from = Number.isFinite(offset) && offset > 0 ? Math.floor(offset) : 0;
  return `${jobEndpoint(id, 'log')}?offset=${from}`;
}

/** The full URL of an endpoint under the server's base URL. */
export function apiUrl(baseUrl: string, endpoint: string): string {
  return URLExt.join(baseUrl, ...API_ROOT, endpoint);
}

/** Call `/mltf/api/<endpoint>`; errors become {@link MLTFApiError}. */
export async function requestAPI<T>(endpoint: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      apiUrl(settings.baseUrl, endpoint),
      init,
      settings
    );
  } catch (error) {
    throw new MLTFApiError(0, `cannot reach the Jupyter server: ${String(error)}`, 'network');
  }
  const text = await response.text();
  if (!response.ok) {
    const body = errorBodyOf(response.status, response.statusText, text, endpoint);
    throw new MLTFApiError(response.status, body.message, body.reason ?? 'error', body.field);
  }
  return parseJson(text) as T;
}

function post<T>(endpoint: string, body: unknown): Promise<T> {
  return requestAPI<T>(endpoint, { method: 'POST', body: JSON.stringify(body) });
}

export const api = {
  config: (): Promise<IConfig> => requestAPI<IConfig>('config'),
  preview: (path: string, notebook?: string | null): Promise<IPreview> =>
    post<IPreview>('preview', notebook ? { path, notebook } : { path }),
  /** The same body as submit; the server checks it (limits, parameters...) and creates nothing. */
  check: (req: ISubmitRequest): Promise<ICheckResult> => post<ICheckResult>('check', req),
  submit: (req: ISubmitRequest): Promise<IJob> => post<IJob>('jobs', req),
  jobs: async (): Promise<IJob[]> => (await requestAPI<{ jobs: IJob[] }>('jobs')).jobs,
  job: (id: string): Promise<IJob> => requestAPI<IJob>(jobEndpoint(id)),
  log: (id: string, offset: number): Promise<ILogChunk> =>
    requestAPI<ILogChunk>(logEndpoint(id, offset)),
  cancel: (id: string): Promise<IJob> => requestAPI<IJob>(jobEndpoint(id), { method: 'DELETE' })
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
