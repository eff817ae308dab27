import { describe, expect, it } from 'vitest';
import { replay } from '../../replay/evaluate.js';
import type { ReplayOptions, ReplayReport } from '../../replay/evaluate.js';
import { DAY_MS, DEFAULT_REDUCER_CONFIG } from '../../subgraphs/profile/src/domain/config.js';
import type { Rating } from '../../subgraphs/recommendations/src/catalog/movielens.js';
import type { CatalogItem } from '../../subgraphs/recommendations/src/domain/catalog.js';
import { MINUTE_MS, T0, mulberry32, pick, randInt, shuffled } from './fixtures.js';

const CLUSTERS = 30;
const ITEMS_PER_CLUSTER = 10;
const USERS = 60;
const SESSIONS_PER_USER = 5;

/**
 * A catalog of clusters (each its own genre, plus a genre shared by a few clusters) and a log
 * with strong sequential structure: each session (a few hours, never crossing a day boundary)
 * rates one whole cluster, and sessions of one user are days apart and pick different clusters.
 * What a user does right now predicts the next item; yesterday's profile does not. About half
 * the ratings are positive (>= 4), which keeps the run fast: only positives are evaluated.
 */
function syntheticLog(seed: number): { catalog: CatalogItem[]; ratings: Rating[] } {
  const rng = mulberry32(seed);
  const catalog: CatalogItem[] = [];
  const clusters: string[][] = [];
  for (let c = 0; c < CLUSTERS; c++) {
    const ids: string[] = [];
    for (let i = 0; i < ITEMS_PER_CLUSTER; i++) {
      const id = `c${String(c).padStart(2, '0')}-i${i}`;
      ids.push(id);
      catalog.push({ id, kind: 'MOVIE', title: `Cluster ${c} item ${i}`, genres: [`genre-${c}`, `family-${c % 5}`] });
    }
    clusters.push(ids);
  }
  const ratings: Rating[] = [];
  for (let u = 0; u < USERS; u++) {
    const userId = `u${u}`;
    const order = shuffled([...Array(CLUSTERS).keys()], rng).slice(0, SESSIONS_PER_USER);
    let day = randInt(rng, 0, 5);
    for (const c of order) {
      let at = T0 + day * DAY_MS + randInt(rng, 60, 8 * 60) * MINUTE_MS;
      for (const itemId of shuffled(clusters[c]!, rng)) {
        ratings.push({ userId, itemId, rating: pick(rng, [3, 3.5, 4, 5]), at });
        at += randInt(rng, 5, 40) * MINUTE_MS;
      }
      day += randInt(rng, 2, 6);
    }
  }
  ratings.sort((a, b) => a.at - b.at || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
  return { catalog, ratings };
}

const options: ReplayOptions = {
  k: 10,
  batchEveryMs: DAY_MS,
  positiveThreshold: 4,
  reducer: DEFAULT_REDUCER_CONFIG,
  trendingHalfLifeMs: 7 * DAY_MS,
  orderingRefreshMs: 3_600_000,
  models: ['POPULARITY', 'BASELINE', 'REALTIME'],
};

describe('offline replay on a log with sequential structure', () => {
  const { catalog, ratings } = syntheticLog(20240101);
  let report: ReplayReport;

  it('has the expected shape of log', () => {
    expect(catalog).toHaveLength(CLUSTERS * ITEMS_PER_CLUSTER);
    expect(ratings).toHaveLength(USERS * SESSIONS_PER_USER * ITEMS_PER_CLUSTER);
    for (let i = 1; i < ratings.length; i++) expect(ratings[i]!.at).toBeGreaterThanOrEqual(ratings[i - 1]!.at);
  });

  it('reports every model with sane metrics', () => {
    const progress: Array<[number, number]> = [];
    report = replay(catalog, ratings, { ...options, onProgress: (done, total) => progress.push([done, total]) });
    expect(report.k).toBe(10);
    expect(report.ratings).toBe(ratings.length);
    expect(report.catalogSize).toBe(catalog.length);
    expect(report.users).toBe(USERS);
    expect(Object.keys(report.models).sort()).toEqual(['BASELINE', 'POPULARITY', 'REALTIME']);
    const positives = ratings.filter((r) => r.rating >= options.positiveThreshold).length;
    for (const name of options.models) {
      const m = report.models[name]!;
      expect(m.model).toBe(name);
      expect(m.evaluations).toBeGreaterThan(0);
      // Every positive rating of an unseen item is evaluated once per model (each item is rated once per user).
      expect(m.evaluations).toBe(positives);
      expect(m.hits).toBeLessThanOrEqual(m.evaluations);
      expect(m.hitRate).toBeGreaterThanOrEqual(0);
      expect(m.hitRate).toBeLessThanOrEqual(1);
      expect(m.ndcg).toBeGreaterThanOrEqual(0);
      expect(m.ndcg).toBeLessThanOrEqual(1);
      expect(m.ndcg).toBeLessThanOrEqual(m.hitRate);
      expect(m.hitRate).toBeCloseTo(m.hits / m.evaluations, 12);
      expect(m.coverage).toBeGreaterThan(0);
      expect(m.coverage).toBeLessThanOrEqual(1);
      expect(m.usersEvaluated).toBeGreaterThan(0);
      expect(m.usersEvaluated).toBeLessThanOrEqual(USERS);
    }
    expect(progress[0]).toEqual([0, ratings.length]);
    expect(progress[progress.length - 1]).toEqual([ratings.length, ratings.length]);
  });

  it('ranks better on the real-time profile than on the batch profile', () => {
    const { REALTIME: rt, BASELINE: bl, POPULARITY: pop } = report.models;
    expect(rt!.hitRate).toBeGreaterThan(bl!.hitRate);
    expect(rt!.ndcg).toBeGreaterThan(bl!.ndcg);
    // Personalization beats the popularity list on clustered data.
    expect(rt!.hitRate).toBeGreaterThan(pop!.hitRate);
  });

  it('reports the REALTIME / BASELINE ratio', () => {
    const { REALTIME: rt, BASELINE: bl } = report.models;
    expect(report.ratio).not.toBeNull();
    expect(report.ratio!.hitRate).toBeCloseTo(rt!.hitRate / bl!.hitRate, 12);
    expect(report.ratio!.ndcg).toBeCloseTo(rt!.ndcg / bl!.ndcg, 12);
    expect(report.ratio!.hitRate).toBeGreaterThan(1);
  });

  it('is deterministic', () => {
    const again = syntheticLog(20240101);
    expect(again).toEqual({ catalog, ratings });
    expect(replay(again.catalog, again.ratings, options)).toEqual(report);
  });

  it('has no ratio without a BASELINE model, and skips ratings of unknown items', () => {
    const small = ratings.slice(0, 300);
    const r = replay(catalog, [...small, { userId: 'u-x', itemId: 'not-in-catalog', rating: 5, at: T0 + 100 * DAY_MS }], {
      ...options,
      models: ['REALTIME'],
    });
    expect(Object.keys(r.models)).toEqual(['REALTIME']);
    expect(r.ratio).toBeNull();
    expect(r.ratings).toBe(301);
    // The unknown item's user never becomes a profile.
    expect(r.users).toBe(new Set(small.map((x) => x.userId)).size);
  });
});
