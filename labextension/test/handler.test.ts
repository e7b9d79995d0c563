/* The REST client with the JupyterLab server connection replaced by a fake. */
jest.mock('@jupyterlab/coreutils', () => ({
  URLExt: {
    join: (...parts: string[]) =>
      parts.map((p, i) => (i === 0 ? p.replace(/\/+$/, '') : p.replace(/^\/+|\/+$/g, ''))).join('/')
  }
}));

const makeRequest = jest.fn();
jest.mock('@jupyterlab/services', () => ({
  ServerConnection: {
    makeSettings: () => ({ baseUrl: 'http://lab/user/alice/' }),
    makeRequest: (...args: unknown[]) => makeRequest(...args)
  }
}));

import {
  api,
  apiUrl,
  errorBodyOf,
  jobEndpoint,
  logEndpoint,
  MLTFApiError,
  parseJson
} from '../src/handler';

function answer(status: number, body: string, statusText = ''): Response {
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText,
    text: async () => body
  } as Response;
}

beforeEach(() => makeRequest.mockReset());

describe('URLs', () => {
  it('endpoints', () => {
    expect(jobEndpoint('abc')).toBe('jobs/abc');
    expect(jobEndpoint('a/b c', 'log')).toBe('jobs/a%2Fb%20c/log');
    expect(logEndpoint('abc', 120)).toBe('jobs/abc/log?offset=120');
    expect(logEndpoint('abc', -1)).toBe('jobs/abc/log?offset=0');
    expect(logEndpoint('abc', NaN)).toBe('jobs/abc/log?offset=0');
  });

  it('apiUrl is under the base URL', () => {
    expect(apiUrl('http://lab/user/alice/', 'check')).toBe('http://lab/user/alice/mltf/api/check');
  });
});

describe('error bodies', () => {
  it('carry the field', () => {
    const body = JSON.stringify({
      message: 'time is over',
      reason: 'invalid-resources',
      field: 'resources.time'
    });
    expect(errorBodyOf(422, '', body, 'check')).toEqual({
      message: 'time is over',
      reason: 'invalid-resources',
      field: 'resources.time'
    });
  });

  it('a null or missing field is null', () => {
    expect(
      errorBodyOf(400, '', '{"message":"m","reason":"r","field":null}', 'jobs').field
    ).toBeNull();
    expect(errorBodyOf(400, '', '{"message":"m"}', 'jobs').field).toBeNull();
  });

  it('a body that is not ours says the status', () => {
    expect(errorBodyOf(404, 'Not Found', '<html>404</html>', 'check')).toEqual({
      message: '404 Not Found from check',
      reason: 'error',
      field: null
    });
    expect(errorBodyOf(502, '', '', 'jobs').message).toBe('502 error from jobs');
  });

  it('parseJson', () => {
    expect(parseJson('')).toBeNull();
    expect(parseJson('{')).toBeNull();
    expect(parseJson('{"a":1}')).toEqual({ a: 1 });
  });
});

describe('requests', () => {
  it('check posts the submit body to /check', async () => {
    makeRequest.mockResolvedValue(
      answer(200, '{"ok":true,"command":"python x.py","params":{},"resources":{},"warnings":[]}')
    );
    const req = { path: 'demo', params: { lr: '0.1' }, resources: { gpus: 1 } };
    const result = await api.check(req);
    expect(result.command).toBe('python x.py');
    const [url, init] = makeRequest.mock.calls[0];
    expect(url).toBe('http://lab/user/alice/mltf/api/check');
    expect(init.method).toBe('POST');
    expect(JSON.parse(init.body)).toEqual(req);
  });

  it('an error answer becomes an MLTFApiError with the field', async () => {
    makeRequest.mockResolvedValue(
      answer(
        422,
        '{"message":"gpus=5 is more than the 2 GPUs per node","reason":"invalid-resources","field":"resources.gpus"}'
      )
    );
    const error = await api.submit({ path: 'demo', params: {}, resources: {} }).catch(e => e);
    expect(error).toBeInstanceOf(MLTFApiError);
    expect(error.status).toBe(422);
    expect(error.field).toBe('resources.gpus');
    expect(error.reason).toBe('invalid-resources');
    expect(error.isInputError).toBe(true);
  });

  it('a network failure is status 0', async () => {
    makeRequest.mockRejectedValue(new TypeError('Failed to fetch'));
    const error = await api.jobs().catch(e => e);
    expect(error).toBeInstanceOf(MLTFApiError);
    expect(error.status).toBe(0);
    expect(error.isInputError).toBe(false);
    expect(error.message).toMatch('cannot reach the Jupyter server');
  });

  it('GET jobs unwraps the list; DELETE cancels', async () => {
    makeRequest.mockResolvedValueOnce(answer(200, '{"jobs":[{"id":"a"}]}'));
    expect(await api.jobs()).toEqual([{ id: 'a' }]);
    makeRequest.mockResolvedValueOnce(answer(200, '{"id":"a","state":"CANCELLED"}'));
    await api.cancel('a');
    expect(makeRequest.mock.calls[1][0]).toBe('http://lab/user/alice/mltf/api/jobs/a');
    expect(makeRequest.mock.calls[1][1].method).toBe('DELETE');
  });
});
