/**
 * Ranking: candidate retrieval from the catalog indexes, one scoring function, a diversity
 * re-rank and human-readable reasons. BASELINE and REALTIME share all of it and differ only in
 * the features they read (batch snapshot vs live profile); POPULARITY reads none.
 */
import type { RankingFeatures } from '../../../../lib/contracts/ranking-features.js';
import type { CatalogIndex, CatalogItem } from './catalog.js';
import type { CoOccurrence } from './co-occurrence.js';
import { signalsFrom } from './signals.js';
import type { UserSignals } from './signals.js';

export const MODELS = ['REALTIME', 'BASELINE', 'POPULARITY'] as const;
export type ModelName = (typeof MODELS)[number];

export interface FeatureSources {
  live: RankingFeatures | null;
  batch: RankingFeatures | null;
}

export interface Ranker {
  readonly model: ModelName;
  /** The features this model ranks with. */
  features(sources: FeatureSources): RankingFeatures | null;
}

export const RANKERS: Record<ModelName, Ranker> = {
  REALTIME: { model: 'REALTIME', features: (s) => s.live },
  BASELINE: { model: 'BASELINE', features: (s) => s.batch },
  POPULARITY: { model: 'POPULARITY', features: () => null },
};

export interface RankedItem {
  item: CatalogItem;
  score: number;
  reasons: string[];
}

export interface ScoringWeights {
  /** Co-occurrence with the user's most recent items. */
  similar: number;
  genre: number;
  category: number;
  facet: number;
  nextEpisode: number;
  popularity: number;
  trending: number;
  /** Multiplier per earlier pick that shares the item's primary genre or category. */
  diversity: number;
}

export const DEFAULT_WEIGHTS: ScoringWeights = {
  similar: 1,
  genre: 1,
  category: 0.8,
  facet: 0.4,
  nextEpisode: 3,
  popularity: 0.35,
  trending: 0.25,
  diversity: 0.85,
};

export interface RankRequest {
  features: RankingFeatures | null;
  /** Items never to return: consumed or purchased (from the live profile). */
  exclude: ReadonlySet<string>;
  limit: number;
  now: number;
  weights?: ScoringWeights;
}

const SERIES_TITLE_FALLBACK = 'this series';

/** The next unwatched episode after the last one watched, if the catalog has it. */
function nextEpisode(index: CatalogIndex, seriesId: string, lastEpisode: number, watched: readonly number[]) {
  const seen = new Set(watched);
  for (const n of index.episodeNumbers(seriesId)) {
    if (n > lastEpisode && !seen.has(n)) return index.episode(seriesId, n);
  }
  return undefined;
}

/** What the ranker reads besides the user's features: the catalog and the models learned from events. */
export interface RankingEnv {
  catalog: CatalogIndex;
  coOccurrence: CoOccurrence;
}

/** Series id → the next episode's item id, for the series in progress (most recent first). */
function nextEpisodes(index: CatalogIndex, signals: UserSignals): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of [...signals.series.values()].slice(0, 10)) {
    const next = nextEpisode(index, s.seriesId, s.lastEpisode, s.watched);
    if (next) out.set(s.seriesId, next.id);
  }
  return out;
}

function retrieve(env: RankingEnv, signals: UserSignals, next: Map<string, string>, now: number): Set<string> {
  const index = env.catalog;
  const ids = new Set<string>(next.values());
  const take = (list: readonly string[]) => list.forEach((id) => ids.add(id));
  for (const recent of signals.recent) take(env.coOccurrence.topNeighbors(recent, 30));
  const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k]) => k);
  for (const genre of top(signals.genres, 5)) {
    take(index.popularInGenre(genre, 40, now));
    take(index.trendingInGenre(genre, 10, now));
  }
  for (const category of top(signals.categories, 3)) take(index.popularInCategory(category, 30, now));
  for (const [facet, values] of signals.facets) {
    for (const value of top(values, 3)) take(index.popularForFacet(facet, value, 15, now));
  }
  take(index.popular(60, now));
  take(index.trending(30, now));
  return ids;
}

