/**
 * One contract for listing the profile store (ProfileStore.page and count) and for the
 * computed-trait definitions store (TraitDefinitionStore), over memory, Redis and Redis Cluster.
 * Redis tests run on a fresh key prefix with independent connections to the same data (memory: the
 * same stores), so "another process" is a real second client.
 */
import { beforeEach, describe, expect, inject, it } from 'vitest';
import type { ProfileEvent } from '../../lib/contracts/event.js';
import { connect, isCluster } from '../../lib/redis/connection.js';
import type { RedisClient } from '../../lib/redis/connection.js';
import { DEFAULT_REDUCER_CONFIG } from '../../subgraphs/profile/src/domain/config.js';
import { emptyProfile } from '../../subgraphs/profile/src/domain/profile.js';
import type { Profile } from '../../subgraphs/profile/src/domain/profile.js';
import { applyEvents } from '../../subgraphs/profile/src/domain/reducer.js';
import { MemoryProfileStore, createMemoryStores } from '../../subgraphs/profile/src/store/memory.js';
import type { ProfileStore, ProfileStores, StoredTraitDefinition } from '../../subgraphs/profile/src/store/ports.js';
import { createRedisProfileStores } from '../../subgraphs/profile/src/store/redis.js';
import { perTestRedis, redisTargets, requireTarget } from '../helpers/redis.js';
import type { PerTestRedis, RedisTarget } from '../helpers/redis.js';

const TTL = { profileTtlMs: 600_000, dedupeTtlMs: 600_000 };
const T0 = Date.UTC(2026, 0, 1);

interface Adapter {
  /** The stores and an independent connection to the same data (memory: the same stores). */
  make(): { stores: ProfileStores; second: ProfileStores };
  /**
   * Stores on a connection opened just now (memory: the same stores). `reordered`: on a cluster,
   * one given the cluster's nodes in the reverse order (another process configured differently).
   */
  fresh(reordered?: boolean): ProfileStores;
  /** Whether count() is exact (memory) or unknown (null: Redis). */
  counts: boolean;
}

function memoryAdapter(): Adapter {
  let stores: ProfileStores;
  return {
    make: () => {
      stores = createMemoryStores(TTL);
      return { stores, second: stores };
    },
    fresh: () => stores,
    counts: true,
  };
}

/** On `redis`: the test's connections (closed after it) and key prefix (removed after it). */
function redisAdapter(target: RedisTarget, redis: PerTestRedis): Adapter {
  const open = (client: RedisClient) => createRedisProfileStores(client, { prefix: redis.prefix, ...TTL });
  return {
    make: () => {
      redis.freshPrefix();
      return { stores: open(redis.connect()), second: open(redis.connect()) };
    },
    fresh: (reordered = false) =>
      open(
        reordered && target.name === 'redis-cluster'
          ? redis.connect(() => connect({ clusterNodes: inject('redisClusterNodes').split(',').reverse(), prefix: '' }))
          : redis.connect(),
      ),
    counts: false,
  };
}

const event = (userId: string, n: number): ProfileEvent => ({
  eventId: `${userId}-e${n}`,
  userId,
  type: 'PLAY',
  occurredAt: T0 + n * 1000,
  item: { id: `item-${n}`, kind: 'MOVIE', genres: ['Drama'] },
});
/** The fold ProfileStore.apply gets: the reducer over the events the ledger does not list. */
const fold = (userId: string) => (p: Profile | null, fresh: readonly ProfileEvent[], owned: boolean) =>
  applyEvents(p ?? emptyProfile(userId), fresh, DEFAULT_REDUCER_CONFIG, owned).profile;
const write = (store: ProfileStore, userId: string, n = 1) => store.apply(userId, [event(userId, n)], fold(userId));

/** Writes profiles for `ids`, a few hundred at a time. */
async function writeAll(store: ProfileStore, ids: readonly string[]) {
  for (let i = 0; i < ids.length; i += 200) await Promise.all(ids.slice(i, i + 200).map((id) => write(store, id)));
}

