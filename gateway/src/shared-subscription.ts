/**
 * One live subscription shared by identical subscribers (the gateway shares those of one caller
 * with the same document, operation name and variables): one upstream subscription, and one
 * `step` per upstream event whose result every subscriber receives. Upstream events that arrive
 * while a step runs are coalesced (the newest wins, lib/streams.ts `latest`), and each subscriber
 * reads from its own Repeater with a one-slot sliding buffer, so a slow subscriber holds one
 * pending result and delays nobody. Subscribers leave on their own (return() also while their
 * next() is pending, or before their first next()); the last one to leave closes the upstream.
 * When the upstream ends or fails, or a step says it was the last, every subscriber gets that
 * final result and then ends.
 *
 * That is for subscriptions whose every message carries the whole current state (profileUpdated).
 * For streams of distinct events (audienceMembershipChanged) `everyEvent` keeps up to EVENT_BUFFER
 * events, upstream and per subscriber, instead of the newest one (beyond that the oldest are
 * dropped, so a stalled reader holds bounded memory), and a late joiner is not sent an event that
 * happened before it joined.
 */
import { Repeater, SlidingBuffer } from '@repeaterjs/repeater';
import type { Push, RepeaterExecutor, Stop } from '@repeaterjs/repeater';
import { buffered } from '../../lib/streams.js';

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

/** A subscriber: what it had when it joined, and, once it reads, its Repeater's push and stop. */
interface Subscriber<R> {
  /** The number of the newest result when it joined (it gets only newer ones). */
  joined: number;
  reading?: { push: Push<R>; stop: Stop };
}

/**
 * A subscriber's Repeater, which also leaves at return() before the first next(): a Repeater runs
 * its executor on the first next(), so it would not learn of that (graphql-ws does it when the
 * client completes while the subscription is being set up).
 */
class SubscriberRepeater<R> extends Repeater<R> {
  constructor(
    executor: RepeaterExecutor<R>,
    private readonly leave: () => Promise<void>,
    size: number,
  ) {
    super(executor, new SlidingBuffer(size));
  }

  override async return(value?: unknown): Promise<IteratorResult<R>> {
    await this.leave();
    return super.return(value);
  }
}

/** Distinct events kept for a subscriber that has not read them (the oldest go beyond this). */
const EVENT_BUFFER = 1000;

export class SharedSubscription<E, R> {
  private readonly subscribers = new Set<Subscriber<R>>();
  private events?: Repeater<E>;
  private closing?: Promise<void>;
  /** The newest result, numbered: a subscriber that has not read yet starts with it. */
  private newest?: { number: number; value: R };
  /** How it ended (after `newest`): a subscriber that reads from now on ends so at once. */
  private ended?: { error?: unknown };

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
    if (!this.events) {
      // Opened by the first subscriber; if that fails nobody has joined and nothing stays behind.
      try {
        this.events = buffered(this.hooks.open(), this.buffer);
      } catch (err) {
        void this.close();
        throw err;
      }
      void this.pump(this.events);
    }
    const subscriber: Subscriber<R> = { joined: this.newest?.number ?? 0 };
    this.subscribers.add(subscriber);
    let left = false;
    const leave = async () => {
      if (left) return;
      left = true;
      onLeave();
      this.subscribers.delete(subscriber);
      if (this.subscribers.size === 0) await this.close();
    };
    return new SubscriberRepeater<R>(async (push, stop) => {
      // Starts at its first next(): the newest result it has not had yet, or the end.
      if (!this.options.everyEvent && this.newest && this.newest.number > subscriber.joined) {
        void push(this.newest.value);
        this.options.delivered?.(1);
      }
      if (this.ended) stop(this.ended.error);
      else subscriber.reading = { push, stop };
      // Stopped by return(), or at the end (then after what it has not read yet).
      await stop;
      await leave();
    }, leave, this.buffer);
  }

  private async pump(events: Repeater<E>): Promise<void> {
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
      this.deliver(step.value);
      if (step.last) return this.end();
    }
  }

  private deliver(value: R): void {
    this.newest = { number: (this.newest?.number ?? 0) + 1, value };
    let handed = 0;
    for (const { reading } of this.subscribers) {
      if (!reading) continue;
      void reading.push(value);
      handed++;
    }
    if (handed > 0) this.options.delivered?.(handed);
  }

  /** Every subscriber gets `final` (a last value, or an error to throw) after what it has not read yet. */
  private end(final: { value?: R; error?: unknown } = {}): Promise<void> {
    if ('value' in final) this.deliver(final.value as R);
    this.ended = 'error' in final ? { error: final.error } : {};
    for (const { reading } of this.subscribers) reading?.stop(this.ended.error);
    return this.close();
  }

  private close(): Promise<void> {
    this.closing ??= (async () => {
      this.hooks.over();
      await this.events?.return();
      await this.hooks.closed();
    })();
    return this.closing;
  }
}
