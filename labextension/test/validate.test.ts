import { IEnvDecision, IParameter } from '../src/model';
import {
  apiNotebook,
  apiPath,
  checkParam,
  checkVerdict,
  checkWholeNumber,
  ENV_MANAGERS,
  envLine,
  formFieldOf,
  IFormValues,
  paramField,
  placeErrors,
  requestOf,
  initialEnvManager,
  typeErrors
} from '../src/validate';

const param = (name: string, type: string, required = false): IParameter => ({
  name,
  type,
  required,
  default: required ? null : '1'
});

const values = (over: Partial<IFormValues> = {}): IFormValues => ({
  path: 'demo',
  notebook: null,
  entry_point: 'main',
  name: '',
  experiment: '',
  env_manager: '',
  params: {},
  partition: '',
  gpus: '',
  gpu_type: '',
  time: '',
  mem: '',
  cpus: '',
  ...over
});

describe('formFieldOf: the error body field -> the dialog input', () => {
  it.each([
    ['params.lr', 'param:lr'],
    ['params.a.b', 'param:a.b'],
    ['resources.partition', 'partition'],
    ['resources.gpus', 'gpus'],
    ['resources.gpu_type', 'gpu_type'],
    ['resources.time', 'time'],
    ['resources.mem', 'mem'],
    ['resources.cpus', 'cpus'],
    ['entry_point', 'entry_point'],
    ['name', 'name'],
    ['experiment', 'experiment'],
    ['env_manager', 'env_manager']
  ])('%s -> %s', (field, input) => {
    expect(formFieldOf(field)).toBe(input);
  });

  it.each([
    'path',
    'notebook',
    'launcher',
    'sweep',
    'script',
    'idempotency_key',
    'resources',
    'resources.nodes',
    'resources.account',
    'resources.',
    'params.',
    'gpus',
    'unknown'
  ])('%s has no input of its own (general line)', field => {
    expect(formFieldOf(field)).toBeNull();
  });

  it('null, undefined and empty go to the general line', () => {
    expect(formFieldOf(null)).toBeNull();
    expect(formFieldOf(undefined)).toBeNull();
    expect(formFieldOf('')).toBeNull();
  });
});

describe('placeErrors', () => {
  const shown = (fields: string[]) => (f: string) => fields.includes(f);

  it('puts a message next to the field the form shows', () => {
    const placed = placeErrors(
      [{ field: 'resources.time', message: 'time 99:00:00 is over the limit' }],
      shown(['time', 'gpus'])
    );
    expect(placed).toEqual({ fields: { time: 'time 99:00:00 is over the limit' }, general: [] });
  });

  it('sends fields the form does not show, and null, to the general line', () => {
    const placed = placeErrors(
      [
        { field: 'params.gone', message: 'a' },
        { field: 'path', message: 'b' },
        { field: null, message: 'c' }
      ],
      shown(['param:lr'])
    );
    expect(placed).toEqual({ fields: {}, general: ['a', 'b', 'c'] });
  });

  it('takes form field names as they are and keeps the first message per field', () => {
    const placed = placeErrors(
      [
        { field: 'param:lr', message: 'first' },
        { field: 'params.lr', message: 'second' }
      ],
      shown(['param:lr'])
    );
    expect(placed.fields).toEqual({ 'param:lr': 'first' });
    expect(placed.general).toEqual(['second']);
  });
});

describe('checkVerdict', () => {
  it.each([
    [400, 'blocked'],
    [413, 'blocked'],
    [422, 'blocked'],
    [404, 'unavailable'],
    [405, 'unavailable'],
    [501, 'unavailable'],
    [0, 'failed'],
    [500, 'failed'],
    [503, 'failed']
  ])('%d -> %s', (status, verdict) => {
    expect(checkVerdict(status)).toBe(verdict);
  });
});

describe('type checks', () => {
  it('float parameters', () => {
    for (const ok of ['0.01', '3', '-1e-3', '.5', '+2.', ' 1 ']) {
      expect(checkParam(param('lr', 'float'), ok)).toBeNull();
    }
    expect(checkParam(param('lr', 'float'), 'fast')).toBe(
      "parameter 'lr' must be float, not 'fast'"
    );
    expect(checkParam(param('lr', 'float'), '1e')).toMatch('must be float');
  });

  it('int parameters', () => {
    expect(checkParam(param('n', 'int'), '-3')).toBeNull();
    expect(checkParam(param('n', 'integer'), '2.5')).toBe("parameter 'n' must be int, not '2.5'");
  });

  it('required and free-text parameters', () => {
    expect(checkParam(param('data', 'path', true), '')).toBe("parameter 'data' is required");
    expect(checkParam(param('data', 'path'), '')).toBeNull();
    expect(checkParam(param('s', 'string'), 'anything at all')).toBeNull();
  });

  it('whole numbers', () => {
    expect(checkWholeNumber('gpus', '')).toBeNull();
    expect(checkWholeNumber('gpus', '2')).toBeNull();
    expect(checkWholeNumber('gpus', '1.5')).toBe("gpus must be a whole number, not '1.5'");
    expect(checkWholeNumber('cpus', '-1')).toMatch('whole number');
  });

  it('typeErrors names form fields and knows nothing of partitions', () => {
    const errors = typeErrors(values({ params: { lr: 'fast', n: '2' }, gpus: '99', cpus: 'x' }), [
      param('lr', 'float'),
      param('n', 'int')
    ]);
    expect(errors).toEqual({
      [paramField('lr')]: "parameter 'lr' must be float, not 'fast'",
      cpus: "cpus must be a whole number, not 'x'"
    });
  });

  it('typeErrors without an entry point', () => {
    expect(typeErrors(values(), null)).toEqual({ entry_point: 'choose an entry point' });
  });
});

