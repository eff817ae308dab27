/**
 * Exactly once under faults aimed at the moments that matter, on one Redis and on Redis Cluster:
 * an accepted event is applied once whatever fails when, and a producer's retry (same eventId) is
 * either applied or refused as retryable, never called a duplicate of something not in the log.
 * Faults are injected deterministically: an ACL user whose commands fail at an exact step, and a
 * consumer killed at an exact point of its handler.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_STREAM_OPTIONS, RedisStreamEventLog } from '../../lib/eventlog/redis-streams.js';
import type { StreamOptions } from '../../lib/eventlog/redis-streams.js';
import { MemoryEventLog } from '../../lib/eventlog/memory.js';
import type { EventLog } from '../../lib/eventlog/port.js';
import { StoreUnavailableError } from '../../lib/contracts/errors.js';
import type { RedisClient } from '../../lib/redis/connection.js';
import { PROFILE_UPDATER_GROUP, ProfileService, startProfileUpdater } from '../../subgraphs/profile/src/app/profile-service.js';
import { DEFAULT_REDUCER_CONFIG } from '../../subgraphs/profile/src/domain/config.js';
import { eventKey } from '../../lib/contracts/event.js';
import type { ProfileEvent } from '../../lib/contracts/event.js';
import { DEFAULT_VALIDATION_LIMITS } from '../../lib/contracts/validate.js';
import { createMemoryStores } from '../../subgraphs/profile/src/store/memory.js';
import type { ProfileStores } from '../../subgraphs/profile/src/store/ports.js';
import { ProfileKeys, createRedisProfileStores } from '../../subgraphs/profile/src/store/redis.js';
import { perTestRedis, redisTargets, restrictedUser } from '../helpers/redis.js';
import { until } from '../helpers/wait.js';

const TTL = { profileTtlMs: 600_000, dedupeTtlMs: 600_000 };
/** More events than a profile remembers the ids of. */
const MANY = DEFAULT_REDUCER_CONFIG.limits.appliedEventIds + 6;
const T0 = Date.now() - 3_600_000;

/** A PLAY as a producer sends it (raw, for ingest) and as the reducer sees it (for applyBatch). */
const raw = (userId: string, n: number) => ({
  eventId: `${userId}-${n}`,
  userId,
  type: 'PLAY',
  occurredAt: T0 + n * 1000,
  item: { id: `item-${n}`, kind: 'MOVIE', genres: ['Crime'] },
});
const event = (userId: string, n: number): ProfileEvent => raw(userId, n) as ProfileEvent;
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

const serviceOn = (stores: ProfileStores, eventLog: EventLog, mode: 'inline' | 'stream' = 'stream') =>
  new ProfileService(stores, { reducer: DEFAULT_REDUCER_CONFIG, validation: DEFAULT_VALIDATION_LIMITS, eventLog, mode });

