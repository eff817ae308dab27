/**
 * OpenTelemetry traces with the SDK's in-memory exporter: an ingest sent to the gateway with a
 * W3C traceparent is one trace through the gateway, the profile subgraph (its server span), the
 * stream entry, the updater's apply, the live push of the change to a subscriber and the audiences
 * evaluation of its change notice; request log
 * lines carry the request id and the trace id.
 */
import { ApolloServer } from '@apollo/server';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoItemRef } from '../../demo/catalog.js';
import { createServiceApp, listen } from '../../lib/http/server.js';
import { startTracing, stopTracing } from '../../lib/tracing.js';
import { createBackends } from '../../platform/backends.js';
import type { Backends } from '../../platform/backends.js';
import { startTestPlatform } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';
import { REDIS_URL, deleteByPrefix, freshPrefix, redisTargets, requireTarget } from '../helpers/redis.js';
import { collect, subscribed } from '../helpers/subscriptions.js';
import { until } from '../helpers/wait.js';

const exporter = new InMemorySpanExporter();
beforeAll(() => void startTracing({}, { service: 'gateway', processors: () => [new SimpleSpanProcessor(exporter)] }));
afterAll(() => stopTracing());

const INGEST = `mutation Ingest($events: [EventInput!]!) { ingestEvents(events: $events) { accepted applied } }`;
const LIVE = `subscription Live($id: ID!) { profileUpdated(userId: $id) { version user { id recommendedFor(limit: 1) { profileVersion } } } }`;

let n = 0;
/** A fresh client trace: its trace id and the traceparent header of its (client) span. */
function clientTrace() {
  const traceId = `${(++n).toString(16).padStart(8, '0')}${'a1b2c3d4e5f60718293a4b5c'}`;
  const spanId = 'c0ffee00c0ffee00';
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

const service = (s: ReadableSpan) => String(s.resource.attributes['service.name']);
const spansOf = (traceId: string) => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);

/**
 * Ingests through the gateway with a traceparent, while a subscriber follows the user, and checks
 * that the trace goes gateway → profile → (stream entry) → updater apply → live push.
 */
async function ingestOneTrace(p: TestPlatform, user: string) {
  const client = createClient({ url: p.gatewayUrl.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
  try {
    const live = collect(client, LIVE, { id: user });
    await subscribed(p, user);
    const { traceId, spanId, traceparent } = clientTrace();
    const res = await fetch(p.gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent },
      body: JSON.stringify({ query: INGEST, variables: { events: [{ eventId: `${user}-1`, userId: user, type: 'PLAY', occurredAt: new Date().toISOString(), item: demoItemRef('m-dead-drop') }] } }),
    });
    expect(((await res.json()) as { data: { ingestEvents: unknown } }).data.ingestEvents).toEqual({ accepted: 1, applied: false });
    await live.until(() => live.messages.length === 1);
    // The live push's span ends after its result is handed over: wait for it.
    await until(() => spansOf(traceId).some((s) => s.name === 'gateway.live_push'), 10_000, 'the live push span');
    const spans = spansOf(traceId);
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const parentOf = (s: ReadableSpan) => byId.get(s.parentSpanContext?.spanId ?? '');

    // The gateway's server span continues the client's span.
    const gatewayServer = spans.find((s) => service(s) === 'gateway' && s.kind === SpanKind.SERVER)!;
    expect(gatewayServer, 'gateway server span').toBeDefined();
    expect(gatewayServer.parentSpanContext?.spanId).toBe(spanId);
    expect(gatewayServer.name).toBe('POST /graphql');
    // Apollo's fetch span to the profile subgraph, and the profile's server span under it.
    const profileServer = spans.find((s) => service(s) === 'profile' && s.kind === SpanKind.SERVER)!;
    expect(profileServer, 'profile server span').toBeDefined();
    expect(parentOf(profileServer)?.name).toBe('gateway.fetch');
    expect(service(parentOf(profileServer)!)).toBe('gateway');
    // The updater's apply, parented to the profile's span through the stream entry.
    const apply = spans.find((s) => s.name === 'profile.apply')!;
    expect(apply, 'updater apply span').toBeDefined();
    expect(service(apply)).toBe('profile-updater');
    expect(apply.parentSpanContext?.spanId).toBe(profileServer.spanContext().spanId);
    expect(apply.links.map((l) => l.context.spanId)).toEqual([profileServer.spanContext().spanId]);
    // The live push at the gateway, continuing the apply, and its entity fetches (recommendations).
    const push = spans.find((s) => s.name === 'gateway.live_push')!;
    expect(push.parentSpanContext?.spanId).toBe(apply.spanContext().spanId);
    const pushFetches = spans.filter((s) => s.name === 'gateway.fetch' && s.startTime[0] * 1e9 + s.startTime[1] >= push.startTime[0] * 1e9 + push.startTime[1]);
    expect(pushFetches.length).toBeGreaterThan(0);
    const recommendationsServer = spans.find((s) => service(s) === 'recommendations' && s.kind === SpanKind.SERVER);
    expect(recommendationsServer, 'the live push reaches the recommendations subgraph in the same trace').toBeDefined();
    // The audiences service evaluates the change notice in the same trace.
    await until(() => spansOf(traceId).some((s) => s.name === 'audiences.evaluate'), 10_000, 'the audience evaluation span');
    const evaluate = spansOf(traceId).find((s) => s.name === 'audiences.evaluate')!;
    expect(service(evaluate)).toBe('audiences');
    expect(evaluate.parentSpanContext?.spanId).toBe(apply.spanContext().spanId);
    live.unsubscribe();
  } finally {
    await client.dispose();
  }
}

