/**
 * One contract for the audiences stores (subgraphs/audiences/src/store/ports.ts): audiences and
 * their backfill leases, memberships, due times and destinations, over the memory adapters, Redis
 * and Redis Cluster. Each Redis test runs on a fresh key prefix with two connections to the same
 * data (memory: the same stores twice), so "another process" is a real second client.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { isCluster, scanKeys, userKey } from '../../lib/redis/connection.js';
import type { RedisClient } from '../../lib/redis/connection.js';
import type { Destination } from '../../subgraphs/audiences/src/app/destinations.js';
import type { Audience } from '../../subgraphs/audiences/src/domain/audience.js';
import { MemoryAudienceStore, createMemoryAudienceStores, memberCursor } from '../../subgraphs/audiences/src/store/memory.js';
import type { AudienceStores, MembershipTransition } from '../../subgraphs/audiences/src/store/ports.js';
import { AudienceKeys, createRedisAudienceStores } from '../../subgraphs/audiences/src/store/redis.js';
import { perTestRedis, redisTargets } from '../helpers/redis.js';
import type { PerTestRedis } from '../helpers/redis.js';
import { until } from '../helpers/wait.js';

const T0 = Date.UTC(2024, 5, 1, 12);

interface Adapter {
  /** The stores, and a second connection to the same data (memory: the same stores). */
  make(): { stores: AudienceStores; second: AudienceStores };
  /**
   * Lets `ms` of lease time pass, until `free` holds: memory advances the audience store's
   * injected clock by `ms` (then `free` must hold at once); Redis polls `free` until it expired the
   * lease itself (no fixed sleep).
   */
  pass(ms: number, free: () => Promise<boolean>): Promise<void>;
  /** Redis: the keys under the test prefix (prefix removed), sorted. */
  keys?: () => Promise<string[]>;
  /** Redis: the client and prefix of the test, for key-layout checks. */
  raw?: () => { client: RedisClient; prefix: string };
}

function memoryAdapter(): Adapter {
  let t = T0;
  return {
    make: () => {
      t = T0;
      const stores: AudienceStores = { ...createMemoryAudienceStores(), audiences: new MemoryAudienceStore(() => t) };
      return { stores, second: stores };
    },
    pass: async (ms, free) => {
      t += ms;
      expect(await free()).toBe(true);
    },
  };
}

/** On `redis`: the test's connections (closed after it) and key prefix (removed after it). */
function redisAdapter(redis: PerTestRedis): Adapter {
  const clients: RedisClient[] = [];
  return {
    make: () => {
      redis.freshPrefix();
      clients.splice(0, clients.length, redis.connect(), redis.connect());
      return { stores: createRedisAudienceStores(clients[0]!, redis.prefix), second: createRedisAudienceStores(clients[1]!, redis.prefix) };
    },
    pass: (ms, free) => until(free, Math.max(10_000, ms * 20), 'Redis to expire the lease'),
    keys: async () => {
      const { prefix } = redis;
      const out: string[] = [];
      for await (const keys of scanKeys(clients[0]!, `${prefix}*`)) for (const k of keys) out.push(k.slice(prefix.length));
      return out.sort();
    },
    raw: () => ({ client: clients[0]!, prefix: redis.prefix }),
  };
}

const audience = (id: string, createdAt: number, revision = 1, name = `Audience ${id}`): Audience => ({
  id,
  name,
  description: null,
  rule: { trait: 'eventCount', op: 'GTE', value: revision },
  status: 'LIVE',
  revision,
  backfill: { scanned: 0, total: null, cursor: null, startedAt: null, finishedAt: null },
  createdAt,
  updatedAt: createdAt + revision,
});

const enter = (audienceId: string) => ({ audienceId, member: true });
const exit = (audienceId: string) => ({ audienceId, member: false });
const byAudience = <T extends { audienceId: string }>(xs: readonly T[]) => [...xs].sort((a, b) => (a.audienceId < b.audienceId ? -1 : a.audienceId > b.audienceId ? 1 : 0));
const pairKey = (p: { audienceId: string; userId: string }) => `${p.audienceId}/${p.userId}`;

/** Every member of the audience, page by page with `first`; also returns the page sizes. */
async function allMembers(stores: AudienceStores, audienceId: string, first: number) {
  const members: { userId: string; since: number }[] = [];
  const sizes: number[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1000; pages++) {
    const page: Awaited<ReturnType<AudienceStores['memberships']['members']>> = await stores.memberships.members(audienceId, first, cursor);
    members.push(...page.members);
    sizes.push(page.members.length);
    cursor = page.cursor;
    if (cursor === null) return { members, sizes };
  }
  throw new Error('the member listing did not end');
}

