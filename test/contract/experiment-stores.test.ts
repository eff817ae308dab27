/** One contract for the experiments and catalog stores: memory, Redis and Redis Cluster. */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rng } from '../../bench/lib/synthetic.js';
import { newExperiment } from '../../subgraphs/experiments/src/domain/experiment.js';
import { ALL_UNITS } from '../../subgraphs/experiments/src/domain/metrics.js';
import type { RecordedUnitEvent, UnitEventType, VariantAggregate } from '../../subgraphs/experiments/src/domain/metrics.js';
import { createMemoryExperimentStores } from '../../subgraphs/experiments/src/store/memory.js';
import type { ExperimentStores, RecordOutcome } from '../../subgraphs/experiments/src/store/ports.js';
import { ExperimentKeys, createRedisExperimentStores } from '../../subgraphs/experiments/src/store/redis.js';
import { MemoryCatalogStore } from '../../subgraphs/recommendations/src/store/memory.js';
import type { CatalogStore } from '../../subgraphs/recommendations/src/store/ports.js';
import { RedisCatalogStore } from '../../subgraphs/recommendations/src/store/redis.js';
import { scanKeys } from '../../lib/redis/connection.js';
import type { RedisClient } from '../../lib/redis/connection.js';
import { deleteByPrefix, freshPrefix, redisTargets, requireTarget } from '../helpers/redis.js';
import { until } from '../helpers/wait.js';

/** Far enough ahead that nothing in the reference stream expires while a test runs. */
const LATER = Date.now() + 3_600_000;

/**
 * A reproducible mixed stream of unit events over two units and two variants, with duplicates:
 * users come back to the same few impressions, so the per-impression caps (one exposure, each
 * type once per position) turn some events away.
 */
function unitEvents(seed: number): RecordedUnitEvent[] {
  const r = rng(seed);
  const types: UnitEventType[] = ['IMPRESSION', 'IMPRESSION', 'CLICK', 'CONSUME', 'PURCHASE'];
  const out: RecordedUnitEvent[] = [];
  for (let i = 0; i < 600; i++) {
    const user = Math.floor(r() * 60);
    const type = types[Math.floor(r() * types.length)]!;
    const unitId = r() < 0.6 ? 'home' : 'detail';
    out.push({
      eventId: `ue-${i}`,
      experimentKey: 'exp',
      variant: user % 2 === 0 ? 'control' : 'treatment',
      unitId,
      userId: `user-${user}`,
      impressionKey: `imp-${user}-${unitId}-${Math.floor(r() * 3)}`,
      expiresAt: LATER,
      type,
      position: type === 'IMPRESSION' ? null : 1 + Math.floor(r() * 4),
      value: type === 'CONSUME' ? Math.round(r() * 3000) : type === 'PURCHASE' ? Math.round(r() * 100) / 4 : 0,
      completed: type === 'CONSUME' && r() < 0.3,
      occurredAt: 0,
      // A pre-exposure covariate per user (CUPED sums), the same for each of the user's events.
      covariate: user % 7,
    });
  }
  return [...out, ...out.slice(0, 50)]; // redelivered duplicates
}

/** One unit event on impression `impressionKey` of user u1 (control, unit home). */
function ev(eventId: string, impressionKey: string, type: UnitEventType, position: number | null, expiresAt: number, value = 0): RecordedUnitEvent {
  return { eventId, experimentKey: 'exp', variant: 'control', unitId: 'home', userId: 'u1', impressionKey, expiresAt, type, position, value, completed: false, occurredAt: 0, covariate: 0 };
}

function rounded(aggs: Record<string, VariantAggregate>) {
  return JSON.parse(JSON.stringify(aggs, (_k, v) => (typeof v === 'number' ? Number(v.toPrecision(10)) : v)));
}

interface Adapter {
  name: string;
  setup?: (skip: (note: string) => void) => Promise<boolean>;
  make(): { experiments: ExperimentStores; catalog: CatalogStore };
  /** The clock the stores were made with (epoch ms). */
  now(): number;
  /**
   * Lets the lifetime of `impressionKeys` (in experiment "exp") run out: memory advances its
   * injected clock by `ms`; Redis waits until it has expired their keys itself (no fixed sleep).
   */
  pass(ms: number, impressionKeys: readonly string[]): Promise<void>;
  /** Milliseconds the store still keeps an impression's event ids and caps; null when it keeps nothing. */
  kept(impressionKey: string): Promise<number | null>;
  /** Redis: keys under the test prefix without a TTL (what would stay forever). */
  keysWithoutTtl?: () => Promise<string[]>;
  cleanup(): Promise<void>;
}