/** How an item is named in a reason: an episode by its series. */
function displayTitle(item: CatalogItem | undefined): string | undefined {
  const seriesTitle = item?.metadata?.['seriesTitle'];
  return item?.kind === 'EPISODE' && typeof seriesTitle === 'string' ? seriesTitle : item?.title;
}

interface Scored extends RankedItem {
  primaryGroup: string;
}

interface ScoringContext {
  signals: UserSignals;
  index: CatalogIndex;
  now: number;
  w: ScoringWeights;
  /** Item id → position among globally trending items. */
  trendingPosition: Map<string, number>;
  nextEpisodes: Map<string, string>;
  /** Item id → similarity to the user's recent items (0..1) and the recent item that contributed most. */
  similar: Map<string, { value: number; because: string }>;
}

/** Similarity of each candidate to the recent items (newer items count more), scaled to 0..1. */
function similarities(env: RankingEnv, recent: readonly string[], candidates: ReadonlySet<string>) {
  const raw = new Map<string, { value: number; best: number; because: string }>();
  recent.forEach((r, i) => {
    // Walk each recent item's neighbours (bounded) instead of every candidate × recent pair.
    for (const id of env.coOccurrence.topNeighbors(r, Infinity)) {
      if (!candidates.has(id)) continue;
      const s = env.coOccurrence.similarity(r, id) / (1 + 0.2 * i);
      const entry = raw.get(id);
      if (!entry) raw.set(id, { value: s, best: s, because: r });
      else {
        entry.value += s;
        if (s > entry.best) {
          entry.best = s;
          entry.because = r;
        }
      }
    }
  });
  let max = 0;
  for (const v of raw.values()) if (v.value > max) max = v.value;
  for (const v of raw.values()) v.value /= max;
  return raw;
}

function scoreItem(item: CatalogItem, ctx: ScoringContext): Scored | null {
  const { signals, index, now, w } = ctx;
  const reasons: Array<[weight: number, text: string]> = [];
  let score = 0;

  const series = item.seriesId ? signals.series.get(item.seriesId) : undefined;
  if (item.kind === 'EPISODE') {
    // Episodes enter a row only as the next episode of a series the user is watching.
    if (!series || ctx.nextEpisodes.get(series.seriesId) !== item.id) return null;
    score += w.nextEpisode;
    const count = series.watched.length;
    reasons.push([
      w.nextEpisode,
      `Because you watched ${count} episode${count === 1 ? '' : 's'} of ${series.title ?? SERIES_TITLE_FALLBACK}`,
    ]);
  } else if (item.kind === 'SERIES' && signals.series.has(item.id)) {
    return null; // already watching: the next episode stands for it
  }

  const similar = ctx.similar.get(item.id);
  if (similar) {
    score += w.similar * similar.value;
    const because = index.get(similar.because);
    const title = displayTitle(because);
    // The next episode already says which series it continues.
    const sameSeries = item.seriesId !== undefined && because?.seriesId === item.seriesId;
    if (title && !sameSeries && similar.value >= 0.3) reasons.push([w.similar * similar.value, `Because you watched ${title}`]);
  }

  if (item.genres.length > 0) {
    let sum = 0;
    let best: [string, number] | undefined;
    for (const g of item.genres) {
      const a = signals.genres.get(g) ?? 0;
      sum += a;
      if (a > 0 && (!best || a > best[1])) best = [g, a];
    }
    const genreScore = (w.genre * sum) / Math.sqrt(item.genres.length);
    score += genreScore;
    if (best && best[1] >= 0.25) reasons.push([genreScore, `Because you like ${best[0]}`]);
  }
  if (item.category) {
    const a = signals.categories.get(item.category) ?? 0;
    score += w.category * a;
    if (a >= 0.25) reasons.push([w.category * a, `Because you browsed ${item.category}`]);
  }
  let facetBest: [string, number] | undefined;
  const metadata = item.metadata;
  if (metadata) {
    for (const [facet, values] of signals.facets) {
      const raw = metadata[facet];
      if (raw === undefined) continue;
      for (const v of Array.isArray(raw) ? raw : [String(raw)]) {
        const a = values.get(v) ?? 0;
        if (a > 0 && (!facetBest || a > facetBest[1])) facetBest = [v, a];
      }
    }
  }
  if (facetBest) {
    score += w.facet * facetBest[1];
    if (facetBest[1] >= 0.5) reasons.push([w.facet * facetBest[1], `More from ${facetBest[0]}`]);
  }

  const popularity = index.stats.popularityPrior(item.id);
  score += w.popularity * popularity;
  const primaryGenre = item.genres[0];
  const trendRank = primaryGenre ? index.trendingRankInGenre(primaryGenre, item.id, now) : -1;
  const globalRank = ctx.trendingPosition.get(item.id) ?? -1;
  const trending = globalRank >= 0 ? 1 - globalRank / ctx.trendingPosition.size : trendRank >= 0 ? 0.3 : 0;
  score += w.trending * trending;
  if (trendRank >= 0 && trendRank < 3) reasons.push([w.trending, `Trending in ${primaryGenre}`]);
  else if (globalRank >= 0 && globalRank < 10) reasons.push([w.trending, 'Trending now']);
  if (reasons.length === 0) reasons.push([0, popularity > 0 ? 'Popular on the platform' : 'New in the catalog']);

  return {
    item,
    score,
    reasons: reasons.sort((a, b) => b[0] - a[0]).map(([, text]) => text).slice(0, 3),
    primaryGroup: item.seriesId ?? primaryGenre ?? item.category ?? item.kind,
  };
}

