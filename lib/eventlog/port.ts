/**
 * The event log: accepted events, in order per user, read by independent consumer groups (the
 * profile updater, the recommendations service's trending consumer), deduplicated on the way in.
 * Adapters: memory (the embedded platform) and Redis Streams.
 */
import type { ProfileEvent } from '../contracts/event.js';

export type EventBatchHandler = (events: readonly ProfileEvent[]) => Promise<void> | void;

export interface EventConsumer {
  /** Stops delivery and waits for the batch in progress. */
  stop(): Promise<void>;
}

/** Where appended events landed (adapter-specific), for waitApplied. */
export type AppendReceipt = ReadonlyMap<number, string>;

export interface AppendResult {
  receipt: AppendReceipt;
  /** Events left out: the same user's event id was accepted within the dedupe window. */
  duplicates: readonly ProfileEvent[];
}

/** Some events of an append landed and some did not (for example one partition failed). */
export class PartialAppendError extends Error {
  constructor(
    readonly receipt: AppendReceipt,
    /** Events that are not in the log (their ids are not claimed either): retryable. */
    readonly failed: readonly ProfileEvent[],
    /** Events of the partitions that did take theirs, left out as duplicates. */
    readonly duplicates: readonly ProfileEvent[],
    reason: unknown,
  ) {
    super(`${failed.length} events could not be appended: ${(reason as Error)?.message ?? String(reason)}`, { cause: reason });
  }
}

export interface EventLog {
  /**
   * Appends events whose (userId, eventId) the log has not accepted within its dedupe window, and
   * claims those ids, in one atomic step per partition: an id is claimed exactly when its event is
   * in the log, whatever fails when (so a producer's retry is either appended or a duplicate of
   * something that is). Resolves once they are durable; when only some partitions take theirs,
   * rejects with PartialAppendError naming the events that are not in the log.
   */
  append(events: readonly ProfileEvent[]): Promise<AppendResult>;
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
