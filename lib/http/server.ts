/**
 * The HTTP shell every service shares: Fastify with Apollo Server at /graphql, /health, CORS,
 * request ids, body limits, timeouts and connection caps, and JSON errors with a code and a reason.
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApolloServer, BaseContext } from '@apollo/server';
import fastifyApollo from '@as-integrations/fastify';
import type { ApolloFastifyContextFunction } from '@as-integrations/fastify';
import cors from '@fastify/cors';
import Fastify from 'fastify';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { httpLimits } from '../env.js';
import type { HttpLimits, ServiceBasics } from '../env.js';
import { requestErrorsPlugin } from '../graphql/plugins.js';
import { drainKeepAliveOnClose } from './drain.js';
import type { ServiceMetrics } from '../metrics.js';
import { poisoningKeyPath } from '../json-shape.js';
import { traceFields, tracingActive } from '../tracing.js';
import { nameRequestSpans, tracedServerFactory } from './trace-requests.js';

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
  /**
   * Readiness checks for /ready (for orchestrators): each resolves when its dependency answers
   * (a store reachable, the supergraph loaded). /health says the process is alive; /ready that it
   * can serve.
   */
  ready?: Record<string, () => Promise<unknown>>;
  /** The service's metrics, served at /metrics (Prometheus text format). */
  metrics?: ServiceMetrics;
  /** Registers the service's own routes. */
  routes?: (app: FastifyInstance) => void | Promise<void>;
  logLevel?: string;
  /** Where the JSON log lines go (default: stdout); tests read them. */
  logStream?: { write(line: string): void };
  /** Timeouts and connection caps (HTTP_REQUEST_TIMEOUT, MAX_CONNECTIONS, ...; defaults from lib/env.ts). */
  http?: HttpLimits;
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
/**
 * JSON bodies parsed with JSON.parse, refused whole (400 MALFORMED_JSON) when they are not JSON
 * or when a key would poison a prototype (`__proto__`, `constructor.prototype`, as Fastify's own
 * parser refuses them), with a message that says which and where. Keys merely named
 * `constructor` or `prototype` pass here and are refused by the validators, per event or per
 * variable (lib/json-shape.ts).
 */
function parseJsonBodies(app: FastifyInstance): void {
  const refuse = (code: string, message: string) => Object.assign(new Error(message), { code, statusCode: 400 });
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(refuse('FST_ERR_CTP_EMPTY_JSON_BODY', 'the request body is empty; send a JSON object'), undefined);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return done(refuse('FST_ERR_CTP_INVALID_JSON_BODY', (err as Error).message), undefined);
    }
    const poisoning = poisoningKeyPath(value);
    if (poisoning !== null) {
      return done(refuse('FST_ERR_CTP_POISONED_JSON_BODY', `request body is refused: the key at ${poisoning} would poison a prototype (keys __proto__ and constructor.prototype are not allowed)`), undefined);
    }
    done(null, value);
  });
}

function capConnections(server: Server, limits: HttpLimits): void {
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

const ERROR_CODES: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'PAYLOAD_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'MALFORMED_JSON' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'MALFORMED_JSON' },
  FST_ERR_CTP_POISONED_JSON_BODY: { status: 400, code: 'MALFORMED_JSON' },
};

export function errorBody(code: string, message: string, extra: Record<string, unknown> = {}) {
  return { error: { code, message, ...extra } };
}

/** Query parameters that are credentials (an SSE stream ticket, a stream token): never logged. */
const SECRET_PARAMS = /([?&](?:ticket|token)=)[^&#]*/gi;

/** Fastify's request log fields, with credentials in the URL replaced. */
function requestLogFields(req: FastifyRequest) {
  return { method: req.method, url: req.url.replace(SECRET_PARAMS, '$1[redacted]'), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort };
}

export async function createServiceApp<Ctx extends BaseContext>(opts: ServiceAppOptions<Ctx>): Promise<FastifyInstance> {
  const limits = opts.http ?? httpLimits({});
  const traced = tracingActive();
  const app = Fastify({
    // JSON lines (pino); each request's lines carry its reqId, and, while tracing is on, the
    // active span's trace_id and span_id.
    logger: {
      level: opts.logLevel ?? 'warn',
      serializers: { req: requestLogFields },
      ...(traced ? { mixin: traceFields } : {}),
      ...(opts.logStream ? { stream: opts.logStream } : {}),
    },
    // While tracing is on, a server span per request, active for all of its work (trace-requests.ts).
    ...(traced ? { serverFactory: tracedServerFactory(opts.name) } : {}),
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
  parseJsonBodies(app);
  if (traced) nameRequestSpans(app);

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    const known = err.code ? ERROR_CODES[err.code] : undefined;
    if (known) {
      const message = err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ? `request body is not valid JSON: ${err.message}` : err.message;
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
  const metrics = opts.metrics;
  if (metrics) {
    app.addHook('onResponse', async (req, reply) => {
      // The route's pattern (bounded), not its URL; requests matching no route share one label.
      metrics.httpDuration.observe({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    });
    opts.apollo.addPlugin(metrics.apolloPlugin());
    app.get('/metrics', metricsHandler(metrics));
  }
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
    drain(req, reply);
  });

  await app.register(cors, { origin: opts.corsOrigins, credentials: true, exposedHeaders: ['x-request-id'] });
  app.get('/health', async () => ({ status: 'ok', service: opts.name, ...(await opts.health?.()) }));
  app.get('/ready', readyHandler(opts.name, opts.ready ?? {}));
  await opts.routes?.(app);
  opts.apollo.addPlugin(requestErrorsPlugin());
  await opts.apollo.start();
  await app.register(fastifyApollo(opts.apollo), { context: opts.context, path: '/graphql' });
  return app;
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

/** How long a readiness check may take before it counts as failed. */
const READY_CHECK_TIMEOUT_MS = 2000;

/** Each check's outcome: `ok`, or `unavailable` / `timeout` (no error text: it could name internal addresses). */
async function readiness(checks: Record<string, () => Promise<unknown>>): Promise<Record<string, 'ok' | 'unavailable' | 'timeout'>> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), READY_CHECK_TIMEOUT_MS)));
      const outcome = await Promise.race([check().then(() => 'ok' as const, () => 'unavailable' as const), timeout]);
      clearTimeout(timer);
      return [name, outcome] as const;
    }),
  );
  return Object.fromEntries(entries);
}

/** GET /ready: 200 when every check answers, else 503, with each check's outcome. */
export function readyHandler(name: string, checks: Record<string, () => Promise<unknown>>) {
  return async (_req: FastifyRequest, reply: FastifyReply) => {
    const outcomes = await readiness(checks);
    const ok = Object.values(outcomes).every((c) => c === 'ok');
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', service: name, checks: outcomes });
  };
}

/** GET /metrics: the service's registry in Prometheus text format. */
export function metricsHandler(metrics: ServiceMetrics) {
  return async (_req: FastifyRequest, reply: FastifyReply) => reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
}
