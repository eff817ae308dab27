import DataLoader from 'dataloader';
import type { ProfileService } from '../app/profile-service.js';
import type { SnapshotJob } from '../app/snapshot-job.js';
import type { Profile } from '../domain/profile.js';
import type { ProfileSnapshot } from '../store/ports.js';
import type { ProfilePubSub } from '../../../../lib/pubsub/port.js';
import { forbidden, isService } from '../../../../lib/auth.js';
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
  /**
   * Per-request loaders: every profile read of one request is one store call. `profiles` is the
   * one way a profile reaches a caller (queries, entities, subscriptions): it refuses a user token
   * the profile actually returned when that is not its own (an id aliased to another user).
   */
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
    profiles: new DataLoader(async (ids) => (await service.loadProfiles(ids)).map((p, i) => ownedBy(identity, ids[i]!, p)), { cache: !live }),
    batchSnapshots: new DataLoader((ids) => service.loadSnapshots(ids), { cache: !live }),
    now: Date.now(),
  };
}

/**
 * The profile, when the caller may read it: a service reads any; a user token only the profile
 * of its own subject. An id aliased to another user (an anonymous visitor merged into a known
 * user) resolves to that user's profile, which the anonymous id's token must not see.
 */
function ownedBy(identity: Identity | null, requested: string, profile: Profile): Profile | Error {
  if (isService(identity) || profile.userId === identity?.sub) return profile;
  return forbidden(
    requested === profile.userId
      ? `a user token can only read its own profile`
      : `${requested} is now part of another user's profile; a user token can only read its own`,
  );
}
