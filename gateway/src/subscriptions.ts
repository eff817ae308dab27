/**
 * Federated subscriptions for @apollo/gateway, which plans them but refuses to execute them.
 *
 * The gateway serves graphql-ws on /graphql. For a subscription it asks Apollo's query planner
 * for the plan (`Subscription { primary: Fetch, rest }`), opens the primary fetch on the owning
 * subgraph over graphql-ws, and for each event runs Apollo's own executeQueryPlan on
 * `Sequence[primary, rest]` with a service map whose primary service answers the primary fetch
 * with the event: results have exactly the shape queries have, and `rest` (entity fetches into the
 * other subgraphs, `@requires` included) is fetched per event. Queries and mutations sent over
 * the socket take the same path without the subscription.
 *
 * The caller's JWT (connectionParams `authorization`, or the upgrade request's header) is verified
 * on connect, which must come within GATEWAY_WS_INIT_TIMEOUT_MS; a socket without a valid token is
 * closed (queries and introspection without a token go over HTTP). The verified identity goes
 * upstream as the gateway's identity token, on the upstream subscription and on every per-event
 * fetch. The same query limits and role checks as over HTTP apply, and the per-caller limits
 * (caller-limits.ts): operations per second, sockets, subscriptions across sockets.
 *
 * Identical subscriptions of one caller (same document, operation name and variables) share one
 * upstream subscription and one execution per event (shared-subscription.ts); a caller's
 * subscriptions to one subgraph share one upstream graphql-ws connection.
 *
 * Reads the gateway's planner and schemas from ApolloGateway's (private) fields; checked on
 * @apollo/gateway 2.14.4, which package.json pins.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Schema } from '@apollo/federation-internals';
import { operationFromDocument } from '@apollo/federation-internals';
import { buildOperationContext, executeQueryPlan } from '@apollo/gateway';
import type { ApolloGateway, GraphQLDataSource } from '@apollo/gateway';
import type { FetchNode, QueryPlan, QueryPlanner } from '@apollo/query-planner';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { getOperationAST, GraphQLError, print } from 'graphql';
import type { DocumentNode, ExecutionArgs, ExecutionResult, FormattedExecutionResult, GraphQLSchema, OperationDefinitionNode, ValidationRule } from 'graphql';
import { createClient } from 'graphql-ws';
import { createHandler as createSseHandler } from 'graphql-sse/lib/use/fastify';
import type { Response as SseResponse } from 'graphql-sse';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { cachedParse, cachedValidate } from '../../lib/graphql/documents.js';
import { serveGraphqlWs } from '../../lib/graphql/ws.js';
import { withoutSuggestions } from '../../lib/graphql/errors.js';
import type { GatewayContext } from './gateway.js';
import type { Caller, GatewayAuth } from './auth.js';
import { identityKey } from '../../lib/auth.js';
import type { Identity } from '../../lib/auth.js';
import { callerKey } from './caller-limits.js';
import type { CallerLimits } from './caller-limits.js';
import type { RequiredScopes } from './scopes.js';
import { SharedSubscription } from './shared-subscription.js';
import type { SharedSubscriptionHooks, UpstreamSink } from './shared-subscription.js';
import { inLinkedSpan } from '../../lib/tracing.js';
import { callAt, eventIdOf, MULTIPART, resumeDocument, SSE, streamResults, subscriptionRootField } from './http-streams.js';
import { streamSearchParams } from './stream-tickets.js';
import type { StreamOperation } from './stream-tickets.js';

interface GatewayInternals {
  apiSchema: Schema;
  supergraphSchema: GraphQLSchema;
  queryPlanner: QueryPlanner;
  serviceMap: Record<string, { dataSource: GraphQLDataSource<GatewayContext> }>;
  schema: GraphQLSchema;
}

function internals(gateway: ApolloGateway): GatewayInternals {
  const g = gateway as unknown as Partial<GatewayInternals>;
  if (!g.apiSchema || !g.supergraphSchema || !g.queryPlanner || !g.serviceMap || !g.schema) {
    throw new Error('the gateway is not loaded (or its internals changed: check the @apollo/gateway version)');
  }
  return g as GatewayInternals;
}

/** What every execution of one operation shares. */
interface Prepared {
  /** Its number in this gateway (a live subscription's key names it rather than its text). */
  id: number;
  plan: QueryPlan;
  query: string;
  operationContext: ReturnType<typeof buildOperationContext>;
  /** A subscription's plan per event: its primary fetch (answered by the event), then the rest. */
  perEventPlan?: QueryPlan;
}

