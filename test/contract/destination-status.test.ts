/** One contract for the delivery status store of audience destinations: memory, Redis and Redis Cluster. */
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryDeliveryStatusStore, RedisDeliveryStatusStore } from '../../subgraphs/audiences/src/store/destination-status.js';
import type { DeliveryStatusStore } from '../../subgraphs/audiences/src/store/destination-status.js';
import { scanKeys } from '../../lib/redis/connection.js';
import type { RedisClient } from '../../lib/redis/connection.js';
import { perTestRedis, redisTargets } from '../helpers/redis.js';

const NOW = Date.UTC(2024, 5, 1, 12);

for (const target of [null, ...redisTargets()]) {
  describe(`destination delivery status store contract: ${target?.name ?? 'memory'}`, () => {
    const redis = perTestRedis(target);
    let client: RedisClient;
    let store: DeliveryStatusStore;
    beforeEach(({ skip }) => {
      redis.require(skip);
      if (!target) {
        store = new MemoryDeliveryStatusStore();
        return;
      }
      client = redis.connect();
      store = new RedisDeliveryStatusStore(client, redis.freshPrefix());
    });
    /** Redis: the keys under the test prefix (prefix removed), with their types. */
    const keys = async () => {
      const { prefix } = redis;
      const out: Array<[string, string]> = [];
      for await (const keys of scanKeys(client, `${prefix}*`)) for (const k of keys) out.push([k.slice(prefix.length), await client.type(k)]);
      return out.sort();
    };

    it('a destination never written reads as zeros, in the order asked', async () => {
      expect(await store.get([], NOW)).toEqual([]);
      const [a, b] = await store.get(['d-a', 'd-b'], NOW);
      const zero = { delivered: 0, failures: 0, totalFailures: 0, lastSuccessAt: null, lastFailureAt: null, lastError: null, lagMs: 0, pending: 0 };
      expect(a).toEqual({ destinationId: 'd-a', ...zero });
      expect(b).toEqual({ destinationId: 'd-b', ...zero });
    });

    it('failures count up consecutively and in total; a success resets the consecutive count and adds to delivered', async () => {
      await store.record('d1', { ok: false, error: 'HTTP 500', at: NOW + 1 });
      await store.record('d1', { ok: false, error: 'timeout after 5000 ms', at: NOW + 2 });
      expect((await store.get(['d1'], NOW))[0]).toMatchObject({ failures: 2, totalFailures: 2, delivered: 0, lastFailureAt: NOW + 2, lastSuccessAt: null, lastError: 'timeout after 5000 ms' });

      await store.record('d1', { ok: true, delivered: 7, at: NOW + 3 });
      // The last error stays readable after a success; the consecutive count says it is over.
      expect((await store.get(['d1'], NOW))[0]).toMatchObject({ failures: 0, totalFailures: 2, delivered: 7, lastFailureAt: NOW + 2, lastSuccessAt: NOW + 3, lastError: 'timeout after 5000 ms' });

      await store.record('d1', { ok: false, error: 'ECONNREFUSED', at: NOW + 4 });
      await store.record('d1', { ok: true, delivered: 3, at: NOW + 5 });
      expect((await store.get(['d1'], NOW))[0]).toMatchObject({ failures: 0, totalFailures: 3, delivered: 10, lastFailureAt: NOW + 4, lastSuccessAt: NOW + 5, lastError: 'ECONNREFUSED' });
    });

    it('the backlog gives pending and the lag (now − oldest undelivered), 0 when caught up and never negative', async () => {
      await store.setBacklog('d1', 12, NOW - 1500);
      expect((await store.get(['d1'], NOW))[0]).toMatchObject({ pending: 12, lagMs: 1500 });
      expect((await store.get(['d1'], NOW + 500))[0]).toMatchObject({ pending: 12, lagMs: 2000 });
      expect((await store.get(['d1'], NOW - 5000))[0]).toMatchObject({ lagMs: 0 });
      await store.setBacklog('d1', 0, null);
      expect((await store.get(['d1'], NOW))[0]).toMatchObject({ pending: 0, lagMs: 0 });
      // The backlog and the counters are independent fields.
      await store.record('d1', { ok: true, delivered: 2, at: NOW });
      await store.setBacklog('d1', 1, NOW - 10);
      expect((await store.get(['d1'], NOW))[0]).toMatchObject({ delivered: 2, lastSuccessAt: NOW, pending: 1, lagMs: 10 });
    });

    it('racing writers lose no update (atomic per destination)', async () => {
      await Promise.all([
        ...Array.from({ length: 40 }, (_, i) => store.record('d1', { ok: false, error: `HTTP 5${i % 10}0`, at: NOW + i })),
        ...Array.from({ length: 40 }, (_, i) => store.record('d1', { ok: true, delivered: 3, at: NOW + i })),
        ...Array.from({ length: 20 }, (_, i) => store.record('d2', { ok: true, delivered: 1, at: NOW + i })),
      ]);
      const [d1, d2] = await store.get(['d1', 'd2'], NOW);
      expect(d1).toMatchObject({ totalFailures: 40, delivered: 120 });
      expect(d1!.failures).toBeGreaterThanOrEqual(0);
      expect(d1!.failures).toBeLessThanOrEqual(40);
      expect(d2).toMatchObject({ totalFailures: 0, failures: 0, delivered: 20 });
    });

    it('delete forgets one destination only', async () => {
      await store.record('d1', { ok: true, delivered: 1, at: NOW });
      await store.record('d2', { ok: false, error: 'HTTP 404', at: NOW });
      await store.setBacklog('d1', 4, NOW - 1);
      await store.delete('d1');
      await store.delete('missing');
      const [d1, d2] = await store.get(['d1', 'd2'], NOW);
      expect(d1).toMatchObject({ delivered: 0, pending: 0, lastSuccessAt: null, lagMs: 0 });
      expect(d2).toMatchObject({ failures: 1, lastError: 'HTTP 404' });
    });

    it('Redis: one hash per destination, in its own hash-tagged slot', async ({ skip }) => {
      if (!target) skip('memory');
      await store.record('d1', { ok: true, delivered: 1, at: NOW });
      await store.setBacklog('d:2', 0, null);
      expect(await keys()).toEqual([
        ['aud:{dest:d1}:status', 'hash'],
        ['aud:{dest:d:2}:status', 'hash'],
      ]);
    });
  });
}
