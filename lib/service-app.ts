/**
 * The HTTP shell every service shares: Fastify with Apollo Server at /graphql, /health, CORS,
 * request ids, body limits and JSON errors with a code and a reason.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { ApolloServer, BaseContext } from '@apollo/server';
import { ApolloServer as ApolloServerClass } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { readFileSync } from 'node:fs';
import { GraphQLError as GraphQLErrorClass, parse, specifiedRules, validate } from 'graphql';
import type { DocumentNode, GraphQLError, GraphQLFormattedError, GraphQLSchema, Source, ValidationRule } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { LRUCache } from 'lru-cache';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import type { ApolloServerPlugin } from '@apollo/server';
import fastifyApollo from '@as-integrations/fastify';
import { guardResolvers, InternalTokens, isIntrospection, unauthenticated } from './auth.js';
import type { AuthConfig, Identity, Rule } from './auth.js';
import { httpLimits } from './env.js';
import type { HttpLimits, ServiceBasics } from './env.js';
import { inspectJson } from './json-shape.js';
import type { ApolloFastifyContextFunction } from '@as-integrations/fastify';
import cors from '@fastify/cors';
import Fastify from 'fastify';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export interface ServiceAppOptions<Ctx extends BaseContext> {
  name: string;
  apollo: ApolloServer<Ctx>;
  context: ApolloFastifyContextFunction<Ctx>;
  /** Largest accepted request body in bytes. */
  bodyLimit: number;
  /** Allowed CORS origins; `true` reflects any origin (development). */
  corsOrigins: true | string[];
  /** Extra fields for /health. */
  health?: () => Promise<Record<string, unknown>> | Record<string, unknown>;
  /** Registers the service's own routes. */
  routes?: (app: FastifyInstance) => void | Promise<void>;
  /**
   * Serve graphql-ws subscriptions on /graphql with this schema and per-subscription context. The
   * connection's `identity` parameter (the gateway's identity token) is verified on connect: a bad
   * one closes the socket (4403 Forbidden).
   */
  subscriptions?: { schema: GraphQLSchema; auth: InternalTokens; context: (identity: Identity | null) => Ctx };
  logLevel?: string;
  /** Timeouts and connection caps (HTTP_REQUEST_TIMEOUT, MAX_CONNECTIONS, ...; defaults from lib/env.ts). */
  http?: HttpLimits;
  /** Production: errors carry no "Did you mean …?" suggestion (they would reveal the schema). */
  production?: boolean;
}

/** Apollo's own pattern for validation suggestions ("Did you mean "x"?", "Did you mean the enum value …?"). */
const SUGGESTION = / ?Did you mean(.+?)\?$/;

/** An error message without its "Did you mean …?" suggestion. */
export const withoutSuggestions = (message: string): string => message.replace(SUGGESTION, '');

/**
 * Apollo Server settings every service shares for production: no stack traces and no suggestions
 * in any error (validation, variable coercion, execution), whatever Apollo reads from NODE_ENV
 * itself (it compares case-sensitively, so NODE_ENV=Production would have shown stack traces).
 */
export function apolloErrorSettings(production: boolean) {
  return {
    includeStacktraceInErrorResponses: !production,
    hideSchemaDetailsFromClientErrors: production,
    ...(production ? { formatError: (formatted: GraphQLFormattedError) => ({ ...formatted, message: withoutSuggestions(formatted.message) }) } : {}),
  };
}

/** A client-sent request id is kept when it is a short token; anything else gets a fresh one. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
}

/**
 * Caps on open connections (every socket counts, WebSockets included, until it closes): in all
 * (Node's maxConnections closes the ones beyond it at once) and per client address, so that slow
 * or idle clients from one place cannot take every file descriptor.
 */
function capConnections(server: import('node:http').Server, limits: HttpLimits): void {
  server.maxConnections = limits.maxConnections;
  const perClient = new Map<string, number>();
  if (!Number.isFinite(limits.maxConnectionsPerClient)) return;
  server.on('connection', (socket) => {
    const client = socket.remoteAddress ?? '';
    const open = (perClient.get(client) ?? 0) + 1;
    if (open > limits.maxConnectionsPerClient) {
      socket.destroy();
      return;
    }
    perClient.set(client, open);
    socket.once('close', () => {
      const left = (perClient.get(client) ?? 1) - 1;
      if (left === 0) perClient.delete(client);
      else perClient.set(client, left);
    });
  });
}

/** Landing page (Apollo Sandbox) in development only. */
export function landingPagePlugin(production: boolean): ApolloServerPlugin {
  return production
    ? ApolloServerPluginLandingPageDisabled()
    : ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false });
}

type SubgraphModule = Extract<Parameters<typeof buildSubgraphSchema>[0], { typeDefs: unknown }>;
export type SubgraphResolvers = SubgraphModule['resolvers'];