for (const target of redisTargets()) {
  describe(`exactly once: ${target.name}`, () => {
    const redis = perTestRedis(target);
    const cleanups: Array<() => Promise<unknown>> = [];
    // Registered after perTestRedis's hook, so it runs first: consumers stop before keys go.
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });

    /** Stores and an event log under the test's prefix, on `redis` (a fresh connection by default). */
    const open = (client: RedisClient = redis.connect(), options: Partial<StreamOptions> = {}) => {
      const { prefix } = redis;
      const stores = createRedisProfileStores(client, { prefix, ...TTL });
      const log = new RedisStreamEventLog(client, { ...DEFAULT_STREAM_OPTIONS, prefix, partitions: 2, blockMs: 100, onError: () => undefined, ...options });
      cleanups.push(() => log.close());
      return { redis: client, stores, log };
    };
    const eventCounts = async (stores: ProfileStores, users: readonly string[]) => (await stores.profiles.getMany(users)).map((p) => p?.eventCount ?? 0);
    const pendingInGroup = async (client: RedisClient, log: RedisStreamEventLog) => {
      let pending = 0;
      for (let p = 0; p < log.options.partitions; p++) {
        const summary = (await client.xpending(log.streamKey(p), PROFILE_UPDATER_GROUP).catch(() => [0])) as [number];
        pending += Number(summary[0]);
      }
      return pending;
    };

    it('a fault between claiming event ids and appending them loses nothing: the retry is applied, not called a duplicate', async ({ skip }) => {
      redis.require(skip);
      redis.freshPrefix();
      const healthy = open();
      const updater = startProfileUpdater(serviceOn(healthy.stores, healthy.log), healthy.log);
      cleanups.push(() => updater.stop());
      // The ingest process's connection: appending fails, and so does anything that would undo a
      // claim or read a profile, as when Redis goes away (or the process dies) right after a claim.
      const fault = await restrictedUser(target, healthy.redis, ['xadd', 'del', 'hmget']);
      cleanups.push(() => fault.drop());
      const producer = serviceOn(open(fault.client).stores, open(fault.client).log);

      const users = range(0, 8).map((i) => `claim-${i}`);
      const batch = users.map((u) => raw(u, 1));
      const waited = [raw('claim-ryw', 1)];
      await expect(producer.ingest(batch)).rejects.toThrow(StoreUnavailableError);
      await expect(producer.ingest(waited, { waitApplied: true })).rejects.toThrow(StoreUnavailableError);

      // Redis is back; the producer retries with the same event ids, as the README tells it to.
      await fault.allow();
      expect(await producer.ingest(batch)).toMatchObject({ accepted: batch.length, duplicates: 0, rejected: [] });
      expect(await producer.ingest(waited, { waitApplied: true })).toMatchObject({ accepted: 1, duplicates: 0, applied: true });
      expect(await eventCounts(healthy.stores, ['claim-ryw'])).toEqual([1]);
      await until(async () => (await eventCounts(healthy.stores, users)).every((n) => n === 1), 10_000, 'the retried batch to be applied');
      // And a second retry is a duplicate of what is now in the log.
      expect(await producer.ingest(batch)).toMatchObject({ accepted: 0, duplicates: batch.length });
    });

    it('an alias link interrupted after its claim is completed by the retry, so deleting the user forgets it', async ({ skip }) => {
      redis.require(skip);
      redis.freshPrefix();
      const healthy = open();
      // The claim (SET NX of the alias) goes through; recording it under the user and moving the
      // alias epoch fail, as when the process dies right after the claim.
      const fault = await restrictedUser(target, healthy.redis, ['sadd', 'incr']);
      cleanups.push(() => fault.drop());
      const crashing = open(fault.client).stores;
      await expect(crashing.identities.link('anon-crash', 'known-crash')).rejects.toThrow();
      expect(await healthy.stores.identities.resolve(['anon-crash'])).toEqual(['known-crash']);
      // The caller retries the alias (it is idempotent): the link is completed.
      await fault.allow();
      expect(await crashing.identities.link('anon-crash', 'known-crash')).toBe('known-crash');
      // Aliasing a complete link again changes nothing, so no process drops its alias cache.
      const epoch = () => healthy.redis.get(new ProfileKeys(redis.prefix).aliasEpoch());
      const before = await epoch();
      expect(await healthy.stores.identities.link('anon-crash', 'known-crash')).toBe('known-crash');
      expect(await epoch()).toBe(before);
      await healthy.stores.identities.forget('known-crash');
      expect(await healthy.stores.identities.resolve(['anon-crash'], { fresh: true })).toEqual(['anon-crash']);
    });

    it('a batch redelivered after its users had more events than a profile remembers ids of is not counted again', async ({ skip }) => {
      redis.require(skip);
      redis.freshPrefix();
      // One partition: updater A is handed the whole entry in one batch (on a cluster each
      // partition is read on its own, and A would die after the first one).
      const { redis: client, stores, log } = open(undefined, { partitions: 1, reclaimIdleMs: 300, reclaimEveryMs: 100 });
      const service = serviceOn(stores, log);
      const users = range(0, 6).map((i) => `late-${i}`);
      const firstHalf = new Set(users.slice(0, 3));
      expect(await service.ingest(users.map((u) => raw(u, 0)))).toMatchObject({ accepted: users.length });

      // Updater A applies the entry for half of its users, then dies without acknowledging it.
      let crashed!: () => void;
      const dead = new Promise<void>((r) => (crashed = r));
      const a = log.consume(PROFILE_UPDATER_GROUP, async (batch) => {
        await service.applyBatch(batch.filter((e) => firstHalf.has(e.userId)));
        crashed();
        await new Promise(() => undefined); // the process is gone
      }, 'updater-a');
      await dead;
      a.kill();
      expect(await eventCounts(stores, users)).toEqual([1, 1, 1, 0, 0, 0]);

      // Meanwhile every user gets many newer events (read-your-writes: applied at once).
      for (const u of users) {
        expect(await service.ingest(range(1, MANY + 1).map((n) => raw(u, n)), { waitApplied: true })).toMatchObject({ accepted: MANY, applied: true });
      }
      // Another updater takes A's entry over; each event counts once.
      const b = startProfileUpdater(service, log);
      cleanups.push(() => b.stop());
      await until(async () => (await pendingInGroup(client, log)) === 0 && (await eventCounts(stores, users)).every((n) => n > MANY), 15_000, 'the updater group to catch up');
      expect(await eventCounts(stores, users)).toEqual(users.map(() => MANY + 1));
      const [profile] = await stores.profiles.getMany([users[0]!]);
      expect(profile?.version).toBe(MANY + 1);
    });

    it("a dead consumer's pending entries are taken over once its heartbeat lapses, long before they would idle out", async ({ skip }) => {
      redis.require(skip);
      redis.freshPrefix();
      // Idle-based reclaiming (XAUTOCLAIM) cannot be what rescues them here: it waits 10 minutes.
      const { stores, log } = open(undefined, { blockMs: DEFAULT_STREAM_OPTIONS.blockMs, reclaimIdleMs: 600_000 });
      const service = serviceOn(stores, log);
      const users = range(0, 6).map((i) => `gone-${i}`);
      // The updater that dies is the one reading when the entry arrives.
      let crashed!: () => void;
      const dead = new Promise<void>((r) => (crashed = r));
      const doomed = log.consume(PROFILE_UPDATER_GROUP, async () => {
        crashed();
        await new Promise(() => undefined);
      }, 'updater-doomed');
      expect(await service.ingest(users.map((u) => raw(u, 0)))).toMatchObject({ accepted: users.length });
      await dead;
      doomed.kill();
      const diedAt = Date.now();
      // A live member of the group (default reclaim settings) takes over.
      const taker = startProfileUpdater(service, log);
      cleanups.push(() => taker.stop());
      // With the default CONSUMER_DEAD_AFTER of 2 s this takes 2-3 s on an idle machine (bench:takeover
      // measures it with real processes); the deadline only keeps a loaded machine from failing it.
      await until(async () => (await eventCounts(stores, users)).every((n) => n === 1), 15_000, "the dead consumer's entries to be applied");
      expect(Date.now() - diedAt).toBeGreaterThanOrEqual(DEFAULT_STREAM_OPTIONS.deadAfterMs / 2);
    });

    it('entries the profile updater group has not applied are never trimmed, however far behind it is', async ({ skip }) => {
      redis.require(skip);
      redis.freshPrefix();
      const retention = 20;
      const { redis: client, stores, log } = open(undefined, { partitions: 1, retention, protectedGroup: PROFILE_UPDATER_GROUP });
      const service = serviceOn(stores, log);
      // The group exists (an updater ran once) and then falls far behind: 400 entries arrive.
      const first = startProfileUpdater(service, log);
      expect(await service.ingest([raw('trim-0', 0)])).toMatchObject({ accepted: 1 });
      await until(async () => (await eventCounts(stores, ['trim-0']))[0] === 1, 10_000, 'the first event');
      await first.stop();
      const users = range(1, 401).map((i) => `trim-${i}`);
      for (const u of users) await service.ingest([raw(u, 0)]);
      expect(await client.xlen(log.streamKey(0))).toBeGreaterThanOrEqual(users.length);
      // The updater comes back: every accepted event reaches its profile.
      const back = startProfileUpdater(service, log);
      cleanups.push(() => back.stop());
      await until(async () => (await eventCounts(stores, users)).every((n) => n === 1), 15_000, 'every event to be applied');
      // Once applied, entries beyond the retention go with the next appends.
      await until(async () => (await pendingInGroup(client, log)) === 0, 5_000, 'the group to catch up');
      for (let i = 0; i < 150; i++) await service.ingest([raw('trim-after', i)]);
      expect(await client.xlen(log.streamKey(0))).toBeLessThan(users.length);
    });

    it('a write lost in a failover is applied again when its event is redelivered to the writer that remembers it', async ({ skip }) => {
      redis.require(skip);
      redis.freshPrefix();
      const { redis: client, stores, log } = open();
      const service = serviceOn(stores, log);
      await service.applyBatch([event('failover', 1)]);
      const key = `${redis.prefix}{u:failover}:profile`;
      const before = await client.hgetallBuffer(key);
      await service.applyBatch([event('failover', 2)]);
      // The primary dies before the second write reached the replica that takes over: Redis now
      // holds the profile (and ledger) as they were before it.
      await client.hset(key, before);
      await client.zrem(`${redis.prefix}{u:failover}:applied`, eventKey(event('failover', 2)));
      // The batch was not acknowledged (another user in it failed): it comes again.
      await service.applyBatch([event('failover', 2)]);
      expect((await stores.profiles.getMany(['failover']))[0]).toMatchObject({ eventCount: 2, version: 2 });
    });

    it('a profile stored as JSON (before the MessagePack codec) is read, and its next write is MessagePack', async ({ skip }) => {
      redis.require(skip);
      redis.freshPrefix();
      const { redis: client, stores, log } = open();
      const service = serviceOn(stores, log);
      await service.applyBatch([event('legacy', 1)]);
      const key = `${redis.prefix}{u:legacy}:profile`;
      const [stored] = await stores.profiles.getMany(['legacy']);
      // As such a profile was stored: rev, doc and tok only (no appended events, no ver).
      await client.del(key);
      await client.hset(key, 'rev', '1', 'doc', JSON.stringify(stored), 'tok', 'legacy:1');
      expect((await stores.profiles.getMany(['legacy']))[0]).toEqual(stored);
      await service.applyBatch([event('legacy', 2)]);
      const doc = (await client.hgetBuffer(key, 'doc'))!;
      expect(doc[0]).not.toBe('{'.charCodeAt(0));
      expect((await stores.profiles.getMany(['legacy']))[0]).toMatchObject({ eventCount: 2, version: 2 });
    });

    it('without a profile TTL, a profile recreated on a deletion tombstone does not expire with it', async ({ skip }) => {
      redis.require(skip);
      redis.freshPrefix();
      const client = redis.connect();
      const stores = createRedisProfileStores(client, { prefix: redis.prefix, profileTtlMs: 0, dedupeTtlMs: 600_000 });
      const service = serviceOn(stores, new MemoryEventLog(), 'inline');
      await service.applyBatch([event('tomb', 1)]);
      await service.deleteUser('tomb');
      await service.applyBatch([event('tomb', 2)]);
      expect(await client.pttl(`${redis.prefix}{u:tomb}:profile`)).toBe(-1);
    });

    it('a live consumer that is slow keeps its entries: nobody takes them over', async ({ skip }) => {
      redis.require(skip);
      redis.freshPrefix();
      const deadAfterMs = 400;
      const { redis: client, stores, log } = open(undefined, { deadAfterMs, partitions: 1 });
      const service = serviceOn(stores, log);
      let started!: () => void;
      const slowStarted = new Promise<void>((r) => (started = r));
      let release!: () => void;
      const slow = new Promise<void>((r) => (release = r));
      const handledBy: string[] = [];
      const slowOne = log.consume(PROFILE_UPDATER_GROUP, async (batch) => {
        started();
        await slow;
        await service.applyBatch(batch);
        handledBy.push('slow');
      }, 'updater-slow');
      cleanups.push(() => slowOne.stop());
      expect(await service.ingest([raw('slowpoke', 1)])).toMatchObject({ accepted: 1 });
      await slowStarted;
      const other = log.consume(PROFILE_UPDATER_GROUP, async (batch) => {
        await service.applyBatch(batch);
        handledBy.push('other');
      }, 'updater-other');
      cleanups.push(() => other.stop());
      // The other consumer looks for dead ones many times over a span of several heartbeats.
      const since = Date.now();
      await until(async () => other.livenessPasses >= 8 && Date.now() - since > 3 * deadAfterMs, 10_000, 'liveness passes');
      const [[, owner]] = (await client.xpending(log.streamKey(0), PROFILE_UPDATER_GROUP, '-', '+', 10)) as [[string, string]];
      expect(owner).toBe('updater-slow');
      release();
      await until(async () => (await pendingInGroup(client, log)) === 0, 5_000, 'the slow batch to be acknowledged');
      expect(handledBy).toEqual(['slow']);
      expect(await eventCounts(stores, ['slowpoke'])).toEqual([1]);
    });
  });
}

