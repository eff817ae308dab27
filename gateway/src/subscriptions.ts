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
 * on connect; the verified identity goes upstream as the gateway's identity token, on the upstream
 * subscription and on every per-event fetch. The same query limits as over HTTP apply.
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
import type { FastifyInstance } from 'fastify';
import { getOperationAST, GraphQLError, print } from 'graphql';
import type { DocumentNode, ExecutionArgs, ExecutionResult, FormattedExecutionResult, GraphQLSchema, ValidationRule } from 'graphql';
import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { cachedParse, cachedValidate, serveGraphqlWs } from '../../lib/service-app.js';
import { LatestSlot } from '../../lib/latest-slot.js';
import type { GatewayContext } from './gateway.js';
import { needsCaller } from './auth.js';
import type { Caller, GatewayAuth } from './auth.js';
import { unauthenticated } from '../../lib/auth.js';

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
  plan: QueryPlan;
  query: string;
  operationContext: ReturnType<typeof buildOperationContext>;
}

/** What each downstream graphql-ws connection carries: its caller's identity, and upstream clients. */
interface ConnectionState {
  /** The verified caller of this connection (from connectionParams or the upgrade request). */
  caller: Caller;
  /** Closes the connection when the caller's token expires. */
  expiry?: NodeJS.Timeout;
  upstream: Map<string, Client>;
}

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
  /** Drop "Did you mean …?" from validation errors (production). */
  hideSuggestions?: boolean;
}

const toWs = (url: string) => url.replace(/^http/, 'ws');

/** Errors as they arrive from a subgraph (JSON) → GraphQLErrors, which graphql-ws serializes. */
function revive(errors: readonly unknown[]): GraphQLError[] {
  return errors.map((raw) => {
    const e = raw as { message?: string; extensions?: Record<string, unknown>; path?: readonly (string | number)[] };
    return new GraphQLError(e.message ?? 'subgraph error', { ...(e.extensions ? { extensions: e.extensions } : {}), ...(e.path ? { path: e.path } : {}) });
  });
}