const userIds = (n: number) => Array.from({ length: n }, (_, i) => `user-${String(i).padStart(4, '0')}`);

/**
 * Lists everything with `limit`, each page from the next of `readers` in turn; `between(page
 * number, ids listed so far)` runs between pages. Returns the ids in listing order and the cursors returned.
 */
async function listAll(readers: readonly ProfileStore[], limit: number, between?: (page: number, listedSoFar: readonly string[]) => Promise<void>) {
  const ids: string[] = [];
  const cursors: string[] = [];
  const sizes: number[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 10_000; page++) {
    const result: Awaited<ReturnType<ProfileStore['page']>> = await readers[page % readers.length]!.page(cursor, limit);
    for (const p of result.profiles) ids.push(p.userId);
    sizes.push(result.profiles.length);
    cursor = result.cursor;
    if (cursor === null) return { ids, cursors, sizes };
    cursors.push(cursor);
    await between?.(page, ids);
  }
  throw new Error('the listing did not end');
}

const definition = (name: string, createdAt: number, kind: StoredTraitDefinition['kind'] = 'COUNT'): StoredTraitDefinition => ({
  name,
  kind,
  eventTypes: ['PLAY'],
  filter: { genre: 'Drama' },
  windowMs: 7 * 86_400_000,
  createdAt,
});

