/** Embedded in-memory adapters: the default, so `npm start` needs nothing installed. */
import { closable } from '../../../../lib/dispose.js';
import { eventKey } from '../../../../lib/contracts/event.js';
import type { ProfileEvent } from '../../../../lib/contracts/event.js';
import type { Profile } from '../domain/profile.js';
import type { IdentityStore, Ledger, ProfileSnapshot, ProfileStore, ProfileStores, SnapshotStore, StoredTraitDefinition, TraitDefinitionStore } from './ports.js';

/**
 * Profiles expire `ttlMs` after their last write (0: never), like the Redis adapter; ledger
 * entries `ledgerTtlMs` after they were written. Ledgers outlive a deleted profile, as on Redis.
 */
export class MemoryProfileStore implements ProfileStore {
  /**
   * `done`: the once-changes (merges) made to the profile; they go with it. `seq`: when the entry
   * was added (a counter): the Map keeps entries in that order, and listing cursors are positions in it.
   */
  private readonly profiles = new Map<string, { profile: Profile; expiresAt: number; seq: number; done?: Set<string> }>();
  /** Every entry's user and seq in seq order (entries of deleted profiles until compacted): what page() seeks in. */
  private order: { userId: string; seq: number }[] = [];
  private added = 0;
  /** Per user: event id → when applied, in the order written. */
  private readonly ledgers = new Map<string, Map<string, number>>();

  constructor(
    private readonly ttlMs = 0,
    private readonly now: () => number = Date.now,
    private readonly ledgerTtlMs = 7 * 86_400_000,
  ) {}

  /** The user's ledger without the entries older than the window (mostly at its front). */
  private ledgerOf(userId: string): Map<string, number> {
    const ledger = this.ledgers.get(userId) ?? new Map<string, number>();
    const oldest = this.now() - this.ledgerTtlMs;
    for (const [id, at] of ledger) {
      if (at >= oldest) break;
      ledger.delete(id);
    }
    return ledger;
  }

  /** Stores the profile with ledger entries `add` and, when given, the once-change `once`. */
  private store(userId: string, profile: Profile, ledger: Map<string, number>, add: Iterable<readonly [string, number]>, once?: string): void {
    const prev = this.profiles.get(userId);
    const done = once ? new Set([...(prev?.done ?? []), once]) : prev?.done;
    // A Map.set of a present key keeps its place, so it keeps its seq; a new entry goes last.
    const seq = prev?.seq ?? ++this.added;
    if (!prev) this.order.push({ userId, seq });
    this.profiles.set(userId, { profile, expiresAt: this.ttlMs > 0 ? this.now() + this.ttlMs : Infinity, seq, ...(done ? { done } : {}) });
    for (const [id, at] of add) ledger.set(id, at);
    if (ledger.size > 0) this.ledgers.set(userId, ledger);
  }

  private live(userId: string): Profile | null {
    const entry = this.profiles.get(userId);
    if (!entry) return null;
    if (entry.expiresAt <= this.now()) {
      this.profiles.delete(userId);
      return null;
    }
    return entry.profile;
  }

  async getMany(userIds: readonly string[]): Promise<(Profile | null)[]> {
    return userIds.map((id) => this.live(id));
  }

  async apply(userId: string, events: readonly ProfileEvent[], fold: (current: Profile | null, fresh: readonly ProfileEvent[], owned: boolean) => Profile): Promise<Profile> {
    // Read, compute and write without yielding: the event loop makes this atomic.
    const ledger = this.ledgerOf(userId);
    const fresh = events.filter((e) => !ledger.has(eventKey(e)));
    const current = this.live(userId);
    const next = fold(current, fresh, false);
    if (fresh.length === 0 || next === current) return next;
    const now = this.now();
    this.store(userId, next, ledger, fresh.map((e) => [eventKey(e), now]));
    return next;
  }

  async update(userId: string, fn: (current: Profile | null, owned: boolean) => Profile, inherit?: Ledger, once?: string): Promise<Profile> {
    const current = this.live(userId);
    if (once && current && this.profiles.get(userId)?.done?.has(once)) return current;
    const next = fn(current, false);
    if (next === current && !inherit?.size && !once) return next;
    this.store(userId, next, this.ledgerOf(userId), inherit ?? [], once);
    return next;
  }

  async ledger(userId: string): Promise<Ledger> {
    return new Map(this.ledgerOf(userId));
  }

  async forgetChange(userId: string, once: string): Promise<void> {
    this.profiles.get(userId)?.done?.delete(once);
  }

  async applied(userId: string, keys: readonly string[]): Promise<boolean[]> {
    const ledger = this.ledgerOf(userId);
    return keys.map((k) => ledger.has(k));
  }

  async delete(userId: string): Promise<boolean> {
    const existed = this.live(userId) !== null;
    this.profiles.delete(userId);
    return existed;
  }

