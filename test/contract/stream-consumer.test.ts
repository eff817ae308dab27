/**
 * The streaming pipeline on Redis and Redis Cluster: a consumer killed mid-batch leaves pending
 * entries that another consumer reclaims (XAUTOCLAIM), and every event is applied exactly once.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisStreamEventLog, DEFAULT_STREAM_OPTIONS } from '../../lib/eventlog/redis-streams.js';
import type { StreamOptions } from '../../lib/eventlog/redis-streams.js';
import type { RedisClient } from '../../lib/redis/connection.js';
import { DEFAULT_REDUCER_CONFIG } from '../../subgraphs/profile/src/domain/config.js';
import { eventKey } from '../../lib/contracts/event.js';
import type { ProfileEvent } from '../../lib/contracts/event.js';
import { emptyProfile } from '../../subgraphs/profile/src/domain/profile.js';
import { applyEvents } from '../../subgraphs/profile/src/domain/reducer.js';
import { createRedisProfileStores } from '../../subgraphs/profile/src/store/redis.js';
import { PROFILE_UPDATER_GROUP, ProfileService, startProfileUpdater } from '../../subgraphs/profile/src/app/profile-service.js';
import { MemoryEventLog } from '../../lib/eventlog/memory.js';
import type { EventLog, PartitionInfo } from '../../lib/eventlog/port.js';
import { context } from '@opentelemetry/api';
import { contextOfTraceparent, startTracing, stopTracing } from '../../lib/tracing.js';
import { DEFAULT_VALIDATION_LIMITS } from '../../lib/contracts/validate.js';
import { partitionOf } from '../../lib/eventlog/redis-streams.js';
import { deleteByPrefix, freshPrefix, perTestRedis, redisTargets, requireTarget } from '../helpers/redis.js';
import { until } from '../helpers/wait.js';

const USERS = 20;
const PER_USER = 30;

function events(): ProfileEvent[] {
  const out: ProfileEvent[] = [];
  for (let n = 0; n < PER_USER; n++) {
    for (let u = 0; u < USERS; u++) {
      out.push({
        eventId: `k-${u}-${n}`,
        userId: `user-${u}`,
        type: 'PLAY',
        occurredAt: Date.UTC(2026, 0, 1) + n * 60_000,
        item: { id: `item-${n}`, kind: 'MOVIE', genres: [n % 2 ? 'Crime' : 'Drama'] },
      });
    }
  }
  return out;
}

const event = (userId: string, n: number, occurredAt = Date.now()): ProfileEvent => ({
  eventId: `${userId}-${n}`,
  userId,
  type: 'PLAY',
  occurredAt,
  item: { id: `item-${n}`, kind: 'MOVIE', genres: ['Crime'] },
});

// Tracing on (recording nothing), so appends keep the active trace context.
beforeAll(() => void startTracing({}, { service: 'test', processors: () => [] }));
afterAll(() => stopTracing());

/** The event log contract for both adapters: deduplication on the way in, info, trace contexts. */
for (const target of [null, ...redisTargets()]) {
  describe(`event log: ${target?.name ?? 'memory'}`, () => {
    const redis = perTestRedis(target);
    let memory: MemoryEventLog | undefined;
    /** An event log under the test's prefix; `again`: another connection to the same one. */
    const makeLog = (again = false): EventLog => {
      if (!target) return again && memory ? memory : (memory = new MemoryEventLog());
      if (!again) redis.freshPrefix();
      return new RedisStreamEventLog(redis.connect(), { ...DEFAULT_STREAM_OPTIONS, prefix: redis.prefix, partitions: 2, blockMs: 100, onError: () => undefined });
    };

    it('appends each user\'s event id once, with its claim in the same step, across connections', async ({ skip }) => {
      redis.require(skip);
      const log = makeLog();
      const other = makeLog(true);
      const seen: string[] = [];
      const consumer = log.consume('updater', (batch) => void seen.push(...batch.map((e) => `${e.userId}/${e.eventId}`)));
      const first = await log.append([event('d1', 1), event('d2', 2), event('d1', 1)]);
      expect(first.duplicates.map((e) => e.eventId)).toEqual(['d1-1']);
      // The same id again (from any connection) is a duplicate; the same id for another user is not.
      const again = await other.append([event('d1', 1), { ...event('d1', 1), userId: 'd3' }, event('d2', 3)]);
      expect(again.duplicates.map((e) => `${e.userId}/${e.eventId}`)).toEqual(['d1/d1-1']);
      const everything = await log.append([event('d1', 1), event('d2', 2)]);
      expect(everything).toMatchObject({ duplicates: [expect.anything(), expect.anything()] });
      expect(everything.receipt.size).toBe(0);
      // Two writers racing on one id: one appends it.
      const racing = await Promise.all([log.append([event('d4', 4)]), other.append([event('d4', 4)])]);
      expect(racing.map((r) => r.duplicates.length).sort()).toEqual([0, 1]);
      await until(async () => seen.length === 5);
      expect(seen.sort()).toEqual(['d1/d1-1', 'd2/d2-2', 'd2/d2-3', 'd3/d1-1', 'd4/d4-4']);
      await consumer.stop();
      await log.close();
    });

    it('info: entries per partition, and per group what is pending and what is not delivered yet', async ({ skip }) => {
      redis.require(skip);
      const log = makeLog();
      const sum = (parts: PartitionInfo[], f: (p: PartitionInfo) => number) => parts.reduce((n, p) => n + f(p), 0);
      const ofGroup = (parts: PartitionInfo[], field: 'pending' | 'lag') => sum(parts, (p) => p.groups.filter((g) => g.group === 'held').reduce((n, g) => n + (g[field] ?? NaN), 0));
      // One entry per append (several users: several partitions on Redis).
      for (const [i, user] of ['i1', 'i2', 'i3'].entries()) await log.append([event(user, i)]);
      const before = await log.info();
      expect(sum(before, (p) => p.length)).toBe(3);
      expect(new Set(before.map((p) => p.partition)).size).toBe(before.length);
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let delivered = 0;
      const consumer = log.consume('held', async (batch) => {
        delivered += batch.length;
        await released;
      });
      await until(async () => delivered > 0);
      await log.append([event('i4', 4)]);
      await log.append([event('i5', 5)]);
      // Held by the handler or not delivered yet: every entry is one or the other.
      await until(async () => {
        const parts = await log.info();
        return sum(parts, (p) => p.length) === 5 && ofGroup(parts, 'pending') >= 1 && ofGroup(parts, 'pending') + ofGroup(parts, 'lag') === 5;
      });
      release();
      await until(async () => {
        const parts = await log.info();
        return ofGroup(parts, 'pending') === 0 && ofGroup(parts, 'lag') === 0;
      });
      await consumer.stop();
      await log.close();
    });

    it('keeps the trace context an entry was appended under and hands it to the consumer', async ({ skip }) => {
      redis.require(skip);
      const log = makeLog();
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const batches: string[][] = [];
      const users = new Set<string>();
      const consumer = log.consume('traced', (batch, { traceparents }) => {
        batches.push([...traceparents]);
        for (const e of batch) users.add(e.userId);
      });
      await context.with(contextOfTraceparent(traceparent), () => log.append([event('t1', 1)]));
      await until(async () => users.has('t1'));
      // Appended with no active trace (and entries written before traces were kept): none.
      await log.append([event('t2', 2)]);
      await until(async () => users.has('t2'));
      await consumer.stop();
      await log.close();
      expect(batches.flat()).toEqual([traceparent]);
    });

    it('tells a handler whether its batch was delivered before: a failed batch comes back redelivered', async ({ skip }) => {
      redis.require(skip);
      const log = makeLog();
      const seen: { users: string[]; redelivered: boolean }[] = [];
      let failOnce = true;
      const consumer = log.consume('redeliveries', (batch, { redelivered }) => {
        seen.push({ users: batch.map((e) => e.userId), redelivered });
        if (failOnce && batch.some((e) => e.userId === 'r1')) {
          failOnce = false;
          throw new Error('the handler failed once');
        }
      });
      await log.append([event('r1', 1)]);
      // The embedded log retries on the next append; Redis retries the batch by itself.
      await until(async () => seen.length >= 1);
      await log.append([event('r2', 2)]);
      await until(async () => seen.some((s) => s.users.includes('r2')));
      await consumer.stop();
      await log.close();
      const r1 = seen.filter((s) => s.users.includes('r1'));
      expect(r1[0]!.redelivered).toBe(false);
      expect(r1.length).toBeGreaterThanOrEqual(2);
      expect(r1.slice(1).every((s) => s.redelivered)).toBe(true);
      // After the redelivery succeeded, a new entry on its own is a first delivery.
      const later = seen.filter((s) => s.users.includes('r2') && !s.users.includes('r1'));
      for (const s of later) expect(s.redelivered).toBe(false);
    });
  });
}

