/**
 * Every applied profile change reaches the change-notice log, whatever fails in between: the
 * write path waits for the notice, a notice log that keeps failing fails the write path, and
 * the redelivery (the updater group's retry, or the producer's retry of a read-your-writes
 * request) announces the change again when it finds the events applied already. On the embedded
 * stores and on Redis / Redis Cluster; the notice log is a real log that refuses appends for a
 * while (the fault), as a Redis failover would.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_STREAM_OPTIONS, RedisStreamEventLog } from '../../lib/eventlog/redis-streams.js';
import { MemoryEventLog } from '../../lib/eventlog/memory.js';
import type { EventLog } from '../../lib/eventlog/port.js';
import type { ProfileEvent } from '../../lib/contracts/event.js';
import { PROFILE_CHANGE_KEYS } from '../../lib/infrastructure.js';
import { MemoryPubSub } from '../../lib/pubsub/memory.js';
import type { ProfileUpdated } from '../../lib/pubsub/port.js';
import { ProfileService, startProfileUpdater } from '../../subgraphs/profile/src/app/profile-service.js';
import { publishChanges } from '../../subgraphs/profile/src/app/publish.js';
import { DEFAULT_REDUCER_CONFIG } from '../../subgraphs/profile/src/domain/config.js';
import { DEFAULT_VALIDATION_LIMITS } from '../../lib/contracts/validate.js';
import { createMemoryStores } from '../../subgraphs/profile/src/store/memory.js';
import { createRedisProfileStores } from '../../subgraphs/profile/src/store/redis.js';
import type { ProfileStores } from '../../subgraphs/profile/src/store/ports.js';
import { perTestRedis, redisTargets } from '../helpers/redis.js';
import { until } from '../helpers/wait.js';

const TTL = { profileTtlMs: 600_000, dedupeTtlMs: 600_000 };
const T0 = Date.now() - 3_600_000;
const play = (userId: string, n: number) => ({ eventId: `${userId}-${n}`, userId, type: 'PLAY', occurredAt: T0 + n * 1000, item: { id: `item-${n}`, kind: 'MOVIE', genres: ['Crime'] } });
const event = (userId: string, n: number) => play(userId, n) as ProfileEvent;

/** The change-notice log: an embedded log that refuses the next `failures` appends. */
class FlakyNotices extends MemoryEventLog<ProfileUpdated> {
  failures = 0;
  refused = 0;
  readonly appended: ProfileUpdated[] = [];
  constructor() {
    super({ keys: PROFILE_CHANGE_KEYS });
  }
  override async append(events: readonly ProfileUpdated[]) {
    if (this.failures > 0) {
      this.failures--;
      this.refused++;
      throw new Error('the notice log is failing over');
    }
    const result = await super.append(events);
    this.appended.push(...events);
    return result;
  }
}

