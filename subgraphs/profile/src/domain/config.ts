/** Reducer configuration: pure data, passed explicitly so services, replay and tests agree. */
import { MAX_COMPUTED_TRAITS } from '../../../../lib/contracts/computed-traits.js';
import type { ComputedTraitDefinition } from '../../../../lib/contracts/computed-traits.js';
import { DEFAULT_PROFILE_FACETS } from '../../../../lib/contracts/ranking-features.js';

export interface ProfileLimits {
  /** Affinity keys kept per dimension (genre, category). */
  affinityKeys: number;
  /** Keys kept per metadata facet. */
  facetKeys: number;
  recentItems: number;
  consumedItems: number;
  skus: number;
  series: number;
  episodesPerSeries: number;
  /** Event ids remembered in the profile so a redelivered event is a no-op. */
  appliedEventIds: number;
  traitKeys: number;
  /**
   * Per computed trait: contributions a windowed one keeps (the newest), values an all-time
   * DISTINCT or MOST_FREQUENT one counts. Values beyond it are approximate (computed-traits.ts).
   */
  computedTraitEntries: number;
  /** Computed-trait states per profile: the defined traits first, then the latest contributed to. */
  computedTraits: number;
}

export interface ReducerConfig {
  halfLifeMs: number;
  /** Metadata keys whose values get their own affinities, for example director or brand. */
  facets: readonly string[];
  limits: ProfileLimits;
  /** Computed traits kept up to date. A new array per set: the reducer caches its matchers per array. */
  computedTraits: readonly ComputedTraitDefinition[];
}

export const DAY_MS = 86_400_000;

export const DEFAULT_LIMITS: ProfileLimits = {
  affinityKeys: 50,
  facetKeys: 30,
  recentItems: 50,
  consumedItems: 500,
  skus: 100,
  series: 50,
  episodesPerSeries: 500,
  // Redelivery only repeats events still in flight, so a short memory suffices (the dedupe
  // store covers producers' retries for DEDUPE_TTL).
  appliedEventIds: 64,
  traitKeys: 100,
  computedTraitEntries: 256,
  computedTraits: MAX_COMPUTED_TRAITS,
};

export const DEFAULT_REDUCER_CONFIG: ReducerConfig = {
  halfLifeMs: 14 * DAY_MS,
  facets: DEFAULT_PROFILE_FACETS,
  limits: DEFAULT_LIMITS,
  computedTraits: [],
};

/**
 * Weight of one event on the affinities of the item's genres, category and facets. Negative
 * feedback lowers them. RATE is mapped from the rating (see ratingWeight).
 */
export const EVENT_WEIGHTS: Record<string, number> = {
  VIEW: 1,
  CLICK: 1,
  PLAY: 2,
  COMPLETE: 3,
  ADD_TO_CART: 3,
  REMOVE_FROM_CART: -1,
  PURCHASE: 5,
  LIKE: 3,
  DISLIKE: -3,
  SKIP: -1,
};

/** A 0.5–5 star rating: 5 → +3, 4 → +1.5, 3 → 0, 1 → -3. */
export function ratingWeight(rating: number): number {
  return (rating - 3) * 1.5;
}