/** Greedy re-rank: each earlier pick of the same primary group discounts an item's score. */
function diversify(scored: Scored[], limit: number, factor: number): RankedItem[] {
  const picked: RankedItem[] = [];
  const groupCounts = new Map<string, number>();
  const pool = scored.sort((a, b) => b.score - a.score).slice(0, Math.max(limit * 5, 50));
  while (picked.length < limit && pool.length > 0) {
    let bestIndex = 0;
    let bestScore = -Infinity;
    for (let i = 0; i < pool.length; i++) {
      const c = pool[i]!;
      const adjusted = c.score * Math.pow(factor, groupCounts.get(c.primaryGroup) ?? 0);
      if (adjusted > bestScore) {
        bestScore = adjusted;
        bestIndex = i;
      }
    }
    const [best] = pool.splice(bestIndex, 1);
    groupCounts.set(best!.primaryGroup, (groupCounts.get(best!.primaryGroup) ?? 0) + 1);
    picked.push({ item: best!.item, score: bestScore, reasons: best!.reasons });
  }
  return picked;
}

export function rank(env: RankingEnv, req: RankRequest): RankedItem[] {
  const index = env.catalog;
  const weights = req.weights ?? DEFAULT_WEIGHTS;
  const signals = signalsFrom(req.features, req.now);
  const next = nextEpisodes(index, signals);
  const candidates = retrieve(env, signals, next, req.now);
  for (const id of req.exclude) candidates.delete(id);
  const ctx: ScoringContext = {
    signals,
    index,
    now: req.now,
    w: weights,
    trendingPosition: new Map(index.trending(50, req.now).map((id, i) => [id, i])),
    nextEpisodes: next,
    similar: similarities(env, signals.recent, candidates),
  };
  const scored: Scored[] = [];
  for (const id of candidates) {
    const item = index.get(id);
    if (!item) continue;
    const s = scoreItem(item, ctx);
    if (s) scored.push(s);
  }
  return diversify(scored, req.limit, weights.diversity);
}
