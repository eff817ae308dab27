/** The federated gateway: @apollo/gateway on Apollo Server 5 from the static supergraph file. */
import { readFileSync } from 'node:fs';
import { ApolloServer } from '@apollo/server';
import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { ApolloGateway } from '@apollo/gateway';
import { NoSchemaIntrospectionCustomRule } from 'graphql';
import type { FastifyInstance } from 'fastify';
import { apolloErrorSettings } from '../../lib/graphql/errors.js';
import { createServiceApp, listenService } from '../../lib/http/server.js';
import { landingPagePlugin } from '../../lib/graphql/plugins.js';
import type { GatewayConfig } from './config.js';
import { SubscriptionGateway } from './subscriptions.js';
import { SubgraphSource } from './subgraph-source.js';
import { EntityBatcher } from './entity-batcher.js';
import { GatewayAuth, requireCallerPlugins } from './auth.js';
import { ServiceMetrics } from '../../lib/metrics.js';
import type { Histogram } from 'prom-client';
import type { GraphQLDataSource } from '@apollo/gateway';
import { assumedListSizes, queryProtection } from './limits.js';
import { CallerLimits, callerKey } from './caller-limits.js';
import { RequiredScopes } from './scopes.js';
import type { Caller } from './auth.js';

export interface GatewayContext extends Caller {
  requestId: string;
}

export interface GatewayServer {
  url: string;
  app: FastifyInstance;
  /** Subscriptions the caller with this token subject holds now (across its connections). */
  subscriptionsOf(sub: string): number;
  close(): Promise<void>;
}

/** Times each subgraph fetch, and counts the failed ones (by subgraph). */
function timed(name: string, source: GraphQLDataSource<GatewayContext>, metrics: GatewayMetrics): GraphQLDataSource<GatewayContext> {
  return {
    process: async (options) => {
      const end = metrics.fetchDuration.startTimer({ subgraph: name });
      try {
        const result = await source.process(options);
        end({ outcome: result.errors?.length ? 'error' : 'ok' });
        return result;
      } catch (err) {
        end({ outcome: 'failed' });
        throw err;
      }
    },
  };
}

export interface GatewayMetrics {
  fetchDuration: Histogram<'subgraph' | 'outcome'>;
}

export function createGateway(config: GatewayConfig, metrics: GatewayMetrics): { gateway: ApolloGateway; sources: SubgraphSource[]; scopes: RequiredScopes } {
  // @apollo/gateway reports anonymous usage data unless this is set; it stays off unless asked for.
  if (!config.apolloTelemetry) process.env['APOLLO_TELEMETRY_DISABLED'] = 'true';
  const sources: SubgraphSource[] = [];
  // The fields that need a role, enforced by this gateway (scopes.ts).
  const scopes = new RequiredScopes(readFileSync(config.supergraphPath, 'utf8'));
  const gateway = new ApolloGateway({
    supergraphSdl: scopes.gatewaySupergraph,
    // One keep-alive undici pool per subgraph; forwards the verified caller and the request id.
    // Entity fetches of concurrent operations (queries and live updates) share one request.
    buildService: ({ name, url }) => {
      const source = new SubgraphSource({
        name,
        url: config.subgraphUrls[name] ?? url ?? '',
        connections: config.subgraphConnections,
        timeoutMs: config.subgraphTimeoutMs,
      });
      sources.push(source);
      return timed(name, new EntityBatcher(source), metrics);
    },
  });
  return { gateway, sources, scopes };
}

export async function startGateway(config: GatewayConfig): Promise<GatewayServer> {
  const metrics = new ServiceMetrics('gateway');
  const { gateway, sources, scopes } = createGateway(config, {
    fetchDuration: metrics.histogram({ name: 'subgraph_fetch_duration_seconds', help: 'Fetches from the subgraphs, by subgraph and outcome (ok, error: GraphQL errors, failed: no answer)', labelNames: ['subgraph', 'outcome'] }),
  });
  const auth = new GatewayAuth(config.auth);
  // With AUTH_DISABLED every call is the same identity: no callers to tell apart.
  const callers = new CallerLimits(config.callers, !config.auth.disabled);
  metrics.gauge({ name: 'live_subscriptions', help: 'Subscriptions open at the gateway (graphql-ws, SSE and multipart)', collect() {
    this.set(callers.subscriptions.total);
  } });
  // Messages per second is rate(live_messages_total[1m]).
  const liveMessages = metrics.counter({ name: 'live_messages_total', help: 'Live subscription results handed to subscribers (one per subscriber per result)' });
  const protection = queryProtection(config.limits, assumedListSizes(scopes.gatewaySupergraph));
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    introspection: !config.production,
    // Depth, cost, alias, directive and token limits (gateway/src/limits.ts); no batched requests.
    validationRules: protection.validationRules,
    parseOptions: protection.parseOptions,
    allowBatchedHttpRequests: false,
    // Automatic persisted queries (on by default in Apollo Server): a bounded in-memory cache.
    persistedQueries: { ttl: 24 * 3600 },
    // Shutdown belongs to lib/shutdown.ts (drain first, then stop Apollo).
    stopOnTerminationSignals: false,
    // No stack traces and no "Did you mean …?" in production errors.
    ...apolloErrorSettings(config.production),
    // No cache-control hints are used; their plugin would instrument every field.
    plugins: [
      landingPagePlugin(config.production),
      ApolloServerPluginCacheControlDisabled(),
      ...requireCallerPlugins(scopes, config.production),
      // GraphQL Armor's types name @apollo/server's CommonJS build; the plugins are the same objects.
      ...(protection.plugins as unknown as ApolloServerPlugin<GatewayContext>[]),
    ],
  });
  const app = await createServiceApp<GatewayContext>({
    name: 'gateway',
    apollo,
    context: async (req) => ({ requestId: req.id, ...(await auth.callerOf(req)) }),
    bodyLimit: config.bodyLimit,
    corsOrigins: config.corsOrigins,
    logLevel: config.logLevel,
    http: config.http,
    health: () => ({ subgraphs: Object.keys(config.subgraphUrls) }),
    metrics,
    ready: {
      // The supergraph is composed into the gateway's schema (it is, once started).
      supergraph: async () => {
        if (!(gateway as unknown as { schema?: unknown }).schema) throw new Error('not loaded');
      },
    },
    // Requests over the caller's rate are refused before their body is read.
    routes: (a) => callers.limitRequests(a, auth),
  });
  const subscriptions = new SubscriptionGateway(gateway, {
    subgraphUrls: config.subgraphUrls,
    auth,
    // Introspection is off in production over HTTP (Apollo); the same over graphql-ws.
    validationRules: [...protection.validationRules, ...(config.production ? [NoSchemaIntrospectionCustomRule] : [])],
    maxTokens: config.limits.maxTokens,
    maxPayload: config.bodyLimit,
    hideSuggestions: config.production,
    cost: protection.cost,
    scopes,
    callers,
    initTimeoutMs: config.wsInitTimeoutMs,
    delivered: (n) => liveMessages.inc(n),
  });
  subscriptions.attach(app);
  subscriptions.attachSse(app);
  subscriptions.attachMultipart(app);
  // GraphiQL at /graphiql, served from this process (works offline); like Sandbox, not in production.
  if (!config.production) (await import('./graphiql.js')).serveGraphiql(app);
  const server = await listenService(app, apollo, config);
  return {
    ...server,
    subscriptionsOf: (sub) => callers.subscriptions.count(callerKey({ sub, roles: [] })),
    close: async () => {
      await server.close();
      await Promise.all(sources.map((s) => s.close()));
    },
  };
}
