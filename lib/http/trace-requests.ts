/**
 * A server span per HTTP request, continuing the caller's W3C trace context (`traceparent`), and
 * active for all of the request's work: created in the HTTP server's request listener (a Fastify
 * serverFactory) around Fastify's handler, so Apollo's spans, the subgraph fetches, the event log
 * append and the request's log lines all see it. Named `METHOD route` once Fastify has routed the
 * request (the route's pattern: bounded). Probes (/health, /ready, /metrics) are not traced. Used
 * only while tracing is on (lib/tracing.ts); otherwise Fastify builds its server as usual.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { context, trace } from '@opentelemetry/api';
import type { Span } from '@opentelemetry/api';
import type { FastifyInstance } from 'fastify';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE, ATTR_URL_PATH } from '@opentelemetry/semantic-conventions';
import { extractTraceContext, SpanKind, SpanStatusCode, tracerFor } from '../tracing.js';

const PROBES = /^\/(health|ready|metrics)(\?|$)/;

const spans = new WeakMap<IncomingMessage, Span>();

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A Fastify serverFactory for `service`: Node's HTTP server, as Fastify builds it, with the span per request. */
export function tracedServerFactory(service: string) {
  return (handler: Handler, options: Record<string, any>): Server => {
    const tracer = tracerFor(service);
    const server = createServer(options['http'] ?? {}, (req, res) => {
      if (PROBES.test(req.url ?? '')) return handler(req, res);
      const parent = extractTraceContext(req.headers);
      const path = (req.url ?? '').split('?')[0]!;
      const span = tracer.startSpan(req.method ?? 'HTTP', { kind: SpanKind.SERVER, attributes: { [ATTR_HTTP_REQUEST_METHOD]: req.method ?? '', [ATTR_URL_PATH]: path } }, parent);
      spans.set(req, span);
      res.once('close', () => {
        span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.statusCode);
        if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      });
      context.with(trace.setSpan(parent, span), () => handler(req, res));
    });
    // What Fastify sets on the server it builds itself (fastify/lib/server.js).
    server.keepAliveTimeout = options['keepAliveTimeout'];
    server.requestTimeout = options['requestTimeout'];
    server.setTimeout(options['connectionTimeout'] ?? 0);
    return server;
  };
}

/** Names each request's span by its route once Fastify has matched it. */
export function nameRequestSpans(app: FastifyInstance): void {
  app.addHook('onRequest', async (req) => {
    const span = spans.get(req.raw);
    if (!span) return;
    const route = req.routeOptions.url ?? 'unmatched';
    span.updateName(`${req.method} ${route}`);
    span.setAttribute(ATTR_HTTP_ROUTE, route);
    span.setAttribute('http.request.id', req.id);
  });
}
