import { LatestOnly, Settled } from '../src/debounce';

/** A question whose answer the test releases by hand. */
function deferred<T>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const flush = (): Promise<void> => new Promise(r => jest.requireActual('timers').setImmediate(r));

describe('LatestOnly', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('asks once, the delay after the last of a burst of edits', async () => {
    const asked: string[] = [];
    const answers: Settled<string>[] = [];
    const latest = new LatestOnly<string, string>(
      async q => {
        asked.push(q);
        return `ok ${q}`;
      },
      a => answers.push(a),
      300
    );
    let value = 'a';
    latest.schedule(() => value);
    jest.advanceTimersByTime(200);
    value = 'ab';
    latest.schedule(() => value);
    jest.advanceTimersByTime(299);
    expect(asked).toEqual([]);
    expect(latest.pending).toBe(true);
    jest.advanceTimersByTime(1);
    await flush();
    expect(asked).toEqual(['ab']);
    expect(answers).toEqual([{ ok: true, value: 'ok ab' }]);
    expect(latest.pending).toBe(false);
  });

  it('drops the answer of an older question that arrives late', async () => {
    const pending = new Map<string, ReturnType<typeof deferred<string>>>();
    const answers: [Settled<string>, string][] = [];
    const latest = new LatestOnly<string, string>(
      q => {
        const d = deferred<string>();
        pending.set(q, d);
        return d.promise;
      },
      (a, q) => answers.push([a, q]),
      300
    );
    void latest.now('old');
    void latest.now('new');
    pending.get('new')!.resolve('new answer');
    await flush();
    pending.get('old')!.resolve('old answer');
    await flush();
    expect(answers).toEqual([[{ ok: true, value: 'new answer' }, 'new']]);
    expect(latest.asked).toBe(2);
  });

  it('passes errors on as answers', async () => {
    const answers: Settled<string>[] = [];
    const latest = new LatestOnly<string, string>(
      async () => {
        throw new Error('422');
      },
      a => answers.push(a),
      300
    );
    await latest.now('x');
    expect(answers).toHaveLength(1);
    expect(answers[0].ok).toBe(false);
  });

  it('a null question is not asked; cancel and dispose drop what is pending', async () => {
    const ask = jest.fn(async (q: string) => q);
    const onAnswer = jest.fn();
    const latest = new LatestOnly<string, string>(ask, onAnswer, 300);
    latest.schedule(() => null);
    jest.advanceTimersByTime(300);
    expect(ask).not.toHaveBeenCalled();

    latest.schedule(() => 'x');
    latest.cancel();
    jest.advanceTimersByTime(1000);
    expect(ask).not.toHaveBeenCalled();

    const inFlight = latest.now('y');
    latest.dispose();
    await inFlight;
    expect(ask).toHaveBeenCalledWith('y');
    expect(onAnswer).not.toHaveBeenCalled();
  });
});
