import DataLoader from 'dataloader';
import type { ProfileService } from '../app/profile-service.js';
import type { SnapshotJob } from '../app/snapshot-job.js';
import type { Profile } from '../domain/profile.js';
import type { ProfileSnapshot } from '../store/ports.js';
import type { ProfilePubSub } from '../../../../lib/pubsub/port.js';

export interface ProfileContext {
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
export function createContext(service: ProfileService, snapshots: SnapshotJob, pubsub: ProfilePubSub, live = false): ProfileContext {
  return {
    service,
    snapshots,
    pubsub,
    profiles: new DataLoader((ids) => service.loadProfiles(ids), { cache: !live }),
    batchSnapshots: new DataLoader((ids) => service.loadSnapshots(ids), { cache: !live }),
    now: Date.now(),
  };
}
