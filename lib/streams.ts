/**
 * The async iterators of live subscriptions, built on one small primitive, `Mailbox`: values are
 * pushed in, the reader takes them with next(), at most `size` unread ones are kept (the oldest
 * are dropped beyond that, so a slow reader holds bounded memory: a one-slot mailbox keeps the
 * newest state), return() settles a pending next() at once, and an end (with or without an
 * error) comes after the values still unread, once, and then done.
 *
 * These were Repeaters (@repeaterjs/repeater) before. A Repeater keeps its state in a WeakMap
 * entry with an executor, a stop promise, a queue of pending next() calls and their promises:
 * heap snapshots of the gateway and the profile subgraph under `bench:fanout` (10,000 distinct
 * users) put 8 to 10 KB per live subscription on the Repeaters and what their closures held. A
 * mailbox is an object with a value slot (or a small queue) and a waiting reader.
 */

/** An async iterator whose reader can always leave (return() is there). */
export interface Stream<T> extends AsyncIterableIterator<T> {
  return(): Promise<IteratorResult<T>>;
}

/** A reader waiting in next(): settled with a value, the end, or the error of the end. */
type Waiter<T> = { resolve: (r: IteratorResult<T>) => void; reject: (err: unknown) => void };

const DONE: IteratorResult<never> = Object.freeze({ done: true, value: undefined });

export class Mailbox<T> implements Stream<T> {
  /** Unread values, oldest first (size 1: at most one). */
  private readonly unread: T[] = [];
  /** Readers waiting for a value, first come first served (one, but the protocol allows more). */
  private readonly waiters: Waiter<T>[] = [];
  /** Set by end(): after the unread values, the reader gets this (an error once, then done). */
  private ending: { error?: unknown } | undefined;
  /** Nothing more will be read (returned, or the end was delivered). */
  private finished = false;

  /**
   * `onFirstRead`: called at the first next() (a stream that starts only when read, so a reader
   * that leaves before reading leaves nothing behind). `onReturn`: called once, at return()
   * before the end was delivered (whoever feeds the mailbox stops then).
   */
  constructor(
    private readonly size = 1,
    private onFirstRead?: () => void,
    private onReturn?: () => unknown,
  ) {}

  /** Whether the reader has stopped (returned) or the end was delivered: pushes are dropped. */
  get closed(): boolean {
    return this.finished || this.ending !== undefined;
  }

  /** Offers a value to the reader (dropped once ended or returned). */
  push(value: T): void {
    if (this.closed) return;
    const waiter = this.waiters.shift();
    if (waiter) return waiter.resolve({ done: false, value });
    if (this.unread.length >= this.size) this.unread.shift();
    this.unread.push(value);
  }

  /** No more values: the reader gets those still unread, then `error` (thrown once) or the end. */
  end(error?: unknown): void {
    if (this.closed) return;
    this.ending = error === undefined ? {} : { error };
    this.onReturn = undefined;
    // The first waiting reader gets the error (once); the others, the end.
    for (const waiter of this.waiters.splice(0)) this.settle(waiter);
  }

  next(): Promise<IteratorResult<T>> {
    const start = this.onFirstRead;
    if (start) {
      this.onFirstRead = undefined;
      start();
    }
    if (this.unread.length > 0) return Promise.resolve({ done: false, value: this.unread.shift()! });
    if (this.finished) return Promise.resolve(DONE);
    return new Promise<IteratorResult<T>>((resolve, reject) => {
      const waiter = { resolve, reject };
      if (this.ending) this.settle(waiter);
      else this.waiters.push(waiter);
    });
  }

  /** The reader leaves: a pending next() is done at once, unread values are dropped. */
  async return(): Promise<IteratorResult<T>> {
    this.onFirstRead = undefined;
    this.unread.length = 0;
    const wasFinished = this.finished;
    this.finished = true;
    for (const waiter of this.waiters.splice(0)) waiter.resolve(DONE);
    const onReturn = this.onReturn;
    this.onReturn = undefined;
    if (!wasFinished && !this.ending) await onReturn?.();
    return DONE;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Delivers the end to a reader with nothing unread: the error once, then done. */
  private settle(waiter: Waiter<T>): void {
    const delivered = this.finished;
    this.finished = true;
    const { error } = this.ending!;
    if (error !== undefined && !delivered) waiter.reject(error);
    else waiter.resolve(DONE);
  }
}

/**
 * A mailbox fed by a subscription opened at the reader's first next() (`subscribe` gets the
 * mailbox's push and gives what unsubscribes) and closed when the reader returns (after it
 * opened, if it is still opening). A failed subscribe ends the mailbox with its error. `opened`:
 * called once it is open, for what the reader should get first.
 */
export function subscribed<T>(size: number, subscribe: (push: (value: T) => void) => Promise<() => Promise<void>>, opened?: (push: (value: T) => void) => void): Mailbox<T> {
  let unsubscribe: Promise<(() => Promise<void>) | undefined> | undefined;
  const push = (value: T) => box.push(value);
  const box: Mailbox<T> = new Mailbox<T>(
    size,
    () => {
      unsubscribe = subscribe(push).then(
        (off) => {
          if (!box.closed) opened?.(push);
          return off;
        },
        (err: unknown) => {
          box.end(err);
          return undefined;
        },
      );
    },
    async () => (await unsubscribe)?.(),
  );
  return box;
}

/**
 * `step` applied to each value of `source` that the reader asks for (nothing is read ahead); a
 * step that gives `undefined` skips the value. return() closes the source at once, also while the
 * reader waits; an error of the source or of a step is delivered once, after the source is
 * closed (graphql-ws does not call return() when next() throws), and then the end.
 */
export function mapEach<T, R>(source: AsyncIterator<T>, step: (value: T) => Promise<R | undefined> | R | undefined): Stream<R> {
  return new Mapped(source, step);
}

class Mapped<T, R> implements Stream<R> {
  private stopped = false;
  /** The reader's pending next(), settled done at once by return(). */
  private waiter: ((r: IteratorResult<R>) => void) | undefined;

  constructor(
    private readonly source: AsyncIterator<T>,
    private readonly step: (value: T) => Promise<R | undefined> | R | undefined,
  ) {}

  next(): Promise<IteratorResult<R>> {
    if (this.stopped) return Promise.resolve(DONE);
    return new Promise<IteratorResult<R>>((resolve, reject) => {
      this.waiter = resolve;
      this.read().then(
        (r) => {
          if (this.waiter === resolve) this.waiter = undefined;
          resolve(r);
        },
        (err: unknown) => {
          if (this.waiter === resolve) this.waiter = undefined;
          reject(err);
        },
      );
    });
  }

  async return(): Promise<IteratorResult<R>> {
    if (this.stopped) return DONE;
    this.stopped = true;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.(DONE);
    await this.source.return?.();
    return DONE;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private async read(): Promise<IteratorResult<R>> {
    try {
      for (;;) {
        const next = await this.source.next();
        if (next.done || this.stopped) {
          this.stopped = true;
          return DONE;
        }
        const value = await this.step(next.value);
        if (this.stopped) return DONE;
        if (value !== undefined) return { done: false, value };
      }
    } catch (err) {
      // After return() nobody reads it.
      if (this.stopped) return DONE;
      this.stopped = true;
      await this.source.return?.();
      throw err;
    }
  }
}
