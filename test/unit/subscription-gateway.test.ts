/**
 * SubscriptionGateway (gateway/src/subscriptions.ts) without sockets or subgraph servers: a real
 * ApolloGateway, loaded from schema/supergraph.graphql as createGateway does (RequiredScopes'
 * gatewaySupergraph), with in-process fake data sources, and operations handed straight to
 * `subscribe(args, state)` as graphql-ws would hand them. Apollo's real query planner and
 * executeQueryPlan run, reached through the ApolloGateway private fields subscriptions.ts reads:
 * an @apollo/gateway upgrade that renames or reshapes them fails here, not only end to end.
 *
 * Each fake subgraph executes its own schema/<name>.graphql (buildSubgraphSchema) over canned
 * data, so it answers whatever fetch the planner sends it (root fields and `_entities`), and
 * records every request: its query, variables and the identity token in its context.
 */
import { readFileSync } from 'node:fs';
import { Schema } from '@apollo/federation-internals';
import { ApolloGateway } from '@apollo/gateway';
import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { QueryPlanner } from '@apollo/query-planner';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { execute, GraphQLSchema, parse, specifiedRules, validate } from 'graphql';
import type { ExecutionArgs, ExecutionResult, GraphQLError } from 'graphql';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GatewayAuth } from '../../gateway/src/auth.js';
import { CallerLimits, callerKey, loadCallerLimits } from '../../gateway/src/caller-limits.js';
import type { GatewayContext } from '../../gateway/src/gateway.js';
import { loadQueryLimits, queryProtection } from '../../gateway/src/limits.js';
import { RequiredScopes } from '../../gateway/src/scopes.js';
import { SubscriptionGateway } from '../../gateway/src/subscriptions.js';
import { loadAuthConfig, mintToken } from '../../lib/auth.js';
import type { Identity } from '../../lib/auth.js';

/** What subscribe's second parameter is (ConnectionState, not exported). */
type ConnectionState = Parameters<SubscriptionGateway['subscribe']>[1];

const SUBGRAPHS = ['profile', 'recommendations', 'experiments', 'audiences'] as const;
type SubgraphName = (typeof SUBGRAPHS)[number];

/** One request a fake subgraph received. */
interface Recorded {
  query: string;
  variables: Record<string, unknown>;
  /** The gateway's identity token in the fetch's context (what SubgraphSource sends upstream). */
  identityToken: string | undefined;
}

// --- canned data ---------------------------------------------------------------------------

const USER_ID = 'u1';
const TRAITS = { plan: 'premium' };
const RANKING_FEATURES = { v: 1, userId: USER_ID, version: 7 };
const ASSIGNMENTS = [{ experimentKey: 'ranking', variant: 'realtime', inExperiment: true, reason: 'ASSIGNED' }];
const PROFILE = { version: 7, eventCount: 7, traits: TRAITS, rankingFeatures: RANKING_FEATURES, batchSnapshot: null };

/** Resolvers of each fake: canned data, plus what `@requires` brought in the representations. */
const RESOLVERS: Record<SubgraphName, Record<string, Record<string, unknown>>> = {
  profile: {
    Query: { user: (_: unknown, args: { id: string }) => ({ id: args.id, profile: PROFILE }) },
    User: { __resolveReference: (ref: { id: string }) => ({ id: ref.id, profile: PROFILE }) },
  },
  experiments: {
    // `assignments` requires profile { traits }: a representation without them would be a planner bug.
    User: {
      __resolveReference: (ref: { id: string; profile?: { traits?: unknown } }) => {
        if (!ref.profile?.traits) throw new Error('experiments got a User without the profile traits it @requires');
        return { ...ref, assignments: ASSIGNMENTS };
      },
    },
  },
  recommendations: {
    User: {
      __resolveReference: (ref: { id: string; profile?: { rankingFeatures?: unknown }; assignments?: unknown[] }) => {
        if (!ref.profile?.rankingFeatures || !ref.assignments) throw new Error('recommendations got a User without what recommendedFor @requires');
        return ref;
      },
      recommendedFor: (user: { id: string }, args: { unitId: string; limit: number }) => ({
        unitId: args.unitId,
        experimentKey: 'ranking',
        variant: 'realtime',
        impressionId: `imp-${user.id}-${args.unitId}`,
        model: 'REALTIME',
        profileVersion: 7,
        generatedAt: '2026-01-01T00:00:00.000Z',
        items: Array.from({ length: args.limit }, (_, i) => ({ position: i + 1, score: 1 - i / 100, reasons: [], item: { id: `m${i + 1}` } })),
      }),
    },
    Item: { __resolveReference: (ref: { id: string }) => ({ id: ref.id, kind: 'MOVIE', genres: [], trendingScore: 0, popularity: 0 }) },
  },
  // Assignments @require the user's audiences too.
  audiences: {
    User: { __resolveReference: (ref: { id: string }) => ({ id: ref.id, audiences: [] }) },
  },
};