for (const target of redisTargets()) {
  describe(`stream consumers: ${target.name}`, () => {
    let available = true;
    let note = '';
    const clients: RedisClient[] = [];
    let prefix = '';
    beforeAll(async () => {
      available = await requireTarget(target, (n) => (note = n));
    });
    afterEach(async () => {
      if (clients[0]) await deleteByPrefix(clients[0], prefix);
      await Promise.all(clients.splice(0).map((c) => c.quit()));
    });
    /** A connection, profile stores and an event log under a fresh prefix. */
    const setup = (options: Partial<StreamOptions> = {}) => {
      prefix = freshPrefix();
      const redis = target.connect();
      clients.push(redis);
      const stores = createRedisProfileStores(redis, { prefix, profileTtlMs: 60_000, dedupeTtlMs: 60_000 });
      const log = new RedisStreamEventLog(redis, { ...DEFAULT_STREAM_OPTIONS, prefix, partitions: 2, blockMs: 100, onError: () => undefined, ...options });
      return { redis, stores, log };
    };

    it("two consumers of a group split the partitions: each user's events go to one of them, and a survivor takes all", async ({ skip }) => {
      if (!available) skip(note);
      // The default liveness window: with 400 ms, an event loop stalled that long under a loaded
      // run made a member look dead, and its partitions moved mid-test.
      const { log } = setup({ partitions: 8, batchSize: 20, deadAfterMs: 2_000 });
      const seenBy = new Map<string, Set<string>>();
      const handled = new Set<string>();
      const consumer = (name: string) =>
        log.consume('split', (batch) => {
          for (const e of batch) {
            (seenBy.get(e.userId) ?? seenBy.set(e.userId, new Set()).get(e.userId)!).add(name);
            handled.add(e.eventId);
          }
        }, name);
      const a = consumer('split-a');
      const b = consumer('split-b');
      const owned = () => [a, b].map((c) => (c as unknown as { owned?: Set<number> }).owned?.size ?? -1);
      await until(async () => owned()[0] === 4 && owned()[1] === 4, 5000, 'both members to take their share');
      const all = events();
      for (let i = 0; i < all.length; i += 50) await log.append(all.slice(i, i + 50));
      await until(async () => handled.size === all.length, 10_000, 'every event handled');
      expect([...seenBy.values()].every((names) => names.size === 1)).toBe(true);
      expect(new Set([...seenBy.values()].flatMap((n) => [...n])).size).toBe(2);
      // One leaves: the other reads every partition from its next beat.
      await b.stop();
      await until(async () => owned()[0] === 8, 5000, 'the survivor to take every partition');
      const more = Array.from({ length: USERS }, (_, u) => event(`user-${u}`, 999));
      await log.append(more);
      await until(async () => more.every((e) => handled.has(e.eventId)), 10_000, 'the later events handled by the survivor');
      await a.stop();
    });

    it('a consumer killed mid-batch: the survivor reclaims its entries and every event is applied exactly once', async ({ skip }) => {
      if (!available) skip(note);
      prefix = freshPrefix();
      const redis = target.connect();
      clients.push(redis);
      const stores = createRedisProfileStores(redis, { prefix, profileTtlMs: 60_000, dedupeTtlMs: 60_000 });
      const log = new RedisStreamEventLog(redis, {
        ...DEFAULT_STREAM_OPTIONS,
        prefix,
        partitions: 4,
        batchSize: 50,
        blockMs: 100,
        reclaimIdleMs: 300,
        reclaimEveryMs: 100,
        onError: () => undefined,
      });
      const all = events();
      for (let i = 0; i < all.length; i += 60) await log.append(all.slice(i, i + 60));

      const applied = new Map<string, number>();
      const apply = async (batch: readonly ProfileEvent[], crashAfter = Infinity) => {
        const byUser = new Map<string, ProfileEvent[]>();
        batch.slice(0, crashAfter).forEach((e) => byUser.set(e.userId, [...(byUser.get(e.userId) ?? []), e]));
        await Promise.all(
          [...byUser].map(([userId, list]) =>
            stores.profiles.update(userId, (p) => {
              const outcome = applyEvents(p ?? emptyProfile(userId), list, DEFAULT_REDUCER_CONFIG);
              return outcome.profile;
            }),
          ),
        );
        for (const e of batch.slice(0, crashAfter)) applied.set(e.eventId, (applied.get(e.eventId) ?? 0) + 1);
      };

      // Consumer A applies part of its first batch, then dies without acknowledging anything.
      let crashed!: () => void;
      const dead = new Promise<void>((r) => (crashed = r));
      const a = log.consume('updater', async (batch) => {
        await apply(batch, Math.floor(batch.length / 2));
        crashed();
        await new Promise(() => undefined); // never returns: the process is gone
      }, 'consumer-a');
      await dead;
      a.kill();

      // What A read is still pending, so it is not part of the processed history a restarting
      // consumer rebuilds from (it will be reclaimed instead, and must not count twice).
      const history: ProfileEvent[] = [];
      for await (const batch of log.processedHistory('updater')) history.push(...batch);
      expect(history).toEqual([]);

      const b = log.consume('updater', (batch) => apply(batch), 'consumer-b');
      const profiles = () => stores.profiles.getMany(Array.from({ length: USERS }, (_, u) => `user-${u}`));
      await until(async () => (await profiles()).every((p) => p?.eventCount === PER_USER));
      await b.stop();

      // Some events were handed to the handler twice (A's half batch, then B's reclaim), yet the
      // idempotent reducer applied each exactly once.
      expect([...applied.values()].some((n) => n > 1)).toBe(true);
      for (const p of await profiles()) {
        expect(p?.eventCount).toBe(PER_USER);
        expect(p?.version).toBe(PER_USER);
      }
      const { receipt } = await log.append([]);
      expect(await log.waitApplied(receipt, 'updater', 100)).toBe(true);
    });

    it('read-your-writes applies during the request; the updater group does not apply it again, even a late event the profile no longer remembers', async ({ skip }) => {
      if (!available) skip(note);
      const { redis, stores, log } = setup();
      const service = new ProfileService(stores, { reducer: DEFAULT_REDUCER_CONFIG, validation: DEFAULT_VALIDATION_LIMITS, eventLog: log, mode: 'stream' });
      const updater = startProfileUpdater(service, log);
      const version = async () => (await stores.profiles.getMany(['ryw']))[0]?.version ?? 0;
      try {
        // More recent events than the profile remembers ids of, applied by the updater group.
        const recent = Array.from({ length: DEFAULT_REDUCER_CONFIG.limits.appliedEventIds + 6 }, (_, i) => event('ryw', i, Date.now() - 60_000 + i));
        expect(await service.ingest(recent)).toMatchObject({ accepted: recent.length, applied: false });
        await until(async () => (await version()) === recent.length);
        // A late event, read-your-writes: applied when the answer comes.
        const late = event('ryw', 999, Date.now() - 3_600_000);
        expect(await service.ingest([late], { waitApplied: true })).toMatchObject({ accepted: 1, applied: true });
        expect(await version()).toBe(recent.length + 1);
        // Its entry reached the updater group, which acknowledged it without applying it again
        // (the profile no longer lists the late id, so applying it would count it twice).
        const p = partitionOf('ryw', 2);
        const [[lastId]] = (await redis.xrevrange(log.streamKey(p), '+', '-', 'COUNT', 1)) as [[string, string[]]];
        expect((await log.tail()).get(p)).toBe(lastId);
        expect(await log.waitApplied(new Map([[p, lastId]]), PROFILE_UPDATER_GROUP, 5000)).toBe(true);
        const [profile] = await stores.profiles.getMany(['ryw']);
        expect(profile?.appliedEventIds[eventKey(late)]).toBeUndefined();
        expect(profile).toMatchObject({ version: recent.length + 1, eventCount: recent.length + 1 });
      } finally {
        await updater.stop();
      }
    });

    it('events for an anonymous id that another replica aliased meanwhile land on the known user', async ({ skip }) => {
      if (!available) skip(note);
      const { redis, stores, log } = setup();
      const service = new ProfileService(stores, { reducer: DEFAULT_REDUCER_CONFIG, validation: DEFAULT_VALIDATION_LIMITS, eventLog: log, mode: 'stream' });
      const updater = startProfileUpdater(service, log);
      // The other replica: its own connection and stores, the same Redis.
      const other = target.connect();
      clients.push(other);
      const otherStores = createRedisProfileStores(other, { prefix, profileTtlMs: 60_000, dedupeTtlMs: 60_000 });
      const otherService = new ProfileService(otherStores, { reducer: DEFAULT_REDUCER_CONFIG, validation: DEFAULT_VALIDATION_LIMITS, eventLog: log, mode: 'stream' });
      const counts = async () => (await stores.profiles.getMany(['visitor', 'member'])).map((p) => p?.eventCount ?? 0);
      try {
        // This replica writes the anonymous profile (and so knows the id as unaliased).
        await service.ingest([event('visitor', 1), event('visitor', 2)], { waitApplied: true });
        await service.ingest([event('visitor', 3)]);
        await until(async () => (await counts())[0] === 3);
        // The other replica aliases it; this replica goes on receiving the anonymous id's events.
        expect(await otherService.alias('visitor', 'member')).toMatchObject({ merged: true, eventsMerged: 3 });
        await service.ingest([event('visitor', 4)]);
        expect(await service.ingest([event('visitor', 5)], { waitApplied: true })).toMatchObject({ accepted: 1, applied: true });
        await until(async () => (await counts())[1] === 5);
        expect(await counts()).toEqual([0, 5]);
        // An alias whose epoch bump was lost (link sets the alias, then fails to bump the epoch):
        // the refused write resolves the id afresh instead of trusting the unchanged epoch.
        await service.ingest([event('walk-in', 1)], { waitApplied: true });
        await service.loadProfiles(['walk-in']); // a read: the id is now known here as unaliased
        await redis.set(`${prefix}{u:walk-in}:alias`, 'member');
        expect(await service.ingest([event('walk-in', 2)], { waitApplied: true })).toMatchObject({ accepted: 1, applied: true });
        expect(await counts()).toEqual([0, 6]);
      } finally {
        await updater.stop();
      }
    });

    it('a new entry is handled while an earlier batch of its partition is still being applied; a failed batch is delivered again', async ({ skip }) => {
      if (!available) skip(note);
      const { log } = setup({ partitions: 1 });
      let release!: () => void;
      const slow = new Promise<void>((r) => (release = r));
      let slowStarted!: () => void;
      const startedSlow = new Promise<void>((r) => (slowStarted = r));
      const handled: string[] = [];
      let failOnce = true;
      const consumer = log.consume('updater', async (batch) => {
        const ids = batch.map((e) => e.eventId);
        if (ids.includes('slow-1')) {
          slowStarted();
          await slow;
        }
        if (ids.includes('fails-3') && failOnce) {
          failOnce = false;
          throw new Error('store hiccup');
        }
        handled.push(...ids);
      }, 'consumer-inflight');
      try {
        const { receipt: first } = await log.append([event('slow', 1)]);
        await startedSlow; // its batch is being applied
        const { receipt: second } = await log.append([event('fast', 2)]);
        // The second entry does not wait for the first batch, which is still being applied.
        await until(async () => handled.includes('fast-2'), 3000);
        expect(handled).toEqual(['fast-2']);
        expect(await log.waitApplied(second, 'updater', 1000)).toBe(true);
        expect(await log.waitApplied(first, 'updater', 50)).toBe(false);
        const { receipt: third } = await log.append([event('fails', 3)]);
        release();
        // The failed batch stays pending and is delivered again; nothing is lost or skipped.
        expect(await log.waitApplied(first, 'updater', 5000)).toBe(true);
        expect(await log.waitApplied(third, 'updater', 5000)).toBe(true);
        expect(handled.sort()).toEqual(['fails-3', 'fast-2', 'slow-1']);
      } finally {
        release();
        await consumer.stop();
      }
    });

    it('a batch that keeps failing holds up no other batch, and is delivered again later', async ({ skip }) => {
      if (!available) skip(note);
      const { log } = setup({ reclaimIdleMs: 300, reclaimEveryMs: 100 });
      const users = Array.from({ length: 12 }, (_, i) => `pz-${i}`);
      const poisoned = users[0]!;
      const samePartition = users.find((u) => u !== poisoned && partitionOf(u, 2) === partitionOf(poisoned, 2))!;
      const otherPartition = users.find((u) => partitionOf(u, 2) !== partitionOf(poisoned, 2))!;
      let broken = true;
      let attempts = 0;
      const handled: string[] = [];
      const consumer = log.consume('updater', (batch) => {
        if (broken && batch.some((e) => e.userId === poisoned)) {
          attempts++;
          throw new Error('cannot apply this one yet');
        }
        handled.push(...batch.map((e) => e.eventId));
      }, 'consumer-poison');
      try {
        const { receipt: bad } = await log.append([event(poisoned, 1)]);
        await until(async () => attempts > 0, 3000);
        const { receipt: next } = await log.append([event(samePartition, 2), event(otherPartition, 3)]);
        // The other batches of both partitions go through while the failing one is retried.
        expect(await log.waitApplied(next, 'updater', 3000)).toBe(true);
        expect(handled.sort()).toEqual([`${otherPartition}-3`, `${samePartition}-2`]);
        expect(await log.waitApplied(bad, 'updater', 50)).toBe(false);
        // Once it can be applied, the pending batch is delivered again (reclaimed) and acknowledged.
        broken = false;
        expect(await log.waitApplied(bad, 'updater', 10_000)).toBe(true);
        expect(handled).toContain(`${poisoned}-1`);
      } finally {
        await consumer.stop();
      }
    });

    it('when one partition cannot take its events, the others are accepted and only the failed ones can be retried', async ({ skip }) => {
      if (!available) skip(note);
      const { redis, stores, log } = setup();
      // A key of the wrong type makes XADD fail on partition 1 only.
      const users = Array.from({ length: 12 }, (_, i) => `pa-${i}`);
      const broken = users.filter((u) => partitionOf(u, 2) === 1);
      expect(broken.length).toBeGreaterThan(0);
      await redis.set(log.streamKey(1), 'not a stream');
      const service = new ProfileService(stores, { reducer: DEFAULT_REDUCER_CONFIG, validation: DEFAULT_VALIDATION_LIMITS, eventLog: log, mode: 'stream' });
      const raw = users.map((u, i) => ({ eventId: `pa-e${i}`, userId: u, type: 'VIEW', occurredAt: Date.now(), item: { id: 'x', kind: 'MOVIE' } }));
      const first = await service.ingest(raw);
      expect(first.accepted).toBe(users.length - broken.length);
      expect(first.rejected.map((r) => r.code)).toEqual(broken.map(() => 'STORE_UNAVAILABLE'));
      expect(first.rejected.map((r) => r.eventId).sort()).toEqual(raw.filter((e) => broken.includes(e.userId)).map((e) => e.eventId).sort());

      // Once the partition works again, the retry appends only what failed.
      await redis.del(log.streamKey(1));
      const retry = await service.ingest(raw);
      expect(retry).toMatchObject({ accepted: broken.length, duplicates: users.length - broken.length, rejected: [] });
    });
  });
}