for (const target of [null, ...redisTargets()]) {
  describe(`profile listing and trait definitions contract: ${target?.name ?? 'memory'}`, () => {
    const redis = perTestRedis(target);
    const adapter = target ? redisAdapter(target, redis) : memoryAdapter();
    let stores: ProfileStores;
    let second: ProfileStores;
    beforeEach(({ skip }) => {
      redis.require(skip);
      ({ stores, second } = adapter.make());
    });

    // --- ProfileStore.page / count --------------------------------------------------------

    it('page: an empty store lists nothing (memory: in one page; Redis: however many keys others hold)', async () => {
      if (adapter.counts) expect(await stores.profiles.page(null, 100)).toEqual({ profiles: [], cursor: null });
      // A shared Redis holds other prefixes' keys: SCAN may need several pages to pass them.
      expect((await listAll([stores.profiles], 100)).ids).toEqual([]);
      expect(await stores.profiles.count()).toBe(adapter.counts ? 0 : null);
    });

    it('page: 1,200 profiles with limit 100 are each listed (memory: exactly once, in full pages), none missed', async () => {
      const ids = userIds(1200);
      await writeAll(stores.profiles, ids);
      const { ids: listed, cursors, sizes } = await listAll([stores.profiles], 100);
      expect(new Set(listed)).toEqual(new Set(ids));
      if (adapter.counts) {
        expect(listed).toHaveLength(1200);
        expect(sizes).toEqual(Array(12).fill(100));
        expect(await stores.profiles.count()).toBe(1200);
      } else {
        expect(await stores.profiles.count()).toBeNull();
        // A Redis cursor is `<node index>:<SCAN cursor>`; on a cluster the listing walks every master.
        for (const c of cursors) expect(c).toMatch(/^\d+:\d+$/);
        const nodes = new Set(cursors.map((c) => Number(c.split(':')[0])));
        if (target?.name === 'redis-cluster') expect(nodes.size).toBeGreaterThan(1);
      }
      // Pages are whole profiles.
      const [page] = [await stores.profiles.page(null, 5)];
      for (const p of page.profiles) expect(p).toMatchObject({ version: 1, eventCount: 1 });
    });

    it('page: a listing may move between connections (processes) page by page, none missed', async () => {
      const ids = userIds(1200);
      await writeAll(stores.profiles, ids);
      const readers = [stores.profiles, second.profiles, adapter.fresh(true).profiles];
      const { ids: listed } = await listAll(readers, 100);
      expect(new Set(listed)).toEqual(new Set(ids));
      if (adapter.counts) expect(listed).toHaveLength(1200);
    });

    it('page: a listing started on a just-opened connection misses nothing', async () => {
      const ids = userIds(300);
      await writeAll(stores.profiles, ids);
      const { ids: listed } = await listAll([adapter.fresh().profiles], 100);
      expect(new Set(listed)).toEqual(new Set(ids));
    });

    it('page: an invalid cursor throws RangeError', async () => {
      await writeAll(stores.profiles, userIds(3));
      for (const bad of ['not a cursor', '99:0', '0:abc', ':', '-1:0', '0:1:2']) {
        await expect(stores.profiles.page(bad, 10), bad).rejects.toThrow(RangeError);
      }
      // What a page returns is a cursor, on any connection.
      const first = await stores.profiles.page(null, 1);
      if (first.cursor !== null) await expect(second.profiles.page(first.cursor, 10)).resolves.toHaveProperty('profiles');
    });

    it('page: profiles deleted (or deleted and written again) mid-listing are fine: no other is missed', async () => {
      const ids = userIds(1200);
      await writeAll(stores.profiles, ids);
      const deleted = new Set<string>();
      const rewritten = new Set<string>();
      const { ids: listed } = await listAll([stores.profiles, second.profiles], 100, async (page, listedSoFar) => {
        const seen = new Set(listedSoFar);
        // The last profile listed so far (memory: the one the cursor names) is deleted and written
        // again by another connection...
        const last = listedSoFar[listedSoFar.length - 1];
        if (last !== undefined && !deleted.has(last)) {
          expect(await second.profiles.delete(last)).toBe(true);
          await write(second.profiles, last, 2);
          rewritten.add(last);
        }
        // ...and a few not listed yet are deleted for good.
        for (const id of ids.slice(300 + page * 37, 303 + page * 37)) {
          if (!seen.has(id) && !rewritten.has(id) && (await stores.profiles.delete(id))) deleted.add(id);
        }
      });
      expect(deleted.size).toBeGreaterThan(0);
      expect(rewritten.size).toBeGreaterThan(0);
      const all = new Set(listed);
      // Every profile stored for the whole listing is listed.
      for (const id of ids) if (!deleted.has(id) && !rewritten.has(id)) expect(all.has(id), id).toBe(true);
      // A profile deleted before it was listed is not listed after.
      for (const id of deleted) expect(all.has(id), id).toBe(false);
      // What is left afterwards lists in full.
      const after = await listAll([second.profiles], 100);
      expect(new Set(after.ids)).toEqual(new Set(ids.filter((id) => !deleted.has(id))));
    });

    it('count: memory counts what is stored, deletions included; Redis does not know (null)', async () => {
      await writeAll(stores.profiles, userIds(25));
      expect(await stores.profiles.count()).toBe(adapter.counts ? 25 : null);
      await stores.profiles.delete('user-0003');
      await stores.profiles.delete('user-0003');
      await stores.profiles.delete('nobody');
      expect(await second.profiles.count()).toBe(adapter.counts ? 24 : null);
      // Written again (with a new event: the ledger outlives the profile), and a second write of an existing one.
      await write(stores.profiles, 'user-0003', 2);
      await write(stores.profiles, 'user-0004', 2);
      expect(await stores.profiles.count()).toBe(adapter.counts ? 25 : null);
    });

    // --- TraitDefinitionStore -------------------------------------------------------------

    it('trait definitions: putIfAbsent stores once; a taken name returns the existing definition', async () => {
      const t = stores.traitDefinitions;
      expect(await t.list()).toEqual({ version: 0, definitions: [] });
      expect(await t.version()).toBe(0);
      const plays = definition('drama-plays', T0);
      expect(await t.putIfAbsent(plays)).toEqual(plays);
      expect(await t.version()).toBe(1);
      // The name is taken, whichever connection asks: the stored one comes back, nothing changes.
      expect(await second.traitDefinitions.putIfAbsent(definition('drama-plays', T0 + 5, 'DISTINCT'))).toEqual(plays);
      expect(await t.putIfAbsent(plays)).toEqual(plays);
      expect(await t.list()).toEqual({ version: 1, definitions: [plays] });
      expect(await second.traitDefinitions.version()).toBe(1);
    });

    it('trait definitions: the version grows on every put and delete that changes something, and only then', async () => {
      const t = stores.traitDefinitions;
      let v = await t.version();
      const expectVersion = async (grew: boolean) => {
        const now = await second.traitDefinitions.version();
        if (grew) expect(now).toBeGreaterThan(v);
        else expect(now).toBe(v);
        expect((await t.list()).version).toBe(now);
        v = now;
      };
      await t.putIfAbsent(definition('a', T0));
      await expectVersion(true);
      await second.traitDefinitions.putIfAbsent(definition('b', T0 + 1));
      await expectVersion(true);
      await t.putIfAbsent(definition('a', T0 + 2, 'SUM'));
      await expectVersion(false);
      expect(await second.traitDefinitions.delete('a')).toBe(true);
      await expectVersion(true);
      expect(await t.delete('a')).toBe(false);
      await expectVersion(false);
      expect(await t.delete('never')).toBe(false);
      await expectVersion(false);
      await t.putIfAbsent(definition('a', T0 + 3, 'SUM')); // free again
      await expectVersion(true);
      expect((await second.traitDefinitions.list()).definitions.find((d) => d.name === 'a')).toEqual(definition('a', T0 + 3, 'SUM'));
    });

    it('trait definitions: listed oldest first, from both connections', async () => {
      const names = ['zz-last-name', 'aa-first-name', 'mm', 'bb'];
      for (const [i, name] of names.entries()) await (i % 2 ? second : stores).traitDefinitions.putIfAbsent(definition(name, T0 + i * 1000));
      expect((await stores.traitDefinitions.list()).definitions.map((d) => d.name)).toEqual(names);
      expect((await second.traitDefinitions.list()).definitions.map((d) => d.name)).toEqual(names);
      // Deleted and defined again: the newest.
      await stores.traitDefinitions.delete('aa-first-name');
      await second.traitDefinitions.putIfAbsent(definition('aa-first-name', T0 + 10_000, 'SUM'));
      const { definitions } = await stores.traitDefinitions.list();
      expect(definitions.map((d) => d.name)).toEqual(['zz-last-name', 'mm', 'bb', 'aa-first-name']);
      expect(definitions[3]).toEqual(definition('aa-first-name', T0 + 10_000, 'SUM'));
    });

    it('trait definitions: racing putIfAbsent of one name from two connections stores one, and both get it', async () => {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? second : stores).traitDefinitions.putIfAbsent(definition('raced', T0 + i, i % 3 === 0 ? 'COUNT' : 'SUM'))),
      );
      const { version, definitions } = await second.traitDefinitions.list();
      expect(definitions).toHaveLength(1);
      for (const r of results) expect(r).toEqual(definitions[0]);
      expect(version).toBe(1);
    });
  });
}

