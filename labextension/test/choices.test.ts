import {
  choicesKey,
  IStore,
  loadChoices,
  mergeChoices,
  pruneChoices,
  recallJobPath,
  rememberJobPath,
  saveChoices,
  withoutEmpty
} from '../src/choices';
import { CHOICES_KEY_PREFIX, JOB_PATHS_KEY } from '../src/tokens';

/** An in-memory Storage. */
class MemoryStore implements IStore {
  items = new Map<string, string>();
  get length(): number {
    return this.items.size;
  }
  key(i: number): string | null {
    return Array.from(this.items.keys())[i] ?? null;
  }
  getItem(k: string): string | null {
    return this.items.get(k) ?? null;
  }
  setItem(k: string, v: string): void {
    this.items.set(k, v);
  }
  removeItem(k: string): void {
    this.items.delete(k);
  }
}

describe('remembered choices', () => {
  it('keys keep servers and directories apart', () => {
    expect(choicesKey('/user/alice/', 'demo')).toBe(`${CHOICES_KEY_PREFIX}/user/alice/:demo`);
    expect(choicesKey('/user/bob/', 'demo')).not.toBe(choicesKey('/user/alice/', 'demo'));
  });

  it('save then load', () => {
    const store = new MemoryStore();
    saveChoices(store, 'k', { params: { lr: '0.05' }, resources: { gpus: 1 } }, 10);
    expect(loadChoices(store, 'k')).toEqual({ params: { lr: '0.05' }, resources: { gpus: 1 } });
    expect(JSON.parse(store.getItem('k')!).at).toBe(10);
  });

  it('load survives broken, foreign and missing values', () => {
    const store = new MemoryStore();
    store.setItem('broken', '{');
    store.setItem('foreign', '"text"');
    store.setItem('empty', '{}');
    expect(loadChoices(store, 'broken')).toBeNull();
    expect(loadChoices(store, 'foreign')).toBeNull();
    expect(loadChoices(store, 'empty')).toBeNull();
    expect(loadChoices(store, 'missing')).toBeNull();
    expect(loadChoices(null, 'k')).toBeNull();
    expect(() => saveChoices(null, 'k', {})).not.toThrow();
  });

  it('a full store is not an error', () => {
    const store = new MemoryStore();
    store.setItem = () => {
      throw new Error('QuotaExceededError');
    };
    expect(() => saveChoices(store, 'k', {})).not.toThrow();
  });

  it('prunes the oldest entries, and only its own', () => {
    const store = new MemoryStore();
    store.setItem('other', 'x');
    for (let i = 0; i < 5; i++) {
      saveChoices(store, `${CHOICES_KEY_PREFIX}${i}`, {}, 100 - i);
    }
    pruneChoices(store, 2);
    expect(Array.from(store.items.keys()).sort()).toEqual([
      `${CHOICES_KEY_PREFIX}0`,
      `${CHOICES_KEY_PREFIX}1`,
      'other'
    ]);
  });
});

describe('mergeChoices', () => {
  it('resources: config < project < remembered < prefill; empty values do not hide', () => {
    const merged = mergeChoices(
      { partition: 'cpu', time: '01:00:00', gpus: 0 },
      { gpus: 1, partition: 'gpu', mem: '' },
      { resources: { time: '00:10:00', gpu_type: null }, params: { lr: '0.1', n: '2' } },
      { resources: { gpus: 2 }, params: { lr: '0.5' }, entry_point: 'train' }
    );
    expect(merged.resources).toEqual({ partition: 'gpu', time: '00:10:00', gpus: 2 });
    expect(merged.params).toEqual({ lr: '0.5', n: '2' });
    expect(merged.entry_point).toBe('train');
  });

  it('name and experiment: a prefilled empty name wins, a missing one does not', () => {
    expect(mergeChoices(null, null, { name: 'old' }, { name: '' }).name).toBe('');
    expect(mergeChoices(null, null, { name: 'old' }, {}).name).toBe('old');
    expect(mergeChoices(null, null, null, null)).toEqual({
      entry_point: undefined,
      name: undefined,
      experiment: undefined,
      params: {},
      resources: {}
    });
  });

  it('env_manager: prefill < remembered', () => {
    expect(mergeChoices(null, null, { env_manager: 'project' }, {}).env_manager).toBe('project');
    expect(
      mergeChoices(null, null, { env_manager: 'project' }, { env_manager: 'notebook' }).env_manager
    ).toBe('notebook');
  });

  it('withoutEmpty', () => {
    expect(withoutEmpty({ gpus: 0, mem: '', time: null, partition: undefined })).toEqual({
      gpus: 0
    });
    expect(withoutEmpty(null)).toEqual({});
  });
});

describe('job paths', () => {
  it('remember and recall', () => {
    const store = new MemoryStore();
    rememberJobPath(store, 'j1', 'demo', 'demo/explore.ipynb');
    rememberJobPath(store, 'j2', '', null);
    expect(recallJobPath(store, 'j1')).toEqual({ path: 'demo', notebook: 'demo/explore.ipynb' });
    expect(recallJobPath(store, 'j2')).toEqual({ path: '', notebook: null });
    expect(recallJobPath(store, 'j3')).toBeNull();
  });

  it('keeps the newest 200 and survives junk', () => {
    const store = new MemoryStore();
    for (let i = 0; i < 205; i++) {
      rememberJobPath(store, `job${i}`, `p${i}`, null);
    }
    expect(Object.keys(JSON.parse(store.getItem(JOB_PATHS_KEY)!))).toHaveLength(200);
    expect(recallJobPath(store, 'job0')).toBeNull();
    expect(recallJobPath(store, 'job204')!.path).toBe('p204');
    store.setItem(JOB_PATHS_KEY, '[');
    expect(recallJobPath(store, 'job204')).toBeNull();
    expect(recallJobPath(null, 'x')).toBeNull();
  });
});
