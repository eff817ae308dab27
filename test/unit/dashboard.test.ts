/**
 * The Grafana dashboard (ops/grafana/platform-dashboard.json) cannot drift from the services: every
 * panel's PromQL names only metrics that the running services register (read from their /metrics,
 * `# TYPE` lines, so families with no sample yet count too), every panel reads the datasource
 * variable, and the families operators need are all on it.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInfrastructure } from '../../lib/infrastructure.js';
import type { Infrastructure } from '../../lib/infrastructure.js';
import { PROFILE_UPDATER_GROUP } from '../../subgraphs/profile/src/app/profile-service.js';
import { startUpdaterProcess } from '../../subgraphs/profile/src/updater.js';
import type { UpdaterProcess } from '../../subgraphs/profile/src/updater.js';
import { startTestPlatform, testProfileConfig } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';

interface Target { expr: string; datasource?: { uid?: string } }
interface Panel { type: string; title: string; datasource?: { uid?: string }; targets?: Target[]; panels?: Panel[] }
const dashboard = JSON.parse(readFileSync(new URL('../../ops/grafana/platform-dashboard.json', import.meta.url), 'utf8')) as {
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
};

/** PromQL words that are not metric names (aggregation modifiers, set operators). */
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset']);

/** The metric names a PromQL expression selects (not its functions, labels or ranges). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  return [...bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)].filter((m) => !m[2] && !KEYWORDS.has(m[1]!)).map((m) => m[1]!);
}

const panelsOf = (list: Panel[]): Panel[] => list.flatMap((p) => [p, ...panelsOf(p.panels ?? [])]);
const graphs = panelsOf(dashboard.panels).filter((p) => p.type !== 'row');

describe('Grafana dashboard', () => {
  let p: TestPlatform;
  let infrastructure: Infrastructure;
  let updater: UpdaterProcess;
  /** Metric name → type, from every service's /metrics (the updater process included). */
  const registered = new Map<string, string>();

  beforeAll(async () => {
    p = await startTestPlatform();
    // The updater process registers its metrics the same way on any log (memory here).
    infrastructure = createInfrastructure({}, { protectedGroup: PROFILE_UPDATER_GROUP });
    updater = await startUpdaterProcess(testProfileConfig(), infrastructure, { port: 0, host: '127.0.0.1' });
    for (const url of [p.gateway.url, p.profile.url, p.recommendations.url, p.experiments.url, p.audiences.url, updater.url]) {
      const text = await (await fetch(`${url}/metrics`)).text();
      for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) registered.set(name!, type!);
    }
  });
  afterAll(async () => {
    await updater?.close();
    await infrastructure?.close();
    await p?.close();
  });

  it('reads its datasource from a variable', () => {
    expect(dashboard.templating.list.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const panel of graphs) {
      expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
      for (const t of panel.targets ?? []) expect(t.datasource?.uid, panel.title).toBe('${datasource}');
    }
  });

  it('every panel queries metrics the services register', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (le, x) (rate(a_bucket{outcome!="ok"}[$__rate_interval]))) / max(b)')).toEqual(['a_bucket', 'b']);
    expect(graphs.length).toBeGreaterThan(15);
    for (const panel of graphs) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const { expr } of panel.targets!) {
        const names = metricNames(expr);
        expect(names.length, `${panel.title}: ${expr}`).toBeGreaterThan(0);
        for (const name of names) {
          const histogram = name.match(/^(.*)_(bucket|sum|count)$/)?.[1];
          const known = registered.has(name) || (histogram !== undefined && registered.get(histogram) === 'histogram');
          expect(known, `${panel.title}: ${name} is not a metric any service registers`).toBe(true);
        }
      }
    }
  });

  it('shows every family operators need', () => {
    const shown = new Set(graphs.flatMap((panel) => (panel.targets ?? []).flatMap((t) => metricNames(t.expr).map((n) => (registered.get(n) ? n : n.replace(/_(bucket|sum|count)$/, ''))))));
    for (const family of [
      'http_request_duration_seconds',
      'graphql_request_duration_seconds',
      'subgraph_fetch_duration_seconds',
      'ingest_events_total',
      'stream_length',
      'stream_pending',
      'stream_lag',
      'profile_apply_latency_seconds',
      'live_subscriptions',
      'live_messages_total',
      'audience_evaluations_total',
      'audience_membership_changes_total',
      'unit_events_total',
      'redis_command_errors_total',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(shown.has(family), family).toBe(true);
    }
  });
});