/** What each downstream graphql-ws connection carries. */
interface ConnectionState {
  /** The verified caller of this connection (from connectionParams or the upgrade request). */
  caller: Caller & { identity: Identity };
  /** The caller for the per-caller limits. */
  key: string;
  /** Stops the timer that closes the connection when the caller's token expires. */
  stopExpiry: () => void;
}

type UpstreamEvent = FormattedExecutionResult<Record<string, unknown>, unknown>;

export interface SubscriptionOptions {
  /** Subgraph name → GraphQL URL (ws:// is derived from it). */
  subgraphUrls: Record<string, string>;
  /** Verifies the caller's token (connectionParams `authorization`, or the upgrade request's header). */
  auth: GatewayAuth;
  /** Extra validation rules (query limits) and the most tokens an operation may have. */
  validationRules?: readonly ValidationRule[];
  maxTokens?: number;
  /** Largest graphql-ws message (bytes). */
  maxPayload: number;
  /** Drop "Did you mean …?" from every error (production). */
  hideSuggestions?: boolean;
  /** The cost limit, checked with the operation's variables (limits.ts). */
  cost: (schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: Record<string, unknown> | undefined) => GraphQLError | undefined;
  /** Fields that need a role (@requiresScopes in the supergraph). */
  scopes: RequiredScopes;
  /** Requests per second, sockets and subscriptions per caller. */
  callers: CallerLimits;
  /** Milliseconds a socket has to send connection_init. */
  initTimeoutMs: number;
  /** Told how many subscribers each live result was handed to (the live_messages_total metric). */
  delivered?: (messages: number) => void;
}

/**
 * Subscriptions whose every message carries the whole current state: under bursts only the newest
 * matters, so they are coalesced. Every other subscription (audienceMembershipChanged) is a stream
 * of distinct events and delivers each one (shared-subscription.ts).
 */
const STATE_SUBSCRIPTIONS: ReadonlySet<string> = new Set(['profileUpdated', 'experimentResultsUpdated']);

function coalesced(operation: OperationDefinitionNode | null | undefined): boolean {
  const root = subscriptionRootField(operation);
  return !!root && STATE_SUBSCRIPTIONS.has(root.name.value);
}

/** Live subscriptions one upstream graphql-ws connection carries at most. */
const UPSTREAM_SUBSCRIPTIONS = 100;


const toWs = (url: string) => url.replace(/^http/, 'ws');

/** Errors as they arrive from a subgraph (JSON) → GraphQLErrors, which graphql-ws serializes. */
function revive(errors: readonly unknown[]): GraphQLError[] {
  return errors.map((raw) => {
    const e = raw as { message?: string; extensions?: Record<string, unknown>; path?: readonly (string | number)[] };
    return new GraphQLError(e.message ?? 'subgraph error', { ...(e.extensions ? { extensions: e.extensions } : {}), ...(e.path ? { path: e.path } : {}) });
  });
}

/** An error as graphql-ws sends it: the HTTP status it has for Apollo Server means nothing on a socket. */
function withoutHttpStatus(error: GraphQLError): GraphQLError {
  const { http: _http, ...extensions } = error.extensions;
  return new GraphQLError(error.message, { extensions });
}

/** A token that failed verification, as a refusal: its own error (UNAUTHENTICATED or FORBIDDEN), else `invalid token`. */
function authFailure(err: unknown): GraphQLError[] {
  return [err instanceof GraphQLError ? withoutHttpStatus(err) : new GraphQLError('invalid token', { extensions: { code: 'UNAUTHENTICATED' } })];
}

/** An error without its "Did you mean …?" suggestion (production: it would reveal the schema). */
function withoutSuggestion(error: GraphQLError): GraphQLError {
  return new GraphQLError(withoutSuggestions(error.message), {
    nodes: error.nodes ?? null,
    source: error.source ?? null,
    positions: error.positions ?? null,
    path: error.path ?? null,
    originalError: error.originalError ?? null,
    extensions: error.extensions,
  });
}

/** A refusal of an HTTP stream request: a JSON body of errors. */
function sendErrors(reply: FastifyReply, status: number, errors: readonly unknown[]) {
  return reply.code(status).header('content-type', 'application/json; charset=utf-8').send({ errors });
}

/** The operation's document, or its syntax error (too many tokens included) as a GraphQL error. */
function parseOrErrors(query: string, maxTokens: number | undefined): { document: DocumentNode } | { errors: [GraphQLError] } {
  try {
    return { document: cachedParse(query, maxTokens) };
  } catch (err) {
    return { errors: [err instanceof GraphQLError ? err : new GraphQLError(String(err))] };
  }
}

