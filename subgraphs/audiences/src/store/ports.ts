/**
 * Storage ports of the audiences subgraph, each with a memory and a Redis adapter and one
 * contract suite (test/contract/audience-stores.test.ts).
 */
import type { Closable } from '../../../../lib/dispose.js';
import type { Audience } from '../domain/audience.js';
import type { DeliveryStatusStore } from './destination-status.js';
import type { Destination } from '../app/destinations.js';

export interface AudienceStore {
  get(ids: readonly string[]): Promise<(Audience | null)[]>;
  list(): Promise<Audience[]>;
  /** Stores a new audience; false when the id is taken. */
  create(audience: Audience): Promise<boolean>;
  /** Replaces the audience when its stored revision is `expectedRevision` (else false). */
  replace(audience: Audience, expectedRevision: number): Promise<boolean>;
  delete(id: string): Promise<boolean>;
  /** Grows with every create, replace and delete: processes poll it to reload the set. */
  version(): Promise<number>;
  /** Takes (or renews) the right to run an audience's backfill for `ttlMs`; false when another holder has it. */
  lease(audienceId: string, holder: string, ttlMs: number): Promise<boolean>;
  release(audienceId: string, holder: string): Promise<void>;
}

/** One decision about one user in one audience. */
export interface MembershipDecision {
  audienceId: string;
  member: boolean;
}

export interface MembershipTransition {
  audienceId: string;
  entered: boolean;
  /** The transition's number for this user and audience (1, 2, …): a change id that never repeats. */
  seq: number;
}

/**
 * A transition applied and not yet acknowledged (its change not yet written out), with what apply
 * was given: the user's outbox. Stored with the membership in the same atomic write, so a crash
 * after apply and before the change reaches the log leaves it here, to be emitted by the next
 * evaluation of the user (which the unacknowledged notice, due time or backfill brings).
 */
export interface UnsentTransition extends MembershipTransition {
  at: number;
  profileVersion: number | null;
  /** What the caller tagged the apply with (the service: the transition's reason). */
  tag: string;
}

export interface Membership {
  audienceId: string;
  since: number;
}

/** What one read of a user holds: its memberships and its unsent transitions (oldest first). */
export interface UserMemberships {
  memberships: Membership[];
  unsent: UnsentTransition[];
  /** Grows with every transition of the user (0: none yet): tells whether a later apply still finds what this read did. */
  generation: number;
}

export interface MembershipStore {
  /**
   * Applies one user's decisions atomically: each one that differs from the stored membership
   * changes it (entered: since = `at`) and is returned as a transition; the same decision again
   * changes nothing (idempotent). Decisions read from a profile older than the newest this user
   * was decided on (`profileVersion` below it) are stale and ignored entirely: a reordered or
   * replayed change never flips a member back. `profileVersion` null: decisions that read no
   * profile (the audience was deleted), applied whatever the version. Each transition is also
   * recorded as unsent, with `tag`, in the same write, until acknowledged. `basis`: the read the
   * decisions were made on; an adapter may then send only the decisions that differ from it, when
   * the user has had no transition since (the same generation), and every decision otherwise: the
   * outcome is that of applying them all.
   */
  apply(userId: string, profileVersion: number | null, at: number, decisions: readonly MembershipDecision[], tag?: string, basis?: UserMemberships): Promise<MembershipTransition[]>;
  /**
   * The transitions' changes are written out: they are no longer unsent. `reindex`: the member
   * index of their audiences is first written again as the user's record has it (a crash may
   * have come between apply's atomic write and its index writes).
   */
  acknowledge(userId: string, transitions: readonly MembershipTransition[], reindex?: boolean): Promise<void>;
  /** The user's memberships. */
  of(userId: string): Promise<Membership[]>;
  ofMany(userIds: readonly string[]): Promise<Membership[][]>;
  /** Memberships and unsent transitions of each user, in one read. */
  read(userIds: readonly string[]): Promise<UserMemberships[]>;
  /** Members of an audience by entry time (then id), after `cursor`; and how many there are. */
  members(audienceId: string, first: number, cursor: string | null): Promise<{ members: { userId: string; since: number }[]; cursor: string | null }>;
  size(audienceIds: readonly string[]): Promise<number[]>;
  /**
   * Removes every membership of the user (the profile was deleted), as apply would with null
   * version (exits recorded unsent with `tag`), and restarts its version; returns the exits.
   */
  forgetUser(userId: string, at: number, tag?: string): Promise<MembershipTransition[]>;
  /** Removes the audience's member index (its members' own records are removed by apply). */
  dropAudience(audienceId: string): Promise<void>;
}

/** When a user's membership of an audience must be looked at again with no event (rules.ts nextChangeAt). */
export interface DueStore {
  /** Sets (or moves) the due time of each pair; null removes it. */
  schedule(entries: readonly { audienceId: string; userId: string; at: number | null }[]): Promise<void>;
  /**
   * Takes up to `limit` pairs due by `now`: each stays scheduled at `now + leaseMs` (taken again
   * if the taker dies before rescheduling it), so none is lost.
   */
  claim(now: number, limit: number, leaseMs: number): Promise<{ audienceId: string; userId: string; at: number }[]>;
  /** The earliest due time (null: nothing scheduled). */
  next(): Promise<number | null>;
  /**
   * Forgets the audience's pairs. An adapter may drop them lazily instead (Redis: without a scan,
   * as they come due), since the service skips pairs of audiences that no longer exist.
   */
  dropAudience(audienceId: string): Promise<void>;
}

export interface DestinationStore {
  list(): Promise<Destination[]>;
  put(destination: Destination): Promise<void>;
  delete(id: string): Promise<Destination | null>;
}

export interface AudienceStores extends Closable {
  audiences: AudienceStore;
  memberships: MembershipStore;
  due: DueStore;
  destinations: DestinationStore;
  deliveryStatus: DeliveryStatusStore;
}
