/** Storage ports of the profile service. Each has a memory adapter and (later) a Redis adapter. */
import type { RankingFeatures } from '../domain/features.js';
import type { Profile } from '../domain/profile.js';

/** The user id became an alias while a write was in flight: resolve it again and retry. */
export class AliasedProfileError extends Error {
  constructor(readonly userId: string) {
    super(`${userId} is now an alias of another user`);
  }
}

export interface ProfileStore {
  /** Profiles for the given ids, in the same order; null where none exists. */
  getMany(userIds: readonly string[]): Promise<(Profile | null)[]>;
  /**
   * Atomically replaces the user's profile with `fn(current)` and returns what was stored. `fn`
   * must be pure: an adapter may call it again when a concurrent writer got there first.
   * `owned` is true when `current` is a private copy that `fn` may modify in place. Throws
   * AliasedProfileError when the id has been aliased to another user meanwhile.
   */
  update(userId: string, fn: (current: Profile | null, owned: boolean) => Profile): Promise<Profile>;
  /** Removes the profile; true when one existed. */
  delete(userId: string): Promise<boolean>;
  /** Every stored profile, in pages (for the batch snapshot job). */
  scan(pageSize?: number): AsyncIterable<Profile[]>;
}

/** A profile's ranking features as copied by the batch job: the legacy baseline. */
export interface ProfileSnapshot {
  userId: string;
  version: number;
  takenAt: number;
  features: RankingFeatures;
}

export interface SnapshotStore {
  putMany(snapshots: readonly ProfileSnapshot[]): Promise<void>;
  getMany(userIds: readonly string[]): Promise<(ProfileSnapshot | null)[]>;
  delete(userId: string): Promise<void>;
}

export interface DedupeStore {
  /** Claims event ids in order; true where the id was not seen within the retention window. */
  claim(eventIds: readonly string[]): Promise<boolean[]>;
  /** Forgets claimed ids whose events could not be accepted after all. */
  release(eventIds: readonly string[]): Promise<void>;
}

export interface IdentityStore {
  /** The canonical user id for each id: the known user an anonymous id was aliased to, or itself. */
  resolve(ids: readonly string[], options?: { fresh?: boolean }): Promise<string[]>;
  /**
   * Like resolve, for writers: may answer from what this process already knows without a round
   * trip. Safe because ProfileStore.update refuses to write under an id that has become an alias
   * (AliasedProfileError); the writer then calls resolve with `fresh` (nothing cached for the ids).
   */
  resolveForWrite(ids: readonly string[]): Promise<string[]>;
  /** Links an anonymous id to a user id; returns the user it is linked to (an earlier link wins). */
  link(anonymousId: string, userId: string): Promise<string>;
  /** Removes every link to or from the user. */
  forget(userId: string): Promise<void>;
}

export interface ProfileStores {
  profiles: ProfileStore;
  snapshots: SnapshotStore;
  dedupe: DedupeStore;
  identities: IdentityStore;
  close(): Promise<void>;
}
