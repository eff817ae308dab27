/** The User view's operations: one fragment read by the query and refreshed by the subscription. */
import { gql } from '@apollo/client';

export const ROW_LENGTH = 8;

const USER_FIELDS = gql`
  fragment ConsoleRow on RecommendationRow {
    unitId model experimentKey variant profileVersion generatedAt
    items { position score reasons item { id kind title genres category sku seriesId episode metadata } }
  }
  fragment ConsoleUser on User {
    id
    profile {
      version eventCount lastEventAt traits
      genreAffinities(limit: 8) { key score count }
      categoryAffinities(limit: 8) { key score count }
      facetAffinities(limit: 5) { facet affinities { key score count } }
      series(limit: 6) { seriesId title lastEpisode episodesWatched watchedCount }
      skus(limit: 10) { sku viewed addedToCart purchased }
      computedTraits { name value }
      batchSnapshot { takenAt version }
    }
    audiences { since audience { id name } }
    assignments { experimentKey variant inExperiment reason }
    recommendedFor(unitId: "home", limit: ${ROW_LENGTH}) { ...ConsoleRow }
    baseline: recommendedFor(unitId: "home", limit: ${ROW_LENGTH}, model: BASELINE) { ...ConsoleRow }
  }
`;

export const USER_QUERY = gql`
  query ConsoleUser($id: ID!) { user(id: $id) { ...ConsoleUser } }
  ${USER_FIELDS}
`;

export const USER_LIVE = gql`
  subscription ConsoleUserLive($id: ID!, $since: Int) {
    profileUpdated(userId: $id, sinceVersion: $since) { version cause user { ...ConsoleUser } }
  }
  ${USER_FIELDS}
`;

export const USERS_QUERY = gql`
  query ConsoleUsers { users(first: 100) { totalCount nodes { id profile { eventCount lastEventAt } } } }
`;

export const INGEST = gql`
  mutation ConsoleIngest($events: [EventInput!]!) { ingestEvents(events: $events) { accepted duplicates rejected { code message } } }
`;

export const CATALOG_QUERY = gql`
  query ConsoleCatalog($filter: ItemFilter) {
    items(first: 50, filter: $filter) { totalCount edges { node { id kind title genres category sku seriesId episode metadata } } }
  }
`;

export interface CatalogItem {
  id: string;
  kind: string;
  title: string | null;
  genres: string[];
  category: string | null;
  sku: string | null;
  seriesId: string | null;
  episode: number | null;
  metadata: Record<string, unknown> | null;
}

export interface Row {
  unitId: string;
  model: 'REALTIME' | 'BASELINE';
  experimentKey: string | null;
  variant: string | null;
  profileVersion: number;
  generatedAt: string;
  items: Array<{ position: number; score: number; reasons: string[]; item: CatalogItem }>;
}

export interface Affinity {
  key: string;
  score: number;
  count: number;
}

export interface ConsoleUser {
  id: string;
  profile: {
    version: number;
    eventCount: number;
    lastEventAt: string | null;
    traits: Record<string, unknown>;
    genreAffinities: Affinity[];
    categoryAffinities: Affinity[];
    facetAffinities: Array<{ facet: string; affinities: Affinity[] }>;
    series: Array<{ seriesId: string; title: string | null; lastEpisode: number; episodesWatched: number[]; watchedCount: number }>;
    skus: Array<{ sku: string; viewed: number; addedToCart: number; purchased: number }>;
    computedTraits: Array<{ name: string; value: unknown }>;
    batchSnapshot: { takenAt: string; version: number } | null;
  };
  audiences: Array<{ since: string; audience: { id: string; name: string } }>;
  assignments: Array<{ experimentKey: string; variant: string; inExperiment: boolean; reason: string }>;
  recommendedFor: Row | null;
  baseline: Row | null;
}

export interface UsersPage {
  users: { totalCount: number | null; nodes: Array<{ id: string; profile: { eventCount: number; lastEventAt: string | null } }> };
}