describe('requestOf', () => {
  it('leaves empty values out and types the counts', () => {
    const req = requestOf(
      values({
        params: { lr: '0.05', epochs: '' },
        gpus: '1',
        gpu_type: 'a100',
        partition: 'gpu',
        time: '00:10:00',
        cpus: '4',
        name: 'run'
      })
    );
    expect(req).toEqual({
      path: 'demo',
      entry_point: 'main',
      params: { lr: '0.05' },
      resources: { gpus: 1, gpu_type: 'a100', partition: 'gpu', time: '00:10:00', cpus: 4 },
      name: 'run'
    });
  });

  it('sends the env policy when one is chosen, and leaves it to the server otherwise', () => {
    expect(requestOf(values({ env_manager: 'project' })).env_manager).toBe('project');
    expect('env_manager' in requestOf(values())).toBe(false);
  });

  it('drops gpu_type without GPUs and sends the notebook when there is one', () => {
    const req = requestOf(values({ gpus: '', gpu_type: 'a100', notebook: 'nb.ipynb' }));
    expect(req.resources).toEqual({ gpus: 0 });
    expect(req.notebook).toBe('nb.ipynb');
  });
});

describe('request paths', () => {
  it('apiPath', () => {
    expect(apiPath('')).toBe('.');
    expect(apiPath('/')).toBe('.');
    expect(apiPath('/demo/')).toBe('demo');
    expect(apiPath('a/b')).toBe('a/b');
  });

  it('apiNotebook', () => {
    expect(apiNotebook('demo', 'demo/explore.ipynb')).toBe('explore.ipynb');
    expect(apiNotebook('demo', 'other/x.ipynb')).toBeNull();
    expect(apiNotebook('', 'x.ipynb')).toBe('x.ipynb');
    expect(apiNotebook('', 'a/x.ipynb')).toBeNull();
    expect(apiNotebook('demo', null)).toBeNull();
  });
});

describe('the Environment select', () => {
  it('offers auto, notebook and project', () => {
    expect(ENV_MANAGERS.map(([value]) => value)).toEqual(['auto', 'notebook', 'project']);
  });

  it('starts at the remembered choice, else the server default, else auto', () => {
    expect(initialEnvManager('project', 'notebook')).toBe('project');
    expect(initialEnvManager(undefined, 'notebook')).toBe('notebook');
    expect(initialEnvManager('conda', null)).toBe('auto');
    expect(initialEnvManager(null, undefined)).toBe('auto');
  });

  it('an env_manager error goes to the select, not the general line', () => {
    const placed = placeErrors(
      [{ field: 'env_manager', message: 'python 3.99 is not available: 3.10.13, 3.12.4 are' }],
      form => form === 'env_manager'
    );
    expect(placed.fields).toEqual({
      env_manager: 'python 3.99 is not available: 3.10.13, 3.12.4 are'
    });
    expect(placed.general).toEqual([]);
  });
});

describe('envLine: the check answer env block as one line', () => {
  const project: IEnvDecision = {
    policy: 'auto',
    used: 'project',
    why: 'the project declares python_env.yaml (python 3.10, 2 packages)',
    spec_file: 'python_env.yaml',
    python_requested: '3.10',
    python_used: '3.10.13',
    note: null,
    cached: true
  };

  it('project env: the spec file and the Python used', () => {
    expect(envLine(project)).toBe(
      'Environment: project env: python_env.yaml, Python 3.10.13 (3.10 asked)'
    );
  });

  it('adds the note on the Python and that it is built at submit', () => {
    const env = {
      ...project,
      python_requested: '3.10.4',
      note: '3.10.4 asked, 3.10.13 used (newest 3.10.x)',
      cached: false
    };
    expect(envLine(env)).toBe(
      'Environment: project env: python_env.yaml, Python 3.10.13 (3.10.4 asked); built at submit.' +
        ' 3.10.4 asked, 3.10.13 used (newest 3.10.x)'
    );
  });

  it('notebook env: why', () => {
    const env: IEnvDecision = {
      ...project,
      used: 'notebook',
      why: 'the project declares no environment',
      spec_file: null,
      python_requested: null,
      python_used: null
    };
    expect(envLine(env)).toBe('Environment: notebook env: the project declares no environment');
  });

  it('nothing from an older server', () => {
    expect(envLine(undefined)).toBe('');
    expect(envLine(null)).toBe('');
  });
});