  async *scan(pageSize = 500): AsyncIterable<Profile[]> {
    let page: Profile[] = [];
    for (const userId of [...this.profiles.keys()]) {
      const profile = this.live(userId);
      if (!profile) continue;
      page.push(profile);
      if (page.length >= pageSize) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  }

  /**
   * The cursor is the seq of the last entry looked at: entries are in seq order, and one added
   * later (a new profile, or one deleted and written again) gets a higher seq, so it is listed
   * after the cursor (not before it, where the listing has passed), and none is missed.
   */
  async page(cursor: string | null, limit: number): Promise<{ profiles: Profile[]; cursor: string | null }> {
    const after = cursor === null ? 0 : parseSeqCursor(cursor);
    this.compactOrder();
    const order = this.order;
    // The first entry past the cursor (`order` is sorted by seq).
    let lo = 0;
    for (let hi = order.length; lo < hi; ) {
      const mid = (lo + hi) >> 1;
      if (order[mid]!.seq <= after) lo = mid + 1;
      else hi = mid;
    }
    const profiles: Profile[] = [];
    let i = lo;
    for (; i < order.length && profiles.length < limit; i++) {
      const { userId, seq } = order[i]!;
      // An entry deleted since (or deleted and written again, listed later under its new seq).
      if (this.profiles.get(userId)?.seq !== seq) continue;
      const profile = this.live(userId);
      if (profile) profiles.push(profile);
    }
    return { profiles, cursor: i < order.length ? String(i > lo ? order[i - 1]!.seq : after) : null };
  }

  /** Drops the entries of deleted profiles from `order` once they outnumber the live ones. */
  private compactOrder(): void {
    if (this.order.length <= 2 * this.profiles.size + 1024) return;
    this.order = this.order.filter(({ userId, seq }) => this.profiles.get(userId)?.seq === seq);
  }

  /** Profiles that have not expired. */
  async count(): Promise<number> {
    if (this.ttlMs <= 0) return this.profiles.size;
    const now = this.now();
    let live = 0;
    for (const entry of this.profiles.values()) if (entry.expiresAt > now) live++;
    return live;
  }
}

function parseSeqCursor(cursor: string): number {
  if (!/^\d{1,15}$/.test(cursor)) throw new RangeError('invalid cursor');
  return Number(cursor);
}

export class MemoryTraitDefinitionStore implements TraitDefinitionStore {
  private readonly definitions = new Map<string, StoredTraitDefinition>();
  private changes = 0;

  async list() {
    return { version: this.changes, definitions: [...this.definitions.values()] };
  }

  async version(): Promise<number> {
    return this.changes;
  }

  async putIfAbsent(definition: StoredTraitDefinition): Promise<StoredTraitDefinition> {
    const existing = this.definitions.get(definition.name);
    if (existing) return existing;
    this.definitions.set(definition.name, definition);
    this.changes++;
    return definition;
  }

  async delete(name: string): Promise<boolean> {
    const existed = this.definitions.delete(name);
    if (existed) this.changes++;
    return existed;
  }
}

export class MemorySnapshotStore implements SnapshotStore {
  private readonly snapshots = new Map<string, ProfileSnapshot>();

  async putMany(snapshots: readonly ProfileSnapshot[]): Promise<void> {
    for (const s of snapshots) this.snapshots.set(s.userId, s);
  }

  async getMany(userIds: readonly string[]): Promise<(ProfileSnapshot | null)[]> {
    return userIds.map((id) => this.snapshots.get(id) ?? null);
  }

  async delete(userId: string): Promise<void> {
    this.snapshots.delete(userId);
  }
}

export class MemoryIdentityStore implements IdentityStore {
  private readonly links = new Map<string, string>();

  resolveForWrite(ids: readonly string[]): Promise<string[]> {
    return this.resolve(ids);
  }

  async resolve(ids: readonly string[]): Promise<string[]> {
    return ids.map((id) => this.links.get(id) ?? id);
  }

  async link(anonymousId: string, userId: string): Promise<string> {
    const existing = this.links.get(anonymousId);
    if (existing !== undefined) return existing;
    this.links.set(anonymousId, userId);
    return userId;
  }

  async forget(userId: string): Promise<void> {
    for (const [anon, user] of this.links) if (anon === userId || user === userId) this.links.delete(anon);
  }
}

/** `dedupeTtlMs`: the ledger window (events redelivered within it are not applied again). */
export function createMemoryStores(options: { dedupeTtlMs: number; profileTtlMs?: number }): ProfileStores {
  return closable({
    profiles: new MemoryProfileStore(options.profileTtlMs ?? 0, Date.now, options.dedupeTtlMs),
    snapshots: new MemorySnapshotStore(),
    identities: new MemoryIdentityStore(),
    traitDefinitions: new MemoryTraitDefinitionStore(),
    close: async () => {},
  });
}
