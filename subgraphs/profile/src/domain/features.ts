/** Read models over a profile: ranked affinities for the API and the ranking feature document. */
import type { ReducerConfig } from './config.js';
import { scoreAt } from '../../../../lib/contracts/decay.js';
import type { AffinityMap, Profile } from './profile.js';
import type { AffinityView, RankingFeatures, SeriesFeature } from '../../../../lib/contracts/ranking-features.js';
import type { ComputedTraitValueView } from '../../../../lib/contracts/computed-traits.js';
import { RULE_DOCUMENT_LIMITS } from '../../../../lib/contracts/profile-document.js';
import type { ProfileRuleDocument } from '../../../../lib/contracts/profile-document.js';

/** Affinities decayed to `at`, highest score first. */
export function rankAffinities(map: AffinityMap, at: number, halfLifeMs: number, limit: number): AffinityView[] {
  return Object.entries(map)
    .map(([key, a]) => ({ key, score: scoreAt(a, at, halfLifeMs), count: a.count, lastSeenAt: a.lastSeenAt }))
    .sort((a, b) => b.score - a.score || (a.key < b.key ? -1 : 1))
    .slice(0, Math.max(0, limit));
}

/** How much of each list the ranking feature document holds (consumed: all of them). */
export const FEATURE_LIMITS: FeatureLimits = { affinities: 20, facetValues: 10, series: 20, recent: 20, consumed: Infinity };

export interface FeatureLimits {
  affinities: number;
  facetValues: number;
  series: number;
  recent: number;
  consumed: number;
}

function anchored(map: AffinityMap, limit: number, ref: number, halfLifeMs: number): AffinityView[] {
  return rankAffinities(map, ref, halfLifeMs, limit).map((a) => ({ ...a, score: map[a.key]!.score }));
}

export function toRankingFeatures(p: Profile, config: ReducerConfig, limits: FeatureLimits = FEATURE_LIMITS): RankingFeatures {
  const ref = p.lastEventAt ?? 0;
  const h = config.halfLifeMs;
  // No prototype: a facet may be called anything, `__proto__` included.
  const facets: Record<string, AffinityView[]> = Object.create(null);
  for (const [facet, map] of Object.entries(p.facets)) facets[facet] = anchored(map, limits.facetValues, ref, h);
  return {
    v: 1,
    userId: p.userId,
    version: p.version,
    asOf: p.lastEventAt,
    halfLifeMs: h,
    genres: anchored(p.genres, limits.affinities, ref, h),
    categories: anchored(p.categories, limits.affinities, ref, h),
    facets,
    series: Object.entries(p.series)
      .sort(([, a], [, b]) => b.lastWatchedAt - a.lastWatchedAt)
      .slice(0, limits.series)
      .map(([seriesId, s]) => ({
        seriesId,
        ...(s.title !== undefined ? { title: s.title } : {}),
        lastEpisode: s.episodes[s.episodes.length - 1] ?? 0,
        watched: s.episodes,
        lastWatchedAt: s.lastWatchedAt,
      })),
    consumed:
      limits.consumed <= 0
        ? []
        : Object.entries(p.consumed)
            .sort(([a, ta], [b, tb]) => tb - ta || (a < b ? -1 : 1))
            .slice(0, limits.consumed)
            .map(([id]) => id),
    recent:
      limits.recent <= 0
        ? []
        : Object.values(p.recentItems)
            .sort((a, b) => b.lastEventAt - a.lastEventAt)
            .slice(0, limits.recent)
            .map((r) => r.item.id),
  };
}

/** The profile as one document for rule evaluation (Profile.ruleDocument). */
export function toRuleDocument(p: Profile, config: ReducerConfig, computed: ComputedTraitValueView[]): ProfileRuleDocument {
  return {
    v: 1,
    version: p.version,
    lastEventAt: p.lastEventAt,
    traits: Object.fromEntries(Object.entries(p.traits).map(([k, t]) => [k, t.value])),
    features: toRankingFeatures(p, config, RULE_DOCUMENT_LIMITS),
    computed,
    skus: Object.entries(p.skus)
      .sort(([, a], [, b]) => b.lastSeenAt - a.lastSeenAt)
      .slice(0, RULE_DOCUMENT_LIMITS.skus)
      .map(([sku, s]) => ({ sku, purchased: s.purchased, addedToCart: s.addedToCart, viewed: s.viewed, lastSeenAt: s.lastSeenAt })),
  };
}