/** The error that ends a subscription whose upstream failed: the subgraph's errors, or that it went away. */
function upstreamFailure(serviceName: string, err: unknown): ExecutionResult {
  // graphql-ws rejects with the upstream GraphQL errors when the subgraph refused the operation.
  if (Array.isArray(err)) return { errors: revive(err) };
  // Otherwise the subgraph went away (restart, network). Its address is not the caller's business.
  const code = (err as { code?: unknown })?.code;
  const how = typeof code === 'number' ? `closed (${code})` : 'connection failed';
  return {
    errors: [
      new GraphQLError(`the ${serviceName} subgraph ended the subscription: ${how}; subscribe again`, {
        extensions: { code: 'SUBSCRIPTION_UPSTREAM_CLOSED' },
      }),
    ],
  };
}

export class SubscriptionGateway {
  private readonly preparedByDocument = new WeakMap<DocumentNode, Map<string | undefined, Prepared>>();
  private preparedCount = 0;
  private dataSources?: Record<string, GraphQLDataSource<GatewayContext>>;
  /** Live subscriptions by caller, prepared operation (document and operation name) and variables. */
  private readonly live = new Map<string, SharedSubscription<UpstreamEvent, ExecutionResult>>();
  /** Upstream graphql-ws clients by caller and subgraph, with the number of live subscriptions on each. */
  private readonly upstreams = new Map<string, Array<{ client: Client; users: number }>>();

  /** Subgraph name → data source (the supergraph is static: built once). */
  private sources(): Record<string, GraphQLDataSource<GatewayContext>> {
    this.dataSources ??= Object.fromEntries(Object.entries(internals(this.gateway).serviceMap).map(([name, s]) => [name, s.dataSource]));
    return this.dataSources;
  }

  constructor(
    private readonly gateway: ApolloGateway,
    private readonly options: SubscriptionOptions,
  ) {}

  /**
   * The plan and the execution context of one operation, built once per document (documents are
   * shared by every subscription with the same text, see cachedDocument) and operation name.
   */
  private prepared(document: DocumentNode, operationName: string | undefined): Prepared {
    let byName = this.preparedByDocument.get(document);
    if (!byName) this.preparedByDocument.set(document, (byName = new Map()));
    let prepared = byName.get(operationName);
    if (!prepared) {
      const { apiSchema, queryPlanner, schema } = internals(this.gateway);
      prepared = {
        id: ++this.preparedCount,
        plan: queryPlanner.buildQueryPlan(operationFromDocument(apiSchema, document, { operationName })),
        query: print(document),
        operationContext: buildOperationContext({ schema, operationDocument: document, ...(operationName ? { operationName } : {}) }),
      };
      byName.set(operationName, prepared);
    }
    return prepared;
  }

  /**
   * An upstream client of the caller's for a subgraph, and what releases it. A caller's live
   * subscriptions share its upstream connections, UPSTREAM_SUBSCRIPTIONS on each (a subgraph takes
   * 200 operations per connection, see serveGraphqlWs); a connection goes with its last user.
   */
  private upstreamClient(identity: Identity, serviceName: string): { client: Client; release: () => Promise<void> } {
    const key = `${identityKey(identity)}\u0000${serviceName}`;
    const pool = this.upstreams.get(key) ?? [];
    this.upstreams.set(key, pool);
    let entry = pool.find((e) => e.users < UPSTREAM_SUBSCRIPTIONS);
    if (!entry) {
      const client = createClient({
        url: toWs(this.options.subgraphUrls[serviceName]!),
        webSocketImpl: WebSocket,
        // The verified caller travels with the upstream subscription as the gateway's identity token.
        // (Signed when the connection opens: the gateway's identity tokens are short-lived.)
        connectionParams: async () => {
          const { identityToken } = await this.options.auth.identityToken(identity);
          return identityToken ? { identity: identityToken } : {};
        },
        lazy: true,
        retryAttempts: 0,
      });
      pool.push((entry = { client, users: 0 }));
    }
    const used = entry;
    used.users++;
    let released = false;
    return {
      client: used.client,
      release: async () => {
        if (released) return;
        released = true;
        if (--used.users > 0) return;
        pool.splice(pool.indexOf(used), 1);
        if (pool.length === 0 && this.upstreams.get(key) === pool) this.upstreams.delete(key);
        await used.client.dispose();
      },
    };
  }