/** Events arrive faster than a slow client reads: keep only the newest (latest state wins). */
function newestOnly<T>(source: AsyncIterableIterator<T>): AsyncIterableIterator<T> {
  const slot = new LatestSlot<T>();
  void (async () => {
    try {
      for await (const value of source) slot.put(value);
      slot.end();
    } catch (error) {
      slot.end(error);
    }
  })();
  const iterator: AsyncIterableIterator<T> = {
    next: () => slot.take(),
    async return() {
      slot.close();
      await source.return?.();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

export class SubscriptionGateway {
  private readonly preparedByDocument = new WeakMap<DocumentNode, Map<string | undefined, Prepared>>();
  private dataSources?: Record<string, GraphQLDataSource<GatewayContext>>;

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
        plan: queryPlanner.buildQueryPlan(operationFromDocument(apiSchema, document, { operationName })),
        query: print(document),
        operationContext: buildOperationContext({ schema, operationDocument: document, ...(operationName ? { operationName } : {}) }),
      };
      byName.set(operationName, prepared);
    }
    return prepared;
  }

  private upstreamClient(state: ConnectionState, serviceName: string): Client {
    let client = state.upstream.get(serviceName);
    if (!client) {
      const url = this.options.subgraphUrls[serviceName];
      if (!url) throw new Error(`no URL for subgraph ${serviceName}`);
      client = createClient({
        url: toWs(url),
        webSocketImpl: WebSocket,
        // The verified caller travels with the upstream subscription as the gateway's identity token.
        // (Signed when the connection opens: the gateway's identity tokens are short-lived.)
        connectionParams: async () => {
          const { identityToken } = await this.options.auth.identityToken(state.caller.identity);
          return identityToken ? { identity: identityToken } : {};
        },
        lazy: true,
        retryAttempts: 0,
      });
      state.upstream.set(serviceName, client);
    }
    return client;
  }

  private async requestContext(args: ExecutionArgs, state: ConnectionState, query: string) {
    // A fresh (cached until near expiry) identity token: subscriptions outlive any one token.
    const { identity } = state.caller;
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
    state: ConnectionState,
    plan: QueryPlan,
    prepared: Prepared,
    serviceMap?: Record<string, GraphQLDataSource<GatewayContext>>,
  ) {
    const { supergraphSchema, apiSchema } = internals(this.gateway);
    const dataSources = serviceMap ?? this.sources();
    const requestContext = await this.requestContext(args, state, prepared.query);
    return (await executeQueryPlan(plan, dataSources, requestContext, prepared.operationContext, supergraphSchema, apiSchema)) as ExecutionResult;
  }

  /** graphql-ws `subscribe`: an async iterator of results, one per upstream event. */
  async subscribe(args: ExecutionArgs, state: ConnectionState): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
    const operation = getOperationAST(args.document, args.operationName);
    if (needsCaller(state.caller, operation)) {
      return { errors: [unauthenticated('authentication required: send connectionParams { authorization: "Bearer <JWT>" }')] };
    }
    let prepared: Prepared;
    try {
      prepared = this.prepared(args.document, args.operationName ?? undefined);
    } catch (err) {
      return { errors: [err instanceof GraphQLError ? err : new GraphQLError((err as Error).message)] };
    }
    const { plan } = prepared;
    const node = plan.node;
    if (node?.kind !== 'Subscription') return this.execute(args, state, plan, prepared);

    const primary: FetchNode = node.primary;
    const variables = (args.variableValues ?? {}) as Record<string, unknown>;
    const upstreamVariables = Object.fromEntries((primary.variableUsages ?? []).map((name) => [name, variables[name]]));
    const upstream = this.upstreamClient(state, primary.serviceName).iterate<Record<string, unknown>>({
      query: primary.operation,
      variables: upstreamVariables,
      ...(primary.operationName ? { operationName: primary.operationName } : {}),
    });
    const perEventPlan: QueryPlan = { kind: 'QueryPlan', node: node.rest ? { kind: 'Sequence', nodes: [primary, node.rest] } : primary };
    // The gateway's data sources (they merge concurrent entity fetches).
    const sources = this.sources();
    const realPrimary = sources[primary.serviceName]!;
    const events = newestOnly(upstream);
    const self = this;
    // An error without data (upstream refused or went away) is delivered once, then the end.
    let finished = false;
    const finish = (value: ExecutionResult): IteratorResult<ExecutionResult> => {
      finished = true;
      return { done: false, value };
    };
    const results: AsyncIterableIterator<ExecutionResult> = {
      async next() {
        if (finished) return { done: true, value: undefined };
        let event: IteratorResult<FormattedExecutionResult<Record<string, unknown>, unknown>>;
        try {
          event = await events.next();
        } catch (err) {
          await events.return?.();
          // graphql-ws rejects with the upstream GraphQL errors when the subgraph refused the operation.
          if (Array.isArray(err)) return finish({ errors: revive(err) });
          // Otherwise the subgraph went away (restart, network): end with a clear error.
          const message = err instanceof Error ? err.message : `closed (${(err as { code?: number })?.code ?? 'unknown'})`;
          return finish({
            errors: [
              new GraphQLError(`the ${primary.serviceName} subgraph ended the subscription: ${message}; subscribe again`, {
                extensions: { code: 'SUBSCRIPTION_UPSTREAM_CLOSED' },
              }),
            ],
          });
        }
        if (event.done) return { done: true, value: undefined };
        const data = event.value.data;
        if (!data) return finish({ ...event.value, errors: revive(event.value.errors ?? []) } as ExecutionResult);
        if (event.value.errors?.length) return { done: false, value: { ...event.value, errors: revive(event.value.errors) } as ExecutionResult };
        // This event answers the primary fetch; everything else is fetched as for a query.
        const eventSource: GraphQLDataSource<GatewayContext> = {
          process: async (options) => (options.request.query === primary.operation ? { data } : realPrimary.process(options)),
        };
        try {
          return { done: false, value: await self.execute(args, state, perEventPlan, prepared, { ...sources, [primary.serviceName]: eventSource }) };
        } catch (err) {
          // graphql-ws does not call return() when next() fails: close the upstream here.
          await events.return?.();
          throw err;
        }
      },
      async return() {
        await events.return?.();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return results;
      },
    };
    return results;
  }

  /** Serves graphql-ws on the gateway's HTTP server at /graphql. */
  attach(app: FastifyInstance): void {
    const states = new WeakMap<object, ConnectionState>();
    const stateOf = (ctx: object): ConnectionState => states.get(ctx)!;
    serveGraphqlWs<Record<string, unknown>>(
      app,
      {
        schema: () => internals(this.gateway).schema,
        // Syntax errors (and too many tokens) are answered as errors of the operation.
        onSubscribe: (_ctx, _id, payload) => {
          try {
            cachedParse(payload.query, this.options.maxTokens);
            return undefined;
          } catch (err) {
            return [err instanceof GraphQLError ? err : new GraphQLError(String(err))];
          }
        },
        parse: (source) => cachedParse(source, this.options.maxTokens),
        validate: (schema, document) => {
          const errors = cachedValidate(schema, document, this.options.validationRules);
          // In production "Did you mean …?" would reveal the schema (as Apollo's HTTP path hides it).
          return this.options.hideSuggestions ? errors.map((e) => new GraphQLError(e.message.replace(/ Did you mean .*$/, ''), { nodes: e.nodes ?? null })) : errors;
        },
        onConnect: async (ctx) => {
          const params = ctx.connectionParams ?? {};
          const headers = (ctx.extra as { request?: { headers?: IncomingHttpHeaders } }).request?.headers;
          const nested = params['headers'] as Record<string, unknown> | undefined;
          const authorization = [params['authorization'], params['Authorization'], nested?.['authorization'], nested?.['Authorization'], headers?.authorization].find(
            (v): v is string => typeof v === 'string',
          );
          let caller: Caller;
          try {
            caller = await this.options.auth.caller(authorization);
          } catch {
            return false; // a bad token: graphql-ws closes the socket with 4403 Forbidden
          }
          const state: ConnectionState = { caller, upstream: new Map() };
          // The connection lives as long as the caller's token: at its expiry it is closed (4401).
          const expiresAt = caller.identity?.expiresAt;
          if (expiresAt !== undefined) {
            const socket = (ctx.extra as { socket?: { close(code: number, reason: string): void } }).socket;
            state.expiry = setTimeout(() => socket?.close(4401, 'token expired'), Math.max(0, expiresAt - Date.now()));
            state.expiry.unref();
          }
          states.set(ctx, state);
          return true;
        },
        onClose: async (ctx) => {
          const state = states.get(ctx);
          if (!state) return;
          clearTimeout(state.expiry);
          await Promise.all([...state.upstream.values()].map((c) => c.dispose()));
          state.upstream.clear();
        },
        subscribe: (args) => this.subscribe(args, stateOf(args.contextValue as object)),
        execute: (args) => this.subscribe(args, stateOf(args.contextValue as object)) as Promise<ExecutionResult>,
        // The graphql-ws context object doubles as the key of the connection's state.
        context: (ctx) => ctx as unknown as Record<string, unknown>,
      },
      { maxPayload: this.options.maxPayload },
    );
  }
}
