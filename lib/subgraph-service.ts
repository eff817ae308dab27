/**
 * A subgraph service: its SDL with guarded resolvers (failing closed), Apollo Server, the HTTP
 * shell with the gateway identity verified per request and per graphql-ws connection, listening.
 */
import { readFileSync } from 'node:fs';
import { ApolloServer } from '@apollo/server';
import type { BaseContext } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { FastifyInstance } from 'fastify';
import { parse } from 'graphql';
import type { GraphQLSchema } from 'graphql';
import { guardResolvers, InternalTokens } from './auth.js';
import type { AuthConfig, Identity, Rule } from './auth.js';
import type { ServiceBasics } from './env.js';
import { apolloErrorSettings } from './graphql/errors.js';
import { landingPagePlugin, requireIdentityPlugin } from './graphql/plugins.js';
import { serveGraphqlWs } from './graphql/ws.js';
import type { WsLimits } from './graphql/ws.js';
import { createServiceApp, listenService } from './http/server.js';
import { takeLiveTrace } from './tracing.js';
import type { ServiceAppOptions } from './http/server.js';

type SubgraphModule = Extract<Parameters<typeof buildSubgraphSchema>[0], { typeDefs: unknown }>;
export type SubgraphResolvers = SubgraphModule['resolvers'];

function subgraphSchema(schemaFile: URL, resolvers: SubgraphResolvers): GraphQLSchema {
  return buildSubgraphSchema({ typeDefs: parse(readFileSync(schemaFile, 'utf8')), resolvers });
}

/** Apollo Server for a subgraph's schema, Sandbox in development only. */
function createSubgraphApollo<Ctx extends BaseContext>(schema: GraphQLSchema, production: boolean): ApolloServer<Ctx> {
  return new ApolloServer<Ctx>({
    schema,
    introspection: !production,
    // Inline traces only serve Apollo Studio usage reporting, which this platform does not use;
    // cache-control hints are not used either, and their plugin instruments every resolver.
    plugins: [landingPagePlugin(production), ApolloServerPluginInlineTraceDisabled(), ApolloServerPluginCacheControlDisabled()],
    // Apollo's own SIGINT/SIGTERM handlers would stop it at once (in-flight operations fail) and
    // re-raise the signal; shutdown belongs to lib/shutdown.ts: drain first, then stop Apollo.
    stopOnTerminationSignals: false,
    ...apolloErrorSettings(production),
  });
}

export interface SubgraphServiceOptions<Ctx extends BaseContext> {
  name: string;
  config: ServiceBasics & { auth: AuthConfig };
  schemaFile: URL;
  resolvers: SubgraphResolvers;
  /** Who may call what ("Type.field" → rule), applied to the resolvers. */
  rules: Record<string, Rule<Ctx>>;
  /** A request's context, for the caller the gateway vouched for (null: none). */
  context: (identity: Identity | null) => Ctx;
  /** Serve graphql-ws subscriptions, with this per-subscription context. */
  subscriptionContext?: (identity: Identity | null) => Ctx;
  bodyLimit: number;
  health?: ServiceAppOptions<Ctx>['health'];
  ready?: ServiceAppOptions<Ctx>['ready'];
  /** Served at /metrics; the HTTP and GraphQL request metrics are recorded in it. */
  metrics?: ServiceAppOptions<Ctx>['metrics'];
  routes?: ServiceAppOptions<Ctx>['routes'];
}

/**
 * A subgraph service: its guarded resolvers on its SDL, Apollo Server, the HTTP shell with the
 * gateway identity verified per request (and per graphql-ws connection), listening.
 */
export async function startSubgraphService<Ctx extends BaseContext>(o: SubgraphServiceOptions<Ctx>) {
  // Fails closed: a root field or entity of the SDL without a rule (or a rule for a field it does
  // not have) throws here, naming them, and the subgraph does not start.
  const resolvers = guardResolvers(subgraphSchema(o.schemaFile, undefined), o.resolvers as Record<string, unknown>, o.rules) as SubgraphResolvers;
  const schema = subgraphSchema(o.schemaFile, resolvers);
  const apollo = createSubgraphApollo<Ctx>(schema, o.config.production);
  const auth = new InternalTokens(o.config.auth);
  apollo.addPlugin(requireIdentityPlugin('this subgraph serves the gateway only: the gateway identity is missing'));
  const app = await createServiceApp<Ctx>({
    name: o.name,
    apollo,
    // The gateway reaches a subgraph from one address with many connections (its HTTP pool and an
    // upstream graphql-ws connection per live caller): no cap per client address here, the
    // total cap and the timeouts still hold.
    http: { ...o.config.http, maxConnectionsPerClient: Infinity },
    context: async (req) => o.context(await auth.fromHeaders(req.headers)),
    bodyLimit: o.bodyLimit,
    corsOrigins: o.config.corsOrigins,
    logLevel: o.config.logLevel,
    ...(o.health ? { health: o.health } : {}),
    ...(o.ready ? { ready: o.ready } : {}),
    ...(o.metrics ? { metrics: o.metrics } : {}),
    ...(o.routes ? { routes: o.routes } : {}),
  });
  if (o.subscriptionContext) serveSubscriptions(app, schema, auth, o.subscriptionContext, { maxPayload: o.bodyLimit, hideSuggestions: o.config.production });
  return listenService(app, apollo, o.config);
}

/**
 * graphql-ws on the subgraph's /graphql. Its sockets serve the gateway only: the connection's
 * `identity` parameter (the gateway's identity token) is verified on connect, and without a valid
 * one the socket is closed (4403 Forbidden).
 */
function serveSubscriptions<Ctx>(app: FastifyInstance, schema: GraphQLSchema, auth: InternalTokens, context: (identity: Identity | null) => Ctx, limits: WsLimits): void {
  const identities = new WeakMap<object, Identity | null>();
  serveGraphqlWs(
    app,
    {
      schema,
      onConnect: async (ctx) => {
        try {
          const token = ctx.connectionParams?.['identity'];
          const identity = await auth.verify(typeof token === 'string' ? token : undefined);
          if (!identity) return false;
          identities.set(ctx, identity);
          return true;
        } catch {
          return false;
        }
      },
      context: (ctx) => context(identities.get(ctx) ?? null) as Record<string, unknown>,
      // The trace of the event this result answers (noted by the resolver), for the gateway.
      onNext: (_ctx, _id, _payload, args, result) => {
        const traceparent = takeLiveTrace(args.contextValue);
        return traceparent ? { ...result, extensions: { ...result.extensions, traceparent } } : result;
      },
    },
    limits,
  );
}
