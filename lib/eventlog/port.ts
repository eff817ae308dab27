/**
 * The event log: accepted entries, in order per key, read by independent consumer groups (the
 * profile updater, the recommendations service's trending consumer), deduplicated on the way in.
 * Generic over its entries (profile events by default); what it needs to know of one is given by
 * EntryKeys. Adapters: memory (the embedded platform) and Redis Streams.
 */
import type { ProfileEvent } from '../contracts/event.js';

/** What the log needs to know of an entry. */
export interface EntryKeys<E> {
  /** Entries with the same order key stay in append order (one partition holds them). */
  orderKey(entry: E): string;
  /** An entry whose dedupe key was accepted within the dedupe window is a duplicate. */
  dedupeKey(entry: E): string;
}

/** `keys` may be left out only for profile events, whose keys are the default. */
export type KeysOption<E> = [E] extends [ProfileEvent] ? { keys?: EntryKeys<E> } : { keys: EntryKeys<E> };

/** What a delivered batch carries besides its entries. */
export interface BatchContext {
  /**
   * The W3C trace contexts (`traceparent`) the batch's entries were appended under, each once, in
   * order (entries appended with no active trace carry none): a consumer links its work to them.
   */
  traceparents: readonly string[];
  /**
   * Some of these entries were delivered before and not acknowledged: a retry after the handler
   * failed, a consumer's own pending entries after a restart, a reclaim or a takeover. A handler
   * whose work has several steps redoes the ones a failure may have cut short (the profile
   * updater announces a change again when it finds the events applied already).
   */
  redelivered: boolean;
}

export type EventBatchHandler<E = ProfileEvent> = (events: readonly E[], batch: BatchContext) => Promise<void> | void;

/** One consumer group on one partition (EventLog.info). */
export interface GroupInfo {
  group: string;
  /** Entries delivered to the group's consumers and not yet acknowledged. */
  pending: number;
  /** Entries appended that the group has not been delivered yet (null: the log cannot tell). */
  lag: number | null;
}

/** One partition of the log: its length and its consumer groups (EventLog.info). */
export interface PartitionInfo {
  partition: number;
  /** Entries retained. */
  length: number;
  groups: GroupInfo[];
}

export interface EventConsumer {
  /** Stops delivery and waits for the batch in progress. */
  stop(): Promise<void>;
}

/** Where appended events landed (adapter-specific), for waitApplied. */
export type AppendReceipt = ReadonlyMap<number, string>;

export interface AppendResult<E = ProfileEvent> {
  receipt: AppendReceipt;
  /** Entries left out: their dedupe key was accepted within the dedupe window. */
  duplicates: readonly E[];
}

/** Some events of an append landed and some did not (for example one partition failed). */
export class PartialAppendError<E = ProfileEvent> extends Error {
  constructor(
    readonly receipt: AppendReceipt,
    /** Entries that are not in the log (their keys are not claimed either): retryable. */
    readonly failed: readonly E[],
    /** Entries of the partitions that did take theirs, left out as duplicates. */
    readonly duplicates: readonly E[],
    reason: unknown,
  ) {
    super(`${failed.length} events could not be appended: ${(reason as Error)?.message ?? String(reason)}`, { cause: reason });
  }
}

export interface EventLog<E = ProfileEvent> {
  /**
   * Appends entries whose dedupe key the log has not accepted within its dedupe window, and
   * claims those ids, in one atomic step per partition: an id is claimed exactly when its event is
   * in the log, whatever fails when (so a producer's retry is either appended or a duplicate of
   * something that is). The active trace context (lib/tracing.ts), if any, is stored with the
   * entry and handed to consumers (BatchContext). Resolves once they are durable; when only some partitions take theirs,
   * rejects with PartialAppendError naming the events that are not in the log.
   */
  append(events: readonly E[]): Promise<AppendResult<E>>;
  /** Resolves true once `group` has processed everything in the receipt, false on timeout. */
  waitApplied(receipt: AppendReceipt, group: string, timeoutMs: number): Promise<boolean>;
  /**
   * Delivers events to `handler` in batches, at least once, in append order per user. Each group
   * has its own position; a new group starts at the oldest retained event.
   */
  consume(group: string, handler: EventBatchHandler<E>): EventConsumer;
  /**
   * Retained events the group has already processed, in order per partition: lets a consumer
   * that keeps derived state in memory rebuild it after a restart. Empty for in-process logs.
   */
  processedHistory(group: string): AsyncIterable<E[]>;
  /** Length of each partition and, per consumer group, its pending entries and lag (for /metrics). */
  info(): Promise<PartitionInfo[]>;
  close(): Promise<void>;
}
