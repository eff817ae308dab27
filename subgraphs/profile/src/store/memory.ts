/** Embedded in-memory adapters: the default, so `npm start` needs nothing installed. */
import type { Profile } from '../domain/profile.js';
import type {
  DedupeStore,
  IdentityStore,
  ProfileSnapshot,
  ProfileStore,
  ProfileStores,
  SnapshotStore,
} from './ports.js';

/** Profiles expire `ttlMs` after their last write (0: never), like the Redis adapter. */
export class MemoryProfileStore implements ProfileStore {
  private readonly profiles = new Map<string, { profile: Profile; expiresAt: number }>();

  constructor(
    private readonly ttlMs = 0,
    private readonly now: () => number = Date.now,
  ) {}

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

  async update(userId: string, fn: (current: Profile | null, owned: boolean) => Profile): Promise<Profile> {
    // Read, compute and write without yielding: the event loop makes this atomic.
    const current = this.live(userId);
    const next = fn(current, false);
    if (next === current) return next;
    this.profiles.set(userId, { profile: next, expiresAt: this.ttlMs > 0 ? this.now() + this.ttlMs : Infinity });
    return next;
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

/** Remembers event ids for `ttlMs`, and at most `maxEntries` of them (oldest forgotten first). */
export class MemoryDedupeStore implements DedupeStore {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 5_000_000,
    private readonly now: () => number = Date.now,
  ) {}

  async claim(eventIds: readonly string[]): Promise<boolean[]> {
    const now = this.now();
    this.evict(now);
    return eventIds.map((id) => {
      const expiresAt = this.seen.get(id);
      if (expiresAt !== undefined && expiresAt > now) return false;
      this.seen.delete(id);
      this.seen.set(id, now + this.ttlMs);
      return true;
    });
  }

  async release(eventIds: readonly string[]): Promise<void> {
    for (const id of eventIds) this.seen.delete(id);
  }

  private evict(now: number): void {
    // Insertion order equals expiry order (fixed TTL), so expired ids sit at the front.
    for (const [id, expiresAt] of this.seen) {
      if (expiresAt > now && this.seen.size <= this.maxEntries) break;
      this.seen.delete(id);
    }
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

export function createMemoryStores(options: { dedupeTtlMs: number; profileTtlMs?: number }): ProfileStores {
  return {
    profiles: new MemoryProfileStore(options.profileTtlMs ?? 0),
    snapshots: new MemorySnapshotStore(),
    dedupe: new MemoryDedupeStore(options.dedupeTtlMs),
    identities: new MemoryIdentityStore(),
    close: async () => {},
  };
}
