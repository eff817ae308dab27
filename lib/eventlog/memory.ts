/** In-process event log with bounded retention, for the embedded (single process) platform. */
import type { ProfileEvent } from '../../subgraphs/profile/src/domain/event.js';
import type { AppendOptions, AppendReceipt, EventBatchHandler, EventConsumer, EventLog } from './port.js';

interface Group {
  name: string;
  /** Absolute offset of the next event to deliver. */
  next: number;
  handler: EventBatchHandler;
  running: Promise<void> | undefined;
  stopped: boolean;
  /** The last delivery failed: retry on the next append rather than spin. */
  failed: boolean;
  onError: (err: unknown) => void;
}

export class MemoryEventLog implements EventLog {
  private events: ProfileEvent[] = [];
  /** The group that already handled each event (AppendOptions.handledBy), parallel to events. */
  private handledBy: (string | undefined)[] = [];
  /** Absolute offset of events[0]. */
  private base = 0;
  private readonly groups = new Set<Group>();

  constructor(
    private readonly retention = 100_000,
    private readonly batchSize = 500,
    private readonly onError: (err: unknown) => void = (err) => console.error('event consumer failed', err),
  ) {}

  async append(events: readonly ProfileEvent[], options: AppendOptions = {}): Promise<AppendReceipt> {
    if (events.length === 0) return new Map();
    this.events.push(...events);
    for (let i = 0; i < events.length; i++) this.handledBy.push(options.handledBy);
    const excess = this.events.length - this.retention;
    if (excess > 0) {
      this.events = this.events.slice(excess);
      this.handledBy = this.handledBy.slice(excess);
      this.base += excess;
    }
    for (const group of this.groups) this.pump(group);
    return new Map([[0, String(this.base + this.events.length)]]);
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

  consume(name: string, handler: EventBatchHandler): EventConsumer {
    const group: Group = { name, next: this.base, handler, running: undefined, stopped: false, failed: false, onError: this.onError };
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

  private pump(group: Group): void {
    if (group.running || group.stopped) return;
    group.running = (async () => {
      // Deliver asynchronously, after the producer's call returns, like a real consumer would.
      await Promise.resolve();
      while (!group.stopped) {
        const start = Math.max(group.next, this.base) - this.base;
        if (start >= this.events.length) break;
        const batch = this.events.slice(start, start + this.batchSize);
        const handled = this.handledBy.slice(start, start + this.batchSize);
        const deliver = handled.some((h) => h === group.name) ? batch.filter((_, i) => handled[i] !== group.name) : batch;
        try {
          if (deliver.length > 0) await group.handler(deliver);
          group.next = this.base + start + batch.length;
        } catch (err) {
          group.onError(err);
          group.failed = true;
          break;
        }
      }
    })().finally(() => {
      group.running = undefined;
      // Events appended while the loop was finishing would otherwise wait for the next append.
      if (!group.stopped && group.next < this.base + this.events.length && !group.failed) this.pump(group);
      group.failed = false;
    });
  }

  async *processedHistory(_group: string): AsyncIterable<ProfileEvent[]> {
    // The consumer lives in this process: nothing survives a restart to rebuild from.
  }

  async close(): Promise<void> {
    await Promise.all([...this.groups].map(async (g) => {
      g.stopped = true;
      await g.running;
    }));
    this.groups.clear();
  }
}
