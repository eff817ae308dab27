import { describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../lib/eventlog/memory.js';
import { emptyProfile } from '../../subgraphs/profile/src/domain/profile.js';
import type { Profile } from '../../subgraphs/profile/src/domain/profile.js';
import { MemoryDedupe } from '../../lib/eventlog/memory-dedupe.js';
import { MemoryIdentityStore, MemoryProfileStore } from '../../subgraphs/profile/src/store/memory.js';
import { T0 } from './fixtures.js';

describe('MemoryDedupe', () => {
  function storeWithClock(ttlMs: number, maxEntries?: number) {
    const clock = { now: T0 };
    const store = new MemoryDedupe(ttlMs, maxEntries, () => clock.now);
    return { store, clock };
  }

  it('claims an id once', async () => {
    const { store } = storeWithClock(60_000);
    expect(await store.claim(['a', 'b'])).toEqual([true, true]);
    expect(await store.claim(['a'])).toEqual([false]);
    expect(await store.claim(['b', 'c'])).toEqual([false, true]);
    expect(await store.claim([])).toEqual([]);
  });

  it('treats a duplicate inside one call as seen', async () => {
    const { store } = storeWithClock(60_000);
    expect(await store.claim(['a', 'b', 'a', 'a', 'b'])).toEqual([true, true, false, false, false]);
  });

  it('forgets ids after the TTL, using the injected clock', async () => {
    const { store, clock } = storeWithClock(1_000);
    expect(await store.claim(['a'])).toEqual([true]);
    clock.now = T0 + 500;
    expect(await store.claim(['b'])).toEqual([true]);
    clock.now = T0 + 999;
    expect(await store.claim(['a', 'b'])).toEqual([false, false]);
    clock.now = T0 + 1_000;
    // A rejected claim does not extend the retention of 'a'.
    expect(await store.claim(['a', 'b'])).toEqual([true, false]);
    clock.now = T0 + 1_500;
    expect(await store.claim(['b'])).toEqual([true]);
    // 'a' was claimed again at T0 + 1000, so it is remembered until T0 + 2000.
    clock.now = T0 + 1_999;
    expect(await store.claim(['a'])).toEqual([false]);
  });

  it('forgets the oldest ids beyond maxEntries', async () => {
    const { store } = storeWithClock(3_600_000, 3);
    for (const id of ['a', 'b', 'c', 'd', 'e']) expect(await store.claim([id])).toEqual([true]);
    expect(await store.claim(['e', 'd', 'c'])).toEqual([false, false, false]);
    expect(await store.claim(['a', 'b'])).toEqual([true, true]);
  });

  it('forgets the oldest ids beyond maxEntries after one large claim', async () => {
    const { store } = storeWithClock(3_600_000, 2);
    expect(await store.claim(['a', 'b', 'c', 'd'])).toEqual([true, true, true, true]);
    expect(await store.claim(['d', 'c'])).toEqual([false, false]);
    expect(await store.claim(['a'])).toEqual([true]);
  });
});

describe('MemoryIdentityStore', () => {
  it('resolves unknown ids to themselves', async () => {
    expect(await new MemoryIdentityStore().resolve(['x', 'y'])).toEqual(['x', 'y']);
  });

  it('links an anonymous id to a user; the earlier link wins', async () => {
    const store = new MemoryIdentityStore();
    expect(await store.link('anon-1', 'user-1')).toBe('user-1');
    expect(await store.link('anon-1', 'user-2')).toBe('user-1');
    expect(await store.link('anon-1', 'user-1')).toBe('user-1');
    expect(await store.link('anon-2', 'user-1')).toBe('user-1');
    expect(await store.resolve(['anon-1', 'anon-2', 'user-1', 'user-2'])).toEqual(['user-1', 'user-1', 'user-1', 'user-2']);
  });

  it('forget removes links to and from the user and keeps others', async () => {
    const store = new MemoryIdentityStore();
    await store.link('anon-1', 'user-1');
    await store.link('anon-2', 'user-1');
    await store.link('anon-3', 'user-2');
    await store.forget('user-1');
    expect(await store.resolve(['anon-1', 'anon-2', 'anon-3'])).toEqual(['anon-1', 'anon-2', 'user-2']);
    await store.forget('anon-3');
    expect(await store.resolve(['anon-3'])).toEqual(['anon-3']);
    // After forgetting, the id can be linked anew.
    expect(await store.link('anon-1', 'user-3')).toBe('user-3');
  });
});

describe('MemoryProfileStore', () => {
  const profile = (userId: string, version = 1): Profile => ({ ...emptyProfile(userId), version });

  async function storeWith(n: number): Promise<MemoryProfileStore> {
    const store = new MemoryProfileStore();
    for (let i = 0; i < n; i++) await store.update(`user-${i}`, () => profile(`user-${i}`));
    return store;
  }

  async function pageSizes(store: MemoryProfileStore, pageSize?: number): Promise<{ sizes: number[]; ids: string[] }> {
    const sizes: number[] = [];
    const ids: string[] = [];
    for await (const page of store.scan(pageSize)) {
      sizes.push(page.length);
      ids.push(...page.map((p) => p.userId));
    }
    return { sizes, ids };
  }

  it('update passes the current profile (null at first) and stores the result', async () => {
    const store = new MemoryProfileStore();
    const seen: (Profile | null)[] = [];
    const first = await store.update('u', (current) => {
      seen.push(current);
      return profile('u', 1);
    });
    const second = await store.update('u', (current) => {
      seen.push(current);
      return profile('u', (current?.version ?? 0) + 1);
    });
    expect(seen).toEqual([null, first]);
    expect(second.version).toBe(2);
    expect(await store.getMany(['u'])).toEqual([second]);
  });

  it('update stores nothing when fn throws', async () => {
    const store = new MemoryProfileStore();
    await expect(
      store.update('u', () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await store.getMany(['u'])).toEqual([null]);
  });

  it('getMany keeps the order of the ids, with null for missing ones', async () => {
    const store = await storeWith(3);
    const got = await store.getMany(['user-2', 'nobody', 'user-0', 'user-2']);
    expect(got.map((p) => p?.userId ?? null)).toEqual(['user-2', null, 'user-0', 'user-2']);
    expect(await store.getMany([])).toEqual([]);
  });

  it('delete reports whether a profile existed', async () => {
    const store = await storeWith(2);
    expect(await store.delete('user-0')).toBe(true);
    expect(await store.delete('user-0')).toBe(false);
    expect(await store.getMany(['user-0', 'user-1'])).toEqual([null, expect.objectContaining({ userId: 'user-1' })]);
  });

  it.each([
    [7, 3, [3, 3, 1]],
    [6, 3, [3, 3]],
    [2, undefined, [2]],
    [0, 3, []],
    [3, 1, [1, 1, 1]],
  ])('scan of %i profiles with page size %s yields pages %j', async (n, pageSize, expected) => {
    const { sizes, ids } = await pageSizes(await storeWith(n), pageSize);
    expect(sizes).toEqual(expected);
    expect(ids.sort()).toEqual(Array.from({ length: n }, (_, i) => `user-${i}`).sort());
  });

  it('scan does not include deleted profiles', async () => {
    const store = await storeWith(4);
    await store.delete('user-1');
    expect((await pageSizes(store, 2)).ids.sort()).toEqual(['user-0', 'user-2', 'user-3']);
  });
});

describe('MemoryEventLog retention', () => {
  it('keeps the newest events, trimming a quarter of the retention at a time, and consumers see every event', async () => {
    const log = new MemoryEventLog<{ eventId: string; userId: string }>({ retention: 100, keys: { orderKey: (e) => e.userId, dedupeKey: (e) => e.eventId } });
    const seen: string[] = [];
    log.consume('g', (batch) => void seen.push(...batch.map((e) => e.eventId)));
    for (let i = 0; i < 1000; i++) {
      const { receipt } = await log.append([{ eventId: `e${i}`, userId: 'u' }]);
      expect(await log.waitApplied(receipt, 'g', 5000)).toBe(true);
    }
    const [info] = await log.info();
    expect(info!.length).toBeGreaterThanOrEqual(100);
    expect(info!.length).toBeLessThanOrEqual(125);
    expect(seen).toEqual(Array.from({ length: 1000 }, (_, i) => `e${i}`));
    await log.close();
  });

  it('a consumer whose batch was under way while appends trimmed the log skips nothing retained after it', async () => {
    const log = new MemoryEventLog<{ eventId: string; userId: string }>({ retention: 8, batchSize: 2, keys: { orderKey: (e) => e.userId, dedupeKey: (e) => e.eventId } });
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held!: () => void;
    const holding = new Promise<void>((r) => (held = r));
    log.consume('g', async (batch) => {
      if (seen.length === 0) {
        held();
        await gate;
      }
      seen.push(...batch.map((e) => e.eventId));
    });
    await log.append([{ eventId: 'e0', userId: 'u' }, { eventId: 'e1', userId: 'u' }]);
    await holding;
    // 12 more while the first batch is held: the log trims, moving its base past e0 and e1.
    for (let i = 2; i < 14; i++) await log.append([{ eventId: `e${i}`, userId: 'u' }]);
    const [info] = await log.info();
    const kept = info!.length;
    release();
    const { receipt } = await log.append([{ eventId: 'e14', userId: 'u' }]);
    expect(await log.waitApplied(receipt, 'g', 5000)).toBe(true);
    // Every event still retained when the batch ended was delivered, in order.
    const retained = Array.from({ length: kept }, (_, i) => `e${14 - kept + i}`);
    for (const id of retained) expect(seen).toContain(id);
    expect(seen).toContain('e14');
    await log.close();
  });
});
