/**
 * /metrics on every service (Prometheus text format, prom-client): each endpoint parses, carries
 * its service's families, and no user id ever becomes a label.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoItemRef } from '../../demo/catalog.js';
import { startTestPlatform } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';

/** Sample lines: `name{label="value",...} number`; `# HELP` / `# TYPE` lines otherwise. */
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/;

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
      gateway: ['http_request_duration_seconds', 'graphql_request_duration_seconds', 'subgraph_fetch_duration_seconds', 'live_subscriptions', 'process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds'],
      profile: ['http_request_duration_seconds', 'graphql_request_duration_seconds', 'ingest_events_total', 'profile_apply_latency_seconds'],
      recommendations: ['http_request_duration_seconds', 'graphql_request_duration_seconds'],
      experiments: ['graphql_request_duration_seconds', 'unit_events_total'],
      audiences: ['graphql_request_duration_seconds', 'audience_evaluations_total'],
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
});