  private async requestContext(args: ExecutionArgs, identity: Identity, query: string) {
    // A fresh (cached until near expiry) identity token: subscriptions outlive any one token.
    const context: GatewayContext = {
      requestId: randomUUID(),
      identity,
      ...(await this.options.auth.identityToken(identity)),
    };
    return {
      request: { query, variables: (args.variableValues ?? {}) as Record<string, unknown>, operationName: args.operationName ?? undefined },
      context,
      logger: console,
      metrics: {},
      cache: undefined,
      overallCachePolicy: undefined,
    } as unknown as Parameters<typeof executeQueryPlan>[2];
  }

  /** Runs a planned operation: the whole plan, or the subscription's per-event part. */
  private async execute(
    args: ExecutionArgs,
    identity: Identity,
    plan: QueryPlan,
    prepared: Prepared,
    serviceMap?: Record<string, GraphQLDataSource<GatewayContext>>,
  ) {
    const { supergraphSchema, apiSchema } = internals(this.gateway);
    const dataSources = serviceMap ?? this.sources();
    const requestContext = await this.requestContext(args, identity, prepared.query);
    return (await executeQueryPlan(plan, dataSources, requestContext, prepared.operationContext, supergraphSchema, apiSchema)) as ExecutionResult;
  }

  /** graphql-ws `subscribe`: an async iterator of results, one per upstream event. */
  async subscribe(args: ExecutionArgs, state: ConnectionState): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
    const operation = getOperationAST(args.document, args.operationName);
    const { identity } = state.caller;
    const { schema } = internals(this.gateway);
    const refused =
      operation &&
      (this.options.scopes.refusal(schema, args.document, operation, identity) ??
        this.options.cost(schema, args.document, operation, args.variableValues as Record<string, unknown> | undefined));
    if (refused) return { errors: [withoutHttpStatus(refused)] };
    let prepared: Prepared;
    try {
      prepared = this.prepared(args.document, args.operationName ?? undefined);
    } catch (err) {
      return { errors: [err instanceof GraphQLError ? err : new GraphQLError((err as Error).message)] };
    }
    const { plan } = prepared;
    const node = plan.node;
    if (node?.kind !== 'Subscription') return this.execute(args, identity, plan, prepared);