describe('traces: embedded stores, stream mode', () => {
  let p: TestPlatform;
  let backends: Backends;
  beforeAll(async () => {
    // The embedded stores apply during the request (inline); stream mode runs the updater group.
    backends = { ...createBackends({}), ingestMode: 'stream' };
    p = await startTestPlatform({ backends, env: { SEED_RANKING_EXPERIMENT: 'false' } });
  });
  afterAll(async () => {
    await p?.close();
    await backends?.close();
  });

  it('one trace spans gateway, profile, the updater and the live push', async () => {
    await ingestOneTrace(p, 'trace-mem-1');
  });

  it('a request without traceparent starts a trace of its own; probes are not traced', async () => {
    exporter.reset();
    const res = await fetch(p.gatewayUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
    expect(res.status).toBe(200);
    await fetch(`${p.gateway.url}/health`);
    await until(() => exporter.getFinishedSpans().some((s) => s.kind === SpanKind.SERVER));
    const servers = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER);
    expect(servers.map((s) => s.name)).toEqual(['POST /graphql']);
    expect(servers[0]!.parentSpanContext).toBeUndefined();
  });
});

describe('traces: Redis', () => {
  let available = true;
  let note = '';
  let backends: Backends;
  let p: TestPlatform;
  const prefix = freshPrefix();
  beforeAll(async () => {
    available = await requireTarget(redisTargets()[0]!, (x) => (note = x));
    if (!available) return;
    backends = createBackends({ REDIS_URL, REDIS_PREFIX: prefix, STREAM_PARTITIONS: '2' });
    p = await startTestPlatform({ backends, env: { SEED_RANKING_EXPERIMENT: 'false' } });
  });
  afterAll(async () => {
    if (!available) return;
    await p?.close();
    await deleteByPrefix(backends.redis!, prefix);
    await backends.close();
  });

  it('the traceparent travels in the stream entry to the updater, and on through pub/sub to the live push', async ({ skip }) => {
    if (!available) skip(note);
    await ingestOneTrace(p, 'trace-redis-1');
    // The entry holds it as its `tp` field.
    const keys = await backends.redis!.keys(`${prefix}{ev:*}:stream`);
    const entries = (await Promise.all(keys.map((k) => backends.redis!.xrange(k, '-', '+')))).flat();
    expect(entries.some(([, fields]) => fields[2] === 'tp' && /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/.test(fields[3]!))).toBe(true);
  });
});

describe('request logs', () => {
  it('every request line is JSON with the request id and the trace id', async () => {
    const lines: Record<string, unknown>[] = [];
    const apollo = new ApolloServer({ typeDefs: 'type Query { hello: String }', resolvers: { Query: { hello: () => 'hi' } } });
    const app = await createServiceApp({
      name: 'logs',
      apollo,
      context: async () => ({}),
      bodyLimit: 1024,
      corsOrigins: true,
      logLevel: 'info',
      logStream: { write: (line) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    });
    const url = await listen(app, 0, '127.0.0.1');
    try {
      const { traceId, traceparent } = clientTrace();
      const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', traceparent, 'x-request-id': 'req-logs-1' }, body: JSON.stringify({ query: '{ hello }' }) });
      expect(res.status).toBe(200);
      await until(() => lines.some((l) => l['msg'] === 'request completed'));
      // A credential in a URL (an EventSource's stream ticket) is never written to a log.
      await fetch(`${url}/graphql?query=%7Bhello%7D&ticket=secret-ticket-value`, { headers: { 'x-request-id': 'req-logs-2' } });
      await until(() => lines.some((l) => l['reqId'] === 'req-logs-2' && l['msg'] === 'request completed'));
      const ticketLine = lines.find((l) => l['reqId'] === 'req-logs-2' && l['msg'] === 'incoming request');
      expect((ticketLine!['req'] as { url: string }).url).toBe('/graphql?query=%7Bhello%7D&ticket=[redacted]');
      expect(JSON.stringify(lines)).not.toContain('secret-ticket-value');
      const request = lines.filter((l) => l['reqId'] === 'req-logs-1');
      expect(request.map((l) => l['msg'])).toEqual(['incoming request', 'request completed']);
      for (const line of request) {
        expect(line['trace_id']).toBe(traceId);
        expect(line['span_id']).toMatch(/^[0-9a-f]{16}$/);
        expect(typeof line['level']).toBe('number');
      }
    } finally {
      await app.close();
      await apollo.stop();
    }
  });
});