function memoryAdapter(): Adapter {
  let t = Date.now();
  let stores: ReturnType<typeof createMemoryExperimentStores> | undefined;
  return {
    name: 'memory',
    make: () => {
      t = Date.now();
      stores = createMemoryExperimentStores({ now: () => t });
      return { experiments: stores, catalog: new MemoryCatalogStore() };
    },
    now: () => t,
    pass: async (ms) => {
      t += ms;
    },
    kept: async (impressionKey) => {
      const expiresAt = stores!.metrics.expiresAtOf('exp', impressionKey);
      return expiresAt === null ? null : expiresAt - t;
    },
    cleanup: async () => {},
  };
}

function redisAdapter(target: ReturnType<typeof redisTargets>[number]): Adapter {
  let prefix = '';
  let client: RedisClient | undefined;
  const impressionKey = (key: string) => new ExperimentKeys(prefix).impression('exp', key);
  return {
    name: target.name,
    setup: (skip) => requireTarget(target, skip),
    make: () => {
      prefix = freshPrefix();
      client = target.connect();
      return { experiments: createRedisExperimentStores(client, prefix), catalog: new RedisCatalogStore(client, prefix) };
    },
    now: () => Date.now(),
    pass: async (ms, keys) => {
      const until_ = Date.now() + ms;
      await until(async () => Date.now() >= until_ && (await Promise.all(keys.map((k) => client!.exists(impressionKey(k))))).every((n) => n === 0), 10_000, 'Redis to expire the impressions');
    },
    kept: async (key) => {
      const pttl = await client!.pttl(impressionKey(key));
      if (pttl === -2) return null;
      return pttl === -1 ? Number.POSITIVE_INFINITY : pttl;
    },
    keysWithoutTtl: async () => {
      const out: string[] = [];
      for await (const keys of scanKeys(client!, `${prefix}*`)) {
        for (const k of keys) if ((await client!.pttl(k)) === -1) out.push(k.slice(prefix.length));
      }
      return out.sort();
    },
    cleanup: async () => {
      if (!client) return;
      await deleteByPrefix(client, prefix);
      await client.quit();
      client = undefined;
    },
  };
}

// The memory adapter's outcomes and aggregates are the reference the Redis script must reproduce.
const reference = createMemoryExperimentStores();
const events = unitEvents(7);
const referenceOutcomes = reference.metrics.record(events);