    if (!this.options.subgraphUrls[node.primary.serviceName]) return { errors: [new GraphQLError(`no URL for subgraph ${node.primary.serviceName}`)] };
    const { subscriptions } = this.options.callers;
    if (!subscriptions.tryAdd(state.key)) return { errors: [this.options.callers.tooManySubscriptions()] };
    const variables = (args.variableValues ?? {}) as Record<string, unknown>;
    // The operation by its prepared plan's number: a document and operation name are prepared once
    // while the document is cached (cachedParse), and every subscription with its text shares it.
    const key = `${identityKey(identity)}\u0000${prepared.id}\u0000${JSON.stringify(variables)}`;
    try {
      let shared = this.live.get(key);
      if (!shared) this.live.set(key, (shared = this.share(key, args, identity, prepared, node, !coalesced(operation))));
      return shared.join(() => subscriptions.remove(state.key));
    } catch (err) {
      // Never joined (the upstream could not be opened): the slot it took is free again.
      subscriptions.remove(state.key);
      return { errors: [err instanceof GraphQLError ? err : new GraphQLError('the subscription could not be started', { extensions: { code: 'SUBSCRIPTION_UPSTREAM_CLOSED' } })] };
    }
  }

  /** A shared subscription's options, one object of each kind for all of them (made at first use). */
  private shareOptions?: Record<'everyEvent' | 'newest', { everyEvent: boolean; delivered?: (subscribers: number) => void }>;

  /** What a LiveOperation uses of this gateway (one object for all of them). */
  private readonly liveHost: LiveHost = {
    upstreamClient: (identity, serviceName) => this.upstreamClient(identity, serviceName),
    execute: (args, identity, plan, prepared, serviceMap) => this.execute(args, identity, plan, prepared, serviceMap),
    sources: () => this.sources(),
    over: (key) => void this.live.delete(key),
  };

  /** A live subscription for every identical subscriber: the primary upstream, `rest` once per event. */
  private share(
    key: string,
    args: ExecutionArgs,
    identity: Identity,
    prepared: Prepared,
    node: Extract<QueryPlan['node'], { kind: 'Subscription' }>,
    everyEvent: boolean,
  ): SharedSubscription<UpstreamEvent, ExecutionResult> {
    const variables = (args.variableValues ?? {}) as Record<string, unknown>;
    const upstreamVariables = Object.fromEntries((node.primary.variableUsages ?? []).map((name) => [name, variables[name]]));
    prepared.perEventPlan ??= { kind: 'QueryPlan', node: node.rest ? { kind: 'Sequence', nodes: [node.primary, node.rest] } : node.primary };
    const hooks = new LiveOperation(this.liveHost, key, args, identity, prepared, node.primary, upstreamVariables);
    const delivered = this.options.delivered ? { delivered: this.options.delivered } : {};
    this.shareOptions ??= { everyEvent: { everyEvent: true, ...delivered }, newest: { everyEvent: false, ...delivered } };
    return new SharedSubscription<UpstreamEvent, ExecutionResult>(hooks, everyEvent ? this.shareOptions.everyEvent : this.shareOptions.newest);
  }

  /**
   * One operation that arrived over HTTP (SSE or multipart), admitted as graphql-ws admits one:
   * a verified caller, within its rate (when `rateLimit`; POST /graphql is counted on arrival),
   * a valid document within the limits. A resumable subscription's version comes from the
   * client's `Last-Event-ID`. What to run, or the refusal with its HTTP status.
   */
  private admit(
    caller: Caller,
    document: DocumentNode,
    op: StreamOperation,
    options: { rateLimit: boolean; lastEventId?: string | undefined },
  ): { args: ExecutionArgs & { contextValue: { state: ConnectionState } }; operation: OperationDefinitionNode | null } | { status: 400 | 401 | 429; errors: readonly GraphQLError[] } {
    const { identity } = caller;
    if (!identity) return { status: 401, errors: [new GraphQLError('authentication required: send Authorization: Bearer <JWT>', { extensions: { code: 'UNAUTHENTICATED' } })] };
    const key = callerKey(identity);
    const limited = options.rateLimit ? this.options.callers.rateLimited(key) : undefined;
    if (limited) return { status: 429, errors: [withoutHttpStatus(limited)] };
    const schema = internals(this.gateway).schema;
    const invalid = cachedValidate(schema, document, this.options.validationRules);
    // In production "Did you mean …?" would reveal the schema: dropped, as graphql-ws drops it.
    if (invalid.length > 0) return { status: 400, errors: this.options.hideSuggestions ? invalid.map(withoutSuggestion) : invalid };
    const operation = getOperationAST(document, op.operationName);
    // Only the root field's arguments change: the operation found here describes the resumed one too.
    const resumed = resumeDocument(document, operation, options.lastEventId);
    return {
      operation: operation ?? null,
      args: {
        schema,
        document: resumed,
        ...(op.operationName ? { operationName: op.operationName } : {}),
        ...(op.variables ? { variableValues: op.variables } : {}),
        contextValue: { state: { caller: { ...caller, identity }, key, stopExpiry: () => undefined } },
      },
    };
  }

  /** The caller of an HTTP stream request: its Authorization header, or (GET only) a stream ticket. */
  private async streamCaller(req: FastifyRequest, op: StreamOperation): Promise<Caller> {
    const ticket = req.method === 'GET' ? (req.query as Record<string, unknown>)['ticket'] : undefined;
    if (typeof ticket !== 'string') return this.options.auth.caller(req.headers.authorization);
    return this.options.auth.callerFor(await this.options.auth.tickets.verify(ticket, op));
  }

  /**
   * Serves GraphQL over Server-Sent Events at /graphql/stream, with the same auth, limits, role
   * checks, plans and shared executions as graphql-ws: the graphql-sse protocol's distinct
   * connections mode (GET or POST, one operation per request; what `EventSource` and
   * graphql-sse's client use), written here so that events carry resumable ids (http-streams.ts),
   * and its single connection mode through graphql-sse's own handler. POST
   * /graphql/stream/ticket trades the caller's token for a ticket that lets an `EventSource`
   * (which sends no headers) open one operation's stream (stream-tickets.ts).
   */
  attachSse(app: FastifyInstance): void {
    const singleConnection = createSseHandler<{ state: ConnectionState }>({
      onSubscribe: async (req, params) => {
        const op = { query: params.query, operationName: params.operationName ?? undefined, variables: params.variables ?? undefined };
        const refuse = (status: number, errors: readonly GraphQLError[]): SseResponse => [
          JSON.stringify({ errors }),
          { status, statusText: status === 401 ? 'Unauthorized' : status === 429 ? 'Too Many Requests' : 'Bad Request', headers: { 'content-type': 'application/json; charset=utf-8' } },
        ];
        let caller: Caller;
        try {
          caller = await this.options.auth.caller(req.headers.get('authorization') ?? undefined);
        } catch (err) {
          return refuse(401, authFailure(err));
        }
        const parsed = parseOrErrors(op.query, this.options.maxTokens);
        if ('errors' in parsed) return { errors: parsed.errors };
        const admitted = this.admit(caller, parsed.document, op, { rateLimit: true });
        return 'status' in admitted ? refuse(admitted.status, admitted.errors) : admitted.args;
      },
      execute: (args) => this.subscribe(args, args.contextValue.state),
      subscribe: (args) => this.subscribe(args, args.contextValue.state),
    });
    /** A distinct-mode request admitted (its operation, caller, document, limits), or its refusal sent. */
    const admitRequest = async (req: FastifyRequest, reply: FastifyReply, lastEventId?: string) => {
      const op = streamOperation(req);
      if ('error' in op) return { refused: sendErrors(reply, 400, [{ message: op.error, extensions: { code: 'BAD_REQUEST' } }]) };
      let caller: Caller;
      try {
        caller = await this.streamCaller(req, op);
      } catch (err) {
        return { refused: sendErrors(reply, 401, authFailure(err)) };
      }
      const parsed = parseOrErrors(op.query, this.options.maxTokens);
      if ('errors' in parsed) return { refused: sendErrors(reply, 400, parsed.errors) };
      const admitted = this.admit(caller, parsed.document, op, { rateLimit: true, lastEventId });
      return 'status' in admitted ? { refused: sendErrors(reply, admitted.status, admitted.errors) } : { op, ...admitted };
    };
    const distinct = async (req: FastifyRequest, reply: FastifyReply) => {
      const lastEventId = req.headers['last-event-id'];
      const admitted = await admitRequest(req, reply, typeof lastEventId === 'string' ? lastEventId : undefined);
      if ('refused' in admitted) return admitted.refused;
      const result = await this.subscribe(admitted.args, admitted.args.contextValue.state);
      await streamResults(reply, Symbol.asyncIterator in result ? result : once(result), SSE, {
        expiresAt: admitted.args.contextValue.state.caller.identity.expiresAt,
        eventId: eventIdOf(admitted.operation),
      });
    };
    app.route({
      method: ['GET', 'POST', 'PUT', 'DELETE'],
      url: '/graphql/stream',
      handler: async (req, reply) => {
        // Single connection mode reserves a stream (PUT) and names it in every request.
        const token = req.headers['x-graphql-event-stream-token'] ?? (req.query as Record<string, unknown>)['token'];
        if (req.method === 'GET' || req.method === 'POST' ? token === undefined : false) return distinct(req, reply);
        await singleConnection(req, reply);
      },
    });
    app.post('/graphql/stream/ticket', async (req, reply) => {
      // Refused now rather than when the EventSource connects, where no reason can be read. (A
      // POST is authenticated by its header only: a ticket cannot buy another.)
      const admitted = await admitRequest(req, reply);
      if ('refused' in admitted) return admitted.refused;
      const { op } = admitted;
      const { ticket, expiresAt } = await this.options.auth.tickets.issue(admitted.args.contextValue.state.caller.identity, op);
      const params = streamSearchParams(op);
      params.set('ticket', ticket);
      return reply.code(201).send({ ticket, expiresAt: new Date(expiresAt).toISOString(), url: `/graphql/stream?${params}` });
    });
  }

  /**
   * Apollo's multipart HTTP subscription protocol on POST /graphql (what Apollo Client's HttpLink
   * and Apollo Router speak): a subscription asked for with `Accept: multipart/mixed;
   * subscriptionSpec=1.0` is answered with one multipart body, a JSON part per event
   * (`{"payload": result}`) and a heartbeat part (`{}`) every 5 s, through the same
   * SubscriptionGateway as graphql-ws and SSE, until the caller's token expires.
   * Queries and mutations stay Apollo Server's.
   */
  attachMultipart(app: FastifyInstance): void {
    app.addHook('preHandler', async (req, reply) => {
      if (req.method !== 'POST' || req.routeOptions.url !== '/graphql') return;
      const accept = req.headers.accept ?? '';
      if (!/multipart\/mixed/i.test(accept) || !/subscriptionSpec/i.test(accept)) return;
      const op = streamOperation(req);
      if ('error' in op) return; // Apollo Server answers a malformed request
      const parsed = parseOrErrors(op.query, this.options.maxTokens);
      if ('errors' in parsed) return; // Apollo Server answers the syntax error
      const { document } = parsed;
      if (getOperationAST(document, op.operationName)?.operation !== 'subscription') return;
      let caller: Caller;
      try {
        caller = await this.options.auth.callerOf(req);
      } catch (err) {
        return sendErrors(reply, 401, authFailure(err));
      }
      // Each POST /graphql was counted against its caller's rate on arrival (caller-limits.ts).
      const admitted = this.admit(caller, document, op, { rateLimit: false });
      if ('status' in admitted) return sendErrors(reply, admitted.status, admitted.errors);
      const { state } = admitted.args.contextValue;
      const result = await this.subscribe(admitted.args, state);
      if (!(Symbol.asyncIterator in result)) return sendErrors(reply, 200, (result.errors ?? []) as GraphQLError[]);
      await streamResults(reply, result, MULTIPART, { expiresAt: state.caller.identity.expiresAt });
    });
  }

  /** Serves graphql-ws on the gateway's HTTP server at /graphql. */
  attach(app: FastifyInstance): void {
    const states = new WeakMap<object, ConnectionState>();
    const stateOf = (ctx: object): ConnectionState => states.get(ctx)!;
    const { callers } = this.options;
    serveGraphqlWs<Record<string, unknown>>(
      app,
      {
        schema: () => internals(this.gateway).schema,
        // A socket has this long to authenticate (connection_init), or it is closed (4408).
        connectionInitWaitTimeout: this.options.initTimeoutMs,
        onSubscribe: (ctx, _id, payload) => {
          // Every operation counts against the caller's request rate, as HTTP requests do.
          const limited = callers.rateLimited(stateOf(ctx).key);
          if (limited) return [limited];
          // Syntax errors (and too many tokens) are answered as errors of the operation.
          const parsed = parseOrErrors(payload.query, this.options.maxTokens);
          return 'errors' in parsed ? parsed.errors : undefined;
        },
        parse: (source) => cachedParse(source, this.options.maxTokens),
        validate: (schema, document) => cachedValidate(schema, document, this.options.validationRules),
        onConnect: async (ctx) => {
          const params = ctx.connectionParams ?? {};
          const { request, socket } = ctx.extra as { request?: { headers?: IncomingHttpHeaders }; socket: WebSocket };
          const nested = params['headers'] as Record<string, unknown> | undefined;
          const authorization = [params['authorization'], params['Authorization'], nested?.['authorization'], nested?.['Authorization'], request?.headers?.authorization].find(
            (v): v is string => typeof v === 'string',
          );
          let caller: Caller;
          try {
            caller = await this.options.auth.caller(authorization);
          } catch {
            return false; // a bad token: graphql-ws closes the socket with 4403 Forbidden
          }
          // No token, no socket (4403): queries and introspection without one go over HTTP.
          const { identity } = caller;
          if (!identity) return false;
          // Closed while its token was verified: nothing to count.
          if (socket.readyState !== WebSocket.OPEN) return false;
          const key = callerKey(identity);
          if (!callers.connections.tryAdd(key)) {
            socket.close(4429, callers.tooManyConnections());
            return false;
          }
          // The connection lives as long as the caller's token: at its expiry it is closed (4401).
          const stopExpiry = identity.expiresAt === undefined ? () => undefined : callAt(identity.expiresAt, () => socket.close(4401, 'token expired'));
          states.set(ctx, { caller: { ...caller, identity }, key, stopExpiry });
          return true;
        },
        onClose: async (ctx) => {
          const state = states.get(ctx);
          if (!state) return;
          states.delete(ctx);
          state.stopExpiry();
          callers.connections.remove(state.key);
        },
        subscribe: (args) => this.subscribe(args, stateOf(args.contextValue as object)),
        execute: (args) => this.subscribe(args, stateOf(args.contextValue as object)) as Promise<ExecutionResult>,
        // The graphql-ws context object doubles as the key of the connection's state.
        context: (ctx) => ctx as unknown as Record<string, unknown>,
      },
      // In production "Did you mean …?" would reveal the schema: dropped from every error sent.
      { maxPayload: this.options.maxPayload, hideSuggestions: !!this.options.hideSuggestions },
    );
  }
}

