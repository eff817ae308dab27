/**
 * `Profile.ruleDocument`: the profile in one JSON document for services that evaluate rules over
 * it (the audiences subgraph). The same read models as the typed fields (genreAffinities … skus at
 * a limit of 100, computedTraits), but one leaf for GraphQL to execute and serialize instead of
 * hundreds of typed objects, with times in epoch milliseconds. Service only.
 */
import type { ComputedTraitValueView } from './computed-traits.js';
import type { RankingFeatures } from './ranking-features.js';

export interface ProfileRuleDocument {
  v: 1;
  version: number;
  /** Epoch ms of the latest applied event (event time). */
  lastEventAt: number | null;
  /** Trait values set by identify. */
  traits: Record<string, unknown>;
  /**
   * The ranking feature document at RULE_DOCUMENT_LIMITS: affinity scores anchored at their own
   * `lastSeenAt` (decay them to any later time), highest first as of lastEventAt; `consumed` and
   * `recent` are left empty.
   */
  features: RankingFeatures;
  /** The computed traits asked for, as of the request. */
  computed: ComputedTraitValueView[];
  /** Per-SKU activity, most recent first. */
  skus: { sku: string; purchased: number; addedToCart: number; viewed: number; lastSeenAt: number }[];
}

/** How much of each list a rule document holds (the typed fields' largest limit). */
export const RULE_DOCUMENT_LIMITS = { affinities: 100, facetValues: 100, series: 100, recent: 0, consumed: 0, skus: 100 } as const;
