/**
 * The event log: accepted events, in order per user, read by independent consumer groups (the
 * profile updater, the recommendations service's trending consumer). Memory adapter here; the
 * Redis Streams adapter comes with the Redis issue.
 */
import type { ProfileEvent } from '../../subgraphs/profile/src/domain/event.js';

export type EventBatchHandler = (events: readonly ProfileEvent[]) => Promise<void> | void;

export interface EventConsumer {
  /** Stops delivery and waits for the batch in progress. */
  stop(): Promise<void>;
}

/** Where appended events landed (adapter-specific), for waitApplied. */
export type AppendReceipt = ReadonlyMap<number, string>;

/** Some events of an append landed and some did not (for example one partition failed). */
export class PartialAppendError extends Error {
  constructor(
    readonly receipt: AppendReceipt,
    readonly failed: readonly ProfileEvent[],
    reason: unknown,
  ) {
    super(`${failed.length} events could not be appended: ${(reason as Error)?.message ?? String(reason)}`, { cause: reason });
  }
}

export interface AppendOptions {
  /**
   * A consumer group whose work the writer has already done for these events (the profile
   * service applied them during the request): that group acknowledges them without delivering
   * them, so they are not handled twice. Every other group receives them as usual.
   */
  handledBy?: string;
}

export interface EventLog {
  /**
   * Appends accepted events; resolves once they are durable in the log. When only some land,
   * rejects with PartialAppendError naming the ones that did not.
   */
  append(events: readonly ProfileEvent[], options?: AppendOptions): Promise<AppendReceipt>;
  /** Resolves true once `group` has processed everything in the receipt, false on timeout. */
  waitApplied(receipt: AppendReceipt, group: string, timeoutMs: number): Promise<boolean>;
  /**
   * Delivers events to `handler` in batches, at least once, in append order per user. Each group
   * has its own position; a new group starts at the oldest retained event.
   */
  consume(group: string, handler: EventBatchHandler): EventConsumer;
  /**
   * Retained events the group has already processed, in order per partition: lets a consumer
   * that keeps derived state in memory rebuild it after a restart. Empty for in-process logs.
   */
  processedHistory(group: string): AsyncIterable<ProfileEvent[]>;
  close(): Promise<void>;
}
