/**
 * Publishes every profile change as a ProfileUpdated message: on pub/sub (subscriptions, other
 * replicas) and, when given, on the change-notice log, which consumers that must not miss a
 * change read with a consumer group (the audiences subgraph). Notices of one turn of the event
 * loop go to the log in one append, and the write that made a change waits for its notice: when
 * the append keeps failing, the write path fails (the updater's batch is delivered again and
 * announces the change again; an ingest request answers STORE_UNAVAILABLE).
 */
import type { EventLog } from '../../../../lib/eventlog/port.js';
import type { ProfilePubSub, ProfileUpdated } from '../../../../lib/pubsub/port.js';
import type { ProfileService } from './profile-service.js';
import { currentTraceparent } from '../../../../lib/tracing.js';

const NOTICE_RETRIES = 4;

export interface NoticeRetries {
  /** Appends tried again after the first fails (default NOTICE_RETRIES). */
  retries?: number;
  /** The first wait, multiplied by 4 each time (default 100 ms). */
  backoffMs?: number;
}

export function publishChanges(service: ProfileService, pubsub: ProfilePubSub, onError: (err: unknown) => void, changes?: EventLog<ProfileUpdated>, retry: NoticeRetries = {}): () => void {
  const { retries = NOTICE_RETRIES, backoffMs = 100 } = retry;
  let pending: { messages: ProfileUpdated[]; done: Promise<void> } | null = null;
  /** A failed append is retried a few times (Redis failing over), then reported and rejected. */
  const append = async (batch: ProfileUpdated[]): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        await changes!.append(batch);
        return;
      } catch (err) {
        if (attempt >= retries) {
          onError(err);
          throw err;
        }
        await new Promise((r) => setTimeout(r, backoffMs * 4 ** attempt).unref());
      }
    }
  };
  return service.onChange((c) => {
    // Announced inside the change's span (the updater's apply, or the ingest request): its trace
    // continues in the live push (the subscription resolver passes it on to the gateway).
    const traceparent = currentTraceparent();
    const message: ProfileUpdated = { userId: c.userId, version: c.version, cause: c.cause, eventIds: c.eventIds, changed: c.changed, at: Date.now(), ...(traceparent ? { traceparent } : {}) };
    pubsub.publish(message).catch(onError);
    if (!changes) return;
    // Notices of one turn of the event loop go out in one append; the change's write path waits
    // for it (the updater acknowledges its events only once their notices are in the log).
    if (!pending) {
      const batch: ProfileUpdated[] = [];
      const done = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        pending = null;
        return append(batch);
      });
      pending = { messages: batch, done };
    }
    pending.messages.push(message);
    return pending.done;
  });
}
