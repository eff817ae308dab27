/**
 * /metrics on every service (Prometheus text format, prom-client): each endpoint parses, carries
 * its service's families, and no user id ever becomes a label.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoItemRef } from '../../demo/catalog.js';
import { createInfrastructure } from '../../lib/infrastructure.js';
import type { Infrastructure } from '../../lib/infrastructure.js';
import { connect } from '../../lib/redis/connection.js';
import { createBackends } from '../../platform/backends.js';
import type { Backends } from '../../platform/backends.js';
import { PROFILE_UPDATER_GROUP } from '../../subgraphs/profile/src/app/profile-service.js';
import { startUpdaterProcess } from '../../subgraphs/profile/src/updater.js';
import type { UpdaterProcess } from '../../subgraphs/profile/src/updater.js';
import { startTestPlatform, testProfileConfig } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';
import { REDIS_URL, deleteByPrefix, freshPrefix, redisTargets, requireTarget } from '../helpers/redis.js';
import { collect, subscribed } from '../helpers/subscriptions.js';
import { until } from '../helpers/wait.js';

/**
 * Sample lines: `name{label="value",...} number`; `# HELP` / `# TYPE` lines otherwise. prom-client
 * writes NaN as `Nan` (a fresh event-loop histogram), which Prometheus parses (case-insensitive).
 */
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|Nan|\+Inf|-Inf)$/;

function parse(text: string): Map<string, string[]> {
  const families = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const family = m[1]!.replace(/_(bucket|sum|count)$/, '');
    families.set(family, [...(families.get(family) ?? []), line]);
  }
  return families;
}

/** A service's /metrics, parsed. */
async function scrape(url: string): Promise<{ text: string; families: Map<string, string[]> }> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  return { text, families: parse(text) };
}

