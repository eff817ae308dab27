/**
 * The background simulation `npm start` runs (simulator/run.ts, as `npm run simulate` does): on
 * the demo platform with authentication on, a small run through the gateway fills the seeded
 * experiment's results with exposed users in both variants and lifts with intervals, leaves the
 * demo users alone, and stops promptly when aborted. And when `npm start` runs it at all.
 */
import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../lib/auth.js';
import { DEMO_USERS } from '../../demo/history.js';
import { seedDemoData } from '../../platform/demo.js';
import { DEMO_TRAFFIC_DEFAULTS, planDemoTraffic } from '../../simulator/demo-traffic.js';
import { simulate, simulatedUserId } from '../../simulator/run.js';
import type { SimulationSummary } from '../../simulator/run.js';
import { DEV_AUTH, startTestPlatform, tokenFor } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';
import { until } from '../helpers/wait.js';

const RESULTS = `query Results { experiment(key: "realtime-ranking") { results {
  variants { variant exposedUsers impressions }
  comparisons { variant metrics { metric relativeLift { estimate low high } } } } } }`;
const PROFILE = `query Version($id: ID!) { user(id: $id) { profile { version } } }`;

interface Results {
  variants: Array<{ variant: string; exposedUsers: number; impressions: number }>;
  comparisons: Array<{ variant: string; metrics: Array<{ metric: string; relativeLift: { estimate: number; low: number; high: number } | null }> }>;
}

describe('the demo simulation', () => {
  let p: TestPlatform;
  let service: Record<string, string>;
  beforeAll(async () => {
    p = await startTestPlatform({ env: { AUTH_DISABLED: '0' } });
    await seedDemoData(p);
    // A person's demo service token: the simulation must not be spending its rate.
    service = { authorization: `Bearer ${await tokenFor('demo-backend', 'service')}` };
  });
  afterAll(async () => {
    await p?.close();
  });

  const results = async (): Promise<Results> => {
    const r = await p.query(RESULTS, {}, service);
    expect(r.errors).toBeUndefined();
    return r.data.experiment.results;
  };
  const versions = async () =>
    Promise.all(DEMO_USERS.map(async (u) => (await p.query(PROFILE, { id: u.id }, service)).data.user.profile.version as number));

  it('fills the seeded experiment with exposed users in both arms and intervals, then stops when aborted', async () => {
    const before = await results();
    expect(before.variants.every((v) => v.exposedUsers === 0)).toBe(true);
    const demoVersions = await versions();

    const controller = new AbortController();
    const seeded: number[] = [];
    let run: Promise<SimulationSummary> | undefined;
    try {
      run = simulate({
        gatewayUrl: p.gatewayUrl,
        users: 30,
        durationMs: 60_000,
        seed: 7,
        concurrency: 4,
        mintToken: (claims) => mintToken(DEV_AUTH, claims),
        serviceSubject: 'demo-simulator',
        signal: controller.signal,
        onProgress: (e) => void (e.type === 'seeded' && seeded.push(e.historyEvents)),
      });
      let latest = before;
      await until(
        async () => {
          latest = await results();
          const exposedInBoth = latest.variants.length === 2 && latest.variants.every((v) => v.exposedUsers >= 3);
          const interval = latest.comparisons.some((c) => c.metrics.some((m) => m.relativeLift !== null && m.relativeLift.low < m.relativeLift.high));
          return exposedInBoth && interval;
        },
        15_000,
        'exposed users in both variants and a lift with an interval',
      );
      expect(seeded).toEqual([30 * 5]);
      const lift = latest.comparisons[0]!.metrics.find((m) => m.relativeLift)!.relativeLift!;
      expect(lift.low).toBeLessThanOrEqual(lift.estimate);
      expect(lift.estimate).toBeLessThanOrEqual(lift.high);
      // Only synthetic users were exposed (ids sim7-user-<n>), and no demo user's profile moved.
      expect(latest.variants.reduce((n, v) => n + v.exposedUsers, 0)).toBeLessThanOrEqual(30);
      expect(await versions()).toEqual(demoVersions);
      // However long it runs, the abort signal holds at most a listener per call in flight.
      expect(getEventListeners(controller.signal, 'abort').length).toBeLessThanOrEqual(4 * 2);
      // The demo service token still gets answers at once while the simulation runs.
      const mine = await p.query(`query { experiments { key } }`, {}, service);
      expect(mine.errors).toBeUndefined();
    } finally {
      controller.abort();
    }
    const abortedAt = Date.now();
    const summary = await run!;
    expect(Date.now() - abortedAt).toBeLessThan(2_000);
    expect(summary.aborted).toBe(true);
    expect(summary.rows).toBeGreaterThan(0);
    expect(summary.results).toBeUndefined();
  }, 20_000);

  it('uses ids no demo user has', () => {
    const ids = new Set<string>(DEMO_USERS.map((u) => u.id));
    for (let n = 0; n < 300; n++) expect(ids.has(simulatedUserId(1, n))).toBe(false);
    expect(simulatedUserId(1, 0)).toBe('sim1-user-0');
  });
});