for (const target of [null, ...redisTargets()]) {
  describe(`audience stores contract: ${target?.name ?? 'memory'}`, () => {
    const redis = perTestRedis(target);
    const adapter = target ? redisAdapter(redis) : memoryAdapter();
    let stores: AudienceStores;
    let second: AudienceStores;
    beforeEach(({ skip }) => {
      redis.require(skip);
      ({ stores, second } = adapter.make());
    });

    // --- AudienceStore --------------------------------------------------------------------

    it('audiences: create once (a taken id is refused), get in the order asked, delete', async () => {
      const a = stores.audiences;
      expect(await a.get([])).toEqual([]);
      expect(await a.get(['x'])).toEqual([null]);
      expect(await a.create(audience('vip', T0))).toBe(true);
      expect(await second.audiences.create(audience('vip', T0 + 5, 1, 'Impostor'))).toBe(false);
      expect(await a.get(['missing', 'vip'])).toEqual([null, audience('vip', T0)]);
      expect(await second.audiences.get(['vip'])).toEqual([audience('vip', T0)]);
      // What get returns is a copy: changing it changes nothing stored.
      const [got] = await a.get(['vip']);
      got!.name = 'changed';
      expect((await a.get(['vip']))[0]!.name).toBe('Audience vip');

      expect(await a.delete('vip')).toBe(true);
      expect(await second.audiences.delete('vip')).toBe(false);
      expect(await a.delete('never')).toBe(false);
      expect(await a.get(['vip'])).toEqual([null]);
      expect(await a.list()).toEqual([]);
      // The id is free again.
      expect(await second.audiences.create(audience('vip', T0 + 10))).toBe(true);
      expect((await a.get(['vip']))[0]!.createdAt).toBe(T0 + 10);
    });

    it('audiences: replace only at the expected revision (a stale one is refused)', async () => {
      const a = stores.audiences;
      expect(await a.replace(audience('r', T0, 2), 1)).toBe(false); // nothing to replace
      expect(await a.get(['r'])).toEqual([null]);
      await a.create(audience('r', T0, 1));
      expect(await a.replace(audience('r', T0, 2, 'Second'), 1)).toBe(true);
      // A writer that read revision 1 too is now stale, whichever connection it uses.
      expect(await second.audiences.replace(audience('r', T0, 2, 'Lost'), 1)).toBe(false);
      expect(await a.replace(audience('r', T0, 3, 'Lost'), 3)).toBe(false); // a revision never stored
      expect((await a.get(['r']))[0]).toEqual(audience('r', T0, 2, 'Second'));
      expect(await second.audiences.replace(audience('r', T0, 3, 'Third'), 2)).toBe(true);
      expect((await a.get(['r']))[0]).toEqual(audience('r', T0, 3, 'Third'));
      // Two racing writers at the same revision: exactly one wins.
      const racing = await Promise.all([a.replace(audience('r', T0, 4, 'A'), 3), second.audiences.replace(audience('r', T0, 4, 'B'), 3)]);
      expect(racing.filter(Boolean)).toHaveLength(1);
      expect((await a.get(['r']))[0]!.name).toBe(racing[0] ? 'A' : 'B');
    });

    it('audiences: the version grows with every change, and only with a change; both connections see it', async () => {
      const a = stores.audiences;
      const seen = [await a.version()];
      const changed = async (change: Promise<boolean>, expected: boolean) => {
        expect(await change).toBe(expected);
        const v = await second.audiences.version();
        if (expected) expect(v).toBeGreaterThan(seen[seen.length - 1]!);
        else expect(v).toBe(seen[seen.length - 1]);
        expect(await a.version()).toBe(v);
        seen.push(v);
      };
      await changed(a.create(audience('v1', T0)), true);
      await changed(a.create(audience('v1', T0)), false);
      await changed(second.audiences.create(audience('v2', T0 + 1)), true);
      await changed(a.replace(audience('v1', T0, 2), 1), true);
      await changed(a.replace(audience('v1', T0, 3), 1), false);
      await changed(second.audiences.delete('v2'), true);
      await changed(a.delete('v2'), false);
      await changed(a.delete('v1'), true);
      // Leases are not changes of the set.
      await a.lease('v1', 'h', 60_000);
      expect(await a.version()).toBe(seen[seen.length - 1]);
    });

    it('audiences: listed oldest first, whichever connection wrote them', async () => {
      // Created in this order (ids deliberately not alphabetical).
      const ids = ['zeta', 'alpha', 'mid', 'beta'];
      for (const [i, id] of ids.entries()) expect(await (i % 2 ? second : stores).audiences.create(audience(id, T0 + i * 10))).toBe(true);
      expect((await stores.audiences.list()).map((x) => x.id)).toEqual(ids);
      expect((await second.audiences.list()).map((x) => x.id)).toEqual(ids);
      // A replace keeps the place; a re-created audience is the newest.
      await stores.audiences.replace(audience('alpha', T0 + 10, 2), 1);
      await stores.audiences.delete('zeta');
      await second.audiences.create(audience('zeta', T0 + 100));
      const list = await stores.audiences.list();
      expect(list.map((x) => x.id)).toEqual(['alpha', 'mid', 'beta', 'zeta']);
      expect(list[0]).toEqual(audience('alpha', T0 + 10, 2));
    });

    it('leases: one holder at a time, renewed by its holder, free again when released or when its ttl passes', async () => {
      const mine = stores.audiences;
      const theirs = second.audiences;
      expect(await mine.lease('a1', 'A', 60_000)).toBe(true);
      expect(await theirs.lease('a1', 'B', 60_000)).toBe(false);
      expect(await mine.lease('a1', 'A', 60_000)).toBe(true); // renewed
      expect(await theirs.lease('a2', 'B', 60_000)).toBe(true); // leases are per audience
      // Only the holder releases.
      await theirs.release('a1', 'B');
      expect(await theirs.lease('a1', 'B', 60_000)).toBe(false);
      await mine.release('a1', 'A');
      expect(await theirs.lease('a1', 'B', 60_000)).toBe(true);
      expect(await mine.lease('a1', 'A', 60_000)).toBe(false);
      await mine.release('never-leased', 'A'); // harmless

      // Expiry: a short lease is taken by nobody else until its ttl has passed.
      const SHORT = 300;
      expect(await mine.lease('a3', 'A', SHORT)).toBe(true);
      expect(await theirs.lease('a3', 'B', 60_000)).toBe(false);
      await adapter.pass(SHORT, () => theirs.lease('a3', 'B', 60_000));
      expect(await mine.lease('a3', 'A', 60_000)).toBe(false);

      // Renewing sets the ttl anew: a long lease renewed short expires after the short one.
      expect(await mine.lease('a4', 'A', 60_000)).toBe(true);
      expect(await mine.lease('a4', 'A', SHORT)).toBe(true);
      expect(await theirs.lease('a4', 'B', 60_000)).toBe(false);
      await adapter.pass(SHORT, () => theirs.lease('a4', 'B', 60_000));
    });

    // --- MembershipStore ------------------------------------------------------------------

    it('memberships: enter, the same decision again (idempotent), exit and re-enter, with change ids that never repeat', async () => {
      const m = stores.memberships;
      expect(await m.of('u1')).toEqual([]);
      expect(await m.apply('u1', 1, T0, [enter('a')])).toEqual([{ audienceId: 'a', entered: true, seq: 1 }]);
      expect(await m.of('u1')).toEqual([{ audienceId: 'a', since: T0 }]);
      // The same decision again, at the same or a newer version, changes nothing (not even `since`).
      expect(await m.apply('u1', 1, T0 + 1, [enter('a')])).toEqual([]);
      expect(await second.memberships.apply('u1', 2, T0 + 2, [enter('a')])).toEqual([]);
      expect(await m.of('u1')).toEqual([{ audienceId: 'a', since: T0 }]);
      // Exiting a non-member changes nothing either.
      expect(await m.apply('u1', 2, T0 + 3, [exit('b')])).toEqual([]);
      expect(await m.apply('u1', 3, T0 + 10, [exit('a')])).toEqual([{ audienceId: 'a', entered: false, seq: 2 }]);
      expect(await m.of('u1')).toEqual([]);
      expect(await m.apply('u1', 3, T0 + 11, [exit('a')])).toEqual([]);
      expect(await second.memberships.apply('u1', 4, T0 + 20, [enter('a')])).toEqual([{ audienceId: 'a', entered: true, seq: 3 }]);
      expect(await m.of('u1')).toEqual([{ audienceId: 'a', since: T0 + 20 }]);
      // Counters are per user and audience.
      expect(await m.apply('u1', 4, T0 + 21, [enter('b')])).toEqual([{ audienceId: 'b', entered: true, seq: 1 }]);
      expect(await m.apply('u2', 1, T0 + 22, [enter('a')])).toEqual([{ audienceId: 'a', entered: true, seq: 1 }]);
      expect(await m.apply('u1', 4, T0 + 23, [])).toEqual([]);
    });

    it('memberships: decisions from an older profile version are ignored entirely; null skips the check', async () => {
      const m = stores.memberships;
      expect(await m.apply('u', 5, T0, [enter('a')])).toHaveLength(1);
      // A reordered or replayed evaluation of version 4: nothing of it is applied, even the parts
      // that would be new.
      expect(await second.memberships.apply('u', 4, T0 + 1, [exit('a'), enter('b')])).toEqual([]);
      expect(await m.of('u')).toEqual([{ audienceId: 'a', since: T0 }]);
      // The same version again is not stale.
      expect(await m.apply('u', 5, T0 + 2, [enter('b')])).toEqual([{ audienceId: 'b', entered: true, seq: 1 }]);
      expect(await m.apply('u', 7, T0 + 3, [exit('b')])).toEqual([{ audienceId: 'b', entered: false, seq: 2 }]);
      expect(await m.apply('u', 6, T0 + 4, [enter('b')])).toEqual([]);
      // Decisions that read no profile (a deleted audience) apply whatever the version...
      expect(await second.memberships.apply('u', null, T0 + 5, [exit('a')])).toEqual([{ audienceId: 'a', entered: false, seq: 2 }]);
      expect(await m.apply('u', null, T0 + 6, [enter('c')])).toEqual([{ audienceId: 'c', entered: true, seq: 1 }]);
      // ...and do not move it: version 7 is still the newest, 6 still stale, 7 still fine.
      expect(await m.apply('u', 6, T0 + 7, [enter('b')])).toEqual([]);
      expect(await m.apply('u', 7, T0 + 8, [enter('b')])).toEqual([{ audienceId: 'b', entered: true, seq: 3 }]);
      // A user never seen before takes any version, null too.
      expect(await m.apply('new', null, T0, [enter('a')])).toEqual([{ audienceId: 'a', entered: true, seq: 1 }]);
      expect(await m.apply('new', 0, T0, [exit('a')])).toEqual([{ audienceId: 'a', entered: false, seq: 2 }]);
      expect(byAudience(await m.of('u'))).toEqual([
        { audienceId: 'b', since: T0 + 8 },
        { audienceId: 'c', since: T0 + 6 },
      ]);
    });

    it('memberships: one call applies several decisions for one user at once', async () => {
      const m = stores.memberships;
      const first = await m.apply('u', 1, T0, [enter('a'), enter('b'), exit('c'), enter('d')]);
      expect(byAudience(first)).toEqual([
        { audienceId: 'a', entered: true, seq: 1 },
        { audienceId: 'b', entered: true, seq: 1 },
        { audienceId: 'd', entered: true, seq: 1 },
      ]);
      const next = await second.memberships.apply('u', 2, T0 + 1, [exit('a'), enter('b'), enter('c'), exit('d')]);
      expect(byAudience(next)).toEqual([
        { audienceId: 'a', entered: false, seq: 2 },
        { audienceId: 'c', entered: true, seq: 1 },
        { audienceId: 'd', entered: false, seq: 2 },
      ]);
      expect(byAudience(await m.of('u'))).toEqual([
        { audienceId: 'b', since: T0 },
        { audienceId: 'c', since: T0 + 1 },
      ]);
      expect(await m.size(['a', 'b', 'c', 'd', 'none'])).toEqual([0, 1, 1, 0, 0]);
    });

    it('memberships: an apply made on a read gives what applying every decision gives, also when the user changed since', async () => {
      const m = stores.memberships;
      await m.apply('u', 1, T0, [enter('a'), enter('b')]);
      const [read] = await m.read(['u']);
      expect(read!.generation).toBe(2);
      // No transition since the read.
      expect(byAudience(await m.apply('u', 2, T0 + 1, [enter('a'), exit('b'), enter('c')], 'X', read))).toEqual([
        { audienceId: 'b', entered: false, seq: 2 },
        { audienceId: 'c', entered: true, seq: 1 },
      ]);
      // The read is old now: a decision equal to what it read still counts against what is stored.
      expect(byAudience(await second.memberships.apply('u', 3, T0 + 2, [enter('a'), enter('b'), exit('c')], 'X', read))).toEqual([
        { audienceId: 'b', entered: true, seq: 3 },
        { audienceId: 'c', entered: false, seq: 2 },
      ]);
      expect(byAudience(await m.of('u'))).toEqual([
        { audienceId: 'a', since: T0 },
        { audienceId: 'b', since: T0 + 2 },
      ]);
      // Decisions that change nothing still record the version: an older one after it is stale.
      const [now] = await m.read(['u']);
      expect(now!.generation).toBe(6);
      expect(await m.apply('u', 9, T0 + 3, [enter('a'), enter('b')], 'X', now)).toEqual([]);
      expect(await second.memberships.apply('u', 8, T0 + 4, [exit('a')], 'X', now)).toEqual([]);
      expect(byAudience(await m.of('u')).map((x) => x.audienceId)).toEqual(['a', 'b']);
    });

    it('memberships: concurrent applies for one user from two connections never duplicate a transition', async () => {
      const racers = (decisions: Parameters<AudienceStores['memberships']['apply']>[3], version: number, at: number) =>
        Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? second : stores).memberships.apply('hot', version, at, decisions)));
      const entered = (await racers([enter('a'), enter('b')], 1, T0)).flat();
      expect(byAudience(entered)).toEqual([
        { audienceId: 'a', entered: true, seq: 1 },
        { audienceId: 'b', entered: true, seq: 1 },
      ]);
      const exited = (await racers([exit('a')], 2, T0 + 1)).flat();
      expect(exited).toEqual([{ audienceId: 'a', entered: false, seq: 2 }]);
      // Interleaved enters and exits of one audience: the seqs handed out are 3, 4, … each once.
      const flips = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? second : stores).memberships.apply('hot', 3, T0 + 2 + i, [i % 3 === 0 ? exit('a') : enter('a')])),
      );
      const seqs = flips.flat().map((t) => t.seq).sort((x, y) => x - y);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 3));
      expect(await stores.memberships.size(['b'])).toEqual([1]);
      expect(await stores.memberships.members('b', 10, null)).toEqual({ members: [{ userId: 'hot', since: T0 }], cursor: null });
    });

    it('memberships: of and ofMany', async () => {
      await stores.memberships.apply('u1', 1, T0, [enter('a'), enter('b')]);
      await second.memberships.apply('u2', 1, T0 + 5, [enter('b')]);
      expect(byAudience(await second.memberships.of('u1'))).toEqual([
        { audienceId: 'a', since: T0 },
        { audienceId: 'b', since: T0 },
      ]);
      const many = await stores.memberships.ofMany(['u2', 'nobody', 'u1', 'u2']);
      expect(many.map(byAudience)).toEqual([
        [{ audienceId: 'b', since: T0 + 5 }],
        [],
        [
          { audienceId: 'a', since: T0 },
          { audienceId: 'b', since: T0 },
        ],
        [{ audienceId: 'b', since: T0 + 5 }],
      ]);
      expect(await stores.memberships.ofMany([])).toEqual([]);
    });

    it('memberships: members in pages by entry time then id (ties included), with sizes', async () => {
      // 23 users entering in a shuffled order, in groups of up to 4 at the same millisecond.
      const ids = Array.from({ length: 23 }, (_, i) => `u-${String((i * 7) % 23).padStart(2, '0')}`);
      const since = (i: number) => T0 + Math.floor(i / 4) * 1000;
      await Promise.all(ids.map((id, i) => (i % 2 ? second : stores).memberships.apply(id, 1, since(i), [enter('all')])));
      await stores.memberships.apply('u-99', 1, T0 + 1, [enter('other')]);
      const expected = ids.map((userId, i) => ({ userId, since: since(i) })).sort((a, b) => a.since - b.since || (a.userId < b.userId ? -1 : 1));
      expect(await stores.memberships.size(['all', 'other', 'none'])).toEqual([23, 1, 0]);

      for (const first of [1, 3, 4, 5, 22, 23, 100]) {
        const { members, sizes } = await allMembers(first % 2 ? second : stores, 'all', first);
        expect(members, `first=${first}`).toEqual(expected);
        // Every page is full but the last, and a page that ends the listing says so (no empty page after it).
        const pages = Math.ceil(23 / first);
        expect(sizes).toEqual(Array.from({ length: pages }, (_, i) => (i < pages - 1 ? first : 23 - first * (pages - 1))));
      }
      // A cursor from one connection works on the other.
      const page1 = await stores.memberships.members('all', 6, null);
      expect(page1.members).toEqual(expected.slice(0, 6));
      const page2 = await second.memberships.members('all', 6, page1.cursor);
      expect(page2.members).toEqual(expected.slice(6, 12));
      // A cursor is a position (entry time, id), not a member: it holds after the member left.
      const last = page1.members[5]!;
      await stores.memberships.apply(last.userId, 2, T0 + 50_000, [exit('all')]);
      expect((await stores.memberships.members('all', 6, page1.cursor)).members).toEqual(expected.slice(6, 12));
      // ... and a cursor at a position between members lists from there.
      const tieTime = expected[8]!.since;
      const between = memberCursor(tieTime, expected[8]!.userId + '0');
      expect((await stores.memberships.members('all', 100, between)).members).toEqual(expected.slice(9));
      expect(await stores.memberships.members('none', 10, null)).toEqual({ members: [], cursor: null });
    });

    it('memberships: an invalid member cursor throws RangeError', async () => {
      await stores.memberships.apply('u', 1, T0, [enter('a')]);
      for (const bad of ['not a cursor', '', Buffer.from('["x",1]').toString('base64url'), Buffer.from('{"since":1}').toString('base64url')]) {
        await expect(stores.memberships.members('a', 10, bad), JSON.stringify(bad)).rejects.toThrow(RangeError);
      }
    });

    it('memberships: every transition stays unsent, with what apply was given, until acknowledged (the outbox)', async () => {
      const m = stores.memberships;
      await m.apply('u', 3, T0, [enter('a'), enter('b')], 'EVENT');
      await m.apply('u', 4, T0 + 5, [exit('a')], 'TIME');
      await m.apply('u', null, T0 + 6, [enter('c')]);
      await m.apply('other', 1, T0, [enter('a')], 'EVENT');
      const [u, nobody] = await second.memberships.read(['u', 'nobody']);
      expect(byAudience(u!.memberships)).toEqual([
        { audienceId: 'b', since: T0 },
        { audienceId: 'c', since: T0 + 6 },
      ]);
      expect(nobody).toEqual({ memberships: [], unsent: [], generation: 0 });
      // Oldest first; a tag with separators in it comes back whole.
      expect(u!.unsent).toEqual([
        expect.objectContaining({ audienceId: expect.stringMatching(/^[ab]$/), entered: true, seq: 1, at: T0, profileVersion: 3, tag: 'EVENT' }),
        expect.objectContaining({ audienceId: expect.stringMatching(/^[ab]$/), entered: true, seq: 1, at: T0, profileVersion: 3, tag: 'EVENT' }),
        { audienceId: 'a', entered: false, seq: 2, at: T0 + 5, profileVersion: 4, tag: 'TIME' },
        { audienceId: 'c', entered: true, seq: 1, at: T0 + 6, profileVersion: null, tag: '' },
      ]);
      // The reads that serve queries are not changed by it.
      expect(byAudience(await m.of('u'))).toEqual(byAudience(u!.memberships));
      expect((await m.ofMany(['u']))[0]!.length).toBe(2);
      // Acknowledged: gone, for that user only; acknowledging again (or nothing) is harmless.
      await m.acknowledge('u', u!.unsent.slice(0, 3));
      await second.memberships.acknowledge('u', u!.unsent.slice(0, 1));
      await m.acknowledge('u', []);
      expect((await m.read(['u']))[0]!.unsent.map((t) => t.audienceId)).toEqual(['c']);
      expect((await m.read(['other']))[0]!.unsent).toHaveLength(1);
      await m.apply('t', 1, T0, [enter('a')], 'a|b|c');
      expect((await m.read(['t']))[0]!.unsent[0]!.tag).toBe('a|b|c');
      // Reindexing writes the member index as the record has it, whatever it held.
      await m.acknowledge('u', (await m.read(['u']))[0]!.unsent, true);
      expect(await m.size(['a', 'b', 'c'])).toEqual([2, 1, 1]);
      expect((await m.read(['u']))[0]!.unsent).toEqual([]);
    });

    it('memberships: forgetUser removes every membership, returns the exits, and restarts the version', async () => {
      const m = stores.memberships;
      await m.apply('gone', 9, T0, [enter('a'), enter('b'), enter('c')]);
      await m.apply('gone', 9, T0 + 1, [exit('c')]);
      await m.apply('stays', 1, T0, [enter('a')]);
      expect(byAudience(await second.memberships.forgetUser('gone', T0 + 1, 'USER_DELETED'))).toEqual([
        { audienceId: 'a', entered: false, seq: 2 },
        { audienceId: 'b', entered: false, seq: 2 },
      ]);
      expect(await m.of('gone')).toEqual([]);
      expect(await m.size(['a', 'b', 'c'])).toEqual([1, 0, 0]);
      expect((await m.members('a', 10, null)).members.map((x) => x.userId)).toEqual(['stays']);
      // The exits are unsent (with the tag) until acknowledged, like apply's transitions.
      const [gone] = await m.read(['gone']);
      expect(gone!.unsent.filter((t) => t.tag === 'USER_DELETED').map((t) => [t.audienceId, t.entered, t.at, t.profileVersion]).sort()).toEqual([
        ['a', false, T0 + 1, null],
        ['b', false, T0 + 1, null],
      ]);
      expect(await m.forgetUser('gone', T0 + 1)).toEqual([]);
      expect(await m.forgetUser('nobody', T0 + 1)).toEqual([]);
      // A new profile under the id starts again at version 0: applied, with change ids past the old ones.
      const again = await m.apply('gone', 0, T0 + 2, [enter('a'), enter('c')]);
      expect(byAudience(again).map((t) => [t.audienceId, t.entered])).toEqual([
        ['a', true],
        ['c', true],
      ]);
      expect(again.find((t) => t.audienceId === 'a')!.seq).toBeGreaterThan(1);
      expect(again.find((t) => t.audienceId === 'c')!.seq).toBeGreaterThan(2);
      expect(byAudience(await m.of('gone'))).toEqual([
        { audienceId: 'a', since: T0 + 2 },
        { audienceId: 'c', since: T0 + 2 },
      ]);
      expect(await m.size(['a'])).toEqual([2]);
    });

    it('memberships: dropAudience removes the member index; the members\' own records go with their next apply', async () => {
      const m = stores.memberships;
      await m.apply('u1', 1, T0, [enter('dropped'), enter('kept')]);
      await m.apply('u2', 1, T0, [enter('dropped')]);
      await second.memberships.dropAudience('dropped');
      expect(await m.size(['dropped', 'kept'])).toEqual([0, 1]);
      expect(await m.members('dropped', 10, null)).toEqual({ members: [], cursor: null });
      expect((await m.members('kept', 10, null)).members).toEqual([{ userId: 'u1', since: T0 }]);
      expect(byAudience(await m.of('u1')).map((x) => x.audienceId)).toEqual(['dropped', 'kept']);
      // The service exits the members of a deleted audience with version null.
      const exits: MembershipTransition[] = await m.apply('u1', null, T0 + 1, [exit('dropped')]);
      expect(exits).toEqual([{ audienceId: 'dropped', entered: false, seq: 2 }]);
      expect(byAudience(await m.of('u1')).map((x) => x.audienceId)).toEqual(['kept']);
      expect(await m.size(['dropped'])).toEqual([0]);
      await m.dropAudience('never-existed');
    });

    // --- DueStore -------------------------------------------------------------------------

    it('due: schedule, move and remove (at null); next is the earliest', async () => {
      const d = stores.due;
      expect(await d.next()).toBeNull();
      await d.schedule([]);
      await d.schedule([
        { audienceId: 'a', userId: 'u1', at: T0 + 300 },
        { audienceId: 'a', userId: 'u2', at: T0 + 100 },
        { audienceId: 'b', userId: 'u1', at: T0 + 200 },
      ]);
      expect(await second.due.next()).toBe(T0 + 100);
      await second.due.schedule([{ audienceId: 'a', userId: 'u2', at: T0 + 400 }]); // moved later
      expect(await d.next()).toBe(T0 + 200);
      await d.schedule([{ audienceId: 'b', userId: 'u1', at: null }]); // removed
      expect(await d.next()).toBe(T0 + 300);
      await d.schedule([{ audienceId: 'a', userId: 'u2', at: T0 + 50 }]); // moved earlier
      expect(await d.next()).toBe(T0 + 50);
      expect(await d.claim(T0 + 49, 10, 1000)).toEqual([]);
      expect(await d.claim(T0 + 350, 10, 1000)).toEqual([
        { audienceId: 'a', userId: 'u2', at: T0 + 50 },
        { audienceId: 'a', userId: 'u1', at: T0 + 300 },
      ]);
      await d.schedule([
        { audienceId: 'a', userId: 'u1', at: null },
        { audienceId: 'a', userId: 'u2', at: null },
        { audienceId: 'never', userId: 'u9', at: null },
      ]);
      expect(await d.next()).toBeNull();
      expect(await d.claim(T0 + 1_000_000, 10, 1000)).toEqual([]);
    });

    it('due: claim takes only due pairs, earliest first, up to the limit, and leases them', async () => {
      const d = stores.due;
      const due = Array.from({ length: 6 }, (_, i) => ({ audienceId: 'a', userId: `due-${i}`, at: T0 + i }));
      const later = Array.from({ length: 4 }, (_, i) => ({ audienceId: 'a', userId: `later-${i}`, at: T0 + 10_000 + i }));
      await d.schedule([...later, ...due].reverse());
      const now = T0 + 5;
      const LEASE = 1000;
      expect(await d.claim(now, 3, LEASE)).toEqual(due.slice(0, 3));
      expect(await second.due.claim(now, 10, LEASE)).toEqual(due.slice(3));
      expect(await d.claim(now, 10, LEASE)).toEqual([]);
      expect(await d.claim(now, 0, LEASE)).toEqual([]);
      // Claimed pairs stay scheduled at now + lease: not handed out again before, again after.
      expect(await d.next()).toBe(now + LEASE);
      expect(await d.claim(now + LEASE - 1, 10, LEASE)).toEqual([]);
      // One of them was handled (rescheduled), one finished (removed): those are not taken again.
      await d.schedule([
        { audienceId: 'a', userId: 'due-0', at: T0 + 50_000 },
        { audienceId: 'a', userId: 'due-1', at: null },
      ]);
      const again = await second.due.claim(now + LEASE, 10, LEASE);
      expect(again.map(pairKey).sort()).toEqual(['a/due-2', 'a/due-3', 'a/due-4', 'a/due-5']);
      expect(again.every((p) => p.at === now + LEASE)).toBe(true);
      expect(await d.next()).toBe(now + 2 * LEASE); // leased again
      const rest = await d.claim(T0 + 100_000, 100, LEASE);
      expect(rest.map(pairKey).sort()).toEqual(['a/due-0', 'a/due-2', 'a/due-3', 'a/due-4', 'a/due-5', 'a/later-0', 'a/later-1', 'a/later-2', 'a/later-3']);
      expect(rest.map((p) => p.at)).toEqual([...rest.map((p) => p.at)].sort((x, y) => x - y));
    });

    it('due: concurrent claims from two connections never hand out a pair twice within a lease', async () => {
      const pairs = Array.from({ length: 200 }, (_, i) => ({ audienceId: `a${i % 3}`, userId: `u${i}`, at: T0 + (i % 17) }));
      await stores.due.schedule(pairs);
      const now = T0 + 100;
      const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? second : stores).due.claim(now, 15, 60_000)));
      const claimed = claims.flat().map(pairKey);
      expect(claimed).toHaveLength(200);
      expect(new Set(claimed).size).toBe(200);
      expect(new Set(claimed)).toEqual(new Set(pairs.map(pairKey)));
      expect(await stores.due.claim(now + 59_999, 100, 60_000)).toEqual([]);
      expect(await stores.due.next()).toBe(now + 60_000);
    });

    // --- DestinationStore -----------------------------------------------------------------

    it('destinations: put (a put of the same id replaces it), list, delete', async () => {
      const dest = (id: string, audienceId: string, url: string): Destination => ({ id, audienceId, url, secret: `s-${id}`, createdAt: T0 });
      const byId = (xs: Destination[]) => [...xs].sort((a, b) => (a.id < b.id ? -1 : 1));
      expect(await stores.destinations.list()).toEqual([]);
      await stores.destinations.put(dest('d1', 'a', 'https://one.example/hook'));
      await second.destinations.put(dest('d2', 'b', 'https://two.example/hook'));
      expect(byId(await second.destinations.list())).toEqual([dest('d1', 'a', 'https://one.example/hook'), dest('d2', 'b', 'https://two.example/hook')]);
      await second.destinations.put(dest('d1', 'a', 'https://moved.example/hook'));
      expect(byId(await stores.destinations.list())).toEqual([dest('d1', 'a', 'https://moved.example/hook'), dest('d2', 'b', 'https://two.example/hook')]);
      expect(await stores.destinations.delete('d1')).toEqual(dest('d1', 'a', 'https://moved.example/hook'));
      expect(await second.destinations.delete('d1')).toBeNull();
      expect(await stores.destinations.delete('never')).toBeNull();
      expect(await second.destinations.list()).toEqual([dest('d2', 'b', 'https://two.example/hook')]);
    });

    // --- Redis key layout -----------------------------------------------------------------

    if (adapter.keys) it('Redis keys: a user\'s memberships live in the user\'s hash-tag slot, each audience\'s index in its own', async () => {
      await stores.memberships.apply('u1', 1, T0, [enter('a1'), enter('a2')]);
      await stores.memberships.apply('u2', 1, T0, [enter('a1')]);
      await stores.audiences.create(audience('a1', T0));
      await stores.audiences.lease('a1', 'h', 60_000);
      await stores.due.schedule([{ audienceId: 'a1', userId: 'u1', at: T0 }]);
      await stores.destinations.put({ id: 'd', audienceId: 'a1', url: 'https://x.example', secret: 's', createdAt: T0 });
      expect(await adapter.keys!()).toEqual(['aud:audiences', 'aud:destinations', 'aud:due', 'aud:{a:a1}:lease', 'aud:{a:a1}:members', 'aud:{a:a2}:members', '{u:u1}:aud', '{u:u2}:aud']);
      const { client, prefix } = adapter.raw!();
      const keys = new AudienceKeys(prefix);
      expect(keys.memberships('u1')).toBe(userKey(prefix, 'u1', 'aud'));
      expect(keys.memberships('u1')).toBe(`${prefix}{u:u1}:aud`);
      expect(await client.type(keys.memberships('u1'))).toBe('hash');
      expect(await client.type(keys.members('a1'))).toBe('zset');
      if (isCluster(client)) {
        // The slot of the user's profile (the same hash tag): one script may touch both.
        const slot = async (key: string) => Number(await client.call('CLUSTER', 'KEYSLOT', key));
        expect(await slot(keys.memberships('u1'))).toBe(await slot(userKey(prefix, 'u1', 'profile')));
        expect(await slot(keys.memberships('u1'))).toBe(await slot('{u:u1}'));
        expect(await slot(keys.lease('a1'))).toBe(await slot(keys.members('a1')));
      }
    });
  });
}