function subgraphSchema(schemaFile: URL, resolvers: SubgraphResolvers): GraphQLSchema {
  return buildSubgraphSchema({ typeDefs: parse(readFileSync(schemaFile, 'utf8')), resolvers });
}

/** Apollo Server for a subgraph: its SDL file and resolvers (or schema), Sandbox in development only. */
function createSubgraphApollo<Ctx extends BaseContext>(
  schemaFile: URL | GraphQLSchema,
  resolvers: SubgraphResolvers,
  production: boolean,
): ApolloServer<Ctx> {
  return new ApolloServerClass<Ctx>({
    schema: schemaFile instanceof URL ? subgraphSchema(schemaFile, resolvers) : schemaFile,
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

const ERROR_CODES: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'PAYLOAD_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'MALFORMED_JSON' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'MALFORMED_JSON' },
};

export function errorBody(code: string, message: string, extra: Record<string, unknown> = {}) {
  return { error: { code, message, ...extra } };
}

export async function createServiceApp<Ctx extends BaseContext>(opts: ServiceAppOptions<Ctx>): Promise<FastifyInstance> {
  const limits = opts.http ?? httpLimits({});
  const app = Fastify({
    logger: { level: opts.logLevel ?? 'warn' },
    bodyLimit: opts.bodyLimit,
    // The client's x-request-id is kept (and forwarded) only when it is a short token.
    requestIdHeader: false,
    genReqId: (req) => requestIdOf(req.headers['x-request-id']),
    forceCloseConnections: 'idle',
    keepAliveTimeout: 65_000,
    // A request, body included, must arrive within HTTP_REQUEST_TIMEOUT (its headers within
    // HTTP_HEADERS_TIMEOUT), or the connection is closed (408): a client sending one byte every
    // 10 s holds nothing for long. Node enforces requestTimeout only while headersTimeout is not
    // above it, and checks both every connectionsCheckingInterval.
    requestTimeout: limits.requestTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    },
  });
  capConnections(app.server, limits);

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    const known = err.code ? ERROR_CODES[err.code] : undefined;
    if (known) {
      const message = known.code === 'MALFORMED_JSON' ? `request body is not valid JSON: ${err.message}` : err.message;
      return reply.code(known.status).send(errorBody(known.code, message));
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) app.log.error(err);
    return reply
      .code(status)
      .send(errorBody(status === 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_REQUEST', status === 500 ? 'internal error' : err.message));
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody('NOT_FOUND', `no route for ${req.method} ${req.url}`)));
  const drain = drainKeepAliveOnClose(app);
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
    drain(req, reply);
  });

  await app.register(cors, { origin: opts.corsOrigins, credentials: true, exposedHeaders: ['x-request-id'] });
  app.get('/health', async () => ({ status: 'ok', service: opts.name, ...(await opts.health?.()) }));
  await opts.routes?.(app);
  opts.apollo.addPlugin(requestErrorsPlugin());
  await opts.apollo.start();
  await app.register(fastifyApollo(opts.apollo), { context: opts.context, path: '/graphql' });
  if (opts.subscriptions) {
    const { schema, context, auth } = opts.subscriptions;
    const identities = new WeakMap<object, Identity | null>();
    serveGraphqlWs(app, {
      schema,
      // Subgraph sockets serve the gateway only: without its identity token the connection is refused.
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
    }, { maxPayload: opts.bodyLimit, hideSuggestions: !!opts.production });
  }
  return app;
}

/** Deepest nesting of objects and arrays accepted in a request's variables. */
const MAX_VARIABLES_DEPTH = 64;

const requestError = (message: string, code: string) => new GraphQLErrorClass(message, { extensions: { code, http: { status: 400 } } });

/**
 * Variables nested deeper than JSON.stringify can serialize again, or with a key that names a
 * prototype (lib/json-shape.ts; over HTTP the JSON body parser already refuses `__proto__`, over
 * graphql-ws JSON.parse keeps it as an own key): refused, on HTTP and graphql-ws alike.
 */
function badVariables(variables: unknown): GraphQLErrorClass | undefined {
  const problem = inspectJson(variables, MAX_VARIABLES_DEPTH);
  if (!problem) return undefined;
  const message =
    problem.kind === 'too-deep'
      ? `variables are nested more than ${MAX_VARIABLES_DEPTH} levels deep`
      : `variables must not use the key at ${problem.path}: keys __proto__, constructor and prototype are refused`;
  return new GraphQLErrorClass(message, { extensions: { code: 'BAD_USER_INPUT' } });
}