/** The identity path on every adapter: an alias carries the anonymous profile's applied ids along. */
for (const target of [null, ...redisTargets()]) {
  describe(`exactly once across an alias: ${target?.name ?? 'memory'}`, () => {
    const redis = perTestRedis(target);

    it("an event applied to an anonymous profile and redelivered after the alias is not counted again on the known user's", async ({ skip }) => {
      redis.require(skip);
      const stores = target ? createRedisProfileStores(redis.connect(), { prefix: redis.freshPrefix(), ...TTL }) : createMemoryStores(TTL);
      const service = serviceOn(stores, new MemoryEventLog(), 'inline');
      const anonymous = range(0, MANY).map((n) => event('visitor', n));
      await service.applyBatch(anonymous);
      await service.applyBatch([event('member', 1000)]);
      expect(await service.alias('visitor', 'member')).toMatchObject({ merged: true, eventsMerged: MANY });
      // The updater redelivers the anonymous id's oldest event (it resolves to the known user now).
      await service.applyBatch([anonymous[0]!]);
      const [member] = await stores.profiles.getMany(['member']);
      expect(member).toMatchObject({ eventCount: MANY + 1, version: MANY + 1 });
      // The known user's own event with an id the anonymous one used is another event: applied.
      await service.applyBatch([{ ...event('member', 0), eventId: anonymous[0]!.eventId }]);
      expect((await stores.profiles.getMany(['member']))[0]).toMatchObject({ eventCount: MANY + 2 });
    });

    it('an anonymous event redelivered between the link and the merge, and an alias retried after a crash, count once', async ({ skip }) => {
      redis.require(skip);
      const stores = target ? createRedisProfileStores(redis.connect(), { prefix: redis.freshPrefix(), ...TTL }) : createMemoryStores(TTL);
      const service = serviceOn(stores, new MemoryEventLog(), 'inline');
      const anonymous = range(0, MANY).map((n) => event('guest', n));
      await service.applyBatch(anonymous);
      // Another replica has linked the ids but not merged yet when the updater redelivers the
      // oldest (which the anonymous profile no longer remembers among its newest ids).
      expect(await stores.identities.link('guest', 'owner')).toBe('owner');
      await service.applyBatch([anonymous[0]!]);
      // The merge, which dies right after writing the known profile (before the anonymous one goes).
      const crashing = new ProfileService(
        { ...stores, profiles: Object.assign(Object.create(stores.profiles) as ProfileStores['profiles'], { delete: () => Promise.reject(new Error('killed')) }) },
        { reducer: DEFAULT_REDUCER_CONFIG, validation: DEFAULT_VALIDATION_LIMITS, eventLog: new MemoryEventLog(), mode: 'inline' },
      );
      await expect(crashing.alias('guest', 'owner')).rejects.toThrow('killed');
      expect((await stores.profiles.getMany(['owner']))[0]).toMatchObject({ eventCount: MANY });
      // The known user goes on (more events than a profile remembers ids of); then the alias is
      // retried, finds the anonymous profile still there, and must not merge it again.
      await service.applyBatch(range(1000, 1000 + MANY).map((n) => event('owner', n)));
      await service.alias('guest', 'owner');
      expect((await stores.profiles.getMany(['owner']))[0]).toMatchObject({ eventCount: 2 * MANY, version: 2 * MANY });
      expect(await stores.profiles.getMany(['guest'])).toEqual([null]);
    });

    it('an anonymous id used again after its deletion is merged again by a new alias', async ({ skip }) => {
      redis.require(skip);
      const stores = target ? createRedisProfileStores(redis.connect(), { prefix: redis.freshPrefix(), ...TTL }) : createMemoryStores(TTL);
      const service = serviceOn(stores, new MemoryEventLog(), 'inline');
      await service.applyBatch(range(0, 3).map((n) => event('device', n)));
      await service.alias('device', 'person');
      await service.deleteUser('device');
      // The same device id comes back with new events, and is aliased to the same person again.
      await service.applyBatch(range(10, 12).map((n) => event('device', n)));
      expect(await service.alias('device', 'person')).toMatchObject({ merged: true, eventsMerged: 2 });
      expect((await stores.profiles.getMany(['person']))[0]).toMatchObject({ eventCount: 5 });
    });

    it('an alias retried long after a merge that crashed (past the ledger window) still merges once', async ({ skip }) => {
      redis.require(skip);
      const window = { profileTtlMs: 600_000, dedupeTtlMs: 200 };
      const stores = target ? createRedisProfileStores(redis.connect(), { prefix: redis.freshPrefix(), ...window }) : createMemoryStores(window);
      const service = serviceOn(stores, new MemoryEventLog(), 'inline');
      await service.applyBatch(range(0, 5).map((n) => event('late-guest', n)));
      const crashing = new ProfileService(
        { ...stores, profiles: Object.assign(Object.create(stores.profiles) as ProfileStores['profiles'], { delete: () => Promise.reject(new Error('killed')) }) },
        { reducer: DEFAULT_REDUCER_CONFIG, validation: DEFAULT_VALIDATION_LIMITS, eventLog: new MemoryEventLog(), mode: 'inline' },
      );
      await expect(crashing.alias('late-guest', 'late-owner')).rejects.toThrow('killed');
      // The known user goes on past what its profile remembers ids of, and past the ledger window.
      await service.applyBatch(range(1000, 1000 + MANY).map((n) => event('late-owner', n)));
      await until(async () => (await stores.profiles.ledger('late-owner')).size === 0, 5_000, 'the ledger window to pass');
      await service.alias('late-guest', 'late-owner');
      expect((await stores.profiles.getMany(['late-owner']))[0]).toMatchObject({ eventCount: 5 + MANY, version: 5 + MANY });
    });
  });
}