/** One result as a stream of one (a query or mutation sent over SSE). */
async function* once(result: ExecutionResult): AsyncIterableIterator<ExecutionResult> {
  yield result;
}

/**
 * The operation of an HTTP stream request: GET parameters (graphql-sse's and EventSource's form)
 * or a JSON body, checked as graphql-sse checks them.
 */
function streamOperation(req: FastifyRequest): StreamOperation | { error: string } {
  let raw: Record<string, unknown>;
  if (req.method === 'GET') {
    const q = req.query as Record<string, unknown>;
    raw = { query: q['query'], operationName: q['operationName'] };
    try {
      if (typeof q['variables'] === 'string') raw['variables'] = JSON.parse(q['variables']);
    } catch {
      return { error: 'the variables parameter is not JSON' };
    }
  } else {
    const body = req.body;
    if (!body || typeof body !== 'object' || Array.isArray(body)) return { error: 'send a JSON object {query, operationName?, variables?}' };
    raw = body as Record<string, unknown>;
  }
  if (typeof raw['query'] !== 'string' || raw['query'] === '') return { error: 'query is missing: send {query, operationName?, variables?}' };
  if (raw['operationName'] != null && typeof raw['operationName'] !== 'string') return { error: 'operationName must be a string' };
  const variables = raw['variables'];
  if (variables != null && (typeof variables !== 'object' || Array.isArray(variables))) return { error: 'variables must be an object' };
  return {
    query: raw['query'],
    ...(typeof raw['operationName'] === 'string' ? { operationName: raw['operationName'] } : {}),
    ...(variables ? { variables: variables as Record<string, unknown> } : {}),
  };
}

