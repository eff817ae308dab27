/**
 * Appended events on Redis and Redis Cluster (ProfileStore.append): a write of events that does not
 * rewrite the profile's document, folded in by readers until a compaction rewrites it. What a
 * client reads must not depend on it: every profile here is compared with the one the memory
 * store (which always folds on write) builds from the same events, after every batch.
 */
import { describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../lib/eventlog/memory.js';
import type { ProfileEvent } from '../../lib/contracts/event.js';
import { DEFAULT_VALIDATION_LIMITS } from '../../lib/contracts/validate.js';
import type { RedisClient } from '../../lib/redis/connection.js';
import { ProfileService } from '../../subgraphs/profile/src/app/profile-service.js';
import type { ProfileChange } from '../../subgraphs/profile/src/app/profile-service.js';
import { DEFAULT_REDUCER_CONFIG } from '../../subgraphs/profile/src/domain/config.js';
import { createMemoryStores } from '../../subgraphs/profile/src/store/memory.js';
import type { ProfileStores } from '../../subgraphs/profile/src/store/ports.js';
import { createRedisProfileStores } from '../../subgraphs/profile/src/store/redis.js';
import type { RedisProfileStore } from '../../subgraphs/profile/src/store/redis.js';
import { perTestRedis, redisTargets } from '../helpers/redis.js';

const TTL = { profileTtlMs: 600_000, dedupeTtlMs: 600_000 };
const COMPACT_EVERY = 4;
const T0 = Date.now() - 3_600_000;

/** Events of every kind the reducer folds differently, n-th of a user. */
function event(userId: string, n: number): ProfileEvent {
  const base = { eventId: `${userId}-${n}`, userId, occurredAt: T0 + ((n * 7919) % 500) * 1000, receivedAt: Date.now() };
  switch (n % 5) {
    case 0:
      return { ...base, type: 'IDENTIFY', traits: { plan: n % 2 ? 'premium' : 'free', n } } as ProfileEvent;
    case 1:
      return { ...base, type: 'PLAY', item: { id: `ep-${n % 9}`, kind: 'EPISODE', genres: ['Crime', 'Drama'], seriesId: 's1', episode: n % 9, metadata: { seriesTitle: 'S', director: `d${n % 3}` } } } as ProfileEvent;
    case 2:
      return { ...base, type: 'PURCHASE', item: { id: `sku-item-${n % 4}`, kind: 'PRODUCT', genres: [], category: 'Audio', sku: `SKU-${n % 4}` }, properties: { quantity: 2 } } as ProfileEvent;
    case 3:
      return { ...base, type: 'RATE', item: { id: `m-${n % 6}`, kind: 'MOVIE', genres: ['Comedy'] }, properties: { rating: 1 + (n % 5) } } as ProfileEvent;
    default:
      return { ...base, type: 'VIEW', item: { id: `m-${n % 6}`, kind: 'MOVIE', genres: ['Crime'] } } as ProfileEvent;
  }
}

const serviceOn = (stores: ProfileStores) => {
  const service = new ProfileService(stores, { reducer: DEFAULT_REDUCER_CONFIG, validation: DEFAULT_VALIDATION_LIMITS, eventLog: new MemoryEventLog(), mode: 'stream' });
  const notices: ProfileChange[] = [];
  service.onChange((c) => void notices.push(c));
  return { service, notices };
};

for (const target of redisTargets()) {
  describe(`appended profile events: ${target.name}`, () => {
    const redis = perTestRedis(target);
    const connect = () => redis.connect();
    const open = (client = connect(), compactEvery = COMPACT_EVERY, writeCache?: number) =>
      createRedisProfileStores(client, { prefix: redis.prefix, ...TTL, compactEvery, ...(writeCache === undefined ? {} : { writeCache }) });
    const hash = async (client: RedisClient, userId: string) => client.hgetall(`${redis.prefix}{u:${userId}}:profile`);

    it('reads, versions and notices are those of a store that folds every write, batch after batch', async ({ skip }) => {
      redis.require(skip);
      redis.freshPrefix();
      const client = connect();
      const stores = open(client);
      const onRedis = serviceOn(stores);
      const inMemory = serviceOn(createMemoryStores(TTL));
      // A reader in another process: it caches what it read, and must see every later append.
      const reader = open(connect());
      const users = ['a', 'b', 'c'];
      for (let round = 0; round < 9; round++) {
        // Batches of 1 to 3 events a user, with an earlier event of the user delivered again.
        const batch = users.flatMap((u, i) => [...Array.from({ length: 1 + ((round + i) % 3) }, (_, k) => event(u, round * 3 + k)), ...(round > 2 ? [event(u, round - 2)] : [])]);
        await onRedis.service.applyBatch(batch);
        await inMemory.service.applyBatch(batch);
        const expected = await inMemory.service.loadProfiles(users);
        expect(await onRedis.service.loadProfiles(users)).toEqual(expected);
        expect(await reader.profiles.getMany(users)).toEqual(expected);
        // (Users' writes run side by side: their notices may come in any order.)
        const announced = (s: typeof onRedis) => s.notices.map((n) => `${n.userId}@${n.version}`).sort();
        expect(announced(onRedis)).toEqual(announced(inMemory));
      }
      // The events were appended, and folded into the document once COMPACT_EVERY or so (a
      // threshold per user, from half to one and a half times it) had gathered.
      await (stores.profiles as RedisProfileStore).compactionsSettled();
      const stored = await hash(client, 'a');
      expect(Number(stored['pn'] ?? 0)).toBeLessThan(1.5 * COMPACT_EVERY);
      expect(Number(stored['ver'])).toBe((await inMemory.service.loadProfiles(['a']))[0]!.version);
      expect(stored['doc']).toBeDefined();
    });

    it('two writers appending and compacting the same profile apply each event once', async ({ skip }) => {
      redis.require(skip);
      redis.freshPrefix();
      const one = serviceOn(open(connect()));
      const two = serviceOn(open(connect(), 3));
      const inMemory = serviceOn(createMemoryStores(TTL));
      for (let n = 0; n < 40; n += 2) {
        // Each writer gets the pair, as an updater and a read-your-writes request would.
        const pair = [event('race', n), event('race', n + 1)];
        await Promise.all([one.service.applyBatch(pair), two.service.applyBatch([...pair].reverse())]);
        await inMemory.service.applyBatch(pair);
      }
      const [expected] = await inMemory.service.loadProfiles(['race']);
      expect(await one.service.loadProfiles(['race'])).toEqual([expected]);
      expect(await two.service.loadProfiles(['race'])).toEqual([expected]);
      expect(expected!.eventCount).toBe(40);
    });

    it('a profile of appended events only is listed, read and deleted like any other', async ({ skip }) => {
      redis.require(skip);
      redis.freshPrefix();
      const client = connect();
      const stores = open(client, 1000);
      const { service } = serviceOn(stores);
      await service.applyBatch([event('new', 1), event('new', 2)]);
      expect((await hash(client, 'new'))['doc']).toBeUndefined();
      const [read] = await service.loadProfiles(['new']);
      expect(read).toMatchObject({ userId: 'new', version: 2, eventCount: 2 });
      const page = await stores.profiles.page(null, 10);
      expect(page.profiles.map((p) => p.userId)).toEqual(['new']);
      const scanned: string[] = [];
      for await (const profiles of stores.profiles.scan(10)) scanned.push(...profiles.map((p) => p.userId));
      expect(scanned).toEqual(['new']);
      expect(await service.deleteUser('new')).toEqual({ userId: 'new', deleted: true });
      expect(await stores.profiles.getMany(['new'])).toEqual([null]);
      // Written again on the tombstone: from nothing, not from the deleted events.
      await service.applyBatch([event('new', 3)]);
      expect((await service.loadProfiles(['new']))[0]).toMatchObject({ version: 1, eventCount: 1 });
    });

    it('an alias merges the anonymous profile with its appended events, once', async ({ skip }) => {
      redis.require(skip);
      redis.freshPrefix();
      const onRedis = serviceOn(open(connect(), 1000));
      const inMemory = serviceOn(createMemoryStores(TTL));
      const first = [event('anon', 1), event('anon', 2), event('known', 3)];
      // Redelivered under the anonymous id: it belongs to the known user now, and counts once.
      const later = [event('anon', 1), event('anon', 4)];
      for (const s of [onRedis, inMemory]) {
        await s.service.applyBatch(first);
        await s.service.alias('anon', 'known');
        await s.service.alias('anon', 'known');
        await s.service.applyBatch(later);
      }
      const expected = await inMemory.service.loadProfiles(['known', 'anon']);
      expect(await onRedis.service.loadProfiles(['known', 'anon'])).toEqual(expected);
      expect(expected[0]!.eventCount).toBe(4);
    });

    it('a document stored before appends (no ver) is rewritten whole on its next write', async ({ skip }) => {
      redis.require(skip);
      redis.freshPrefix();
      const client = connect();
      const full = serviceOn(open(client, 1));
      await full.service.applyBatch([event('old', 1)]);
      await client.hdel(`${redis.prefix}{u:old}:profile`, 'ver');
      const appending = serviceOn(open(connect()));
      await appending.service.applyBatch([event('old', 2)]);
      const stored = await hash(client, 'old');
      expect(stored['ver']).toBe('2');
      expect(stored['pn']).toBeUndefined();
      expect((await appending.service.loadProfiles(['old']))[0]).toMatchObject({ version: 2, eventCount: 2 });
      // From then on its events are appended.
      await appending.service.applyBatch([event('old', 3)]);
      expect((await hash(client, 'old'))['pn']).toBe('1');
    });

    it('appended events count in computed traits for every reader, as the definitions stand when it reads', async ({ skip }) => {
      redis.require(skip);
      redis.freshPrefix();
      const client = connect();
      // A writer, and a second service on the same stores that only reads (a replica, or the
      // profile subgraph beside the updater): each folds with its own definitions.
      const stores = open(client, 1000);
      const writer = serviceOn(stores);
      const reader = serviceOn(stores);
      await reader.service.loadProfiles(['counted']);
      await writer.service.traits.define({ name: 'plays', kind: 'COUNT', eventTypes: ['PLAY'], filter: {}, windowMs: null });
      await writer.service.applyBatch([event('counted', 1), event('counted', 6), event('counted', 4)]);
      expect((await hash(client, 'counted'))['pn']).toBe('3');
      for (const s of [writer, reader]) {
        const [profile] = await s.service.loadProfiles(['counted']);
        expect(profile!.computed['plays']).toMatchObject({ count: 2 });
      }
    });

    it('pending events are one field, and strings with newlines or separators in them read back exactly', async ({ skip }) => {
      redis.require(skip);
      redis.freshPrefix();
      const client = connect();
      const onRedis = serviceOn(open(client, 1000));
      const inMemory = serviceOn(createMemoryStores(TTL));
      const tricky = { ...event('lines', 0), traits: { note: 'one\ntwo\r\n],[{"x":1}', plan: '\u2028' } } as ProfileEvent;
      const batch = [tricky, event('lines', 1), event('lines', 2)];
      for (const s of [onRedis, inMemory]) await s.service.applyBatch(batch);
      const stored = await hash(client, 'lines');
      expect(Object.keys(stored).sort()).toEqual(['dt', 'p', 'pn', 'rev', 'tok', 'ver']);
      expect(await onRedis.service.loadProfiles(['lines'])).toEqual(await inMemory.service.loadProfiles(['lines']));
      expect((await onRedis.service.loadProfiles(['lines']))[0]!.traits['note']!.value).toBe('one\ntwo\r\n],[{"x":1}');
    });

    it('a reader holding a copy folds only the newer events, without the document, and follows rewrites and deletes', async ({ skip }) => {
      redis.require(skip);
      redis.freshPrefix();
      const writer = serviceOn(open(connect(), 6));
      const inMemory = serviceOn(createMemoryStores(TTL));
      const readerClient = connect();
      // Counts the reader's whole-hash reads (the document with them).
      let wholeReads = 0;
      const hgetall = readerClient.hgetallBuffer.bind(readerClient);
      readerClient.hgetallBuffer = ((key: string) => {
        wholeReads++;
        return hgetall(key);
      }) as typeof readerClient.hgetallBuffer;
      const reader = serviceOn(open(readerClient));
      const check = async () => expect(await reader.service.loadProfiles(['copy'])).toEqual(await inMemory.service.loadProfiles(['copy']));
      const both = async (events: ProfileEvent[]) => {
        await writer.service.applyBatch(events);
        await inMemory.service.applyBatch(events);
      };
      await both([event('copy', 1), event('copy', 2)]);
      await check();
      expect(wholeReads).toBe(1);
      // Appends only: each read folds the new lines onto its copy.
      for (let n = 3; n < 6; n++) {
        await both([event('copy', n)]);
        await check();
      }
      expect(wholeReads).toBe(1);
      // Past the threshold the writer rewrites the document: the reader reads it whole again.
      for (let n = 6; n < 16; n++) await both([event('copy', n)]);
      await (writer.service['stores'].profiles as RedisProfileStore).compactionsSettled();
      await check();
      expect(wholeReads).toBe(2);
      await both([event('copy', 16)]);
      await check();
      expect(wholeReads).toBe(2);
      // Deleted and written again: nothing of the old copy is folded into the new profile.
      await writer.service.deleteUser('copy');
      await inMemory.service.deleteUser('copy');
      await check();
      await both([event('copy', 17)]);
      await check();
    });

    it('without the write cache, appends and compactions still read what they fold', async ({ skip }) => {
      redis.require(skip);
      redis.freshPrefix();
      const onRedis = serviceOn(open(connect(), 3, 0));
      const inMemory = serviceOn(createMemoryStores(TTL));
      for (let n = 0; n < 14; n++) {
        const e = event('nocache', n);
        await onRedis.service.applyBatch([e]);
        await inMemory.service.applyBatch([e]);
      }
      expect(await onRedis.service.loadProfiles(['nocache'])).toEqual(await inMemory.service.loadProfiles(['nocache']));
    });
  });
}