describe('the demo simulation under a tight gateway rate limit', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startTestPlatform({ env: { AUTH_DISABLED: '0', GATEWAY_RATE_LIMIT: '4', GATEWAY_RATE_BURST: '4' } });
    await seedDemoData(p);
  });
  afterAll(async () => {
    await p?.close();
  });

  it('spends its own rate (subject demo-simulator), never the demo service token\'s', async () => {
    const controller = new AbortController();
    let sessions = 0;
    const run = simulate({
      gatewayUrl: p.gatewayUrl,
      users: 10,
      durationMs: 60_000,
      seed: 8,
      concurrency: 4,
      mintToken: (claims) => mintToken(DEV_AUTH, claims),
      serviceSubject: 'demo-simulator',
      signal: controller.signal,
      onProgress: (e) => void (e.type === 'session' && sessions++),
    });
    try {
      // The simulation's backend calls are over 4/s here and wait on RATE_LIMITED; meanwhile a
      // person's full burst with the demo service token is answered.
      await until(() => sessions >= 8, 15_000, 'the simulation to run sessions');
      const person = { authorization: `Bearer ${await tokenFor('demo-backend', 'service')}` };
      const answers = await Promise.all(Array.from({ length: 4 }, () => p.query(`query { experiments { key } }`, {}, person)));
      expect(answers.map((a) => a.errors?.[0]?.extensions?.code ?? 'ok')).toEqual(['ok', 'ok', 'ok', 'ok']);
    } finally {
      controller.abort();
    }
    expect((await run).aborted).toBe(true);
  }, 20_000);
});

describe('when npm start simulates traffic', () => {
  const dev = { production: false, demoData: true, auth: DEV_AUTH };
  it('runs by default with demo data outside production, labelled a simulation', () => {
    const plan = planDemoTraffic({}, dev);
    expect(plan.config).toMatchObject({ users: DEMO_TRAFFIC_DEFAULTS.users, durationMs: 120_000, concurrency: DEMO_TRAFFIC_DEFAULTS.concurrency });
    expect(plan.label).toContain('a simulation, not real users');
    expect(plan.label).toContain('300 synthetic users');
  });
  it('is off with DEMO_SIMULATION_USERS=0, without demo data, and in production unless asked', () => {
    expect(planDemoTraffic({ DEMO_SIMULATION_USERS: '0' }, dev).config).toBeNull();
    expect(planDemoTraffic({}, { ...dev, demoData: false }).config).toBeNull();
    expect(planDemoTraffic({}, { ...dev, production: true }).config).toBeNull();
    expect(planDemoTraffic({}, { ...dev, production: true, demoData: true }).label).toContain('off');
    expect(planDemoTraffic({ DEMO_SIMULATION_USERS: '50' }, { ...dev, production: true }).config?.users).toBe(50);
  });
  it('is sized by env and refuses bad values', () => {
    expect(planDemoTraffic({ DEMO_SIMULATION_USERS: '40', DEMO_SIMULATION_DURATION: '30s', DEMO_SIMULATION_CONCURRENCY: '2' }, dev).config).toMatchObject({ users: 40, durationMs: 30_000, concurrency: 2 });
    expect(() => planDemoTraffic({ DEMO_SIMULATION_USERS: 'many' }, dev)).toThrow(/DEMO_SIMULATION_USERS/);
    expect(() => planDemoTraffic({ DEMO_SIMULATION_DURATION: 'soon' }, dev)).toThrow(/DEMO_SIMULATION_DURATION/);
  });
});