for (const target of [null, ...redisTargets()]) {
  describe(`change notices under faults: ${target?.name ?? 'memory'}`, () => {
    const redis = perTestRedis(target);
    const cleanups: Array<() => Promise<unknown>> = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });

    const setUp = (mode: 'inline' | 'stream') => {
      const stores: ProfileStores = target ? createRedisProfileStores(redis.connect(), { prefix: redis.freshPrefix(), ...TTL }) : createMemoryStores(TTL);
      const eventLog: EventLog = target
        ? new RedisStreamEventLog(redis.connect(), { ...DEFAULT_STREAM_OPTIONS, prefix: redis.prefix, partitions: 2, blockMs: 100, onError: () => undefined })
        : new MemoryEventLog();
      cleanups.push(() => eventLog.close());
      const notices = new FlakyNotices();
      const service = new ProfileService(stores, { reducer: DEFAULT_REDUCER_CONFIG, validation: DEFAULT_VALIDATION_LIMITS, eventLog, mode });
      const errors: unknown[] = [];
      publishChanges(service, new MemoryPubSub(), (err) => errors.push(err), notices, { retries: 1, backoffMs: 5 });
      return { stores, eventLog, notices, service, errors };
    };
    const noticeOf = (notices: FlakyNotices, userId: string, version: number) => notices.appended.find((n) => n.userId === userId && n.version === version);

    // The updater group on Redis (the embedded platform applies during the request: the case below).
    if (target) it('the updater announces a change again when its notice never made it: the events were applied once', async ({ skip }) => {
      redis.require(skip);
      const { stores, eventLog, notices, service, errors } = setUp('stream');
      const updater = startProfileUpdater(service, eventLog);
      cleanups.push(() => updater.stop());
      // Both attempts of the first append fail: the updater's batch fails, is delivered again, and
      // finds its events applied.
      notices.failures = 2;
      const result = await service.ingest([play('fan', 1), play('fan', 2), play('fan', 3)]);
      expect(result.accepted).toBe(3);
      await until(() => noticeOf(notices, 'fan', 3) !== undefined, 15_000, 'the change notice of version 3');
      expect(notices.refused).toBe(2);
      expect(errors.length).toBeGreaterThanOrEqual(1);
      const [profile] = await stores.profiles.getMany(['fan']);
      expect(profile).toMatchObject({ eventCount: 3, version: 3 });
      expect(noticeOf(notices, 'fan', 3)).toMatchObject({ cause: 'events', eventIds: ['fan-1', 'fan-2', 'fan-3'] });
    });

    it("a read-your-writes request whose notice failed answers retryable, and the producer's retry announces it", async ({ skip }) => {
      redis.require(skip);
      const { stores, notices, service } = setUp(target ? 'stream' : 'inline');
      notices.failures = 2;
      const batch = [play('reader', 1), play('reader', 2)];
      await expect(service.ingest(batch, { waitApplied: true })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(noticeOf(notices, 'reader', 2)).toBeUndefined();
      // The retry: duplicates now, applied already, and announced this time.
      const retried = await service.ingest(batch, { waitApplied: true });
      expect(retried).toMatchObject({ accepted: 0, duplicates: 2, applied: true });
      expect(noticeOf(notices, 'reader', 2)).toMatchObject({ cause: 'events' });
      const [profile] = await stores.profiles.getMany(['reader']);
      expect(profile).toMatchObject({ eventCount: 2, version: 2 });
    });

    it('an alias whose notice failed answers retryable, and its retry announces the merge once merged', async ({ skip }) => {
      redis.require(skip);
      const { stores, notices, service } = setUp('inline');
      await service.applyBatch([event('visitor', 1), event('visitor', 2)]);
      await service.applyBatch([event('member', 3)]);
      notices.failures = 2;
      await expect(service.alias('visitor', 'member')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(notices.appended.some((n) => n.cause === 'alias')).toBe(false);
      await service.alias('visitor', 'member');
      expect(notices.appended.filter((n) => n.cause === 'alias' && n.userId === 'member')).toHaveLength(1);
      const [member, visitor] = await stores.profiles.getMany(['member', 'visitor']);
      expect(member).toMatchObject({ eventCount: 3 });
      expect(visitor).toBeNull();
    });

    it('a delete whose notice failed answers retryable, and its retry announces it', async ({ skip }) => {
      redis.require(skip);
      const { notices, service } = setUp('inline');
      await service.applyBatch([event('leaver', 1)]);
      notices.failures = 2;
      await expect(service.deleteUser('leaver')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      await expect(service.deleteUser('leaver')).resolves.toMatchObject({ deleted: false });
      expect(notices.appended.filter((n) => n.cause === 'delete' && n.userId === 'leaver')).toHaveLength(1);
    });

    it('a first delivery of events applied already (a read-your-writes echo) announces nothing more', async ({ skip }) => {
      redis.require(skip);
      const { notices, service } = setUp('inline');
      await service.applyBatch([event('echo', 1)]);
      await until(() => notices.appended.length === 1, 15_000, 'the first notice');
      await service.applyBatch([event('echo', 1)], { reannounce: false });
      // One turn of the loop for any append the second apply might have queued.
      await new Promise((r) => setImmediate(r));
      expect(notices.appended.filter((n) => n.userId === 'echo')).toHaveLength(1);
      await service.applyBatch([event('echo', 1)], { reannounce: true });
      expect(notices.appended.filter((n) => n.userId === 'echo')).toHaveLength(2);
    });
  });
}
