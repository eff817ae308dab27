/**
 * Storage ports of the profile service, each with a memory and a Redis adapter. (Deduplication of
 * incoming event ids belongs to the event log, which claims them in the step that appends.)
 */
import type { Closable } from '../../../../lib/dispose.js';
import type { ProfileEvent } from '../../../../lib/contracts/event.js';
import type { RankingFeatures } from '../../../../lib/contracts/ranking-features.js';
import type { ComputedTraitDefinition } from '../../../../lib/contracts/computed-traits.js';
import type { Profile } from '../domain/profile.js';

/**
 * Profiles a process remembers by default (PROFILE_WRITE_CACHE), within the stored-bytes budget
 * (PROFILE_CACHE_MB). An updater owns its partitions' users, so its copies stay current and a
 * user it saw is written with the compare-and-set alone: in bench:ingest (20,000 users) 20,000
 * instead of 2,000 took the updater's CPU per event at a steady rate from 0.226 to 0.124 ms and
 * the burst from 9,656 to 13,774 events/s end to end (one run each, back to back; every user of
 * that bench fits, the best case: with more users, what fits is the recently active ones). Their
 * decoded copies take about four to five times their stored bytes in heap.
 */
export const DEFAULT_WRITE_CACHE = 20_000;
/** The stored-bytes budget of those profiles by default, in MiB (PROFILE_CACHE_MB). */
export const DEFAULT_CACHE_MB = 64;

/**
 * Events a Redis profile gathers, appended to its hash, before its document is rewritten with them
 * (PROFILE_COMPACT_EVERY). A write of one event to a profile otherwise pays for decoding,
 * copying, bounding and encoding the whole profile and sending it to Redis, about ten times
 * what folding the event costs; at a steady rate each write carries one event (README,
 * Benchmarks: Appended events).
 */
export const DEFAULT_COMPACT_EVERY = 16;

/** What ProfileStore.append did: the profile's version after it, and how many events were new. */
export interface Appended {
  version: number;
  applied: number;
}

/** The user id became an alias while a write was in flight: resolve it again and retry. */
export class AliasedProfileError extends Error {
  constructor(readonly userId: string) {
    super(`${userId} is now an alias of another user`);
  }
}

/**
 * The keys (eventKey: the user an event was sent for and its id) of the events applied to a
 * profile, each with when it was applied (epoch ms). Every
 * profile has one beside it, kept for the ledger window (DEDUPE_TTL), written in the same atomic
 * step as the profile: it is what makes applying an event exactly once, however many events the
 * user had since (the profile itself remembers only its newest ids).
 */
export type Ledger = ReadonlyMap<string, number>;

/**
 * The reducer as a store calls it: folds events into a profile (null: none yet). `owned`: the
 * profile is a private copy it may change in place. Reads and writes of a store that appends
 * events (ProfileStore.append) fold them in with the caller's, computed traits included; a
 * caller that gives none gets the default configuration's.
 */
export type FoldEvents = (current: Profile | null, events: readonly ProfileEvent[], owned: boolean) => Profile;

export interface ProfileStore {
  /** Profiles for the given ids, in the same order; null where none exists. */
  getMany(userIds: readonly string[], fold?: FoldEvents): Promise<(Profile | null)[]>;
  /**
   * Applies events to the user's profile exactly once: events whose ids its ledger lists are left
   * out, `fold(current, fresh, owned)` gets the others, and the new profile is stored together
   * with their ledger entries in one atomic step. Returns what was stored (or the current profile
   * when nothing was new). `fold` must be pure: an adapter may call it again when a concurrent
   * writer got there first; `owned` is true when `current` is a private copy that `fold` may
   * modify in place. Throws AliasedProfileError when the id has been aliased meanwhile.
   */
  apply(userId: string, events: readonly ProfileEvent[], fold: FoldEvents): Promise<Profile>;
  /**
   * Where the adapter can, records the events exactly once (the same ledger as `apply`) without
   * reading or rewriting the profile: readers fold them in until the adapter rewrites the
   * profile with them (with `fold`). Null when it does not (then `apply`).
   */
  append?(userId: string, events: readonly ProfileEvent[], fold: FoldEvents): Promise<Appended | null>;
  /**
   * Atomically replaces the user's profile with `fn(current)` and returns what was stored, under
   * the same rules as `apply`. `inherit`: ledger entries of a profile merged into this one,
   * stored with it (so the merged events are not applied again under this user). `once`: a name
   * for a change that must happen once for this profile (a merge), recorded with it in the same
   * write; if the profile records it already, nothing is written and `fn` is not applied. The
   * record lasts as long as the profile (a deletion removes it).
   */
  update(userId: string, fn: (current: Profile | null, owned: boolean) => Profile, inherit?: Ledger, once?: string, fold?: FoldEvents): Promise<Profile>;
  /** Forgets that the once-change was made (an alias whose link is removed). */
  forgetChange(userId: string, once: string): Promise<void>;
  /** The user's ledger (entries within the window). */
  ledger(userId: string): Promise<Ledger>;
  /** For each key (see eventKey), whether the user's ledger lists it. */
  applied(userId: string, keys: readonly string[]): Promise<boolean[]>;
  /** Removes the profile; true when one existed. */
  delete(userId: string): Promise<boolean>;
  /** Every stored profile, in pages (for the batch snapshot job). */
  scan(pageSize?: number, fold?: FoldEvents): AsyncIterable<Profile[]>;
  /**
   * One page of the stored profiles, resumable across requests: `cursor` is what the previous
   * page returned (null: from the start; a returned null: no more). About `limit` profiles (a
   * Redis SCAN page may be a little shorter or longer); profiles written meanwhile may or may not
   * be listed, but none stored for the whole listing is missed.
   */
  page(cursor: string | null, limit: number, fold?: FoldEvents): Promise<{ profiles: Profile[]; cursor: string | null }>;
  /** How many profiles are stored, when the adapter knows it cheaply (null otherwise). */
  count(): Promise<number | null>;
}

/** A stored computed-trait definition. */
export interface StoredTraitDefinition extends ComputedTraitDefinition {
  createdAt: number;
}

/** Computed-trait definitions, shared by every process of the profile service. */
export interface TraitDefinitionStore {
  /** Every definition, oldest first, and the version of the set (it grows with every change). */
  list(): Promise<{ version: number; definitions: StoredTraitDefinition[] }>;
  /** The version of the set, cheaply (processes poll it). */
  version(): Promise<number>;
  /** Stores a definition unless one has its name; returns the stored one (the existing one if so). */
  putIfAbsent(definition: StoredTraitDefinition): Promise<StoredTraitDefinition>;
  /** Removes a definition; true when one existed. */
  delete(name: string): Promise<boolean>;
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

export interface ProfileStores extends Closable {
  profiles: ProfileStore;
  snapshots: SnapshotStore;
  identities: IdentityStore;
  traitDefinitions: TraitDefinitionStore;
}