for (const adapter of [memoryAdapter(), ...redisTargets().map(redisAdapter)]) {
  describe(`experiments + catalog stores contract: ${adapter.name}`, () => {
    let available = true;
    let note = '';
    let stores: ReturnType<Adapter['make']>;
    beforeAll(async () => {
      available = adapter.setup ? await adapter.setup((n) => (note = n)) : true;
    });
    beforeEach(({ skip }) => {
      if (!available) skip(note);
      stores = adapter.make();
    });
    afterEach(async () => {
      if (available) await adapter.cleanup();
    });

    it('experiments: create once, save, get, list', async () => {
      const e = newExperiment({ key: 'exp', name: 'Exp', variants: [{ key: 'control', weight: 0.5 }, { key: 'treatment', weight: 0.5 }] }, 1);
      expect(await stores.experiments.experiments.create(e)).toBe(true);
      expect(await stores.experiments.experiments.create(e)).toBe(false);
      await stores.experiments.experiments.save({ ...e, status: 'RUNNING' });
      expect((await stores.experiments.experiments.get('exp'))?.status).toBe('RUNNING');
      expect(await stores.experiments.experiments.get('missing')).toBeNull();
      expect((await stores.experiments.experiments.list()).map((x) => x.key)).toEqual(['exp']);
    });

    it('assignments: sticky, counted per weights version, racing writers agree', async () => {
      const a = stores.experiments.assignments;
      expect(await a.putIfAbsent('u1', 'exp', 'control', 1)).toBe('control');
      expect(await a.putIfAbsent('u1', 'exp', 'treatment', 2)).toBe('control');
      const racing = await Promise.all(['control', 'treatment', 'control'].map((v) => a.putIfAbsent('u2', 'exp', v, 2)));
      expect(new Set(racing).size).toBe(1);
      expect(await a.getMany([['u1', 'exp'], ['u2', 'exp'], ['u3', 'exp']])).toEqual(['control', racing[0], null]);
      const all = await a.counts('exp');
      expect(Object.values(all).reduce((x, y) => x + y, 0)).toBe(2);
      expect(await a.counts('exp', 1)).toEqual({ control: 1 });
      expect(Object.values(await a.counts('exp', 2)).reduce((x, y) => x + y, 0)).toBe(1);
    });

    it('unit metrics: deduplicated, capped running aggregates equal the reference for every unit', async () => {
      const expected = await referenceOutcomes;
      const outcomes = await stores.experiments.metrics.record(events);
      expect(outcomes).toEqual(expected);
      // The scenario exercises every outcome: a redelivered event is a duplicate when it was
      // recorded, and again not counted when its slot was taken.
      const count = (o: RecordOutcome, from = 0, to = outcomes.length) => outcomes.slice(from, to).filter((x) => x === o).length;
      expect(count('ALREADY_COUNTED', 0, 600)).toBeGreaterThan(50);
      expect(count('RECORDED')).toBe(600 - count('ALREADY_COUNTED', 0, 600));
      expect(count('DUPLICATE')).toBe(count('RECORDED', 0, 50));
      expect(count('ALREADY_COUNTED', 600)).toBe(count('ALREADY_COUNTED', 0, 50));
      for (const unit of ['home', 'detail', ALL_UNITS]) {
        expect(rounded(await stores.experiments.metrics.aggregates('exp', unit))).toEqual(rounded(await reference.metrics.aggregates('exp', unit)));
      }
      expect(await stores.experiments.metrics.units('exp')).toEqual(['detail', 'home']);
      expect(await stores.experiments.metrics.aggregates('other', 'home')).toEqual({});
      // What stays without a TTL is per experiment and unit (user totals, aggregates, units), never per event.
      if (adapter.keysWithoutTtl) {
        expect(await adapter.keysWithoutTtl()).toEqual(['{x:exp}:agg:*', '{x:exp}:agg:detail', '{x:exp}:agg:home', '{x:exp}:totals:*', '{x:exp}:totals:detail', '{x:exp}:totals:home', '{x:exp}:units']);
      }
    });

    it('unit metrics: one exposure per impression, every other type once per served position, each event id once', async () => {
      const m = stores.experiments.metrics;
      const exp = adapter.now() + 60_000;
      const outcomes = await m.record([
        ev('i1', 'A', 'IMPRESSION', null, exp),
        ev('i2', 'A', 'IMPRESSION', null, exp),
        ev('i3', 'A', 'IMPRESSION', 3, exp),
        ev('c1', 'A', 'CLICK', 1, exp),
        ev('c2', 'A', 'CLICK', 1, exp),
        ev('c3', 'A', 'CLICK', 2, exp),
        ev('k1', 'A', 'CONSUME', 1, exp, 100),
        ev('k2', 'A', 'CONSUME', 1, exp, 100),
        ev('p1', 'A', 'PURCHASE', 1, exp, 5),
        ev('p2', 'A', 'PURCHASE', 1, exp, 1e6),
        ev('c1', 'A', 'CLICK', 3, exp),
        ev('i1', 'B', 'IMPRESSION', null, exp),
        ev('c1', 'B', 'CLICK', 1, exp),
      ]);
      expect(outcomes).toEqual([
        'RECORDED',
        'ALREADY_COUNTED',
        'ALREADY_COUNTED',
        'RECORDED',
        'ALREADY_COUNTED',
        'RECORDED',
        'RECORDED',
        'ALREADY_COUNTED',
        'RECORDED',
        'ALREADY_COUNTED',
        'DUPLICATE', // c1 is known on impression A, whatever it now says
        'RECORDED', // event ids are per impression: B is another row
        'RECORDED',
      ]);
      // Racing writers for one slot: exactly one is counted.
      const racing = await Promise.all(Array.from({ length: 20 }, (_, i) => m.record([ev(`r${i}`, 'A', 'PURCHASE', 2, exp, 7)])));
      expect(racing.flat().filter((o) => o === 'RECORDED')).toHaveLength(1);
      const agg = (await m.aggregates('exp', 'home'))['control']!;
      expect(agg).toMatchObject({ exposedUsers: 1, impressions: 2, clicks: 3 });
      expect(agg.consumption.sum).toBe(100);
      expect(agg.revenue.sum).toBe(12);
    });

    it('unit metrics: event ids and caps are kept for the impression\'s remaining lifetime, then forgotten', async () => {
      const m = stores.experiments.metrics;
      const exp = adapter.now() + 300;
      expect(await m.record([ev('a', 'I', 'IMPRESSION', null, exp), ev('b', 'I', 'CLICK', 2, exp), ev('a', 'J', 'IMPRESSION', null, exp + 60_000)])).toEqual([
        'RECORDED',
        'RECORDED',
        'RECORDED',
      ]);
      expect(await m.record([ev('a', 'I', 'IMPRESSION', null, exp), ev('c', 'I', 'CLICK', 2, exp)])).toEqual(['DUPLICATE', 'ALREADY_COUNTED']);
      const kept = await adapter.kept('I');
      expect(kept).toBeGreaterThan(0);
      expect(kept).toBeLessThanOrEqual(300);
      const keptJ = await adapter.kept('J');
      expect(keptJ).toBeGreaterThan(300);
      expect(keptJ).toBeLessThanOrEqual(60_300);

      await adapter.pass(301, ['I']);
      expect(await adapter.kept('I')).toBeNull();
      expect(await adapter.kept('J')).toBeGreaterThan(0); // J lives on
      expect(await m.record([ev('a', 'J', 'IMPRESSION', null, exp + 60_000)])).toEqual(['DUPLICATE']);
      // Nothing is remembered for I any more: the same ids and slots would be new (the service
      // never sends them, it refuses events on expired impressions first).
      const again = adapter.now() + 300;
      expect(await m.record([ev('a', 'I', 'IMPRESSION', null, again), ev('c', 'I', 'CLICK', 2, again)])).toEqual(['RECORDED', 'RECORDED']);
      // The aggregates are not tied to impressions: everything recorded still counts.
      expect((await m.aggregates('exp', 'home'))['control']).toMatchObject({ exposedUsers: 1, impressions: 3, clicks: 2 });
    });

    it('catalog: upsert replaces by id, loadAll returns everything', async () => {
      const items = Array.from({ length: 1500 }, (_, i) => ({ id: `i${i}`, kind: 'MOVIE' as const, title: `T${i}`, genres: ['Drama'] }));
      await stores.catalog.upsert(items);
      await stores.catalog.upsert([{ id: 'i0', kind: 'MOVIE', title: 'Renamed', genres: [] }]);
      const all = await stores.catalog.loadAll();
      expect(all).toHaveLength(1500);
      expect(all.find((i) => i.id === 'i0')?.title).toBe('Renamed');
    });
  });
}

