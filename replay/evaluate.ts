/**
 * Offline replay: does ranking on the real-time profile beat ranking on the batch profile?
 * Ratings are replayed in time order through the services' reducer and rankers. Before each
 * positive interaction is applied, every model ranks the catalog for that user (excluding items
 * already seen) and we record whether, and where, the item appears in the top K.
 */
import type { ReducerConfig } from '../subgraphs/profile/src/domain/config.js';
import type { ProfileEvent } from '../lib/contracts/event.js';
import { toRankingFeatures } from '../subgraphs/profile/src/domain/features.js';
import type { RankingFeatures } from '../lib/contracts/ranking-features.js';
import type { Profile } from '../subgraphs/profile/src/domain/profile.js';
import { applyEvent } from '../subgraphs/profile/src/domain/reducer.js';
import type { Rating } from '../subgraphs/recommendations/src/catalog/movielens.js';
import { CatalogIndex } from '../subgraphs/recommendations/src/domain/catalog.js';
import type { CatalogItem } from '../subgraphs/recommendations/src/domain/catalog.js';
import { ItemStats, interactionWeight } from '../subgraphs/recommendations/src/domain/item-stats.js';
import { RANKERS, rank } from '../subgraphs/recommendations/src/domain/ranker.js';
import type { ModelName, RankingEnv, ScoringWeights } from '../subgraphs/recommendations/src/domain/ranker.js';
import { CoOccurrence } from '../subgraphs/recommendations/src/domain/co-occurrence.js';

export interface ReplayOptions {
  k: number;
  /** Batch snapshot cadence in event time (the legacy nightly job). */
  batchEveryMs: number;
  /** Ratings at or above this are positive interactions (evaluated). */
  positiveThreshold: number;
  reducer: ReducerConfig;
  trendingHalfLifeMs: number;
  /** How often (event time) popularity/trending orderings are rebuilt. */
  orderingRefreshMs: number;
  models: readonly ModelName[];
  weights?: ScoringWeights;
  onProgress?: (done: number, total: number) => void;
}

export interface ModelMetrics {
  model: ModelName;
  evaluations: number;
  hits: number;
  hitRate: number;
  ndcg: number;
  coverage: number;
  usersEvaluated: number;
}

export interface ReplayReport {
  k: number;
  ratings: number;
  catalogSize: number;
  users: number;
  models: Record<string, ModelMetrics>;
  /** REALTIME / BASELINE for HR@K and NDCG@K. */
  ratio: { hitRate: number; ndcg: number } | null;
}

interface UserState {
  profile: Profile | null;
  live: RankingFeatures | null;
  batch: RankingFeatures | null;
  period: number;
  seen: Set<string>;
}

interface Accumulator {
  evaluations: number;
  hits: number;
  dcg: number;
  recommended: Set<string>;
  users: Set<string>;
}

export function replay(catalog: readonly CatalogItem[], ratings: readonly Rating[], opts: ReplayOptions): ReplayReport {
  const stats = new ItemStats(opts.trendingHalfLifeMs);
  const index = new CatalogIndex(opts.reducer.facets, stats, opts.orderingRefreshMs);
  index.upsert(catalog);
  const env: RankingEnv = { catalog: index, coOccurrence: new CoOccurrence() };
  const users = new Map<string, UserState>();
  const acc = new Map<ModelName, Accumulator>(
    opts.models.map((m) => [m, { evaluations: 0, hits: 0, dcg: 0, recommended: new Set(), users: new Set() }]),
  );

  ratings.forEach((r, n) => {
    if (n % 2000 === 0) opts.onProgress?.(n, ratings.length);
    const item = index.get(r.itemId);
    if (!item) return;
    let u = users.get(r.userId);
    if (!u) users.set(r.userId, (u = { profile: null, live: null, batch: null, period: -1, seen: new Set() }));
    const period = Math.floor(r.at / opts.batchEveryMs);
    if (period !== u.period) {
      // The user has no events since the last cutoff, so the current profile is the batch profile.
      u.batch = u.live;
      u.period = period;
    }
    if (r.rating >= opts.positiveThreshold && !u.seen.has(item.id)) {
      for (const model of opts.models) {
        const features = RANKERS[model].features({ live: u.live, batch: u.batch });
        const ranked = rank(env, { features, exclude: u.seen, limit: opts.k, now: r.at, ...(opts.weights ? { weights: opts.weights } : {}) });
        const a = acc.get(model)!;
        a.evaluations++;
        a.users.add(r.userId);
        for (const x of ranked) a.recommended.add(x.item.id);
        const position = ranked.findIndex((x) => x.item.id === item.id);
        if (position >= 0) {
          a.hits++;
          a.dcg += 1 / Math.log2(position + 2);
        }
      }
    }
    const event: ProfileEvent = {
      eventId: `ml-${n}`,
      userId: r.userId,
      type: 'RATE',
      occurredAt: r.at,
      item,
      properties: { rating: r.rating },
    };
    u.profile = applyEvent(u.profile, event, opts.reducer);
    u.live = toRankingFeatures(u.profile, opts.reducer);
    u.seen.add(item.id);
    const weight = interactionWeight(event);
    stats.record(item.id, weight, r.at);
    if (weight > 0) env.coOccurrence.observe(r.userId, item.id);
  });
  opts.onProgress?.(ratings.length, ratings.length);

  const models: Record<string, ModelMetrics> = {};
  for (const [model, a] of acc) {
    models[model] = {
      model,
      evaluations: a.evaluations,
      hits: a.hits,
      hitRate: a.evaluations ? a.hits / a.evaluations : 0,
      ndcg: a.evaluations ? a.dcg / a.evaluations : 0,
      coverage: index.size ? a.recommended.size / index.size : 0,
      usersEvaluated: a.users.size,
    };
  }
  const rt = models['REALTIME'];
  const bl = models['BASELINE'];
  return {
    k: opts.k,
    ratings: ratings.length,
    catalogSize: index.size,
    users: users.size,
    models,
    ratio:
      rt && bl && bl.hitRate > 0 && bl.ndcg > 0 ? { hitRate: rt.hitRate / bl.hitRate, ndcg: rt.ndcg / bl.ndcg } : null,
  };
}
