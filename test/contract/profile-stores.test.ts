/** One contract for every adapter of the profile stores: memory, Redis and Redis Cluster. */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_REDUCER_CONFIG } from '../../subgraphs/profile/src/domain/config.js';
import { eventKey } from '../../lib/contracts/event.js';
import type { ProfileEvent } from '../../lib/contracts/event.js';
import { emptyProfile } from '../../subgraphs/profile/src/domain/profile.js';
import type { Profile } from '../../subgraphs/profile/src/domain/profile.js';
import { applyEvents } from '../../subgraphs/profile/src/domain/reducer.js';
import { createMemoryStores } from '../../subgraphs/profile/src/store/memory.js';
import { AliasedProfileError } from '../../subgraphs/profile/src/store/ports.js';
import type { ProfileStores } from '../../subgraphs/profile/src/store/ports.js';
import { createRedisProfileStores } from '../../subgraphs/profile/src/store/redis.js';
import type { RedisClient } from '../../lib/redis/connection.js';
import { deleteByPrefix, freshPrefix, redisTargets, requireTarget } from '../helpers/redis.js';

const TTL = { profileTtlMs: 60_000, dedupeTtlMs: 60_000 };

interface Adapter {
  name: string;
  /** Stores with the given TTLs; `second` is an independent connection to the same data. */
  make(ttl: typeof TTL): Promise<{ stores: ProfileStores; second: ProfileStores }>;
  cleanup(): Promise<void>;
  setup?(skip: (note: string) => void): Promise<boolean>;
  teardown?(): Promise<void>;
}

function memoryAdapter(): Adapter {
  return {
    name: 'memory',
    make: async (ttl) => {
      const stores = createMemoryStores(ttl);
      return { stores, second: stores };
    },
    cleanup: async () => {},
  };
}

function redisAdapter(target: ReturnType<typeof redisTargets>[number]): Adapter {
  let prefix = '';
  const clients: RedisClient[] = [];
  return {
    name: target.name,
    setup: (skip) => requireTarget(target, skip),
    make: async (ttl) => {
      prefix = freshPrefix();
      const a = target.connect();
      const b = target.connect();
      clients.push(a, b);
      return {
        stores: createRedisProfileStores(a, { prefix, ...ttl }),
        second: createRedisProfileStores(b, { prefix, ...ttl }),
      };
    },
    cleanup: async () => {
      if (clients[0]) await deleteByPrefix(clients[0], prefix);
      await Promise.all(clients.splice(0).map((c) => c.quit()));
    },
  };
}

const event = (userId: string, n: number, genre = 'Crime'): ProfileEvent => ({
  eventId: `${userId}-e${n}`,
  userId,
  type: 'PLAY',
  occurredAt: Date.UTC(2026, 0, 1) + n * 1000,
  item: { id: `item-${n}`, kind: 'MOVIE', genres: [genre] },
});

const apply = (userId: string, events: ProfileEvent[]) => (p: ReturnType<typeof emptyProfile> | null) =>
  applyEvents(p ?? emptyProfile(userId), events, DEFAULT_REDUCER_CONFIG).profile;
/** The fold ProfileStore.apply gets: the reducer over the events the ledger does not list. */
const fold = (userId: string) => (p: Profile | null, fresh: readonly ProfileEvent[], owned: boolean) =>
  applyEvents(p ?? emptyProfile(userId), fresh, DEFAULT_REDUCER_CONFIG, owned).profile;

