/**
 * One live subscription shared by identical subscribers (the gateway shares those of one caller
 * with the same document, operation name and variables): one upstream subscription, and one
 * `step` per upstream event whose result every subscriber receives. Upstream events that arrive
 * while a step runs are coalesced (the newest wins), and each subscriber reads from its own
 * one-slot buffer (lib/latest-slot.ts), so a slow subscriber holds one pending result and delays
 * nobody. Subscribers leave on their own (return() also while their next() is pending); the
 * last one to leave closes the upstream. When the upstream ends or fails, or a step says it was
 * the last, every subscriber gets that final result and then ends.
 */
import { LatestSlot } from '../../lib/latest-slot.js';

export interface SharedSubscriptionHooks<E, R> {
  /** Opens the upstream subscription (once, for the first subscriber). */
  open(): AsyncIterableIterator<E>;
  /** What one upstream event becomes for every subscriber; `last` ends the subscription after it. */
  step(event: E): Promise<{ value: R; last?: boolean }>;
  /** The final result when the upstream fails. */
  failed(error: unknown): R;
  /** Called once, as soon as nobody can join any more (the last subscriber left, or the upstream ended). */
  over(): void;
  /** Called once the upstream subscription is closed. */
  closed(): Promise<void>;
}

/** Reads a source as fast as it delivers and keeps only the newest value (latest state wins). */
function newestOnly<T>(source: AsyncIterableIterator<T>): AsyncIterableIterator<T> {
  const slot = new LatestSlot<T>();
  void (async () => {
    try {
      for await (const value of source) slot.put(value);
      slot.end();
    } catch (error) {
      slot.end(error);
    }
  })();
  const iterator: AsyncIterableIterator<T> = {
    next: () => slot.take(),
    async return() {
      slot.close();
      await source.return?.();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

export class SharedSubscription<E, R> {
  private readonly subscribers = new Set<LatestSlot<R>>();
  private events?: AsyncIterableIterator<E>;
  private closing?: Promise<void>;

  constructor(private readonly hooks: SharedSubscriptionHooks<E, R>) {}

  get size(): number {
    return this.subscribers.size;
  }

  /** A new subscriber: its results from now on. `onLeave` is called once when it ends, however it ends. */
  join(onLeave: () => void): AsyncIterableIterator<R> {
    if (this.closing) throw new Error('joined a shared subscription that is over');
    const slot = new LatestSlot<R>();
    if (!this.events) {
      // Opened by the first subscriber; if that fails nobody has joined and nothing stays behind.
      try {
        this.events = newestOnly(this.hooks.open());
      } catch (err) {
        void this.close();
        throw err;
      }
      void this.pump(this.events);
    }
    this.subscribers.add(slot);
    let left = false;
    const leave = async () => {
      if (left) return;
      left = true;
      onLeave();
      slot.close();
      this.subscribers.delete(slot);
      if (this.subscribers.size === 0) await this.close();
    };
    const iterator: AsyncIterableIterator<R> = {
      async next() {
        try {
          const result = await slot.take();
          if (result.done) await leave();
          return result;
        } catch (err) {
          await leave();
          throw err;
        }
      },
      async return() {
        await leave();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  private async pump(events: AsyncIterableIterator<E>): Promise<void> {
    for (;;) {
      let event: IteratorResult<E>;
      try {
        event = await events.next();
      } catch (err) {
        return this.end({ value: this.hooks.failed(err) });
      }
      if (this.closing) return;
      if (event.done) return this.end();
      let step: { value: R; last?: boolean };
      try {
        step = await this.hooks.step(event.value);
      } catch (err) {
        return this.end({ error: err });
      }
      if (this.closing) return;
      for (const slot of this.subscribers) slot.put(step.value);
      if (step.last) return this.end();
    }
  }

  /** Every subscriber gets `final` (a last value, or an error to throw) after what it has not read yet. */
  private end(final: { value?: R; error?: unknown } = {}): Promise<void> {
    for (const slot of this.subscribers) {
      if ('value' in final) slot.put(final.value as R);
      slot.end(final.error);
    }
    return this.close();
  }

  private close(): Promise<void> {
    this.closing ??= (async () => {
      this.hooks.over();
      await this.events?.return?.();
      await this.hooks.closed();
    })();
    return this.closing;
  }
}
