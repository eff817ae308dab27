/** One contract for ProfileUpdated pub/sub: memory, Redis, and Redis Cluster (sharded pub/sub). */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MemoryPubSub } from '../../lib/pubsub/memory.js';
import type { ProfilePubSub, ProfileUpdated } from '../../lib/pubsub/port.js';
import { RedisPubSub } from '../../lib/pubsub/redis.js';
import type { RedisClient } from '../../lib/redis/connection.js';
import { freshPrefix, redisTargets, requireTarget } from '../helpers/redis.js';
import { listeners } from '../helpers/subscriptions.js';

const message = (userId: string, version: number): ProfileUpdated => ({ userId, version, cause: 'events', eventIds: [`e${version}`], changed: ['version'], at: version });

const eventually = (check: () => void) => vi.waitFor(check, { timeout: 5000, interval: 10 });

const adapters: Array<{ name: string; setup?: () => Promise<string | null>; make: () => { a: ProfilePubSub; b: ProfilePubSub; close: () => Promise<void> } }> = [
  {
    name: 'memory',
    make: () => {
      const bus = new MemoryPubSub();
      return { a: bus, b: bus, close: () => bus.close() };
    },
  },
  ...redisTargets().map((target) => ({
    name: target.name,
    setup: async () => {
      let note: string | null = null;
      const ok = await requireTarget(target, (n) => (note = n));
      return ok ? null : note;
    },
    make: () => {
      const prefix = freshPrefix();
      const clients: RedisClient[] = [target.connect(), target.connect()];
      const a = new RedisPubSub(clients[0]!, prefix);
      const b = new RedisPubSub(clients[1]!, prefix);
      return {
        a,
        b,
        close: async () => {
          await a.close();
          await b.close();
          await Promise.all(clients.map((c) => c.quit()));
        },
      };
    },
  })),
];

for (const adapter of adapters) {
  describe(`pub/sub contract: ${adapter.name}`, () => {
    let note: string | null = null;
    let pair: ReturnType<(typeof adapter)['make']> | undefined;
    beforeAll(async () => {
      note = (await adapter.setup?.()) ?? null;
    });
    afterEach(async () => {
      await pair?.close();
      pair = undefined;
    });

    it('subscriptions made at once on a fresh connection all receive (none races the connection handshake)', async ({ skip }) => {
      if (note) skip(note);
      pair = adapter.make();
      const { a, b } = pair;
      const got = new Map<string, number>();
      if (b instanceof RedisPubSub) {
        // The race exactly: SUBSCRIBE issued when the subscriber connection is connected but its
        // handshake (ready check) not done. ioredis writes it at once; INFO then fails in
        // subscriber mode and the connection is reset, losing the subscription.
        const sub = (b as unknown as { connection(): RedisClient }).connection();
        const early = new Promise<void>((resolve, reject) => {
          sub.once('connect', () => void b.subscribe('handshake', (m) => got.set(m.userId, 1)).then(() => resolve(), reject));
        });
        await early;
        await a.publish(message('handshake', 1));
        await eventually(() => expect(got.get('handshake')).toBe(1));
      }
      const users = Array.from({ length: 40 }, (_, i) => `burst-${i}`);
      // All at once, before the subscriber connection is up.
      await Promise.all(users.map((u) => b.subscribe(u, (m) => got.set(m.userId, (got.get(m.userId) ?? 0) + 1))));
      await Promise.all(users.map((u) => a.publish(message(u, 1))));
      await eventually(() => expect(users.every((u) => got.has(u))).toBe(true));
    });

    it('delivers a user\'s messages in order to every subscriber, only for that user, until unsubscribed', async ({ skip }) => {
      if (note) skip(note);
      pair = adapter.make();
      const seen1: number[] = [];
      const seen2: number[] = [];
      const other: number[] = [];
      const u1 = await pair.b.subscribe('u1', (m) => seen1.push(m.version));
      const u1again = await pair.b.subscribe('u1', (m) => seen2.push(m.version));
      const u2 = await pair.b.subscribe('u2', (m) => other.push(m.version));
      // Once subscribe() resolves the subscriptions are live: what e2e tests wait on (`subscribed`).
      expect(listeners(pair.b, 'u1')).toEqual({ attached: 2, receiving: 2 });
      for (let v = 1; v <= 20; v++) await pair.a.publish(message('u1', v));
      await eventually(() => expect([seen1.length, seen2.length]).toEqual([20, 20]));
      expect(seen1).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(seen2).toEqual(seen1);
      expect(other).toEqual([]);
      await u1();
      await pair.a.publish(message('u1', 21));
      await pair.a.publish(message('u2', 1));
      await eventually(() => expect([other.length, seen2.length]).toEqual([1, 21]));
      expect(seen1).toHaveLength(20);
      await u1again();
      await u2();
      expect(listeners(pair.b, 'u1')).toEqual({ attached: 0, receiving: 0 });
    });

    it('publishMany delivers every message on its own, in order per topic, as publish does', async ({ skip }) => {
      if (note) skip(note);
      pair = adapter.make();
      const seen = new Map<string, number[]>();
      const record = (m: ProfileUpdated) => (seen.get(m.userId) ?? seen.set(m.userId, []).get(m.userId)!).push(m.version);
      const subs = await Promise.all(['u1', 'u2', 'u3'].map((u) => pair!.b.subscribe(u, record)));
      // Interleaved topics; u3 gets a single message (sent as it is, not as a list of one).
      const batch = [message('u1', 1), message('u2', 1), message('u1', 2), message('u3', 1), message('u2', 2), message('u1', 3)];
      await pair.a.publishMany(batch);
      await pair.a.publishMany([]);
      await pair.a.publish(message('u1', 4));
      await eventually(() => expect(seen.get('u1')).toHaveLength(4));
      expect(Object.fromEntries(seen)).toEqual({ u1: [1, 2, 3, 4], u2: [1, 2], u3: [1] });
      await Promise.all(subs.map((u) => u()));
    });
  });
}
