/**
 * Publishes every profile change as a ProfileUpdated message: on pub/sub (subscriptions, other
 * replicas) and, when given, on the change-notice log, which consumers that must not miss a
 * change read with a consumer group (the audiences subgraph). Notices of one turn of the event
 * loop go to the log in one append.
 */
import type { EventLog } from '../../../../lib/eventlog/port.js';
import type { ProfilePubSub, ProfileUpdated } from '../../../../lib/pubsub/port.js';
import type { ProfileService } from './profile-service.js';
import { currentTraceparent } from '../../../../lib/tracing.js';

const NOTICE_RETRIES = 4;

export function publishChanges(service: ProfileService, pubsub: ProfilePubSub, onError: (err: unknown) => void, changes?: EventLog<ProfileUpdated>): () => void {
  let pending: ProfileUpdated[] = [];
  /** A failed append is retried a few times (Redis failing over), then reported. */
  const append = (batch: ProfileUpdated[], attempt = 0): void => {
    changes!.append(batch).catch((err) => {
      if (attempt >= NOTICE_RETRIES) return onError(err);
      setTimeout(() => append(batch, attempt + 1), 100 * 4 ** attempt).unref();
    });
  };
  const flush = () => {
    const batch = pending;
    pending = [];
    append(batch);
  };
  return service.onChange((c) => {
    // Announced inside the change's span (the updater's apply, or the ingest request): its trace
    // continues in the live push (the subscription resolver passes it on to the gateway).
    const traceparent = currentTraceparent();
    const message: ProfileUpdated = { userId: c.userId, version: c.version, cause: c.cause, eventIds: c.eventIds, changed: c.changed, at: Date.now(), ...(traceparent ? { traceparent } : {}) };
    pubsub.publish(message).catch(onError);
    if (!changes) return;
    if (pending.length === 0) setImmediate(flush);
    pending.push(message);
  });
}