/** An in-process subgraph: executes its own schema over canned data, records every request. */
class FakeSubgraph implements GraphQLDataSource<GatewayContext> {
  readonly requests: Recorded[] = [];
  private readonly schema: GraphQLSchema;

  constructor(readonly name: SubgraphName) {
    const typeDefs = parse(readFileSync(new URL(`../../schema/${name}.graphql`, import.meta.url), 'utf8'));
    this.schema = buildSubgraphSchema({ typeDefs, resolvers: RESOLVERS[name] as never });
  }

  async process(options: GraphQLDataSourceProcessOptions<GatewayContext>) {
    const query = options.request.query!;
    const variables = (options.request.variables ?? {}) as Record<string, unknown>;
    const context = options.context as Partial<GatewayContext>;
    this.requests.push({ query, variables, identityToken: context.identityToken });
    const result = await execute({ schema: this.schema, document: parse(query), variableValues: variables, contextValue: context });
    return JSON.parse(JSON.stringify(result)) as { data?: Record<string, unknown>; errors?: never[] };
  }
}

// --- the gateway ---------------------------------------------------------------------------

const fakes = Object.fromEntries(SUBGRAPHS.map((name) => [name, new FakeSubgraph(name)])) as Record<SubgraphName, FakeSubgraph>;
const allRequests = () => SUBGRAPHS.flatMap((name) => fakes[name].requests.map((r) => ({ subgraph: name, ...r })));

const authConfig = loadAuthConfig({});
const auth = new GatewayAuth(authConfig);
const protection = queryProtection(loadQueryLimits({}));
const scopes = new RequiredScopes(readFileSync(new URL('../../schema/supergraph.graphql', import.meta.url), 'utf8'));

let gateway: ApolloGateway;
/** The API schema ApolloGateway serves (what graphql-ws validates against). */
let apiSchema: GraphQLSchema;
let subscriptions: SubscriptionGateway;

/** A verified caller, as onConnect makes it from a caller JWT. */
async function connection(sub: string, role: 'user' | 'service'): Promise<ConnectionState> {
  const caller = await auth.caller(`Bearer ${await mintToken(authConfig, { sub, role })}`);
  const identity = caller.identity as Identity;
  return { caller: { ...caller, identity }, key: callerKey(identity), stopExpiry: () => undefined };
}

/** Parses and validates as serveGraphqlWs does (graphql's rules plus the gateway's query limits). */
function operation(query: string, variables?: Record<string, unknown>): ExecutionArgs {
  const document = parse(query);
  const errors = validate(apiSchema, document, [...specifiedRules, ...protection.validationRules]);
  expect(errors.map((e) => e.message), 'the test operation must pass validation').toEqual([]);
  return { schema: apiSchema, document, ...(variables ? { variableValues: variables } : {}), contextValue: {} };
}

/** Runs an operation (not a subscription): its single result. */
async function run(args: ExecutionArgs, state: ConnectionState): Promise<ExecutionResult> {
  const result = await subscriptions.subscribe(args, state);
  if (Symbol.asyncIterator in result) throw new Error('expected a single result, got a subscription');
  return result;
}

const telemetry = process.env['APOLLO_TELEMETRY_DISABLED'];

beforeAll(async () => {
  // As createGateway does: no anonymous usage reports from @apollo/gateway.
  process.env['APOLLO_TELEMETRY_DISABLED'] = 'true';
  gateway = new ApolloGateway({
    supergraphSdl: scopes.gatewaySupergraph,
    buildService: ({ name }) => {
      const fake = fakes[name as SubgraphName];
      if (!fake) throw new Error(`no fake for subgraph ${name}`);
      return fake;
    },
  });
  ({ schema: apiSchema } = await gateway.load());
  subscriptions = new SubscriptionGateway(gateway, {
    // Never dialled: only subscriptions open upstream sockets, and these tests run none.
    subgraphUrls: Object.fromEntries(SUBGRAPHS.map((name) => [name, `http://127.0.0.1:9/${name}`])),
    auth,
    validationRules: protection.validationRules,
    maxTokens: loadQueryLimits({}).maxTokens,
    maxPayload: 1_000_000,
    cost: protection.cost,
    scopes,
    callers: new CallerLimits(loadCallerLimits({}), true),
    initTimeoutMs: 1_000,
  });
});

