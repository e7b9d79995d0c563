import {
  appendLog,
  dirname,
  formatBytes,
  formatDuration,
  formatMem,
  gpuText,
  initialPartition,
  jobNotice,
  jobReason,
  metricsText,
  panelStatus,
  partitionHints,
  partitionLabel,
  relativeProjectDir,
  stateClass
} from '../src/format';
import { IJob, IPartition } from '../src/model';

const partition = (over: Partial<IPartition> = {}): IPartition => ({
  name: 'gpu',
  default: false,
  max_time: '08:00:00',
  default_time: '01:00:00',
  max_nodes: null,
  nodes: 1,
  cpus_per_node: 8,
  mem_per_node_mb: 16384,
  gpus_per_node: 2,
  gpu_types: ['fake_a100'],
  state: 'up',
  ...over
});

const job = (over: Partial<IJob> = {}): IJob =>
  ({
    id: 'j1',
    native_id: '42',
    name: 'demo',
    state: 'RUNNING',
    terminal: false,
    exit_code: null,
    nodes: [],
    resources: {},
    ...over
  }) as IJob;

describe('sizes and durations', () => {
  it('formatBytes', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(2 * 1024 * 1024)).toBe('2.0 MB');
    expect(formatBytes(4 * 1024 * 1024)).toBe('4.0 MB');
    expect(formatBytes(15 * 1024)).toBe('15 KB');
    expect(formatBytes(NaN)).toBe('?');
  });

  it('formatDuration', () => {
    expect(formatDuration(null)).toBe('');
    expect(formatDuration(undefined)).toBe('');
    expect(formatDuration(0)).toBe('00:00:00');
    expect(formatDuration(3661.9)).toBe('01:01:01');
    expect(formatDuration(90061)).toBe('1-01:01:01');
    expect(formatDuration(-5)).toBe('00:00:00');
  });

  it('formatMem', () => {
    expect(formatMem(16384)).toBe('16G');
    expect(formatMem(500)).toBe('500M');
    expect(formatMem(1024 * 1024)).toBe('1T');
  });
});

describe('partitions', () => {
  it('partitionLabel', () => {
    expect(partitionLabel(partition({ default: true }))).toBe('gpu (default) · 2 GPUs');
    expect(partitionLabel(partition({ name: 'cpu', gpus_per_node: 0, state: 'down' }))).toBe(
      'cpu · CPU · down'
    );
    expect(partitionLabel(partition({ gpus_per_node: 1 }))).toBe('gpu · 1 GPU');
  });

  it('partitionHints shows the limits the browser tests read', () => {
    expect(partitionHints(partition())).toEqual({
      partition: '2 GPUs/node (fake_a100) · 8 CPUs · 1 node',
      gpus: '0 to 2 per node',
      time: 'max 08:00:00 · default 01:00:00',
      mem: 'max 16G per node',
      cpus: 'max 8 per node'
    });
  });

  it('partitionHints of a CPU partition and of none', () => {
    const cpu = partitionHints(
      partition({ gpus_per_node: 0, gpu_types: [], max_time: null, default_time: null, nodes: 3 })
    );
    expect(cpu.gpus).toBe('this partition has no GPUs');
    expect(cpu.partition).toBe('no GPUs · 8 CPUs · 3 nodes');
    expect(cpu.time).toBe('');
    expect(partitionHints(undefined)).toEqual({
      partition: '',
      gpus: '',
      time: '',
      mem: '',
      cpus: ''
    });
  });

  it('initialPartition', () => {
    const cpu = partition({ name: 'cpu', default: true, gpus_per_node: 0 });
    const gpu = partition({ name: 'gpu' });
    expect(initialPartition([cpu, gpu], {})!.name).toBe('cpu');
    expect(initialPartition([cpu, gpu], { gpus: 1 })!.name).toBe('gpu');
    expect(initialPartition([cpu, gpu], { partition: 'cpu', gpus: 1 })!.name).toBe('cpu');
    expect(initialPartition([gpu], { partition: 'gone' })!.name).toBe('gpu');
    expect(initialPartition([], {})).toBeUndefined();
  });
});

