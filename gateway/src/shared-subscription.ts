/**
 * One live subscription shared by identical subscribers (the gateway shares those of one caller
 * with the same document, operation name and variables): one upstream subscription, and one
 * `step` per upstream event whose result every subscriber receives. Upstream events that arrive
 * while a step runs are coalesced (the newest wins), and each subscriber reads from its own
 * one-slot mailbox (lib/streams.ts `Mailbox`), filled from the moment it joins, so a slow
 * subscriber holds one pending result and delays nobody. Subscribers leave on their own (return()
 * also while their next() is pending, or before their first next()); the last one to leave
 * closes the upstream.
 * When the upstream ends or fails, or a step says it was the last, every subscriber gets that
 * final result and then ends.
 *
 * That is for subscriptions whose every message carries the whole current state (profileUpdated).
 * For streams of distinct events (audienceMembershipChanged) `everyEvent` keeps up to EVENT_BUFFER
 * events, upstream and per subscriber, instead of the newest one (beyond that the oldest are
 * dropped, so a stalled reader holds bounded memory), and a late joiner is not sent an event that
 * happened before it joined.
 */
import { Mailbox } from '../../lib/streams.js';

/** What the upstream calls (graphql-ws's client `Sink`): events, then an error or the end. */
export interface UpstreamSink<E> {
  next(event: E): void;
  error(error: unknown): void;
  complete(): void;
}

export interface SharedSubscriptionHooks<E, R> {
  /**
   * Opens the upstream subscription (once, for the first subscriber), which calls `sink` from
   * then on; what it returns closes it.
   */
  open(sink: UpstreamSink<E>): () => void;
  /** What one upstream event becomes for every subscriber; `last` ends the subscription after it. */
  step(event: E): Promise<{ value: R; last?: boolean }>;
  /** The final result when the upstream fails. */
  failed(error: unknown): R;
  /** Called once, as soon as nobody can join any more (the last subscriber left, or the upstream ended). */
  over(): void;
  /** Called once the upstream subscription is closed. */
  closed(): Promise<void>;
}

/** A subscriber: its mailbox, and what it does when it leaves. */
interface Subscriber<R> {
  box: Mailbox<R>;
  leave: () => Promise<void>;
}

/** Distinct events kept for a subscriber that has not read them (the oldest go beyond this). */
const EVENT_BUFFER = 1000;

export class SharedSubscription<E, R> {
  private readonly subscribers = new Set<Subscriber<R>>();
  /** Upstream events not stepped yet, oldest first (at most `buffer`: the newest are kept). */
  private readonly pending: E[] = [];
  /** How the upstream ended (after the events pending), when it has. */
  private upstreamEnd?: { error?: unknown };
  /** Whether a step runs (events arriving meanwhile wait in `pending`). */
  private stepping = false;
  private unsubscribe?: () => void;
  private opened = false;
  private closing?: Promise<void>;

  private readonly buffer: number;

  constructor(
    private readonly hooks: SharedSubscriptionHooks<E, R>,
    /** `delivered`: told how many subscribers each result was handed to (the live messages metric). */
    private readonly options: { everyEvent?: boolean; delivered?: (subscribers: number) => void } = {},
  ) {
    this.buffer = options.everyEvent ? EVENT_BUFFER : 1;
  }

  get size(): number {
    return this.subscribers.size;
  }

  /** A new subscriber: its results from now on. `onLeave` is called once when it ends, however it ends. */
  join(onLeave: () => void): AsyncIterableIterator<R> {
    if (this.closing) throw new Error('joined a shared subscription that is over');
    if (!this.opened) {
      // Opened by the first subscriber; if that fails nobody has joined and nothing stays behind.
      this.opened = true;
      try {
        this.unsubscribe = this.hooks.open(new Upstream<E, R>(this));
      } catch (err) {
        void this.close();
        throw err;
      }
    }
    let left = false;
    const subscriber: Subscriber<R> = {
      // Results from its joining on, kept from then (also before its first next()).
      box: new Mailbox<R>(this.buffer, undefined, () => subscriber.leave()),
      leave: async () => {
        if (left) return;
        left = true;
        onLeave();
        this.subscribers.delete(subscriber);
        if (this.subscribers.size === 0) await this.close();
      },
    };
    this.subscribers.add(subscriber);
    return subscriber.box;
  }

  /** An upstream event (through Upstream). */
  arrived(event: E): void {
    if (this.closing || this.upstreamEnd) return;
    if (this.pending.length >= this.buffer) this.pending.shift();
    this.pending.push(event);
    if (!this.stepping) void this.drain();
  }

  /** The upstream's end (through Upstream). */
  upstreamEnded(how: { error?: unknown }): void {
    if (this.closing || this.upstreamEnd) return;
    this.upstreamEnd = how;
    if (!this.stepping) void this.drain();
  }

  /**
   * Steps the pending events one at a time, delivering each result, then the upstream's end if
   * it came. Runs only while there is work: an idle shared subscription holds no suspended frame.
   */
  private async drain(): Promise<void> {
    this.stepping = true;
    try {
      while (this.pending.length > 0) {
        const event = this.pending.shift()!;
        let step: { value: R; last?: boolean };
        try {
          step = await this.hooks.step(event);
        } catch (err) {
          return void (await this.end({ error: err }));
        }
        if (this.closing) return;
        this.deliver(step.value);
        if (step.last) return void (await this.end());
      }
      const end = this.upstreamEnd;
      if (end && !this.closing) await this.end('error' in end ? { value: this.hooks.failed(end.error) } : {});
    } finally {
      this.stepping = false;
    }
  }

  private deliver(value: R): void {
    for (const { box } of this.subscribers) box.push(value);
    if (this.subscribers.size > 0) this.options.delivered?.(this.subscribers.size);
  }

  /** Every subscriber gets `final` (a last value, or an error to throw) after what it has not read yet. */
  private end(final: { value?: R; error?: unknown } = {}): Promise<void> {
    if ('value' in final) this.deliver(final.value as R);
    for (const subscriber of [...this.subscribers]) {
      subscriber.box.end(final.error);
      void subscriber.leave();
    }
    return this.close();
  }

  private close(): Promise<void> {
    this.closing ??= (async () => {
      this.pending.length = 0;
      this.hooks.over();
      this.unsubscribe?.();
      await this.hooks.closed();
    })();
    return this.closing;
  }
}

/** The sink handed to the upstream: one small object rather than three closures per subscription. */
class Upstream<E, R> implements UpstreamSink<E> {
  constructor(private readonly to: SharedSubscription<E, R>) {}

  next(event: E): void {
    this.to.arrived(event);
  }

  error(error: unknown): void {
    this.to.upstreamEnded({ error });
  }

  complete(): void {
    this.to.upstreamEnded({});
  }
}
