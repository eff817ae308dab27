/** One contract for the experiments and catalog stores: memory, Redis and Redis Cluster. */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rng } from '../../bench/lib/synthetic.js';
import { newExperiment } from '../../subgraphs/experiments/src/domain/experiment.js';
import { ALL_UNITS } from '../../subgraphs/experiments/src/domain/metrics.js';
import type { RecordedUnitEvent, UnitEventType, VariantAggregate } from '../../subgraphs/experiments/src/domain/metrics.js';
import { createMemoryExperimentStores } from '../../subgraphs/experiments/src/store/memory.js';
import type { ExperimentStores } from '../../subgraphs/experiments/src/store/ports.js';
import { createRedisExperimentStores } from '../../subgraphs/experiments/src/store/redis.js';
import { MemoryCatalogStore } from '../../subgraphs/recommendations/src/store/memory.js';
import type { CatalogStore } from '../../subgraphs/recommendations/src/store/ports.js';
import { RedisCatalogStore } from '../../subgraphs/recommendations/src/store/redis.js';
import type { RedisClient } from '../../lib/redis/connection.js';
import { deleteByPrefix, freshPrefix, redisTargets, requireTarget } from '../helpers/redis.js';

/** A reproducible mixed stream of unit events over two units and two variants, with duplicates. */
function unitEvents(seed: number): RecordedUnitEvent[] {
  const r = rng(seed);
  const types: UnitEventType[] = ['IMPRESSION', 'IMPRESSION', 'CLICK', 'CONSUME', 'PURCHASE'];
  const out: RecordedUnitEvent[] = [];
  for (let i = 0; i < 600; i++) {
    const user = Math.floor(r() * 60);
    const type = types[Math.floor(r() * types.length)]!;
    out.push({
      eventId: `ue-${i}`,
      experimentKey: 'exp',
      variant: user % 2 === 0 ? 'control' : 'treatment',
      unitId: r() < 0.6 ? 'home' : 'detail',
      userId: `user-${user}`,
      type,
      value: type === 'CONSUME' ? Math.round(r() * 3000) : type === 'PURCHASE' ? Math.round(r() * 100) / 4 : 0,
      completed: type === 'CONSUME' && r() < 0.3,
      occurredAt: 0,
    });
  }
  return [...out, ...out.slice(0, 50)]; // redelivered duplicates
}

function rounded(aggs: Record<string, VariantAggregate>) {
  return JSON.parse(JSON.stringify(aggs, (_k, v) => (typeof v === 'number' ? Number(v.toPrecision(10)) : v)));
}

interface Adapter {
  name: string;
  setup?: (skip: (note: string) => void) => Promise<boolean>;
  make(): { experiments: ExperimentStores; catalog: CatalogStore };
  cleanup(): Promise<void>;
}

const memory: Adapter = {
  name: 'memory',
  make: () => ({ experiments: createMemoryExperimentStores(), catalog: new MemoryCatalogStore() }),
  cleanup: async () => {},
};

function redisAdapter(target: ReturnType<typeof redisTargets>[number]): Adapter {
  let prefix = '';
  let client: RedisClient | undefined;
  return {
    name: target.name,
    setup: (skip) => requireTarget(target, skip),
    make: () => {
      prefix = freshPrefix();
      client = target.connect();
      return { experiments: createRedisExperimentStores(client, prefix), catalog: new RedisCatalogStore(client, prefix) };
    },
    cleanup: async () => {
      if (!client) return;
      await deleteByPrefix(client, prefix);
      await client.quit();
      client = undefined;
    },
  };
}

// The memory adapter's aggregates are the reference the Redis script must reproduce.
const reference = createMemoryExperimentStores();
const events = unitEvents(7);
const referenceReady = reference.metrics.record(events);

for (const adapter of [memory, ...redisTargets().map(redisAdapter)]) {
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

    it('unit metrics: deduplicated running aggregates equal the reference for every unit', async () => {
      await referenceReady;
      const recorded = await stores.experiments.metrics.record(events);
      expect(recorded.filter(Boolean)).toHaveLength(600);
      for (const unit of ['home', 'detail', ALL_UNITS]) {
        expect(rounded(await stores.experiments.metrics.aggregates('exp', unit))).toEqual(rounded(await reference.metrics.aggregates('exp', unit)));
      }
      expect(await stores.experiments.metrics.units('exp')).toEqual(['detail', 'home']);
      expect(await stores.experiments.metrics.aggregates('other', 'home')).toEqual({});
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