afterAll(async () => {
  await gateway?.stop();
  if (telemetry === undefined) delete process.env['APOLLO_TELEMETRY_DISABLED'];
  else process.env['APOLLO_TELEMETRY_DISABLED'] = telemetry;
});

beforeEach(() => {
  for (const name of SUBGRAPHS) fakes[name].requests.length = 0;
});

const HOME = /* GraphQL */ `
  query Home($id: ID!) {
    user(id: $id) {
      id
      profile { version }
      recommendedFor(limit: 2) { items { item { id } } }
    }
  }
`;

describe('SubscriptionGateway with Apollo’s query planner and fake subgraphs', () => {
  it('runs the real plan of a query: the user fetch on profile, entity fetches, one merged result', async () => {
    const state = await connection(USER_ID, 'user');
    const result = await run(operation(HOME, { id: USER_ID }), state);

    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({
      user: { id: USER_ID, profile: { version: 7 }, recommendedFor: { items: [{ item: { id: 'm1' } }, { item: { id: 'm2' } }] } },
    });

    // profile: the root `user` fetch, with the caller's variable, and what the other subgraphs @require.
    const [userFetch, ...moreProfile] = fakes.profile.requests;
    expect(moreProfile, 'profile answers one fetch').toEqual([]);
    expect(userFetch!.query).toMatch(/\buser\(id: ?\$id\)/);
    expect(userFetch!.query).toMatch(/\bversion\b/);
    expect(userFetch!.query).toMatch(/\btraits\b/);
    expect(userFetch!.query).toMatch(/\brankingFeatures\b/);
    expect(userFetch!.variables).toEqual({ id: USER_ID });

    // audiences: the User entity, for the memberships `assignments` requires.
    expect(fakes.audiences.requests).toHaveLength(1);
    expect(fakes.audiences.requests[0]!.query).toMatch(/\baudiences\b/);

    // experiments: the User entity with the profile traits and audiences `assignments` requires.
    expect(fakes.experiments.requests).toHaveLength(1);
    const [assignmentsFetch] = fakes.experiments.requests;
    expect(assignmentsFetch!.query).toMatch(/_entities\(representations: ?\$representations\)/);
    expect(assignmentsFetch!.variables['representations']).toEqual([{ __typename: 'User', id: USER_ID, profile: { traits: TRAITS, eventCount: 7 }, audiences: [] }]);

    // recommendations: the User entity with profile features and assignments, and the row's limit.
    expect(fakes.recommendations.requests).toHaveLength(1);
    const [rowFetch] = fakes.recommendations.requests;
    expect(rowFetch!.query).toMatch(/recommendedFor\(limit: ?2\)/);
    expect(rowFetch!.variables['representations']).toEqual([
      expect.objectContaining({
        __typename: 'User',
        id: USER_ID,
        profile: expect.objectContaining({ rankingFeatures: RANKING_FEATURES }),
        assignments: [{ experimentKey: 'ranking', variant: 'realtime', inExperiment: true }],
      }),
    ]);
  });

  it('forwards the caller’s identity token (for the caller’s identity) to every fetch', async () => {
    const state = await connection(USER_ID, 'user');
    await run(operation(HOME, { id: USER_ID }), state);

    const requests = allRequests();
    expect(new Set(requests.map((r) => r.subgraph))).toEqual(new Set(SUBGRAPHS));
    for (const r of requests) expect(r.identityToken, `the ${r.subgraph} fetch carries the identity token`).toBe(state.caller.identityToken);
    // The token is the gateway's, and vouches for this caller (what the subgraphs verify).
    await expect(auth.internal.verify(state.caller.identityToken)).resolves.toEqual({ sub: USER_ID, roles: ['user'] });

    // Another caller's operation carries that caller's token, not a cached one of the first.
    for (const name of SUBGRAPHS) fakes[name].requests.length = 0;
    const service = await connection('svc-1', 'service');
    await run(operation(HOME, { id: USER_ID }), service);
    expect(service.caller.identityToken).not.toBe(state.caller.identityToken);
    for (const r of allRequests()) expect(r.identityToken, `the ${r.subgraph} fetch carries the service token`).toBe(service.caller.identityToken);
  });

  it('refuses a service-only field to a user token with FORBIDDEN before any fetch', async () => {
    const state = await connection(USER_ID, 'user');
    const result = await run(operation(`query { user(id: "${USER_ID}") { id } experiments { key } }`), state);

    expect(result.data).toBeUndefined();
    expect(result.errors).toHaveLength(1);
    const error = result.errors![0] as GraphQLError;
    expect(error.extensions['code']).toBe('FORBIDDEN');
    expect(error.message).toMatch(/Query\.experiments requires the service role/);
    // Over a socket the HTTP status means nothing: it is not sent.
    expect(error.extensions['http']).toBeUndefined();
    expect(allRequests()).toEqual([]);

    // The same field with a service token goes through to the experiments subgraph.
    const service = await connection('svc-1', 'service');
    const allowed = await run(operation('query { experiments { key } }'), service);
    expect(allowed.errors?.map((e) => e.extensions['code'])).not.toContain('FORBIDDEN');
    expect(fakes.experiments.requests).toHaveLength(1);
  });

  it('refuses an operation over the cost limit (15 rows of 100 items) before any fetch', async () => {
    const rows = Array.from({ length: 15 }, (_, i) => `r${i}: recommendedFor(unitId: "row-${i}", limit: 100) { items { item { id } } }`).join('\n');
    const state = await connection(USER_ID, 'user');
    // Within the alias, depth and token limits (validation passes): only the cost refuses it.
    const result = await run(operation(`query { user(id: "${USER_ID}") { id ${rows} } }`), state);

    expect(result.data).toBeUndefined();
    expect(result.errors).toHaveLength(1);
    const error = result.errors![0] as GraphQLError;
    expect(error.extensions['code']).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(error.message).toMatch(/Query Cost limit of 20000 exceeded/);
    expect(error.extensions['http']).toBeUndefined();
    expect(allRequests()).toEqual([]);
  });

  it('finds every private ApolloGateway field it reads (internals())', async () => {
    // The fields subscriptions.ts's internals() reads; a rename in @apollo/gateway fails here by name.
    const g = gateway as unknown as Record<string, unknown>;
    const missing = (['apiSchema', 'supergraphSchema', 'queryPlanner', 'serviceMap', 'schema'] as const).filter((f) => g[f] === undefined || g[f] === null);
    expect(missing, `ApolloGateway (@apollo/gateway) no longer has these fields subscriptions.ts reads: ${missing.join(', ')}`).toEqual([]);

    expect(g['apiSchema'], 'ApolloGateway.apiSchema is a federation-internals Schema (operationFromDocument, executeQueryPlan)').toBeInstanceOf(Schema);
    expect(g['queryPlanner'], 'ApolloGateway.queryPlanner is a QueryPlanner (buildQueryPlan)').toBeInstanceOf(QueryPlanner);
    expect(typeof (g['queryPlanner'] as QueryPlanner).buildQueryPlan, 'ApolloGateway.queryPlanner.buildQueryPlan').toBe('function');
    expect(g['supergraphSchema'], 'ApolloGateway.supergraphSchema is a graphql-js schema').toBeInstanceOf(GraphQLSchema);
    expect(g['schema'], 'ApolloGateway.schema is the graphql-js API schema load() returned').toBe(apiSchema);
    // The supergraph schema has the join types; the API schema has not.
    expect((g['supergraphSchema'] as GraphQLSchema).getType('join__Graph'), 'supergraphSchema is the supergraph').toBeDefined();
    expect(apiSchema.getType('join__Graph'), 'schema is the API schema').toBeUndefined();
    const serviceMap = g['serviceMap'] as Record<string, { dataSource?: unknown }>;
    expect(Object.keys(serviceMap).sort(), 'ApolloGateway.serviceMap is keyed by subgraph name').toEqual([...SUBGRAPHS].sort());
    for (const name of SUBGRAPHS) expect(serviceMap[name]?.dataSource, `ApolloGateway.serviceMap.${name}.dataSource is what buildService made`).toBe(fakes[name]);

    // internals() guards against a gateway without them: a clear error, not a TypeError deep in a plan.
    const unloaded = new SubscriptionGateway(new ApolloGateway({ supergraphSdl: scopes.gatewaySupergraph }), {} as never);
    const state = await connection(USER_ID, 'user');
    await expect(unloaded.subscribe(operation(HOME, { id: USER_ID }), state)).rejects.toThrow(/internals changed: check the @apollo\/gateway version/);
  });
});
