/**
 * experimentResultsUpdated through the gateway: the current results at once, then new results
 * within a second of unit events, one computation shared by every subscriber (embedded stores and
 * Redis).
 */
import { spawn } from 'node:child_process';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createBackends } from '../../platform/backends.js';
import type { Backends } from '../../platform/backends.js';
import { startTestPlatform } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';
import { REDIS_URL, deleteByPrefix, freshPrefix, redisTargets, requireTarget } from '../helpers/redis.js';
import { collect } from '../helpers/subscriptions.js';
import { until } from '../helpers/wait.js';

const LIVE = `subscription Live($key: String!, $unitId: String) {
  experimentResultsUpdated(key: $key, unitId: $unitId) { experimentKey unitId generatedAt variants { variant exposedUsers clicks } }
}`;
const ROW = `query Row($id: ID!) { user(id: $id) { recommendedFor(unitId: "home", limit: 3) { impressionId items { item { id } } } } }`;
const TRACK = `mutation Track($events: [UnitEventInput!]!) { trackUnitEvents(events: $events) { accepted rejected { code } } }`;

describe.each([
  { name: 'embedded stores', redis: false },
  { name: 'Redis', redis: true },
])('live experiment results ($name)', ({ redis }) => {
  let p: TestPlatform;
  let backends: Backends | undefined;
  const prefix = freshPrefix();
  let available = true;
  let note = '';
  beforeEach(({ skip }) => {
    if (!available) skip(note);
  });
  beforeAll(async () => {
    if (redis && !(await requireTarget(redisTargets()[0]!, (n) => (note = n)))) {
      available = false;
      return;
    }
    backends = redis ? createBackends({ REDIS_URL, REDIS_PREFIX: prefix }) : undefined;
    p = await startTestPlatform({ ...(backends ? { backends } : {}) });
  });
  afterAll(async () => {
    await p?.close();
    if (backends) {
      await deleteByPrefix(backends.redis!, prefix);
      await backends.close();
    }
  });

  it('sends the results at once and again within a second of unit events, to every subscriber', async () => {
    const client = createClient({ url: p.gatewayUrl.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
    const other = createClient({ url: p.gatewayUrl.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
    try {
      const key = 'realtime-ranking';
      const a = collect(client, LIVE, { key, unitId: 'home' });
      const b = collect(other, LIVE, { key, unitId: 'home' });
      await a.until(() => a.messages.length >= 1);
      await b.until(() => b.messages.length >= 1);
      const exposed = (m: any) => m.data.experimentResultsUpdated.variants.reduce((n: number, v: { exposedUsers: number }) => n + v.exposedUsers, 0);
      expect(exposed(a.messages[0])).toBe(0);
      const row = (await p.query(ROW, { id: 'live-1' })).data.user.recommendedFor;
      const sentAt = Date.now();
      const tracked = await p.query(TRACK, {
        events: [
          { eventId: 'l-imp', impressionId: row.impressionId, type: 'IMPRESSION' },
          { eventId: 'l-clk', impressionId: row.impressionId, type: 'CLICK', position: 1, itemId: row.items[0].item.id },
        ],
      });
      expect(tracked.data.trackUnitEvents.accepted).toBe(2);
      await a.until(() => a.messages.some((m) => exposed(m) === 1), 1000);
      expect(Date.now() - sentAt).toBeLessThan(1000);
      await b.until(() => b.messages.some((m) => exposed(m) === 1), 1000);
      const last = a.messages.at(-1).data.experimentResultsUpdated;
      expect(last.variants.reduce((n: number, v: { clicks: number }) => n + v.clicks, 0)).toBe(1);
      // Both subscribers got the same computation.
      expect(b.messages.at(-1).data.experimentResultsUpdated.generatedAt).toBe(last.generatedAt);
    } finally {
      await client.dispose();
      await other.dispose();
    }
  });

  it('refuses an unknown experiment', async () => {
    const client = createClient({ url: p.gatewayUrl.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
    try {
      const s = collect(client, LIVE, { key: 'nope' });
      await s.until(() => s.error() !== undefined || s.messages.some((m) => m.errors));
      expect(JSON.stringify(s.messages.find((m) => m.errors)?.errors ?? s.error())).toContain('EXPERIMENT_NOT_FOUND');
    } finally {
      await client.dispose();
    }
  });

  it('serves every analysis field, and the engine can be changed while running', async () => {
    const FULL = `query Full($key: String!) { experiment(key: $key) { analysis { engine sequential cuped correction minimumExposedUsers }
      results(unitId: "home", targetEffect: 0.1) {
        analysis { engine }
        comparisons { variant metrics { metric metricType method engine sequential control treatment absoluteLift { estimate low high } relativeLift { estimate low high }
          pValue relativePValue adjustedPValue chanceToWin risk { control treatment } cuped { applied theta varianceReduction } guardrail significant verdict note } }
        slots { position variants { variant ctr consumptionPerImpression clicks } comparisons { metrics { metric verdict } } }
        planning { metric minimumDetectableEffect targetEffect usersNeededPerVariant daysNeeded exposedUsersPerDay }
        srm { pValue flagged } } } }`;
    const key = 'realtime-ranking';
    const before = await p.query(FULL, { key });
    expect(before.errors).toBeUndefined();
    expect(before.data.experiment.analysis).toEqual({ engine: 'FREQUENTIST', sequential: false, cuped: true, correction: 'NONE', minimumExposedUsers: 100 });
    const results = before.data.experiment.results;
    expect(results.comparisons[0].metrics.map((m: { metric: string }) => m.metric)).toEqual(['ctr', 'consumption_per_exposed_user', 'engaged_user_rate', 'revenue_per_exposed_user']);
    expect(results.slots[0]?.position).toBe(1);
    expect(results.planning.map((f: { targetEffect: number }) => f.targetEffect)).toEqual([0.1, 0.1, 0.1]);
    const set = await p.query(`mutation Set($key: String!) { setExperimentAnalysis(key: $key, analysis: { engine: BAYESIAN, correction: HOLM_BONFERRONI, guardrails: ["revenue_per_exposed_user"] }) { analysis { engine correction guardrails } } }`, { key });
    expect(set.data.setExperimentAnalysis.analysis).toEqual({ engine: 'BAYESIAN', correction: 'HOLM_BONFERRONI', guardrails: ['revenue_per_exposed_user'] });
    const after = (await p.query(FULL, { key })).data.experiment.results;
    expect(after.analysis.engine).toBe('BAYESIAN');
    for (const m of after.comparisons[0].metrics) {
      expect(m.engine).toBe('BAYESIAN');
      expect(m.pValue).toBeNull();
    }
    const bad = await p.query(`mutation Bad($key: String!) { setExperimentAnalysis(key: $key, analysis: { alpha: 0.9 }) { key } }`, { key });
    expect(bad.errors?.[0]?.extensions?.code).toBe('ANALYSIS_SETTINGS_INVALID');
    expect(bad.errors?.[0]?.message).toContain('analysis.alpha');
  });

  it('under the simulator\'s load, results reflect a unit event within a second', async ({ skip }) => {
    if (redis) return skip('the load runs once, on the embedded stores');
    const sim = spawn(process.execPath, ['--import', './scripts/ts/register.mjs', 'simulator/main.ts', '--gateway', p.gatewayUrl, '--users', '150', '--minutes', '0.4', '--concurrency', '8', '--seed', '7'], {
      cwd: new URL('../..', import.meta.url).pathname,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const client = createClient({ url: p.gatewayUrl.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
    try {
      const key = 'realtime-ranking';
      // The load is on: simulated users are being exposed on their home rows.
      await until(async () => {
        const r = await p.query(`query { experiment(key: "realtime-ranking") { results { variants { exposedUsers } } } }`);
        return r.data.experiment.results.variants.reduce((n: number, v: { exposedUsers: number }) => n + v.exposedUsers, 0) > 20;
      }, 30_000, 'the simulator to expose users');
      const live = collect(client, LIVE, { key, unitId: 'probe' });
      await live.until(() => live.messages.length >= 1);
      const lags: number[] = [];
      for (let i = 0; i < 5; i++) {
        const row = (await p.query(`query { user(id: "probe-${i}") { recommendedFor(unitId: "probe", limit: 3) { impressionId } } }`)).data.user.recommendedFor;
        const seen = live.messages.length;
        const sentAt = Date.now();
        await p.query(TRACK, { events: [{ eventId: `probe-${i}`, impressionId: row.impressionId, type: 'IMPRESSION' }] });
        await live.until(() => live.messages.slice(seen).some((m) => m.data.experimentResultsUpdated.variants.reduce((n: number, v: { exposedUsers: number }) => n + v.exposedUsers, 0) === i + 1), 2000);
        lags.push(Date.now() - sentAt);
      }
      expect(Math.max(...lags), `lags ${lags.join(', ')} ms`).toBeLessThan(1000);
      expect(sim.exitCode).toBeNull(); // the load was still running throughout
    } finally {
      sim.kill('SIGTERM');
      await client.dispose();
    }
  });
});