for (const adapter of [memoryAdapter(), ...redisTargets().map(redisAdapter)]) {
  describe(`profile stores contract: ${adapter.name}`, () => {
    let available = true;
    let skipNote = '';
    let stores: ProfileStores;
    let second: ProfileStores;

    beforeAll(async () => {
      available = adapter.setup ? await adapter.setup((note) => (skipNote = note)) : true;
    });
    beforeEach(async ({ skip }) => {
      if (!available) skip(skipNote);
      ({ stores, second } = await adapter.make(TTL));
    });
    afterEach(async () => {
      if (available) await adapter.cleanup();
    });
    afterAll(async () => adapter.teardown?.());

    it('stores, reads, updates and deletes profiles', async () => {
      expect(await stores.profiles.getMany(['a', 'b'])).toEqual([null, null]);
      const created = await stores.profiles.update('a', apply('a', [event('a', 1)]));
      expect(created.version).toBe(1);
      const updated = await stores.profiles.update('a', apply('a', [event('a', 2, 'Drama')]));
      expect(updated.version).toBe(2);
      const [a, b] = await second.profiles.getMany(['a', 'b']);
      expect(a?.version).toBe(2);
      expect(Object.keys(a!.genres).sort()).toEqual(['Crime', 'Drama']);
      expect(b).toBeNull();
      // Stored profiles use null-prototype records, as the reducer expects.
      expect(Object.getPrototypeOf(a!.genres)).toBeNull();
      expect(await stores.profiles.delete('a')).toBe(true);
      expect(await stores.profiles.delete('a')).toBe(false);
      expect(await stores.profiles.getMany(['a'])).toEqual([null]);
    });

    it('a redelivered event changes nothing', async () => {
      await stores.profiles.update('r', apply('r', [event('r', 1)]));
      const again = await stores.profiles.update('r', apply('r', [event('r', 1)]));
      expect(again.version).toBe(1);
    });

    it('never loses an update when two writers race on one user', async () => {
      const writes = (s: ProfileStores, offset: number) =>
        Promise.all(Array.from({ length: 40 }, (_, i) => s.profiles.update('hot', apply('hot', [event('hot', offset + i)]))));
      await Promise.all([writes(stores, 0), writes(second, 1000)]);
      const [p] = await stores.profiles.getMany(['hot']);
      expect(p?.eventCount).toBe(80);
      expect(p?.version).toBe(80);
    });

    it('a deleted profile starts over, and a stale write cannot bring it back', async () => {
      await stores.profiles.update('gone', apply('gone', [event('gone', 1)]));
      expect(await second.profiles.delete('gone')).toBe(true);
      expect(await second.profiles.getMany(['gone'])).toEqual([null]);
      const recreated = await second.profiles.update('gone', apply('gone', [event('gone', 9, 'Comedy')]));
      expect(recreated.version).toBe(1);
      expect(Object.keys(recreated.genres)).toEqual(['Comedy']);
      // Another process's writes keep working on the recreated profile.
      const next = await stores.profiles.update('gone', apply('gone', [event('gone', 10, 'Comedy')]));
      expect(next.version).toBe(2);
    });

    it('a writer that remembers its last write still sees every other writer', async () => {
      // `stores` writes (and may remember what it wrote), then `second` writes: the next write by
      // `stores` must build on both, never on its remembered copy alone.
      await stores.profiles.update('w', apply('w', [event('w', 1)]));
      await second.profiles.update('w', apply('w', [event('w', 2, 'Drama')]));
      const third = await stores.profiles.update('w', apply('w', [event('w', 3, 'Comedy')]));
      expect(third.version).toBe(3);
      expect(Object.keys(third.genres).sort()).toEqual(['Comedy', 'Crime', 'Drama']);
      // A redelivered event is no change, and answers the stored profile (with the other writer's event).
      await second.profiles.update('w', apply('w', [event('w', 4)]));
      const again = await stores.profiles.update('w', apply('w', [event('w', 3, 'Comedy')]));
      expect(again.version).toBe(4);
      const [stored] = await second.profiles.getMany(['w']);
      expect(stored?.eventCount).toBe(4);
    });

    it('a store that wrote or read a profile last sees the next write by another writer', async () => {
      // `stores` may answer reads of its own last write from the copy it kept: only while the
      // stored profile is still that write.
      await stores.profiles.update('r', apply('r', [event('r', 1)]));
      const [own] = await stores.profiles.getMany(['r']);
      expect(own?.version).toBe(1);
      await second.profiles.update('r', apply('r', [event('r', 2, 'Drama')]));
      const [seen] = await stores.profiles.getMany(['r']);
      expect(seen?.version).toBe(2);
      expect(Object.keys(seen!.genres).sort()).toEqual(['Crime', 'Drama']);
      // A write that builds on what `stores` read last still sees a later write by another writer.
      await second.profiles.update('r', apply('r', [event('r', 3, 'Comedy')]));
      const fourth = await stores.profiles.update('r', apply('r', [event('r', 4, 'Horror')]));
      expect(fourth.version).toBe(4);
      expect(Object.keys(fourth.genres).sort()).toEqual(['Comedy', 'Crime', 'Drama', 'Horror']);
      await second.profiles.delete('r');
      expect(await stores.profiles.getMany(['r'])).toEqual([null]);
    });

    it('an id aliased after it was written is not written to again', async () => {
      /** A writer may resolve an id to itself (from memory, or never looked up); the store then refuses the write. */
      const refusedOrResolved = async (anon: string, known: string, n: number) => {
        const [id] = await stores.identities.resolveForWrite([anon]);
        if (id === anon) await expect(stores.profiles.update(anon, apply(anon, [event(anon, n)]))).rejects.toBeInstanceOf(AliasedProfileError);
        else expect(id).toBe(known);
        expect(await stores.identities.resolve([anon])).toEqual([known]);
      };
      await stores.profiles.update('anon-w', apply('anon-w', [event('anon-w', 1)]));
      expect(await stores.identities.resolveForWrite(['anon-w'])).toEqual(['anon-w']);
      expect(await second.identities.link('anon-w', 'known-w')).toBe('known-w');
      await refusedOrResolved('anon-w', 'known-w', 2);
      // The same for an alias this writer has never looked up.
      expect(await second.identities.link('anon-new', 'known-w')).toBe('known-w');
      await refusedOrResolved('anon-new', 'known-w', 1);
    });

    it('scans every profile in pages', async () => {
      await Promise.all(Array.from({ length: 25 }, (_, i) => stores.profiles.update(`s${i}`, apply(`s${i}`, [event(`s${i}`, 1)]))));
      const seen: string[] = [];
      for await (const page of stores.profiles.scan(7)) seen.push(...page.map((p) => p.userId));
      expect(seen.sort()).toEqual(Array.from({ length: 25 }, (_, i) => `s${i}`).sort());
    });

    it('expires inactive profiles after the TTL', async () => {
      const short = await adapter.make({ profileTtlMs: 150, dedupeTtlMs: 150 });
      await short.stores.profiles.update('t', apply('t', [event('t', 1)]));
      expect((await short.stores.profiles.getMany(['t']))[0]).not.toBeNull();
      await vi.waitFor(async () => expect(await short.stores.profiles.getMany(['t'])).toEqual([null]), { timeout: 5000, interval: 50 });
      // Another writer starts the profile again (its write counter starts again too); the writer
      // that remembers the expired profile builds on the new one and does not bring the old back.
      const fresh = await short.second.profiles.update('t', apply('t', [event('t', 2, 'Drama')]));
      expect(fresh.version).toBe(1);
      const next = await short.stores.profiles.update('t', apply('t', [event('t', 3, 'Comedy')]));
      expect(next.version).toBe(2);
      expect(Object.keys(next.genres).sort()).toEqual(['Comedy', 'Drama']);
      // Ledger entries go after their window as well.
      await short.stores.profiles.apply('t', [event('t', 4)], fold('t'));
      expect([...(await short.stores.profiles.ledger('t')).keys()]).toEqual([eventKey(event('t', 4))]);
      await vi.waitFor(async () => expect((await short.stores.profiles.ledger('t')).size).toBe(0), { timeout: 5000, interval: 50 });
    });

    it('snapshots: put, get, delete', async () => {
      const features = { v: 1 as const, userId: 'u', version: 3, asOf: 1, halfLifeMs: 1, genres: [], categories: [], facets: {}, series: [], consumed: [], recent: [] };
      await stores.snapshots.putMany([{ userId: 'u', version: 3, takenAt: 5, features }]);
      expect(await second.snapshots.getMany(['u', 'v'])).toEqual([{ userId: 'u', version: 3, takenAt: 5, features }, null]);
      await stores.snapshots.delete('u');
      expect(await stores.snapshots.getMany(['u'])).toEqual([null]);
    });

    it('ledger: an event is applied once within the window, however many events the user had since', async () => {
      const many = DEFAULT_REDUCER_CONFIG.limits.appliedEventIds + 6;
      // One writer applies them one by one (it remembers its writes: no reads in between).
      for (let n = 0; n < many; n++) await stores.profiles.apply('l', [event('l', n)], fold('l'));
      const folded: string[][] = [];
      const spy = (current: Profile | null, fresh: readonly ProfileEvent[], owned: boolean) => {
        folded.push(fresh.map((e) => e.eventId));
        return fold('l')(current, fresh, owned);
      };
      // The oldest, which the profile no longer remembers, redelivered with a new one: only the new one counts.
      const after = await stores.profiles.apply('l', [event('l', 0), event('l', many)], spy);
      expect(after).toMatchObject({ eventCount: many + 1, version: many + 1 });
      expect(folded.at(-1)).toEqual([`l-e${many}`]);
      // Again, from another connection and from the same one: nothing changes.
      await second.profiles.apply('l', [event('l', 0), event('l', 1)], fold('l'));
      await stores.profiles.apply('l', [event('l', 2)], fold('l'));
      expect((await second.profiles.getMany(['l']))[0]).toMatchObject({ eventCount: many + 1, version: many + 1 });
      expect([...(await second.profiles.ledger('l')).keys()].sort()).toEqual(Array.from({ length: many + 1 }, (_, n) => eventKey(event('l', n))).sort());
    });

    it('ledger: one write may apply more events than Lua passes to one call (a backlog for one user)', async () => {
      const backlog = Array.from({ length: 8500 }, (_, n) => event('big', n));
      const p = await stores.profiles.apply('big', backlog, fold('big'));
      expect(p.eventCount).toBe(8500);
      // And again through the remembered copy (the script checks the ledger itself there).
      const again = await stores.profiles.apply('big', [...backlog.slice(0, 8200), event('big', 9000)], fold('big'));
      expect(again.eventCount).toBe(8501);
      expect((await second.profiles.ledger('big')).size).toBe(8501);
    });

    it('ledger: the same event applied by two writers at once counts once', async () => {
      for (let round = 0; round < 10; round++) {
        const e = event('race', round);
        await Promise.all([stores.profiles.apply('race', [e], fold('race')), second.profiles.apply('race', [e], fold('race'))]);
      }
      expect((await stores.profiles.getMany(['race']))[0]).toMatchObject({ eventCount: 10, version: 10 });
    });

    it('ledger: entries inherited by a merge make those events applied on the profile they were merged into', async () => {
      await stores.profiles.apply('from', [event('from', 1), event('from', 2)], fold('from'));
      const ledger = await stores.profiles.ledger('from');
      expect([...ledger.keys()].sort()).toEqual([eventKey(event('from', 1)), eventKey(event('from', 2))].sort());
      await second.profiles.update('into', apply('into', [event('into', 1)]), ledger);
      // Redelivered after an alias moved it: the same event (sent for 'from').
      const redelivered = { ...event('from', 1), userId: 'into', sentAs: 'from' };
      const p = await stores.profiles.apply('into', [redelivered], fold('into'));
      expect(p).toMatchObject({ eventCount: 1, version: 1 });
      expect(await second.profiles.applied('into', [eventKey(event('from', 1)), eventKey(event('from', 2)), eventKey(event('into', 1))])).toEqual([true, true, false]);
    });

    it('identities: link, resolve, earlier link wins, forget', async () => {
      expect(await stores.identities.resolve(['anon', 'x'])).toEqual(['anon', 'x']);
      expect(await stores.identities.link('anon', 'known')).toBe('known');
      expect(await second.identities.link('anon', 'other')).toBe('known');
      expect(await second.identities.resolve(['anon', 'known'])).toEqual(['known', 'known']);
      await stores.identities.forget('known');
      expect(await stores.identities.resolve(['anon'])).toEqual(['anon']);
    });
  });
}