describe('memory unit metrics store: expired impressions are freed', () => {
  it('holds event ids only for live impressions: its size goes back down after they expire', async () => {
    let t = Date.UTC(2024, 0, 1);
    const stores = createMemoryExperimentStores({ now: () => t });
    const m = stores.metrics;
    const batch = (from: number, count: number, expiresAt: number) =>
      Array.from({ length: count }, (_, i) => ev(`e-${from + i}`, `imp-${Math.floor((from + i) / 10)}`, 'CLICK', 1 + ((from + i) % 10), expiresAt));
    // 15,000 events on 1,500 impressions served over an hour, each living 24 h.
    for (let k = 0; k < 15; k++) {
      const outcomes = await m.record(batch(k * 1000, 1000, t + 24 * 3_600_000));
      expect(outcomes.every((o) => o === 'RECORDED')).toBe(true);
      t += 4 * 60_000;
    }
    expect(m.held()).toEqual({ impressions: 1500, eventIds: 15_000 });
    t += 23 * 3_600_000; // the first ones have expired, the last ones not yet
    await m.record([ev('fresh-1', 'fresh', 'IMPRESSION', null, t + 60_000)]);
    const partly = m.held();
    expect(partly.impressions).toBeGreaterThan(1);
    expect(partly.impressions).toBeLessThan(1500);
    t += 3_600_000;
    await m.record([ev('fresh-2', 'fresh-2', 'IMPRESSION', null, t + 60_000)]);
    expect(m.held()).toEqual({ impressions: 1, eventIds: 1 });
    // The aggregates stay.
    expect((await m.aggregates('exp', 'home'))['control']).toMatchObject({ clicks: 15_000, impressions: 2 });
  });
});

for (const target of redisTargets()) {
  describe(`Redis unit metrics upgraded from a seen-set per experiment: ${target.name}`, () => {
    let client: RedisClient | undefined;
    let prefix = '';
    afterEach(async () => {
      if (!client) return;
      await deleteByPrefix(client, prefix);
      await client.quit();
      client = undefined;
    });

    it('an event id recorded before the upgrade is still a duplicate, and the old set expires with the newest row', async ({ skip }) => {
      if (!(await requireTarget(target, (n) => skip(n)))) return;
      client = target.connect();
      prefix = freshPrefix();
      const keys = new ExperimentKeys(prefix);
      // What the version before kept: every recorded event id of the experiment, forever.
      await client.sadd(keys.legacySeen('exp'), 'old-1');
      const m = createRedisExperimentStores(client, prefix).metrics;
      const lives = Date.now() + 60_000;
      expect(await m.record([ev('old-1', 'R', 'IMPRESSION', null, lives), ev('new-1', 'R', 'IMPRESSION', null, lives)])).toEqual(['DUPLICATE', 'RECORDED']);
      const ttl = await client.pttl(keys.legacySeen('exp'));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
      // A row that lives longer extends it; a shorter one does not shorten it.
      await m.record([ev('new-2', 'S', 'IMPRESSION', null, Date.now() + 120_000), ev('new-3', 'T', 'IMPRESSION', null, Date.now() + 1_000)]);
      expect(await client.pttl(keys.legacySeen('exp'))).toBeGreaterThan(60_000);
    });
  });
}