/** What a live operation needs of the SubscriptionGateway. */
interface LiveHost {
  upstreamClient(identity: Identity, serviceName: string): { client: Client; release: () => Promise<void> };
  execute(args: ExecutionArgs, identity: Identity, plan: QueryPlan, prepared: Prepared, serviceMap?: Record<string, GraphQLDataSource<GatewayContext>>): Promise<ExecutionResult>;
  sources(): Record<string, GraphQLDataSource<GatewayContext>>;
  over(key: string): void;
}

/**
 * The hooks of one shared subscription: its primary fetch as the upstream subscription, the rest
 * of the plan once per event. A class, so that a live subscription is one object with its
 * fields rather than a closure (and a context) per hook: bench:fanout holds 10,000 of them.
 */
class LiveOperation implements SharedSubscriptionHooks<UpstreamEvent, ExecutionResult> {
  private release?: () => Promise<void>;

  constructor(
    private readonly host: LiveHost,
    private readonly key: string,
    private readonly args: ExecutionArgs,
    private readonly identity: Identity,
    private readonly prepared: Prepared,
    private readonly primary: FetchNode,
    private readonly upstreamVariables: Record<string, unknown>,
  ) {}

  open(sink: UpstreamSink<UpstreamEvent>): () => void {
    const upstream = this.host.upstreamClient(this.identity, this.primary.serviceName);
    this.release = upstream.release;
    const { operation, operationName } = this.primary;
    return upstream.client.subscribe<Record<string, unknown>>({ query: operation, variables: this.upstreamVariables, ...(operationName ? { operationName } : {}) }, sink);
  }