/** The value of the one sample of `family` whose labels include every given one (undefined: none). */
function sample(families: Map<string, string[]>, family: string, labels: Record<string, string>, suffix = ''): number | undefined {
  const lines = (families.get(family) ?? []).filter((l) => l.startsWith(`${family}${suffix}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return lines.length === 0 ? undefined : lines.reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

const LIVE = `subscription Live($id: ID!) { profileUpdated(userId: $id) { version } }`;

describe('/metrics', () => {
  let p: TestPlatform;
  const user = 'metrics-user-4711';
  beforeAll(async () => {
    p = await startTestPlatform({ env: { SEED_RANKING_EXPERIMENT: 'true' } });
    await p.query(`mutation Ingest($events: [EventInput!]!) { ingestEvents(events: $events, wait: true) { accepted } }`, {
      events: [
        { eventId: 'm1', userId: user, type: 'PLAY', occurredAt: new Date().toISOString(), item: demoItemRef('m-dead-drop') },
        { eventId: 'm2', userId: user, type: 'PLAY', occurredAt: new Date(Date.now() + 86_400_000).toISOString(), item: demoItemRef('m-dead-drop') },
      ],
    });
    const row = (await p.query(`query Row($id: ID!) { user(id: $id) { recommendedFor(limit: 2) { impressionId } } }`, { id: user })).data.user.recommendedFor;
    await p.query(`mutation Track($events: [UnitEventInput!]!) { trackUnitEvents(events: $events) { accepted } }`, { events: [{ eventId: 'u1', impressionId: row.impressionId, type: 'IMPRESSION' }] });
  });
  afterAll(async () => {
    await p?.close();
  });

  it('every service serves parseable metrics with its families, and no user id', async () => {
    const expected: Record<string, string[]> = {
      gateway: ['http_request_duration_seconds', 'graphql_request_duration_seconds', 'subgraph_fetch_duration_seconds', 'live_subscriptions', 'live_messages_total', 'process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds', 'redis_command_errors_total'],
      profile: ['http_request_duration_seconds', 'graphql_request_duration_seconds', 'ingest_events_total', 'profile_apply_latency_seconds', 'stream_length', 'stream_pending', 'stream_lag', 'redis_command_errors_total'],
      recommendations: ['http_request_duration_seconds', 'graphql_request_duration_seconds', 'redis_command_errors_total'],
      experiments: ['graphql_request_duration_seconds', 'unit_events_total', 'redis_command_errors_total'],
      audiences: ['graphql_request_duration_seconds', 'audience_evaluations_total', 'stream_length', 'redis_command_errors_total'],
    };
    const urls: Record<string, string> = { gateway: p.gateway.url, profile: p.profile.url, recommendations: p.recommendations.url, experiments: p.experiments.url, audiences: p.audiences.url };
    for (const [service, url] of Object.entries(urls)) {
      const res = await fetch(`${url}/metrics`);
      expect(res.status, service).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      const text = await res.text();
      const families = parse(text);
      for (const f of expected[service]!) expect(families.has(f), `${service} lacks ${f}`).toBe(true);
      expect(text, `${service} puts a user id in a label`).not.toContain(user);
      expect(text).toContain(`service="${service}"`);
    }
    const profile = await (await fetch(`${p.profile.url}/metrics`)).text();
    expect(profile).toMatch(/ingest_events_total\{outcome="accepted",code="",service="profile"\} 1/);
    expect(profile).toMatch(/ingest_events_total\{outcome="rejected",code="OCCURRED_AT_IN_FUTURE",service="profile"\} 1/);
    const experiments = await (await fetch(`${p.experiments.url}/metrics`)).text();
    expect(experiments).toMatch(/unit_events_total\{outcome="accepted",code="",service="experiments"\} 1/);
  });

  it('stream gauges: the accepted events and the change notices, per consumer group and partition', async () => {
    const { families } = await scrape(p.profile.url);
    // The embedded log has one partition; both events were accepted (one rejected).
    expect(sample(families, 'stream_length', { log: 'events', partition: '0' })).toBeGreaterThanOrEqual(1);
    // Its consumers (the recommendations trending group) and the audiences group on the notices.
    await until(async () => sample((await scrape(p.profile.url)).families, 'stream_lag', { log: 'changes', group: 'audiences' }) === 0, 10_000, 'the audiences group to catch up');
    expect(sample(families, 'stream_pending', { log: 'changes', group: 'audiences' })).toBeDefined();
    expect((families.get('stream_lag') ?? []).some((l) => l.includes('log="events"'))).toBe(true);
    // Without Redis, no Redis error.
    expect(sample(families, 'redis_command_errors_total', {})).toBe(0);
  });

  it('redis_command_errors_total counts a connection refused and the commands it leaves unanswered', async () => {
    // A port nobody listens on: the connection is refused, and a command fails after its retry.
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    await new Promise((r) => server.close(r));
    const errors = async (kind: string) => sample((await scrape(p.profile.url)).families, 'redis_command_errors_total', { kind }) ?? 0;
    const [connection, command] = [await errors('connection'), await errors('command')];
    const client = connect({ url: `redis://127.0.0.1:${port}`, prefix: 'none:' });
    try {
      await expect(client.get('k')).rejects.toThrow();
      await until(async () => (await errors('connection')) > connection);
      expect(await errors('command')).toBe(command + 1);
    } finally {
      client.disconnect();
    }
  });

  it('live messages: each result handed to a subscriber counts once', async () => {
    const id = 'metrics-live-1';
    const client = createClient({ url: p.gatewayUrl.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
    try {
      const before = sample((await scrape(p.gateway.url)).families, 'live_messages_total', {}) ?? 0;
      const a = collect(client, LIVE, { id });
      const b = collect(client, LIVE, { id });
      await subscribed(p, id);
      await p.query(`mutation Ingest($events: [EventInput!]!) { ingestEvents(events: $events) { accepted } }`, {
        events: [{ eventId: 'live-m1', userId: id, type: 'PLAY', occurredAt: new Date().toISOString(), item: demoItemRef('m-dead-drop') }],
      });
      await a.until(() => a.messages.length === 1);
      await b.until(() => b.messages.length === 1);
      const { families } = await scrape(p.gateway.url);
      expect(sample(families, 'live_messages_total', {})! - before).toBe(2);
      expect(sample(families, 'live_subscriptions', {})).toBe(2);
      a.unsubscribe();
      b.unsubscribe();
    } finally {
      await client.dispose();
    }
  });
});

describe('/metrics on Redis', () => {
  let available = true;
  let note = '';
  let backends: Backends;
  let infrastructure: Infrastructure;
  let p: TestPlatform;
  let updater: UpdaterProcess;
  const prefix = freshPrefix();
  const env = { REDIS_URL, REDIS_PREFIX: prefix, STREAM_PARTITIONS: '2' };

  beforeAll(async () => {
    available = await requireTarget(redisTargets()[0]!, (n) => (note = n));
    if (!available) return;
    backends = createBackends(env);
    // The updater group runs only in the separate updater process (as with start:profile-updater).
    p = await startTestPlatform({ backends, env: { SEED_RANKING_EXPERIMENT: 'false', PROFILE_RUN_UPDATER: 'false' } });
    infrastructure = createInfrastructure(env, { protectedGroup: PROFILE_UPDATER_GROUP });
    updater = await startUpdaterProcess(testProfileConfig(), infrastructure, { port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    if (!available) return;
    await updater?.close();
    await infrastructure?.close();
    await p?.close();
    await deleteByPrefix(backends.redis!, prefix);
    await backends.close();
  });

  it('the updater process serves /health, /ready and its metrics: apply latency, stream gauges, Redis errors', async ({ skip }) => {
    if (!available) skip(note);
    await until(async () => (await fetch(`${updater.url}/ready`)).status === 200, 10_000, 'the updater to join its group');
    expect(await (await fetch(`${updater.url}/health`)).json()).toMatchObject({ status: 'ok', service: 'profile-updater' });
    const user = 'metrics-redis-1';
    const res = await p.query(`mutation Ingest($events: [EventInput!]!) { ingestEvents(events: $events) { accepted applied } }`, {
      events: [{ eventId: 'mr1', userId: user, type: 'PLAY', occurredAt: new Date().toISOString(), item: demoItemRef('m-dead-drop') }],
    });
    expect(res.data.ingestEvents).toMatchObject({ accepted: 1, applied: false });
    // Applied by the updater process: its histogram counts it.
    await until(async () => sample((await scrape(updater.url)).families, 'profile_apply_latency_seconds', {}, '_count') === 1, 10_000, 'the updater to apply the event');
    const { text, families } = await scrape(updater.url);
    expect(text).toContain('service="profile-updater"');
    expect(text).not.toContain(user);
    for (const f of ['profile_apply_latency_seconds', 'stream_length', 'stream_pending', 'stream_lag', 'redis_command_errors_total', 'nodejs_eventloop_lag_seconds']) expect(families.has(f), f).toBe(true);
    // Two partitions, the updater group on each, caught up.
    const lags = (families.get('stream_lag') ?? []).filter((l) => l.includes('log="events"') && l.includes(`group="${PROFILE_UPDATER_GROUP}"`));
    expect(lags.length).toBe(2);
    await until(async () => sample((await scrape(updater.url)).families, 'stream_lag', { log: 'events', group: PROFILE_UPDATER_GROUP }) === 0);
    expect(sample(families, 'stream_length', { log: 'events' })).toBeGreaterThanOrEqual(1);
    // The profile service reports the same streams.
    const profile = await scrape(p.profile.url);
    expect(sample(profile.families, 'stream_length', { log: 'events' })).toBe(sample(families, 'stream_length', { log: 'events' }));
  });

  it('redis_command_errors_total counts a command Redis refuses', async ({ skip }) => {
    if (!available) skip(note);
    const before = sample((await scrape(p.profile.url)).families, 'redis_command_errors_total', { kind: 'reply' })!;
    const client = connect({ url: REDIS_URL, prefix });
    try {
      await expect(client.call('NO.SUCH.COMMAND')).rejects.toThrow(/unknown command/i);
      await expect(client.call('INCR', `${prefix}not-a-number`, 'extra')).rejects.toThrow();
    } finally {
      await client.quit();
    }
    await until(async () => sample((await scrape(p.profile.url)).families, 'redis_command_errors_total', { kind: 'reply' }) === before + 2);
    // Each service of this process shows the process's count.
    expect(sample((await scrape(p.gateway.url)).families, 'redis_command_errors_total', { kind: 'reply' })).toBe(before + 2);
  });
});
