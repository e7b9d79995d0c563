/**
 * Ask something after the last of a burst of edits, and let only the newest question's answer count:
 * the dialog's server check (POST check ~300 ms after the last edit; an older answer that arrives late is
 * dropped). No DOM: timers are injectable for tests.
 */

export type Settled<A> = { ok: true; value: A } | { ok: false; error: unknown };

export interface ITimers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const defaultTimers: ITimers = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: handle => clearTimeout(handle as ReturnType<typeof setTimeout>)
};

export class LatestOnly<Q, A> {
  /**
   * @param ask sends the question (e.g. POST check)
   * @param onAnswer gets the answer of the newest question only
   * @param delay milliseconds of quiet before {@link schedule}d questions are asked
   */
  constructor(
    private readonly _ask: (question: Q) => Promise<A>,
    private readonly _onAnswer: (answer: Settled<A>, question: Q) => void,
    private readonly _delay: number,
    private readonly _timers: ITimers = defaultTimers
  ) {}

  /** Questions asked so far (for tests and status lines). */
  get asked(): number {
    return this._asked;
  }

  /** True while a question waits for its delay or for its answer. */
  get pending(): boolean {
    return this._timer !== null || this._inFlight;
  }

  /** Ask `read()` once the edits stopped for the delay; each call restarts the wait. */
  schedule(read: () => Q | null): void {
    this._clearTimer();
    this._timer = this._timers.set(() => {
      this._timer = null;
      const question = read();
      if (question !== null) {
        void this.now(question);
      }
    }, this._delay);
  }

  /** Ask now; any earlier question's answer is dropped. */
  async now(question: Q): Promise<void> {
    this._clearTimer();
    const seq = ++this._seq;
    this._asked++;
    this._inFlight = true;
    let answer: Settled<A>;
    try {
      answer = { ok: true, value: await this._ask(question) };
    } catch (error) {
      answer = { ok: false, error };
    }
    if (seq !== this._seq || this._disposed) {
      return; // a newer question was asked (or none is wanted any more)
    }
    this._inFlight = false;
    this._onAnswer(answer, question);
  }

  /** Forget the waiting question and drop the answer of the one in flight. */
  cancel(): void {
    this._clearTimer();
    this._seq++;
    this._inFlight = false;
  }

  dispose(): void {
    this.cancel();
    this._disposed = true;
  }

  private _clearTimer(): void {
    if (this._timer !== null) {
      this._timers.clear(this._timer);
      this._timer = null;
    }
  }

  private _seq = 0;
  private _asked = 0;
  private _inFlight = false;
  private _timer: unknown = null;
  private _disposed = false;
}
