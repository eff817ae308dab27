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
 * A request's context. Subscriptions live long, so theirs do not cache between updates: a live
 * context makes a loader for each read (an update reads the profile once) and keeps none, which
 * is a few hundred bytes less for every live subscription.
 */
export function createContext(
  service: ProfileService,
  snapshots: SnapshotJob,
  pubsub: ProfilePubSub,
  identity: Identity | null,
  ingestLimiter: RateLimiter,
  live = false,
): ProfileContext {
  if (live) return new LiveContext(identity, ingestLimiter, service, snapshots, pubsub);
  return {
    identity,
    ingestLimiter,
    service,
    snapshots,
    pubsub,
    profiles: profileLoader(service, identity, true),
    batchSnapshots: new DataLoader((ids) => service.loadSnapshots(ids)),
    now: Date.now(),
  };
}

function profileLoader(service: ProfileService, identity: Identity | null, cache: boolean): DataLoader<string, Profile> {
  return new DataLoader(async (ids) => (await service.loadProfiles(ids)).map((p, i) => ownedBy(identity, ids[i]!, p)), { cache });
}

/** A subscription's context: its loaders made when read, uncached. */
class LiveContext implements ProfileContext {
  readonly now = Date.now();

  constructor(
    readonly identity: Identity | null,
    readonly ingestLimiter: RateLimiter,
    readonly service: ProfileService,
    readonly snapshots: SnapshotJob,
    readonly pubsub: ProfilePubSub,
  ) {}

  get profiles(): DataLoader<string, Profile> {
    return profileLoader(this.service, this.identity, false);
  }

  get batchSnapshots(): DataLoader<string, ProfileSnapshot | null> {
    return new DataLoader((ids) => this.service.loadSnapshots(ids), { cache: false });
  }
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
