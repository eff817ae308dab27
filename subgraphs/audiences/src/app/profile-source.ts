/**
 * The profile, read through the graph: entity fetches (`_entities`) and the service-only user
 * listing of the profile subgraph, with this service's own identity (a service token signed as
 * the gateway signs callers'). The audiences subgraph keeps no copy of a profile: it reads what
 * a rule needs when it evaluates, and the computed traits its rules need are defined on the
 * profile (defineComputedTrait).
 */
import type { Dispatcher, Pool } from 'undici';
import type { AuthConfig, Identity } from '../../../../lib/auth.js';
import { IDENTITY_HEADER, InternalTokens } from '../../../../lib/auth.js';
import { endpointPool } from '../../../../lib/http/pool.js';
import type { ComputedTraitDefinition, ComputedTraitValueView } from '../../../../lib/contracts/computed-traits.js';
import { formatWindow } from '../../../../lib/contracts/computed-traits.js';
import { CodedError, StoreUnavailableError } from '../../../../lib/contracts/errors.js';
import type { ProfileRuleDocument } from '../../../../lib/contracts/profile-document.js';
import type { ProfileView } from '../domain/rules.js';

/**
 * What the rules read: the profile's rule document (lib/contracts/profile-document.ts), one JSON
 * leaf instead of a selection of typed fields, so neither side executes or parses hundreds of
 * typed objects per profile.
 */
const ENTITIES = `query AudienceProfiles($representations: [_Any!]!, $traits: [String!]) {
  _entities(representations: $representations) { ... on User { id profile { ruleDocument(traits: $traits) } } }
}`;

const USERS = `query AudienceBackfill($first: Int!, $after: String, $traits: [String!]) {
  users(first: $first, after: $after) { nodes { id profile { ruleDocument(traits: $traits) } } pageInfo { hasNextPage endCursor } totalCount }
}`;

const DEFINE = `mutation AudienceTrait($input: ComputedTraitInput!) { defineComputedTrait(input: $input) { name } }`;
const DEFINED = `query AudienceTraits { computedTraitDefinitions { name } }`;

interface ProfileJson {
  ruleDocument: ProfileRuleDocument;
}

const SELF: Identity = Object.freeze({ sub: 'audiences-subgraph', roles: Object.freeze(['service'] as const) as Identity['roles'] });

export interface ProfileSourceOptions {
  /** The profile subgraph's GraphQL URL. */
  url: string;
  auth: AuthConfig;
  timeoutMs?: number;
}

/** Requests go over a keep-alive pool (lib/http/pool.ts), as the gateway's subgraph fetches do. */
export class ProfileSource {
  private readonly tokens: InternalTokens;
  private readonly pool: Pool;
  private readonly path: string;

  constructor(private readonly options: ProfileSourceOptions) {
    this.tokens = new InternalTokens(options.auth);
    ({ pool: this.pool, path: this.path } = endpointPool(options.url, { connections: 16, timeoutMs: options.timeoutMs ?? 10_000 }));
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  /** The profiles of the users (null for none stored: version 0), with the named computed traits. */
  async profiles(userIds: readonly string[], traits: readonly string[], now = Date.now()): Promise<ProfileView[]> {
    if (userIds.length === 0) return [];
    const data = await this.request<{ _entities: ({ id: string; profile: ProfileJson } | null)[] }>(ENTITIES, {
      representations: userIds.map((id) => ({ __typename: 'User', id })),
      traits,
    });
    return data._entities.map((e, i) => viewOf(e?.id ?? userIds[i]!, e?.profile ?? null, now));
  }

  /** One page of the stored users with their profiles (a backfill's step). */
  async page(cursor: string | null, first: number, traits: readonly string[], now = Date.now()) {
    const data = await this.request<{ users: { nodes: { id: string; profile: ProfileJson }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null }; totalCount: number | null } }>(USERS, {
      first,
      after: cursor,
      traits,
    });
    const { nodes, pageInfo, totalCount } = data.users;
    return { views: nodes.map((n) => viewOf(n.id, n.profile, now)), cursor: pageInfo.hasNextPage ? pageInfo.endCursor : null, total: totalCount };
  }

  /** Makes sure the profile keeps these computed traits (defining one again is a no-op). */
  async ensureTraits(definitions: readonly ComputedTraitDefinition[]): Promise<void> {
    for (const d of definitions) {
      const { windowMs, filter, ...rest } = d;
      await this.request(DEFINE, { input: { ...rest, filter, ...(windowMs === null ? {} : { window: formatWindow(windowMs) }) } });
    }
  }

  async definedTraits(): Promise<Set<string>> {
    const data = await this.request<{ computedTraitDefinitions: { name: string }[] }>(DEFINED, {});
    return new Set(data.computedTraitDefinitions.map((d) => d.name));
  }

  private async request<T>(query: string, variables: Record<string, unknown>): Promise<T> {
    let response: Dispatcher.ResponseData;
    try {
      response = await this.pool.request({
        path: this.path,
        method: 'POST',
        headers: { 'content-type': 'application/json', [IDENTITY_HEADER]: await this.tokens.sign(SELF) },
        body: JSON.stringify({ query, variables }),
      });
    } catch (err) {
      throw new StoreUnavailableError(err);
    }
    const body = (await response.body.json().catch(() => null)) as { data?: T; errors?: { message: string; extensions?: { code?: string } }[] } | null;
    const error = body?.errors?.[0];
    if (error) {
      // The profile's own input errors (an invalid definition) reach the caller as they are.
      const code = error.extensions?.code;
      if (code && code !== 'INTERNAL_SERVER_ERROR') throw new CodedError(code, error.message);
      throw new StoreUnavailableError(new Error(`the profile subgraph failed: ${error.message}`));
    }
    if (response.statusCode < 200 || response.statusCode > 299 || !body?.data) throw new StoreUnavailableError(new Error(`the profile subgraph answered HTTP ${response.statusCode}`));
    return body.data;
  }
}

function viewOf(userId: string, p: ProfileJson | null, now: number): ProfileView {
  const doc = p?.ruleDocument ?? null;
  const computed: Record<string, ComputedTraitValueView> = Object.create(null);
  for (const t of doc?.computed ?? []) computed[t.name] = t;
  return {
    userId,
    version: doc?.version ?? 0,
    lastEventAt: doc?.lastEventAt ?? null,
    traits: doc?.traits ?? {},
    features: doc?.features ?? { v: 1, userId, version: 0, asOf: null, halfLifeMs: 14 * 86_400_000, genres: [], categories: [], facets: {}, series: [], consumed: [], recent: [] },
    computed,
    asOf: now,
    skus: doc?.skus ?? [],
  };
}
