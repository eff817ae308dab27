/** Publishes every profile change as a ProfileUpdated message (for subscriptions, other replicas). */
import type { ProfilePubSub } from '../../../../lib/pubsub/port.js';
import type { ProfileService } from './profile-service.js';

export function publishChanges(service: ProfileService, pubsub: ProfilePubSub, onError: (err: unknown) => void): () => void {
  return service.onChange((c) => {
    pubsub
      .publish({ userId: c.userId, version: c.version, cause: c.cause, eventIds: c.eventIds, changed: c.changed, at: Date.now() })
      .catch(onError);
  });
}
