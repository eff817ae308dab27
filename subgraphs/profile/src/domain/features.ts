/** Read models over a profile: ranked affinities for the API and the ranking feature document. */
import type { ReducerConfig } from './config.js';
import { scoreAt } from '../../../../lib/contracts/decay.js';
import type { AffinityMap, Profile } from './profile.js';
import type { AffinityView, RankingFeatures, SeriesFeature } from '../../../../lib/contracts/ranking-features.js';

/** Affinities decayed to `at`, highest score first. */
export function rankAffinities(map: AffinityMap, at: number, halfLifeMs: number, limit: number): AffinityView[] {
  return Object.entries(map)
    .map(([key, a]) => ({ key, score: scoreAt(a, at, halfLifeMs), count: a.count, lastSeenAt: a.lastSeenAt }))
    .sort((a, b) => b.score - a.score || (a.key < b.key ? -1 : 1))
    .slice(0, Math.max(0, limit));
}

export const FEATURE_LIMITS = { affinities: 20, facetValues: 10, series: 20, recent: 20 } as const;

function anchored(map: AffinityMap, limit: number, ref: number, halfLifeMs: number): AffinityView[] {
  return rankAffinities(map, ref, halfLifeMs, limit).map((a) => ({ ...a, score: map[a.key]!.score }));
}

export function toRankingFeatures(p: Profile, config: ReducerConfig): RankingFeatures {
  const ref = p.lastEventAt ?? 0;
  const h = config.halfLifeMs;
  const facets: Record<string, AffinityView[]> = {};
  for (const [facet, map] of Object.entries(p.facets)) facets[facet] = anchored(map, FEATURE_LIMITS.facetValues, ref, h);
  return {
    v: 1,
    userId: p.userId,
    version: p.version,
    asOf: p.lastEventAt,
    halfLifeMs: h,
    genres: anchored(p.genres, FEATURE_LIMITS.affinities, ref, h),
    categories: anchored(p.categories, FEATURE_LIMITS.affinities, ref, h),
    facets,
    series: Object.entries(p.series)
      .sort(([, a], [, b]) => b.lastWatchedAt - a.lastWatchedAt)
      .slice(0, FEATURE_LIMITS.series)
      .map(([seriesId, s]) => ({
        seriesId,
        ...(s.title !== undefined ? { title: s.title } : {}),
        lastEpisode: s.episodes[s.episodes.length - 1] ?? 0,
        watched: s.episodes,
        lastWatchedAt: s.lastWatchedAt,
      })),
    consumed: Object.entries(p.consumed)
      .sort(([a, ta], [b, tb]) => tb - ta || (a < b ? -1 : 1))
      .map(([id]) => id),
    recent: Object.values(p.recentItems)
      .sort((a, b) => b.lastEventAt - a.lastEventAt)
      .slice(0, FEATURE_LIMITS.recent)
      .map((r) => r.item.id),
  };
}