  async step(event: UpstreamEvent): Promise<{ value: ExecutionResult; last?: boolean }> {
    const data = event.data;
    // An error without data (upstream refused or went away) is delivered once, then the end.
    if (!data) return { value: { ...event, errors: revive(event.errors ?? []) } as ExecutionResult, last: true };
    if (event.errors?.length) return { value: { ...event, errors: revive(event.errors) } as ExecutionResult };
    // This event answers the primary fetch; everything else is fetched as for a query (through
    // the gateway's data sources, which merge concurrent entity fetches).
    const { primary, args } = this;
    const sources = this.host.sources();
    const realPrimary = sources[primary.serviceName]!;
    const eventSource: GraphQLDataSource<GatewayContext> = {
      process: async (options) => (options.request.query === primary.operation ? { data } : realPrimary.process(options)),
    };
    // The event's trace (the subgraph passes it on in `extensions.traceparent`, lib/subgraph-service.ts)
    // continues in this execution and its entity fetches.
    const traceparent = (event.extensions as { traceparent?: unknown } | undefined)?.traceparent;
    const execution = () => this.host.execute(args, this.identity, this.prepared.perEventPlan!, this.prepared, { ...sources, [primary.serviceName]: eventSource });
    return { value: await inLinkedSpan('gateway', 'gateway.live_push', typeof traceparent === 'string' ? [traceparent] : [], { 'graphql.operation.name': args.operationName ?? '' }, execution) };
  }

  failed(err: unknown): ExecutionResult {
    return upstreamFailure(this.primary.serviceName, err);
  }

  over(): void {
    this.host.over(this.key);
  }

  async closed(): Promise<void> {
    await this.release?.();
  }
}