describe('memory profile store: count and page leave expired profiles out', () => {
  it('an expired profile is neither counted nor listed', async () => {
    let t = T0;
    const store = new MemoryProfileStore(1000, () => t);
    await writeAll(store, userIds(10));
    t += 500;
    await writeAll(store, ['late-1', 'late-2']);
    expect(await store.count()).toBe(12);
    t += 600; // the first ten have expired, the two late ones not yet
    expect(await store.count()).toBe(2);
    const { ids } = await listAll([store], 5);
    expect(ids.sort()).toEqual(['late-1', 'late-2']);
    t += 1000;
    expect(await store.count()).toBe(0);
    expect(await store.page(null, 5)).toEqual({ profiles: [], cursor: null });
  });
});

describe('the Redis cluster target has several masters', () => {
  it.runIf(redisTargets().some((t) => t.name === 'redis-cluster'))('so a cluster listing really crosses nodes', async ({ skip }) => {
    const target = redisTargets().find((t) => t.name === 'redis-cluster')!;
    if (!(await requireTarget(target, (n) => skip(n)))) return;
    const client = target.connect();
    try {
      await client.ping();
      expect(isCluster(client)).toBe(true);
      if (isCluster(client)) expect(client.nodes('master').length).toBeGreaterThan(1);
    } finally {
      await client.quit();
    }
  });
});