/**
 * Request errors every service answers with 400, as a plain Apollo Server does. Behind the gateway
 * they were 500s: an operationName that names no operation (or several operations and no name) is
 * an INVALID_GRAPHQL error thrown by the gateway's executor, a subscription sent over HTTP is
 * "Execution of subscriptions not supported by gateway", and variables nested thousands of levels
 * deep overflowed JSON.stringify when the gateway forwarded them to a subgraph.
 */
function requestErrorsPlugin<Ctx extends BaseContext>(): ApolloServerPlugin<Ctx> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, request }) {
          if (!operation) {
            throw requestError(
              request.operationName
                ? `Unknown operation named "${request.operationName}".`
                : 'Must provide operation name if query contains multiple operations.',
              'OPERATION_RESOLUTION_FAILURE',
            );
          }
          if (operation.operation === 'subscription') {
            throw requestError('subscriptions are served over graphql-ws (WebSocket) on this path, not over HTTP', 'BAD_REQUEST');
          }
          const bad = badVariables(request.variables);
          if (bad) throw requestError(bad.message, 'BAD_USER_INPUT');
        },
      };
    },
  };
}

/**
 * Keep-alive connections must not hold up close(). Node's server.close() only closes connections
 * that are idle at that moment; one that was serving a request stays open after its response
 * (keepAliveTimeout is 65 s), and close() waited for it. While closing, responses therefore carry
 * `Connection: close` (Node then ends the socket after the response), and connections that become
 * idle are closed. New requests on open connections get 503 meanwhile (Fastify's
 * return503OnClosing), new connections are refused once the server stopped listening.
 */
/** Returns what each response does while draining (called from the service's one onSend hook). */
function drainKeepAliveOnClose(app: FastifyInstance): (req: FastifyRequest, reply: FastifyReply) => void {
  let draining = false;
  const toldToClose = new WeakSet<object>();
  app.addHook('preClose', async () => {
    draining = true;
  });
  app.addHook('onResponse', async (req) => {
    // A response whose headers went out before close() began still said keep-alive.
    if (draining && !toldToClose.has(req)) setImmediate(() => app.server.closeIdleConnections());
  });
  return (req, reply) => {
    if (!draining) return;
    reply.header('connection', 'close');
    toldToClose.add(req);
  };
}

/** How long graphql-ws clients get to answer the 1001 close before their sockets are destroyed. */
const WS_CLOSE_WAIT_MS = 2000;

/** Most distinct operation texts whose parsed and validated documents are kept. */
const DOCUMENT_CACHE_SIZE = 500;
const documents = new LRUCache<string, DocumentNode>({ max: DOCUMENT_CACHE_SIZE });
/** Validation errors by schema, by the extra rules validated with (the array itself), by document. */
const validations = new WeakMap<GraphQLSchema, WeakMap<readonly ValidationRule[], WeakMap<DocumentNode, readonly GraphQLError[]>>>();
const NO_EXTRA_RULES: readonly ValidationRule[] = [];

/**
 * The parsed document for an operation text: parsed once per text (least recently used texts are
 * dropped), and one document shared by every subscription with that text instead of an AST
 * (tokens and locations) kept per subscription. Syntax errors are thrown, not kept.
 */
export function cachedParse(source: string | Source, maxTokens?: number): DocumentNode {
  const options = maxTokens ? { maxTokens } : undefined;
  if (typeof source !== 'string') return parse(source, options);
  const query = source;
  // Keyed by the token limit too: a text parsed without a limit must not skip a limit later.
  const key = `${maxTokens ?? ''}\u0000${query}`;
  let document = documents.get(key);
  if (!document) documents.set(key, (document = parse(query, options)));
  return document;
}

/**
 * Validation errors of a (cached) document against a schema and extra rules, computed once per
 * schema, rule set and document: a document validated without the query limits is validated
 * again when they apply.
 */
export function cachedValidate(schema: GraphQLSchema, document: DocumentNode, extraRules: readonly ValidationRule[] = NO_EXTRA_RULES): readonly GraphQLError[] {
  let bySchema = validations.get(schema);
  if (!bySchema) validations.set(schema, (bySchema = new WeakMap()));
  let byRules = bySchema.get(extraRules);
  if (!byRules) bySchema.set(extraRules, (byRules = new WeakMap()));
  let errors = byRules.get(document);
  if (!errors) byRules.set(document, (errors = validate(schema, document, extraRules.length > 0 ? [...specifiedRules, ...extraRules] : undefined)));
  return errors;
}

/**
 * graphql-ws on the service's HTTP server at /graphql; its sockets close with the app. On close
 * every socket is closed with 1001 (Going away), so clients learn the server is leaving (and
 * graphql-ws clients with retries reconnect) rather than seeing the connection drop; sockets that
 * do not complete the close handshake within WS_CLOSE_WAIT_MS are destroyed.
 */
