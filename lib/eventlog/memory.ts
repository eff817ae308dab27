/**
 * In-process event log with bounded retention and deduplication, for the embedded (single
 * process) platform.
 */
import type { ProfileEvent } from '../contracts/event.js';
import { PROFILE_EVENT_KEYS } from '../contracts/event.js';
import { MemoryDedupe } from './memory-dedupe.js';
import type { AppendReceipt, AppendResult, EntryKeys, EventBatchHandler, EventConsumer, EventLog, GroupInfo, KeysOption, PartitionInfo } from './port.js';
import { currentTraceparent } from '../tracing.js';

/** What the log needs to know of an entry (`keys`, profile events' by default), and its limits. */
export type MemoryEventLogOptions<E = ProfileEvent> = KeysOption<E> & {
  /** Events kept (oldest dropped first, a quarter of this at a time: up to 1.25x between trims). */
  retention?: number;
  batchSize?: number;
  /** How long an accepted dedupe key makes a later entry a duplicate (0: no deduplication). */
  dedupeTtlMs?: number;
  onError?: (err: unknown) => void;
};

interface Group<E> {
  name: string;
  /** Absolute offset of the next event to deliver. */
  next: number;
  handler: EventBatchHandler<E>;
  running: Promise<void> | undefined;
  stopped: boolean;
  /** The last delivery failed: retry on the next append rather than spin. */
  failed: boolean;
  /** Entries of the batch being handled (delivered, not yet done). */
  inFlight: number;
  /** The last batch failed: the next one starts with its events again (BatchContext.redelivered). */
  redeliver: boolean;
  onError: (err: unknown) => void;
}

export class MemoryEventLog<E = ProfileEvent> implements EventLog<E> {
  private events: E[] = [];
  /** The trace context each event was appended under (same offsets as events; '' for none). */
  private traceparents: string[] = [];
  /** Absolute offset of events[0]. */
  private base = 0;
  private readonly groups = new Set<Group<E>>();
  private readonly retention: number;
  private readonly batchSize: number;
  private readonly onError: (err: unknown) => void;
  private readonly dedupe: MemoryDedupe | undefined;
  private readonly keys: EntryKeys<E>;

  constructor(...[options = {} as MemoryEventLogOptions<E>]: [E] extends [ProfileEvent] ? [options?: MemoryEventLogOptions<E>] : [options: MemoryEventLogOptions<E>]) {
    this.keys = options.keys ?? (PROFILE_EVENT_KEYS as unknown as EntryKeys<E>);
    this.retention = options.retention ?? 100_000;
    this.batchSize = options.batchSize ?? 500;
    this.onError = options.onError ?? ((err) => console.error('event consumer failed', err));
    const ttl = options.dedupeTtlMs ?? 7 * 86_400_000;
    this.dedupe = ttl > 0 ? new MemoryDedupe(ttl) : undefined;
  }

  async append(events: readonly E[]): Promise<AppendResult<E>> {
    // Claim and append without yielding: the event loop makes the two one step.
    const fresh = this.dedupe?.claim(events.map((e) => this.keys.dedupeKey(e)));
    const appended = fresh ? events.filter((_, i) => fresh[i]) : events;
    const duplicates = fresh ? events.filter((_, i) => !fresh[i]) : [];
    if (appended.length === 0) return { receipt: new Map(), duplicates };
    this.events.push(...appended);
    const traceparent = currentTraceparent() ?? '';
    for (let i = 0; i < appended.length; i++) this.traceparents.push(traceparent);
    // Trimmed a quarter of the retention at a time (so up to 1.25x is kept), as Redis trims with
    // MAXLEN ~: copying the whole retained log on every append of a full log cost O(retention)
    // per append (a tenth of the embedded platform's CPU in bench:fanout).
    const excess = this.events.length - this.retention;
    if (excess > Math.max(1, this.retention >> 2)) {
      this.events = this.events.slice(excess);
      this.traceparents = this.traceparents.slice(excess);
      this.base += excess;
    }
    for (const group of this.groups) this.pump(group);
    return { receipt: new Map([[0, String(this.base + this.events.length)]]), duplicates };
  }

  async waitApplied(receipt: AppendReceipt, group: string, timeoutMs: number): Promise<boolean> {
    const target = Number(receipt.get(0) ?? 0);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const g = [...this.groups].find((x) => x.name === group);
      if (g && g.next >= target) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  consume(name: string, handler: EventBatchHandler<E>): EventConsumer {
    const group: Group<E> = { name, next: this.base, handler, running: undefined, stopped: false, failed: false, inFlight: 0, redeliver: false, onError: this.onError };
    this.groups.add(group);
    this.pump(group);
    return {
      stop: async () => {
        group.stopped = true;
        this.groups.delete(group);
        await group.running;
      },
    };
  }

  private pump(group: Group<E>): void {
    if (group.running || group.stopped) return;
    group.running = (async () => {
      // Deliver asynchronously, after the producer's call returns, like a real consumer would.
      await Promise.resolve();
      while (!group.stopped) {
        const from = Math.max(group.next, this.base);
        const start = from - this.base;
        if (start >= this.events.length) break;
        const batch = this.events.slice(start, start + this.batchSize);
        const traceparents = [...new Set(this.traceparents.slice(start, start + this.batchSize))].filter(Boolean);
        group.inFlight = batch.length;
        try {
          await group.handler(batch, { traceparents, redelivered: group.redeliver });
          // From where the batch began: an append may have trimmed the log (moved base) meanwhile.
          group.next = from + batch.length;
          group.redeliver = false;
        } catch (err) {
          group.onError(err);
          group.failed = true;
          group.redeliver = true;
          break;
        } finally {
          group.inFlight = 0;
        }
      }
    })().finally(() => {
      group.running = undefined;
      // Events appended while the loop was finishing would otherwise wait for the next append.
      if (!group.stopped && group.next < this.base + this.events.length && !group.failed) this.pump(group);
      group.failed = false;
    });
  }

  async *processedHistory(_group: string): AsyncIterable<E[]> {
    // The consumer lives in this process: nothing survives a restart to rebuild from.
  }

  /** One partition; consumers of one group name count as one group (the furthest behind). */
  async info(): Promise<PartitionInfo[]> {
    const end = this.base + this.events.length;
    const groups = new Map<string, GroupInfo>();
    for (const g of this.groups) {
      const lag = end - Math.max(g.next + g.inFlight, this.base);
      const seen = groups.get(g.name);
      if (!seen || lag > (seen.lag ?? 0)) groups.set(g.name, { group: g.name, pending: g.inFlight, lag: Math.max(0, lag) });
    }
    return [{ partition: 0, length: this.events.length, groups: [...groups.values()] }];
  }

  async close(): Promise<void> {
    await Promise.all([...this.groups].map(async (g) => {
      g.stopped = true;
      await g.running;
    }));
    this.groups.clear();
  }
}