describe('jobs', () => {
  it('stateClass', () => {
    expect(stateClass('COMPLETED')).toBe('mltf-state-ok');
    expect(stateClass('CANCELLED')).toBe('mltf-state-cancelled');
    expect(stateClass('RUNNING')).toBe('mltf-state-running');
    expect(stateClass('PENDING')).toBe('mltf-state-pending');
    expect(stateClass('UNKNOWN')).toBe('mltf-state-unknown');
    expect(stateClass('FAILED')).toBe('mltf-state-failed');
  });

  it('gpuText', () => {
    expect(gpuText(job())).toBe('CPU');
    expect(gpuText(job({ resources: { gpus: 1 } }))).toBe('1× GPU');
    expect(gpuText(job({ resources: { gpus: 2, gpu_type: 'a100' } }))).toBe('2× a100');
  });

  it('jobReason', () => {
    expect(jobReason(job({ state: 'PENDING', reason: 'Resources' }))).toBe('waiting: Resources');
    expect(
      jobReason(job({ state: 'PENDING', reason: 'Priority', estimated_start: 1 }), () => 'soon')
    ).toBe('waiting: Priority · expected start soon');
    expect(jobReason(job({ state: 'FAILED', terminal: true, exit_code: 3 }))).toBe('exit code 3');
    expect(jobReason(job({ state: 'CANCELLED', terminal: true, exit_code: 1 }))).toBe('');
    expect(jobReason(job({ state: 'COMPLETED', terminal: true, exit_code: 0 }))).toBe('');
  });

  it('metricsText', () => {
    expect(metricsText({ loss: 0.123456, acc: 0.9 })).toBe('loss=0.1235  acc=0.9000');
    expect(metricsText(undefined)).toBe('');
  });

  it('jobNotice', () => {
    expect(jobNotice(undefined, job())).toBeNull();
    expect(jobNotice('RUNNING', job())).toBeNull();
    expect(jobNotice('PENDING', job({ nodes: ['n1'] }))).toEqual({
      kind: 'info',
      text: 'MLTF job demo (42) started on n1',
      autoClose: 5000
    });
    expect(jobNotice('RUNNING', job({ state: 'COMPLETED', terminal: true }))!.kind).toBe('success');
    expect(jobNotice('RUNNING', job({ state: 'CANCELLED', terminal: true }))!.text).toBe(
      'MLTF job demo (42) was cancelled'
    );
    expect(jobNotice('RUNNING', job({ state: 'FAILED', terminal: true, exit_code: 2 }))).toEqual({
      kind: 'error',
      text: 'MLTF job demo (42) ended FAILED, exit code 2',
      autoClose: false
    });
    expect(jobNotice('PENDING', job({ state: 'REQUEUED' }))).toBeNull();
  });

  it('panelStatus', () => {
    expect(panelStatus(0, 0, '')).toBe('Loading…');
    expect(panelStatus(3, 0, 'down')).toBe('Cannot refresh: down');
    expect(panelStatus(1, Date.now(), '')).toMatch(/^1 job · updated /);
    expect(panelStatus(2, Date.now(), '')).toMatch(/^2 jobs · updated /);
  });

  it('appendLog keeps the newest text', () => {
    expect(appendLog('a', 'b')).toBe('ab');
    expect(appendLog('12345', '678', 4)).toBe('[… earlier output not shown …]\n5678');
  });
});

describe('paths', () => {
  it('dirname', () => {
    expect(dirname('a/b/c.ipynb')).toBe('a/b');
    expect(dirname('c.ipynb')).toBe('');
  });

  it('relativeProjectDir', () => {
    expect(relativeProjectDir('demo', '/users/someone')).toBe('demo');
    expect(relativeProjectDir('/users/someone/demo/', '/users/someone')).toBe('demo');
    expect(relativeProjectDir('/users/someone', '/users/someone/')).toBe('');
    expect(relativeProjectDir('/srv/other', '/users/someone')).toBeNull();
    expect(relativeProjectDir('/users/someone/work/demo', '~/work')).toBe('demo');
    expect(relativeProjectDir('/users/someone/work', '~/work')).toBe('');
    expect(relativeProjectDir('/x/demo', '')).toBeNull();
  });
});
