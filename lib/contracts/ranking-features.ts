import { envList } from '../env.js';

/**
 * RankingFeatures v1: the compact profile document the profile subgraph publishes as the
 * `RankingFeatures` scalar (User.profile.rankingFeatures, and the batch snapshot) and rankers in
 * other subgraphs read through `@requires`. A change that is not backward compatible is a new `v`.
 */

export interface AffinityView {
  key: string;
  score: number;
  count: number;
  lastSeenAt: number;
}

export interface SeriesFeature {
  seriesId: string;
  title?: string;
  lastEpisode: number;
  watched: number[];
  lastWatchedAt: number;
}

/**
 * The compact document downstream rankers read through `@requires` (live) or from the batch
 * snapshot. Scores stay anchored at `lastSeenAt` so a reader can decay them to its own "now".
 */
export interface RankingFeatures {
  v: 1;
  userId: string;
  version: number;
  asOf: number | null;
  halfLifeMs: number;
  genres: AffinityView[];
  categories: AffinityView[];
  facets: Record<string, AffinityView[]>;
  series: SeriesFeature[];
  /** Items already consumed or purchased (never recommended again). */
  consumed: string[];
  /** Most recent item ids, newest first. */
  recent: string[];
}

/** Item metadata keys that get their own affinities (RankingFeatures.facets) by default. */
export const DEFAULT_PROFILE_FACETS: readonly string[] = ['director', 'brand', 'cast', 'studio'];

/**
 * PROFILE_FACETS, read in this one place: the profile computes affinities for these metadata keys
 * and recommendations indexes its catalog by the same keys to find candidates for them.
 */
export const profileFacets = (env: Record<string, string | undefined>): string[] => envList(env, 'PROFILE_FACETS', DEFAULT_PROFILE_FACETS);
