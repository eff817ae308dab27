/** Experiments through the gateway: assignment, the ranker it selects, unit events and results. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';

const CREATE = /* GraphQL */ `
  mutation ($input: CreateExperimentInput!) { createExperiment(input: $input) { key status variants { key weight } } }
`;

async function assignmentsOf(p: TestPlatform, userIds: string[], key: string): Promise<Map<string, { variant: string; inExperiment: boolean }>> {
  const out = new Map<string, { variant: string; inExperiment: boolean }>();
  for (let i = 0; i < userIds.length; i += 250) {
    const chunk = userIds.slice(i, i + 250);
    // Same document for every full chunk, so the gateway plans it once.
    const vars = chunk.map((_, j) => `$u${j}: ID!`).join(', ');
    const fields = chunk.map((_, j) => `u${j}: user(id: $u${j}) { assignment(experimentKey: $key) { variant inExperiment } }`);
    const variables = Object.fromEntries([...chunk.map((id, j) => [`u${j}`, id]), ['key', key]]);
    const res = await p.query(`query (${vars}, $key: String!) { ${fields.join('\n')} }`, variables);
    expect(res.errors).toBeUndefined();
    chunk.forEach((id, j) => out.set(id, res.data[`u${j}`].assignment));
  }
  return out;
}

describe('experiments through the gateway', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    // These tests read many users per request (aliases), as a backend job would: limits raised.
    p = await startTestPlatform({ env: { GRAPHQL_MAX_ALIASES: '500', GRAPHQL_MAX_COST: '1000000', GRAPHQL_MAX_TOKENS: '100000' } });
  });
  afterAll(() => p?.close());

  it('creates, starts and splits 10,000 users by the weights (SRM not flagged), stickily', async () => {
    const created = await p.query(CREATE, {
      input: { key: 'split-test', name: 'Split test', variants: [{ key: 'a', weight: 0.3 }, { key: 'b', weight: 0.7 }] },
    });
    expect(created.data.createExperiment).toMatchObject({ key: 'split-test', status: 'DRAFT' });
    expect((await p.query(`mutation { startExperiment(key: "split-test") { status } }`)).data.startExperiment.status).toBe('RUNNING');

    const users = Array.from({ length: 10_000 }, (_, i) => `split-user-${i}`);
    const first = await assignmentsOf(p, users, 'split-test');
    const b = [...first.values()].filter((a) => a.variant === 'b').length;
    expect(b / users.length).toBeGreaterThan(0.68);
    expect(b / users.length).toBeLessThan(0.72);

    const results = await p.query(`{ experiment(key: "split-test") { results { srm { flagged pValue observed } variants { variant assignedUsers } } } }`);
    const srm = results.data.experiment.results.srm;
    expect(srm.flagged).toBe(false);
    expect(srm.observed.reduce((x: number, y: number) => x + y, 0)).toBe(10_000);

    // Re-weighting never moves a user who is already assigned.
    await p.query(`mutation { reweightExperiment(key: "split-test", weights: [0.9, 0.1]) { key } }`);
    const sample = users.slice(0, 1000);
    const again = await assignmentsOf(p, sample, 'split-test');
    for (const id of sample) expect(again.get(id)!.variant).toBe(first.get(id)!.variant);
  });

  it('rejects bad experiment input with clear codes', async () => {
    const weights = await p.query(CREATE, { input: { key: 'bad-weights', name: 'x', variants: [{ key: 'a', weight: 0.5 }, { key: 'b', weight: 0.4 }] } });
    expect(weights.errors?.[0]?.extensions?.code).toBe('WEIGHTS_INVALID');
    const unknown = await p.query(`mutation { startExperiment(key: "nope") { key } }`);
    expect(unknown.errors?.[0]?.extensions?.code).toBe('EXPERIMENT_NOT_FOUND');
    const results = await p.query(`{ experiment(key: "nope") { key } }`);
    expect(results.data.experiment).toBeNull();
  });

  it('realtime-ranking assignments decide the ranker, and unit events roll up into results', async () => {
    const users = Array.from({ length: 40 }, (_, i) => `rank-user-${i}`);
    const rows = new Map<string, any>();
    const fields = users.map(
      (id, j) =>
        `u${j}: user(id: "${id}") { assignment(experimentKey: "realtime-ranking") { variant inExperiment } recommendedFor(unitId: "home", limit: 5) { model experimentKey variant impressionId items { position item { id } } } }`,
    );
    const res = await p.query(`{ ${fields.join('\n')} }`);
    expect(res.errors).toBeUndefined();
    users.forEach((id, j) => rows.set(id, res.data[`u${j}`]));
    const variants = new Set<string>();
    for (const { assignment, recommendedFor: row } of rows.values()) {
      expect(assignment.inExperiment).toBe(true);
      variants.add(assignment.variant);
      expect(row.experimentKey).toBe('realtime-ranking');
      expect(row.variant).toBe(assignment.variant);
      expect(row.model).toBe(assignment.variant === 'control' ? 'BASELINE' : 'REALTIME');
    }
    expect(variants).toEqual(new Set(['control', 'treatment']));

    const TRACK = `mutation ($events: [UnitEventInput!]!) { trackUnitEvents(events: $events) { accepted duplicates rejected { index code message } } }`;
    const events: Record<string, unknown>[] = [];
    users.forEach((id, j) => {
      const row = rows.get(id).recommendedFor;
      events.push({ eventId: `imp-${j}`, impressionId: row.impressionId, type: 'IMPRESSION' });
      if (j % 2 === 0 && row.items.length > 0) {
        events.push({ eventId: `clk-${j}`, impressionId: row.impressionId, type: 'CLICK', position: 1, itemId: row.items[0].item.id });
        events.push({ eventId: `con-${j}`, impressionId: row.impressionId, type: 'CONSUME', position: 1, itemId: row.items[0].item.id, value: 600 + j, completed: true });
      }
    });
    const forgedRow = rows.get(users[0]!).recommendedFor.impressionId.replace(/.$/, (c: string) => (c === 'A' ? 'B' : 'A'));
    events.push({ eventId: 'forged-1', impressionId: forgedRow, type: 'IMPRESSION' });
    events.push({ eventId: 'imp-0', impressionId: rows.get(users[0]!).recommendedFor.impressionId, type: 'IMPRESSION' });
    const tracked = await p.query(TRACK, { events });
    expect(tracked.errors).toBeUndefined();
    const { accepted, duplicates, rejected } = tracked.data.trackUnitEvents;
    expect(rejected).toEqual([{ index: events.length - 2, code: 'IMPRESSION_INVALID', message: expect.any(String) }]);
    expect(duplicates).toBe(1);
    expect(accepted).toBe(events.length - 2);

    const results = await p.query(`{
      experiment(key: "realtime-ranking") {
        units
        results(unitId: "home") {
          unitId
          variants { variant exposedUsers impressions clicks ctr consumptionPerExposedUser engagedUserRate }
          comparisons { variant control metrics { metric method control treatment pValue absoluteLift { estimate low high } relativeLift { estimate low high } } }
          srm { flagged observed }
        }
      }
    }`);
    expect(results.errors).toBeUndefined();
    const exp = results.data.experiment;
    expect(exp.units).toEqual(['home']);
    const byVariant = Object.fromEntries(exp.results.variants.map((v: any) => [v.variant, v]));
    expect(byVariant.control.exposedUsers + byVariant.treatment.exposedUsers).toBe(40);
    expect(byVariant.control.clicks + byVariant.treatment.clicks).toBe(20);
    const ctr = exp.results.comparisons[0].metrics.find((m: any) => m.metric === 'ctr');
    expect(ctr.method).toBe('delta');
    const consumption = exp.results.comparisons[0].metrics.find((m: any) => m.metric === 'consumption_per_exposed_user');
    expect(consumption.method).toBe('welch');
    expect(consumption.absoluteLift.low).toBeLessThanOrEqual(consumption.absoluteLift.estimate);
    expect(consumption.pValue).toBeGreaterThanOrEqual(0);
    expect(consumption.pValue).toBeLessThanOrEqual(1);
  });
});
