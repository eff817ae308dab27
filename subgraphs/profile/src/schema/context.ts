import DataLoader from 'dataloader';
import type { ProfileService } from '../app/profile-service.js';
import type { SnapshotJob } from '../app/snapshot-job.js';
import type { Profile } from '../domain/profile.js';
import type { ProfileSnapshot } from '../store/ports.js';

export interface ProfileContext {
  service: ProfileService;
  snapshots: SnapshotJob;
  /** Per-request loaders: every profile read of one request is one store call. */
  profiles: DataLoader<string, Profile>;
  batchSnapshots: DataLoader<string, ProfileSnapshot | null>;
  now: number;
}

export function createContext(service: ProfileService, snapshots: SnapshotJob): ProfileContext {
  return {
    service,
    snapshots,
    profiles: new DataLoader((ids) => service.loadProfiles(ids)),
    batchSnapshots: new DataLoader((ids) => service.loadSnapshots(ids)),
    now: Date.now(),
  };
}