export interface WsLimits {
  /** Largest message in bytes (ws would otherwise take 100 MiB). */
  maxPayload: number;
  /** Most operations running at once on one connection. */
  maxOperations?: number;
  /** Production: no "Did you mean …?" in any error sent over the socket. */
  hideSuggestions?: boolean;
}

function hideSuggestionsIn<T extends { errors?: readonly { message: string }[] | undefined }>(result: T): T {
  if (!result.errors?.some((e) => SUGGESTION.test(e.message))) return result;
  return { ...result, errors: result.errors.map((e) => ({ ...e, message: withoutSuggestions(e.message) })) };
}

export function serveGraphqlWs<P extends Record<string, unknown>>(
  app: FastifyInstance,
  options: Parameters<typeof useServer<P>>[0],
  limits: WsLimits,
): void {
  const wss = new WebSocketServer({ server: app.server, path: '/graphql', maxPayload: limits.maxPayload });
  const maxOperations = limits.maxOperations ?? 200;
  const server = useServer<P>(
    {
      // Documents come from the shared caches rather than a parse and validation per subscription.
      parse: (source) => cachedParse(source),
      validate: (schema, document) => cachedValidate(schema, document),
      ...options,
      onSubscribe: async (ctx, id, payload) => {
        // The operation being started is already counted in ctx.subscriptions.
        if (Object.keys(ctx.subscriptions).length > maxOperations) {
          return [new GraphQLErrorClass(`at most ${maxOperations} operations at once on one connection`, { extensions: { code: 'TOO_MANY_OPERATIONS' } })];
        }
        const bad = badVariables(payload.variables);
        if (bad) return [bad];
        return options.onSubscribe?.(ctx, id, payload);
      },
      ...(limits.hideSuggestions
        ? {
            onNext: async (ctx, id, payload, args, result) => hideSuggestionsIn((await options.onNext?.(ctx, id, payload, args, result)) ?? result),
            onError: async (ctx, id, payload, errors) =>
              ((await options.onError?.(ctx, id, payload, errors)) ?? errors).map((e) => ({ ...e, message: withoutSuggestions(e.message) })),
          }
        : {}),
    },
    wss,
  );
  app.addHook('preClose', async () => {
    // dispose() sends close(1001, "Going away") to every client and resolves once all are closed.
    const timer = setTimeout(() => {
      for (const client of wss.clients) client.terminate();
    }, WS_CLOSE_WAIT_MS);
    try {
      await server.dispose();
    } finally {
      clearTimeout(timer);
    }
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
  const apollo = createSubgraphApollo<Ctx>(schema, resolvers, o.config.production);
  const auth = new InternalTokens(o.config.auth);
  const subscriptionContext = o.subscriptionContext;
  // A subgraph serves the gateway: an operation without its identity is refused before it runs
  // (introspection excepted, in development, for Sandbox on the subgraph), _service and
  // _entities included, so the composed schema is not handed to whoever reaches the port.
  apollo.addPlugin(gatewayOnlyPlugin());
  const app = await createServiceApp<Ctx>({
    name: o.name,
    apollo,
    // The gateway reaches a subgraph from one address with many connections (its HTTP pool and an
    // upstream graphql-ws connection per live caller): no cap per client address here, the
    // total cap and the timeouts still hold.
    http: { ...o.config.http, maxConnectionsPerClient: Infinity },
    production: o.config.production,
    context: async (req) => o.context(await auth.fromHeaders(req.headers)),
    ...(subscriptionContext ? { subscriptions: { schema, auth, context: subscriptionContext } } : {}),
    bodyLimit: o.bodyLimit,
    corsOrigins: o.config.corsOrigins,
    logLevel: o.config.logLevel,
    ...(o.health ? { health: o.health } : {}),
    ...(o.routes ? { routes: o.routes } : {}),
  });
  return listenService(app, apollo, o.config);
}

function gatewayOnlyPlugin<Ctx extends BaseContext>(): ApolloServerPlugin<Ctx> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ contextValue, operation }) {
          if ((contextValue as { identity?: Identity | null }).identity) return;
          if (operation && isIntrospection(operation)) return;
          throw unauthenticated('this subgraph serves the gateway only: the gateway identity is missing', 401);
        },
      };
    },
  };
}

/** Listens; `close` stops serving (drains in-flight requests), then Apollo. */
export async function listenService<Ctx extends BaseContext>(app: FastifyInstance, apollo: ApolloServer<Ctx>, basics: ServiceBasics) {
  const url = await listen(app, basics.port, basics.host);
  return {
    url,
    app,
    close: async () => {
      await app.close();
      await apollo.stop();
    },
  };
}

/** Listens and returns the base URL (port 0 picks a free port). */
export async function listen(app: FastifyInstance, port: number, host: string): Promise<string> {
  await app.listen({ port, host });
  const address = app.server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${shownHost}:${address.port}`;
}
