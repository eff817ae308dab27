/**
 * A hand-fed upstream for tests (test/unit/shared-subscription.test.ts): a one-slot mailbox whose
 * `put`, `end` and `close` the test calls while the code under test `take`s. (The services read
 * their streams through Repeaters, lib/streams.ts; this is only the tests' side of one.)
 */
export class LatestSlot<T> {
  private waiting: { value: T } | null = null;
  private ended: { error?: unknown } | null = null;
  private wake: (() => void) | null = null;

  /** Offers a value; `replaces(current)` may keep what is already waiting instead. */
  put(value: T, replaces: (current: T) => boolean = () => true): void {
    if (this.ended || (this.waiting && !replaces(this.waiting.value))) return;
    this.waiting = { value };
    this.wake?.();
  }

  /** No more values: `take` drains what is waiting, then ends (throwing `error` if given). */
  end(error?: unknown): void {
    this.ended ??= error === undefined ? {} : { error };
    this.wake?.();
  }

  /** Ends at once, dropping what is waiting. */
  close(): void {
    this.waiting = null;
    this.end();
  }

  async take(): Promise<IteratorResult<T, undefined>> {
    while (!this.waiting && !this.ended) await new Promise<void>((resolve) => (this.wake = resolve));
    this.wake = null;
    if (this.waiting) {
      const { value } = this.waiting;
      this.waiting = null;
      return { done: false, value };
    }
    if (this.ended && 'error' in this.ended) throw this.ended.error;
    return { done: true, value: undefined };
  }
}
