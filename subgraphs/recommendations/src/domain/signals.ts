/**
 * User signals for scoring, derived from a RankingFeatures document (live or batch snapshot)
 * decayed to the ranking time. Features arrive through the graph, so they are parsed defensively.
 */
import type { AffinityView, RankingFeatures, SeriesFeature } from '../../../../lib/contracts/ranking-features.js';
import { decayFactor } from '../../../../lib/contracts/decay.js';

export interface UserSignals {
  /** Positive decayed affinity scaled so the strongest key is 1. */
  genres: Map<string, number>;
  categories: Map<string, number>;
  facets: Map<string, Map<string, number>>;
  series: Map<string, SeriesFeature>;
  /** Most recent item ids, newest first. */
  recent: readonly string[];
  hasHistory: boolean;
}

/** How many of the most recent items seed "because you watched" candidates. */
export const RECENT_ITEMS_USED = 10;

export const NO_SIGNALS: UserSignals = {
  genres: new Map(),
  categories: new Map(),
  facets: new Map(),
  series: new Map(),
  recent: [],
  hasHistory: false,
};

function normalized(list: readonly AffinityView[], now: number, halfLifeMs: number): Map<string, number> {
  const decayed = list.map((a) => [a.key, a.score * decayFactor(now - a.lastSeenAt, halfLifeMs)] as const);
  const max = Math.max(0, ...decayed.map(([, s]) => s));
  const out = new Map<string, number>();
  if (max <= 0) return out;
  for (const [key, s] of decayed) if (s > 0) out.set(key, s / max);
  return out;
}

export function signalsFrom(features: RankingFeatures | null, now: number): UserSignals {
  if (!features || features.version === 0) return NO_SIGNALS;
  const h = features.halfLifeMs;
  const facets = new Map<string, Map<string, number>>();
  for (const [facet, list] of Object.entries(features.facets)) facets.set(facet, normalized(list, now, h));
  return {
    genres: normalized(features.genres, now, h),
    categories: normalized(features.categories, now, h),
    facets,
    series: new Map(features.series.map((s) => [s.seriesId, s])),
    recent: features.recent.slice(0, RECENT_ITEMS_USED),
    hasHistory: true,
  };
}

const isAffinityList = (v: unknown): v is AffinityView[] =>
  Array.isArray(v) &&
  v.every(
    (a) =>
      typeof a === 'object' &&
      a !== null &&
      typeof a.key === 'string' &&
      typeof a.score === 'number' &&
      typeof a.lastSeenAt === 'number',
  );

/** A RankingFeatures document, or null when the value is absent or not one. */
export function parseFeatures(value: unknown): RankingFeatures | null {
  if (typeof value !== 'object' || value === null) return null;
  const f = value as Partial<RankingFeatures>;
  if (f.v !== 1 || typeof f.version !== 'number' || typeof f.halfLifeMs !== 'number' || !(f.halfLifeMs > 0)) return null;
  if (!isAffinityList(f.genres) || !isAffinityList(f.categories)) return null;
  if (typeof f.facets !== 'object' || f.facets === null || !Object.values(f.facets).every(isAffinityList)) return null;
  const isStringList = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (!isStringList(f.consumed) || !isStringList(f.recent)) return null;
  const isSeries = (s: unknown) => {
    const x = s as Partial<SeriesFeature> | null;
    return (
      typeof x === 'object' &&
      x !== null &&
      typeof x.seriesId === 'string' &&
      typeof x.lastEpisode === 'number' &&
      typeof x.lastWatchedAt === 'number' &&
      Array.isArray(x.watched) &&
      x.watched.every((n) => typeof n === 'number')
    );
  };
  if (!Array.isArray(f.series) || !f.series.every(isSeries)) return null;
  return f as RankingFeatures;
}
