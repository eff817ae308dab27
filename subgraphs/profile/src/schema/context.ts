import DataLoader from 'dataloader';
import type { ProfileService } from '../app/profile-service.js';
import type { SnapshotJob } from '../app/snapshot-job.js';
import type { Profile } from '../domain/profile.js';
import type { ProfileSnapshot } from '../store/ports.js';
import type { ProfilePubSub } from '../../../../lib/pubsub/port.js';
import type { Identity } from '../../../../lib/auth.js';
import type { RateLimiter } from '../../../../lib/rate-limit.js';

export interface ProfileContext {
  /** The caller the gateway vouched for (null: none). */
  identity: Identity | null;
  /** Events per second per token, shared by the events API and ingestEvents. */
  ingestLimiter: RateLimiter;
  service: ProfileService;
  pubsub: ProfilePubSub;
  snapshots: SnapshotJob;
  /** Per-request loaders: every profile read of one request is one store call. */
  profiles: DataLoader<string, Profile>;
  batchSnapshots: DataLoader<string, ProfileSnapshot | null>;
  now: number;
}

/**
 * A request's context. Subscriptions live long, so theirs do not cache between updates (loaders
 * still batch within one update).
 */
export function createContext(
  service: ProfileService,
  snapshots: SnapshotJob,
  pubsub: ProfilePubSub,
  identity: Identity | null,
  ingestLimiter: RateLimiter,
  live = false,
): ProfileContext {
  return {
    identity,
    ingestLimiter,
    service,
    snapshots,
    pubsub,
    profiles: new DataLoader((ids) => service.loadProfiles(ids), { cache: !live }),
    batchSnapshots: new DataLoader((ids) => service.loadSnapshots(ids), { cache: !live }),
    now: Date.now(),
  };
}
