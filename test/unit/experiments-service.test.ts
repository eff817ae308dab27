/**
 * ExperimentService over the in-memory stores: lifecycle and error codes, sticky assignment,
 * unit-event tracking with signed impressions, and results checked against a brute-force
 * recomputation from the raw events.
 */
import { describe, expect, it } from 'vitest';
import { issueImpression } from '../../lib/contracts/impression.js';
import type { ImpressionClaims } from '../../lib/contracts/impression.js';
import { ExperimentService, MAX_UNIT_EVENTS } from '../../subgraphs/experiments/src/app/experiment-service.js';
import type { ExperimentResults } from '../../subgraphs/experiments/src/app/experiment-service.js';
import type { ExperimentInput } from '../../subgraphs/experiments/src/domain/experiment.js';
import { analyze, sampleRatioMismatch } from '../../subgraphs/experiments/src/domain/analysis/index.js';
import type { MeanStats, RatioStats } from '../../subgraphs/experiments/src/domain/stats.js';
import { DEFAULT_UNIT_EVENT_LIMITS } from '../../subgraphs/experiments/src/domain/unit-events.js';
import type { UnitEventLimits } from '../../subgraphs/experiments/src/domain/unit-events.js';
import { createMemoryExperimentStores } from '../../subgraphs/experiments/src/store/memory.js';
import { T0, mulberry32, pick, randInt, shuffled } from './fixtures.js';
import type { Rng } from './fixtures.js';

const SECRET = 'test-secret-0123456789';

function setup(limits: Partial<UnitEventLimits> = {}) {
  let now = T0;
  const stores = createMemoryExperimentStores({ now: () => now });
  const clock = {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
  const service = new ExperimentService(stores, SECRET, clock.now, 0, { ...DEFAULT_UNIT_EVENT_LIMITS, ...limits });
  return { stores, service, clock };
}

function input(key: string, weights: number[] = [0.5, 0.5], extra: Partial<ExperimentInput> = {}): ExperimentInput {
  const keys = weights.length === 2 ? ['control', 'treatment'] : weights.map((_, i) => (i === 0 ? 'control' : `t${i}`));
  return { key, name: `Experiment ${key}`, variants: weights.map((weight, i) => ({ key: keys[i]!, weight })), ...extra };
}

async function expectCode(p: Promise<unknown>, code: string) {
  await expect(p).rejects.toMatchObject({ code });
}

function users(prefix: string, count: number) {
  return Array.from({ length: count }, (_, i) => ({ userId: `${prefix}-${i}`, traits: {} }));
}

type Claims = Omit<ImpressionClaims, 'nonce'>;

function token(claims: Partial<Claims> = {}, secret = SECRET): string {
  return issueImpression(
    {
      userId: 'user-1',
      unitId: 'home:hero',
      model: 'REALTIME',
      experimentKey: 'exp',
      variant: 'control',
      itemIds: ['ml-1', 'ml-2', 'ml-3'],
      issuedAt: T0,
      ...claims,
    },
    secret,
  );
}

// ---------------------------------------------------------------------------------------------

describe('lifecycle', () => {
  it('creates a DRAFT with defaults, then starts and stops it', async () => {
    const { service, clock } = setup();
    const created = await service.create({ key: 'exp', name: '  Ranking  ', variants: [{ key: 'control', weight: 0.5 }, { key: 'treatment', name: 'New ranker', weight: 0.5 }] });
    expect(created).toMatchObject({
      key: 'exp',
      name: 'Ranking',
      description: null,
      status: 'DRAFT',
      coverage: 1,
      seed: 'exp',
      hashVersion: 2,
      condition: null,
      createdAt: T0,
      startedAt: null,
      stoppedAt: null,
    });
    expect(created.variants).toEqual([
      { key: 'control', name: 'control', weight: 0.5 },
      { key: 'treatment', name: 'New ranker', weight: 0.5 },
    ]);
    expect(await service.get('exp')).toEqual(created);
    expect(await service.get('missing')).toBeNull();

    clock.advance(1000);
    const started = await service.start('exp');
    expect(started).toMatchObject({ status: 'RUNNING', startedAt: T0 + 1000, stoppedAt: null, updatedAt: T0 + 1000 });
    clock.advance(1000);
    // Starting a running experiment changes nothing.
    expect(await service.start('exp')).toEqual(started);

    clock.advance(1000);
    const stopped = await service.stop('exp');
    expect(stopped).toMatchObject({ status: 'STOPPED', startedAt: T0 + 1000, stoppedAt: T0 + 3000 });
    await expectCode(service.stop('exp'), 'EXPERIMENT_NOT_RUNNING');

    clock.advance(1000);
    // A restart keeps the first start time.
    expect(await service.start('exp')).toMatchObject({ status: 'RUNNING', startedAt: T0 + 1000, stoppedAt: null });
  });

  it('lists by status in creation order', async () => {
    const { service, clock } = setup();
    await service.create(input('b-first'));
    clock.advance(1);
    await service.create(input('a-second'));
    clock.advance(1);
    await service.create(input('c-third'));
    await service.start('a-second');
    expect((await service.list()).map((e) => e.key)).toEqual(['b-first', 'a-second', 'c-third']);
    expect((await service.list('RUNNING')).map((e) => e.key)).toEqual(['a-second']);
    expect((await service.list('DRAFT')).map((e) => e.key)).toEqual(['b-first', 'c-third']);
    expect(await service.list('STOPPED')).toEqual([]);
  });

  it('reweights, optionally changing coverage', async () => {
    const { service, clock } = setup();
    await service.create(input('exp', [0.5, 0.5], { coverage: 0.8 }));
    clock.advance(10);
    const r1 = await service.reweight('exp', [0.1, 0.9]);
    expect(r1.variants.map((v) => v.weight)).toEqual([0.1, 0.9]);
    expect(r1.coverage).toBe(0.8);
    expect(r1.updatedAt).toBe(T0 + 10);
    const r2 = await service.reweight('exp', [0.3, 0.7], 0.4);
    expect(r2.coverage).toBe(0.4);
    expect(await service.get('exp')).toEqual(r2);
  });

  it('EXPERIMENT_EXISTS and EXPERIMENT_NOT_FOUND', async () => {
    const { service } = setup();
    await service.create(input('exp'));
    await expectCode(service.create(input('exp', [0.2, 0.8])), 'EXPERIMENT_EXISTS');
    expect((await service.get('exp'))!.variants.map((v) => v.weight)).toEqual([0.5, 0.5]);
    await expectCode(service.start('nope'), 'EXPERIMENT_NOT_FOUND');
    await expectCode(service.stop('nope'), 'EXPERIMENT_NOT_FOUND');
    await expectCode(service.reweight('nope', [0.5, 0.5]), 'EXPERIMENT_NOT_FOUND');
    await expectCode(service.results('nope', null), 'EXPERIMENT_NOT_FOUND');
  });

  it('EXPERIMENT_NOT_RUNNING when stopping a draft', async () => {
    const { service } = setup();
    await service.create(input('exp'));
    await expectCode(service.stop('exp'), 'EXPERIMENT_NOT_RUNNING');
    expect((await service.get('exp'))!.status).toBe('DRAFT');
  });

  it('WEIGHTS_INVALID for weights summing to 0.9, a wrong count, or out-of-range weights', async () => {
    const { service } = setup();
    await expectCode(service.create(input('sum-09', [0.5, 0.4])), 'WEIGHTS_INVALID');
    await expectCode(service.create(input('neg', [1.2, -0.2])), 'WEIGHTS_INVALID');
    await expectCode(service.create(input('nan', [Number.NaN, 1])), 'WEIGHTS_INVALID');
    expect(await service.list()).toEqual([]);

    const before = await service.create(input('exp'));
    await expectCode(service.reweight('exp', [0.45, 0.45]), 'WEIGHTS_INVALID');
    await expectCode(service.reweight('exp', [1]), 'WEIGHTS_INVALID');
    await expectCode(service.reweight('exp', [0.2, 0.3, 0.5]), 'WEIGHTS_INVALID');
    expect(await service.get('exp')).toEqual(before);
    // Within the 1e-6 tolerance is fine.
    await expect(service.reweight('exp', [1 / 3, 2 / 3])).resolves.toBeTruthy();
  });

  it('VARIANTS_INVALID for duplicate keys or a single variant', async () => {
    const { service } = setup();
    await expectCode(
      service.create({ key: 'dup', name: 'dup', variants: [{ key: 'a', weight: 0.5 }, { key: 'a', weight: 0.5 }] }),
      'VARIANTS_INVALID',
    );
    await expectCode(service.create({ key: 'one', name: 'one', variants: [{ key: 'a', weight: 1 }] }), 'VARIANTS_INVALID');
    await expectCode(service.create({ key: 'none', name: 'none', variants: [] }), 'VARIANTS_INVALID');
    expect(await service.list()).toEqual([]);
  });

  it('COVERAGE_INVALID on create and on reweight', async () => {
    const { service } = setup();
    await expectCode(service.create(input('c1', [0.5, 0.5], { coverage: 1.5 })), 'COVERAGE_INVALID');
    await expectCode(service.create(input('c2', [0.5, 0.5], { coverage: -0.1 })), 'COVERAGE_INVALID');
    await service.create(input('exp'));
    await expectCode(service.reweight('exp', [0.5, 0.5], 2), 'COVERAGE_INVALID');
    expect((await service.get('exp'))!.coverage).toBe(1);
  });

  it('CONDITION_INVALID for non-objects and conditions over 4 KB', async () => {
    const { service } = setup();
    await expectCode(service.create(input('c1', [0.5, 0.5], { condition: ['plan', 'premium'] })), 'CONDITION_INVALID');
    await expectCode(service.create(input('c2', [0.5, 0.5], { condition: 'plan = premium' })), 'CONDITION_INVALID');
    await expectCode(service.create(input('c3', [0.5, 0.5], { condition: 42 })), 'CONDITION_INVALID');
    await expectCode(service.create(input('c4', [0.5, 0.5], { condition: { plan: { $in: Array.from({ length: 1000 }, (_, i) => `plan-${i}`) } } })), 'CONDITION_INVALID');
    const ok = await service.create(input('c5', [0.5, 0.5], { condition: { plan: 'premium' } }));
    expect(ok.condition).toEqual({ plan: 'premium' });
  });
});

// ---------------------------------------------------------------------------------------------

describe('sticky assignment', () => {
  it('keeps variants after a reweight while new users follow the new weights', async () => {
    const { service, stores } = setup();
    await service.create(input('sticky'));
    await service.start('sticky');

    const first = users('u', 2000);
    const a1 = (await service.assignMany(first, ['sticky'])).map((row) => row[0]!);
    expect(a1.every((a) => a.inExperiment && a.reason === 'ASSIGNED')).toBe(true);
    const control1 = a1.filter((a) => a.variant === 'control').length;
    expect(Math.abs(control1 / 2000 - 0.5)).toBeLessThan(0.04);

    await service.reweight('sticky', [0.1, 0.9]);
    const a2 = (await service.assignMany(first, ['sticky'])).map((row) => row[0]!);
    expect(a2.map((a) => a.variant)).toEqual(a1.map((a) => a.variant));
    expect(a2.every((a) => a.inExperiment && a.reason === 'STICKY')).toBe(true);

    const fresh = users('n', 2000);
    const a3 = (await service.assignMany(fresh, ['sticky'])).map((row) => row[0]!);
    expect(a3.every((a) => a.inExperiment && a.reason === 'ASSIGNED')).toBe(true);
    const control3 = a3.filter((a) => a.variant === 'control').length;
    expect(Math.abs(control3 / 2000 - 0.1)).toBeLessThan(0.03);

    const expected = { control: control1 + control3, treatment: 4000 - control1 - control3 };
    expect(await stores.assignments.counts('sticky')).toEqual(expected);
    const results = await service.results('sticky', null);
    expect(results.variants.map((v) => v.assignedUsers)).toEqual([expected.control, expected.treatment]);
    // SRM looks only at users assigned under the current weights.
    expect(results.srm.observed).toEqual([control3, 2000 - control3]);
  });

  it('assigns the same user identically in one call and across calls', async () => {
    const { service, stores } = setup();
    await service.create(input('exp', [0.3, 0.7]));
    await service.start('exp');
    const u = users('x', 50);
    const rows = await service.assignMany([...u, ...u], ['exp']);
    for (let i = 0; i < 50; i++) expect(rows[i]![0]!.variant).toBe(rows[i + 50]![0]!.variant);
    const counts = await stores.assignments.counts('exp');
    expect((counts['control'] ?? 0) + (counts['treatment'] ?? 0)).toBe(50);
  });

  it('does not record users outside coverage or targeting, nor assign in stopped experiments', async () => {
    const { service, stores } = setup();
    await service.create(input('cov', [0.5, 0.5], { coverage: 0.5 }));
    await service.create(input('premium', [0.5, 0.5], { condition: { plan: 'premium' } }));
    await service.start('cov');
    await service.start('premium');

    const cov = (await service.assignMany(users('c', 1000), ['cov'])).map((r) => r[0]!);
    const inside = cov.filter((a) => a.inExperiment).length;
    expect(cov.filter((a) => !a.inExperiment).every((a) => a.reason === 'NOT_IN_COVERAGE' && a.variant === 'control')).toBe(true);
    expect(Math.abs(inside / 1000 - 0.5)).toBeLessThan(0.06);
    const covCounts = await stores.assignments.counts('cov');
    expect((covCounts['control'] ?? 0) + (covCounts['treatment'] ?? 0)).toBe(inside);

    const [free, paying] = await service.assignMany(
      [
        { userId: 'p-1', traits: { plan: 'free' } },
        { userId: 'p-2', traits: { plan: 'premium' } },
      ],
      ['premium'],
    );
    expect(free![0]).toMatchObject({ inExperiment: false, reason: 'NOT_TARGETED' });
    expect(paying![0]).toMatchObject({ inExperiment: true, reason: 'ASSIGNED' });
    expect(await stores.assignments.counts('premium')).toEqual({ [paying![0]!.variant]: 1 });

    await service.stop('premium');
    const [again] = await service.assignMany([{ userId: 'p-2', traits: { plan: 'premium' } }], ['premium']);
    expect(again![0]).toMatchObject({ inExperiment: false, reason: 'NOT_RUNNING' });
  });

  it('without keys, assigns in every running experiment only', async () => {
    const { service } = setup();
    await service.create(input('draft'));
    await service.create(input('running-1'));
    await service.create(input('running-2'));
    await service.start('running-1');
    await service.start('running-2');
    const [row] = await service.assignMany([{ userId: 'u', traits: {} }]);
    expect(row!.map((a) => a.experimentKey).sort()).toEqual(['running-1', 'running-2']);
    expect(await service.assignMany([])).toEqual([]);
    // Unknown keys are skipped.
    const [row2] = await service.assignMany([{ userId: 'u', traits: {} }], ['nope', 'running-1']);
    expect(row2!.map((a) => a.experimentKey)).toEqual(['running-1']);
  });
});

// ---------------------------------------------------------------------------------------------

describe('track', () => {
  async function running() {
    const ctx = setup();
    await ctx.service.create(input('exp'));
    await ctx.service.start('exp');
    return ctx;
  }

  const click = (impressionId: string, eventId: string, extra: Record<string, unknown> = {}) => ({
    eventId,
    impressionId,
    type: 'CLICK',
    position: 2,
    itemId: 'ml-2',
    ...extra,
  });

  it('accepts genuine events and records them', async () => {
    const { service } = await running();
    const t = token();
    const r = await service.track([
      { eventId: 'e1', impressionId: t, type: 'IMPRESSION' },
      click(t, 'e2'),
      { eventId: 'e3', impressionId: t, type: 'CONSUME', position: 3, itemId: 'ml-3', value: 120, completed: true },
      { eventId: 'e4', impressionId: t, type: 'PURCHASE', position: 1, itemId: 'ml-1', value: 4.99, occurredAt: '2024-01-01T00:00:05Z' },
    ]);
    expect(r).toEqual({ accepted: 4, duplicates: 0, rejected: [] });
    const res = await service.results('exp', 'home:hero');
    expect(res.variants[0]).toMatchObject({ variant: 'control', exposedUsers: 1, impressions: 1, clicks: 1, ctr: 1, consumptionPerExposedUser: 120, engagedUserRate: 1, revenuePerExposedUser: 4.99 });
    expect(await service.units('exp')).toEqual(['home:hero']);
  });

  it('rejects forged and altered impressions with IMPRESSION_INVALID', async () => {
    const { service } = await running();
    const genuine = token({ variant: 'control' });
    const [version, payload, mac] = genuine.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown[];
    claims[4] = 'treatment';
    const altered = `${version}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${mac}`;
    const flippedMac = `${version}.${payload}.${mac.startsWith('A') ? 'B' : 'A'}${mac.slice(1)}`;
    const r = await service.track([
      click(token({}, 'wrong-secret-0123456789'), 'f1'),
      click(altered, 'f2'),
      click(flippedMac, 'f3'),
      click('not-a-token', 'f4'),
      { eventId: 'f5', type: 'CLICK', position: 2, itemId: 'ml-2' },
      click(genuine, 'ok'),
    ]);
    expect(r.accepted).toBe(1);
    expect(r.duplicates).toBe(0);
    expect(r.rejected.map((x) => [x.index, x.eventId, x.code])).toEqual([
      [0, 'f1', 'IMPRESSION_INVALID'],
      [1, 'f2', 'IMPRESSION_INVALID'],
      [2, 'f3', 'IMPRESSION_INVALID'],
      [3, 'f4', 'IMPRESSION_INVALID'],
      [4, 'f5', 'IMPRESSION_INVALID'],
    ]);
    const res = await service.results('exp', null);
    expect(res.variants.map((v) => v.clicks)).toEqual([1, 0]);
  });

  it('rejects invalid fields with precise codes, keeping the valid events of the batch', async () => {
    const { service } = await running();
    const t = token();
    const batch = [
      click(t, 'v1'), // valid
      click(t, 'mismatch', { itemId: 'ml-3' }),
      click(t, 'pos-high', { position: 4 }),
      click(t, 'pos-zero', { position: 0 }),
      click(t, 'pos-frac', { position: 1.5 }),
      click(t, 'pos-missing', { position: undefined }),
      { eventId: 'imp-item-no-pos', impressionId: t, type: 'IMPRESSION', itemId: 'ml-1' },
      click(t, 'neg', { type: 'CONSUME', value: -1 }),
      click(t, 'nan', { type: 'CONSUME', value: Number.NaN }),
      click(t, 'str', { type: 'CONSUME', value: '10' }),
      click(t, 'huge', { type: 'PURCHASE', value: 2e9 }),
      click(t, 'type', { type: 'VIEW' }),
      click(t, 'lower', { type: 'click' }),
      click(t, 'when', { occurredAt: '2024-01-01 00:00:00' }),
      click(t, ''),
      { impressionId: t, type: 'IMPRESSION' },
      click(token({ experimentKey: 'ghost' }), 'ghost'),
      click(token({ variant: 'ghost-variant' }), 'ghost-variant'),
      { eventId: 'v2', impressionId: t, type: 'IMPRESSION' }, // valid
      click(t, 'v3', { type: 'CONSUME', value: 0 }), // valid: zero is allowed
    ];
    const r = await service.track(batch);
    expect(r.accepted).toBe(3);
    expect(r.duplicates).toBe(0);
    expect(r.rejected.map((x) => [x.index, x.code])).toEqual([
      [1, 'ITEM_MISMATCH'],
      [2, 'POSITION_INVALID'],
      [3, 'POSITION_INVALID'],
      [4, 'POSITION_INVALID'],
      [5, 'POSITION_INVALID'],
      [6, 'POSITION_INVALID'],
      [7, 'VALUE_INVALID'],
      [8, 'VALUE_INVALID'],
      [9, 'VALUE_INVALID'],
      [10, 'VALUE_INVALID'],
      [11, 'TYPE_INVALID'],
      [12, 'TYPE_INVALID'],
      [13, 'OCCURRED_AT_INVALID'],
      [14, 'EVENT_ID_INVALID'],
      [15, 'EVENT_ID_INVALID'],
      [16, 'EXPERIMENT_UNKNOWN'],
      [17, 'EXPERIMENT_UNKNOWN'],
    ]);
    for (const x of r.rejected) expect(x.message.length).toBeGreaterThan(0);
    expect(r.rejected.find((x) => x.index === 15)!.eventId).toBeNull();
    const res = await service.results('exp', 'home:hero');
    expect(res.variants[0]).toMatchObject({ exposedUsers: 1, impressions: 1, clicks: 1, consumptionPerExposedUser: 0, engagedUserRate: 1 });
  });

  it('counts duplicate eventIds (in the same and in a later call) without applying them twice', async () => {
    const { service } = await running();
    const t = token({ userId: 'dup-user' });
    const consume = click(t, 'c1', { type: 'CONSUME', value: 100 });
    const r1 = await service.track([click(t, 'k1'), click(t, 'k1'), consume, { ...consume, value: 999 }]);
    expect(r1).toEqual({ accepted: 2, duplicates: 2, rejected: [] });
    const r2 = await service.track([click(t, 'k1'), consume, click(t, 'k2', { position: 3, itemId: 'ml-3' })]);
    expect(r2).toEqual({ accepted: 1, duplicates: 2, rejected: [] });
    const res = await service.results('exp', 'home:hero');
    expect(res.variants[0]).toMatchObject({ exposedUsers: 1, clicks: 2, consumptionPerExposedUser: 100 });
  });

  it('accepts rows served outside any experiment without attributing them', async () => {
    const { service } = await running();
    const t = token({ experimentKey: null, variant: null });
    const r = await service.track([click(t, 'plain-1'), { eventId: 'plain-2', impressionId: t, type: 'IMPRESSION' }]);
    expect(r).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
    expect(await service.units('exp')).toEqual([]);
  });

  it('BATCH_TOO_LARGE above 1,000 events; exactly 1,000 is fine', async () => {
    const { service } = await running();
    expect(MAX_UNIT_EVENTS).toBe(1000);
    // One row per event: an impression counts one exposure.
    const events = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ eventId: `${prefix}-${i}`, impressionId: token(), type: 'IMPRESSION' }));
    await expectCode(service.track(events(1001, 'big')), 'BATCH_TOO_LARGE');
    expect((await service.results('exp', null)).variants[0]!.impressions).toBe(0);
    expect(await service.track(events(1000, 'max'))).toEqual({ accepted: 1000, duplicates: 0, rejected: [] });
    expect((await service.results('exp', null)).variants[0]!.impressions).toBe(1000);
  });
});

// ---------------------------------------------------------------------------------------------

describe('unit events cannot be forged by replay (issue 14)', () => {
  const HOUR = 3_600_000;
  async function running(limits: Partial<UnitEventLimits> = {}) {
    const ctx = setup(limits);
    await ctx.service.create(input('exp'));
    await ctx.service.start('exp');
    return ctx;
  }
  const at = (ms: number) => new Date(ms).toISOString();
  const click = (impressionId: string, eventId: string, extra: Record<string, unknown> = {}) => ({
    eventId,
    impressionId,
    type: 'CLICK',
    position: 2,
    itemId: 'ml-2',
    ...extra,
  });
  const purchase = (impressionId: string, eventId: string, value: number, extra: Record<string, unknown> = {}) => ({
    eventId,
    impressionId,
    type: 'PURCHASE',
    position: 1,
    itemId: 'ml-1',
    value,
    ...extra,
  });
  const codes = (r: { rejected: { index: number; code: string }[] }) => r.rejected.map((x) => [x.index, x.code]);

  it('the finding: a user token replaying its impression 1,000 times as PURCHASE of 1e9 dated 2001 moves nothing', async () => {
    const { service, clock } = await running();
    const t = token({ userId: 'mallory' });
    clock.advance(60_000);
    const replay = (value: number, extra: Record<string, unknown> = {}) =>
      Array.from({ length: 1000 }, (_, i) => purchase(t, `replay-${value}-${i}`, value, extra));

    const forged = await service.track(replay(1e9, { occurredAt: '2001-01-01T00:00:00Z' }), 'mallory');
    expect(forged.accepted).toBe(0);
    expect(forged.rejected).toHaveLength(1000);
    expect(new Set(forged.rejected.map((x) => x.code))).toEqual(new Set(['VALUE_OUT_OF_RANGE']));
    const dated2001 = await service.track(replay(10, { occurredAt: '2001-01-01T00:00:00Z' }), 'mallory');
    expect(dated2001.accepted).toBe(0);
    expect(new Set(dated2001.rejected.map((x) => x.code))).toEqual(new Set(['OCCURRED_AT_OUT_OF_RANGE']));
    expect((await service.results('exp', null)).variants[0]!.revenuePerExposedUser).toBeNull();

    // Even well-formed, a served position is purchased once.
    const plausible = await service.track(replay(10), 'mallory');
    expect(plausible.accepted).toBe(1);
    expect(plausible.rejected).toHaveLength(999);
    expect(new Set(plausible.rejected.map((x) => x.code))).toEqual(new Set(['ALREADY_COUNTED']));
    expect((await service.results('exp', null)).variants[0]).toMatchObject({ exposedUsers: 1, revenuePerExposedUser: 10 });
  });

  it('IMPRESSION_EXPIRED once the row is older than the impression lifetime (24 h by default, configurable)', async () => {
    const { service, clock } = await running();
    const t = token();
    clock.advance(24 * HOUR - 1);
    expect(await service.track([click(t, 'just-in-time')])).toMatchObject({ accepted: 1, rejected: [] });
    clock.advance(1);
    const late = await service.track([click(t, 'late', { position: 3, itemId: 'ml-3' }), click(t, 'just-in-time')]);
    expect(codes(late)).toEqual([
      [0, 'IMPRESSION_EXPIRED'],
      [1, 'IMPRESSION_EXPIRED'], // a retry after expiry is refused too; it was counted once
    ]);
    expect(late.accepted).toBe(0);
    expect(late.rejected[0]!.message).toMatch(/expired/);

    const short = await running({ impressionTtlMs: 60_000 });
    const s = token();
    short.clock.advance(60_000);
    expect(codes(await short.service.track([click(s, 'x')]))).toEqual([[0, 'IMPRESSION_EXPIRED']]);
  });

  it('OCCURRED_AT_OUT_OF_RANGE before the row was served or after now, beyond the allowed clock skew', async () => {
    const { service, clock } = await running({ maxSkewMs: 5 * 60_000 });
    clock.advance(HOUR);
    const now = T0 + HOUR;
    const cases: Array<[number | string, boolean]> = [
      ['2001-01-01T00:00:00Z', false],
      [T0 - 5 * 60_000 - 1, false],
      [T0 - 5 * 60_000, true], // a client clock a little behind the server's
      [T0, true],
      [now - 1, true],
      [now + 5 * 60_000, true],
      [now + 5 * 60_000 + 1, false],
      ['2030-01-01T00:00:00Z', false],
    ];
    // One row per case, so no cap gets in the way.
    const r = await service.track(cases.map(([when], i) => click(token(), `when-${i}`, { occurredAt: typeof when === 'number' ? at(when) : when })));
    expect(codes(r)).toEqual(cases.flatMap(([, ok], i) => (ok ? [] : [[i, 'OCCURRED_AT_OUT_OF_RANGE']])));
    expect(r.accepted).toBe(cases.filter(([, ok]) => ok).length);
    // Without occurredAt the event happened now: fine.
    expect((await service.track([click(token(), 'no-time')])).accepted).toBe(1);
  });

  it('caps per impression: one exposure, clicks, consumes and purchases once per served position', async () => {
    const { service } = await running();
    const t = token({ userId: 'capped' });
    const r = await service.track([
      { eventId: 'imp-1', impressionId: t, type: 'IMPRESSION' },
      { eventId: 'imp-2', impressionId: t, type: 'IMPRESSION' },
      click(t, 'click-2a'),
      click(t, 'click-2b'),
      click(t, 'click-1', { position: 1, itemId: 'ml-1' }),
      click(t, 'consume-2a', { type: 'CONSUME', value: 600 }),
      click(t, 'consume-2b', { type: 'CONSUME', value: 600 }),
      purchase(t, 'buy-1a', 5),
      purchase(t, 'buy-1b', 5),
      click(t, 'click-2a'), // the same event again: a duplicate, as before
    ]);
    expect(codes(r)).toEqual([
      [1, 'ALREADY_COUNTED'],
      [3, 'ALREADY_COUNTED'],
      [6, 'ALREADY_COUNTED'],
      [8, 'ALREADY_COUNTED'],
    ]);
    expect(r).toMatchObject({ accepted: 5, duplicates: 1 });
    for (const x of r.rejected) expect(x.message.length).toBeGreaterThan(0);
    // Another row served to the same user is counted on its own.
    const again = await service.track([{ eventId: 'imp-1', impressionId: token({ userId: 'capped' }), type: 'IMPRESSION' }]);
    expect(again).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    const res = (await service.results('exp', 'home:hero')).variants[0]!;
    expect(res).toMatchObject({ exposedUsers: 1, impressions: 2, clicks: 2, consumptionPerExposedUser: 600, revenuePerExposedUser: 5 });
  });

  it('VALUE_OUT_OF_RANGE: consumption above its maximum (24 h), user purchases above theirs; services up to 1e9', async () => {
    const { service } = await running();
    const consume = (eventId: string, value: number) => click(token(), eventId, { type: 'CONSUME', value });
    const r = await service.track([consume('c-max', 86_400), consume('c-over', 86_400.5), purchase(token(), 'p-max', 1000), purchase(token(), 'p-over', 1000.01)], 'user-1');
    expect(codes(r)).toEqual([
      [1, 'VALUE_OUT_OF_RANGE'],
      [3, 'VALUE_OUT_OF_RANGE'],
    ]);
    expect(r.rejected[1]!.message).toMatch(/1000/);
    // A service token (the payment backend) may record larger purchases; the absolute bound stays.
    const byService = await service.track([purchase(token(), 's-big', 5000), consume('s-consume', 90_000), purchase(token(), 's-huge', 2e9)]);
    expect(codes(byService)).toEqual([
      [1, 'VALUE_OUT_OF_RANGE'],
      [2, 'VALUE_INVALID'],
    ]);

    const tight = await running({ maxConsumeSeconds: 3600, maxUserPurchase: 0 });
    const r2 = await tight.service.track([click(token(), 'c', { type: 'CONSUME', value: 3601 }), purchase(token(), 'p', 1)], 'user-1');
    expect(codes(r2)).toEqual([
      [0, 'VALUE_OUT_OF_RANGE'],
      [1, 'FORBIDDEN'], // purchases only from service tokens
    ]);
    expect((await tight.service.track([purchase(token(), 'p', 1)])).accepted).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------

interface SentEvent {
  eventId: string;
  userId: string;
  variant: string;
  unitId: string;
  type: 'IMPRESSION' | 'CLICK' | 'CONSUME' | 'PURCHASE';
  value: number;
  raw: Record<string, unknown>;
}

interface Totals {
  impressions: number;
  clicks: number;
  consumption: number;
  revenue: number;
  engaged: number;
}

/** Random traffic for assigned users across two units. */
function simulate(rng: Rng, assigned: ReadonlyMap<string, string>): SentEvent[] {
  const units = ['home:hero', 'home:trending'];
  const catalog = Array.from({ length: 60 }, (_, i) => `ml-${i + 1}`);
  const out: SentEvent[] = [];
  for (const [userId, variant] of assigned) {
    for (const unitId of units) {
      if (rng() < 0.3) continue; // this user never saw this unit
      const rows = randInt(rng, 1, 4);
      for (let r = 0; r < rows; r++) {
        const itemIds = shuffled(catalog, rng).slice(0, 5);
        const impressionId = issueImpression({ userId, unitId, model: 'REALTIME', experimentKey: 'rank', variant, itemIds, issuedAt: T0 }, SECRET);
        const base = `${userId}/${unitId}/${r}`;
        const push = (suffix: string, type: SentEvent['type'], raw: Record<string, unknown>, value = 0) =>
          out.push({ eventId: `${base}/${suffix}`, userId, variant, unitId, type, value, raw: { eventId: `${base}/${suffix}`, impressionId, type, ...raw } });
        // Sometimes the impression event itself is lost; clicks on the row still count.
        if (rng() > 0.05) push('imp', 'IMPRESSION', {});
        const pClick = variant === 'treatment' ? 0.14 : 0.08;
        itemIds.forEach((itemId, i) => {
          if (rng() >= pClick) return;
          const position = i + 1;
          push(`click-${position}`, 'CLICK', { position, itemId });
          if (rng() < 0.6) {
            const seconds = Math.round(rng() * 3600 * 4) / 4; // quarter seconds
            push(`consume-${position}`, 'CONSUME', { position, itemId, value: seconds, completed: rng() < 0.3 }, seconds);
          }
          if (rng() < 0.1) {
            const price = pick(rng, [0.99, 2.5, 4.99, 9.99]);
            push(`buy-${position}`, 'PURCHASE', { position, itemId, value: price }, price);
          }
        });
      }
    }
  }
  return out;
}

function bruteForce(events: readonly SentEvent[], assigned: ReadonlyMap<string, string>, unitId: string | null) {
  const perUser = new Map<string, Totals>();
  for (const e of events) {
    if (unitId !== null && e.unitId !== unitId) continue;
    const t = perUser.get(e.userId) ?? { impressions: 0, clicks: 0, consumption: 0, revenue: 0, engaged: 0 };
    if (e.type === 'IMPRESSION') t.impressions++;
    if (e.type === 'CLICK') t.clicks++;
    if (e.type === 'CONSUME') t.consumption += e.value;
    if (e.type === 'PURCHASE') t.revenue += e.value;
    if (e.type !== 'IMPRESSION') t.engaged = 1;
    perUser.set(e.userId, t);
  }
  const byVariant = (variant: string) => [...perUser].filter(([u]) => assigned.get(u) === variant).map(([, t]) => t);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const mean = (xs: number[]): MeanStats => ({ n: xs.length, sum: sum(xs), sumSq: sum(xs.map((x) => x * x)) });
  const ratio = (ts: Totals[]): RatioStats => ({
    n: ts.length,
    sumX: sum(ts.map((t) => t.clicks)),
    sumY: sum(ts.map((t) => t.impressions)),
    sumX2: sum(ts.map((t) => t.clicks ** 2)),
    sumY2: sum(ts.map((t) => t.impressions ** 2)),
    sumXY: sum(ts.map((t) => t.clicks * t.impressions)),
  });
  const variants = ['control', 'treatment'].map((variant) => {
    const ts = byVariant(variant);
    const n = ts.length;
    const impressions = sum(ts.map((t) => t.impressions));
    const clicks = sum(ts.map((t) => t.clicks));
    return {
      variant,
      exposedUsers: n,
      impressions,
      clicks,
      ctr: impressions > 0 ? clicks / impressions : null,
      consumptionPerExposedUser: n > 0 ? sum(ts.map((t) => t.consumption)) / n : null,
      engagedUserRate: n > 0 ? sum(ts.map((t) => t.engaged)) / n : null,
      revenuePerExposedUser: n > 0 ? sum(ts.map((t) => t.revenue)) / n : null,
      stats: {
        ctr: ratio(ts),
        consumption: mean(ts.map((t) => t.consumption)),
        engaged: mean(ts.map((t) => t.engaged)),
        revenue: mean(ts.map((t) => t.revenue)),
      },
    };
  });
  const [a, b] = variants as [(typeof variants)[0], (typeof variants)[0]];
  // The engine (gbstats' tests, test/unit/analysis-gbstats.test.ts) on sufficient statistics
  // recomputed from the raw events: the running aggregates must give the same answers.
  const compare = (metric: string, kind: 'mean' | 'proportion' | 'ratio', x: MeanStats | RatioStats, y: MeanStats | RatioStats) => {
    const input = (st: MeanStats | RatioStats) =>
      'sumX' in st
        ? { n: st.n, sum: st.sumX, sumSquares: st.sumX2, denominatorSum: st.sumY, denominatorSumSquares: st.sumY2, sumProducts: st.sumXY }
        : kind === 'proportion'
          ? { n: st.n, sum: st.sum }
          : { n: st.n, sum: st.sum, sumSquares: st.sumSq };
    const [c] = analyze({ engine: 'frequentist', metric: kind, variants: [input(x), input(y)] }).comparisons;
    const interval = (d: { estimate: number | null; low: number | null; high: number | null }) => (d.estimate === null ? null : d);
    const { pValue: _rel, ...relative } = c!.relative;
    const { pValue, ...absolute } = c!.absolute;
    return { metric, control: c!.controlMean, treatment: c!.treatmentMean, absolute: interval(absolute), relative: interval(relative), pValue, relativePValue: c!.relative.pValue };
  };
  const comparisons = [
    {
      variant: 'treatment',
      control: 'control',
      metrics: [
        compare('ctr', 'ratio', a.stats.ctr, b.stats.ctr),
        compare('consumption_per_exposed_user', 'mean', a.stats.consumption, b.stats.consumption),
        compare('engaged_user_rate', 'proportion', a.stats.engaged, b.stats.engaged),
        compare('revenue_per_exposed_user', 'mean', a.stats.revenue, b.stats.revenue),
      ],
    },
  ];
  return { variants, comparisons };
}

/** Deep equality where numbers may differ by a relative 1e-9 (aggregates are summed in another order). */
function expectDeepClose(actual: unknown, expected: unknown, path = '$'): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    const tol = 1e-9 * Math.abs(expected) + 1e-12;
    if (!(Math.abs(actual - expected) <= tol) && actual !== expected) throw new Error(`${path}: ${actual} is not close to ${expected}`);
    return;
  }
  if (expected !== null && typeof expected === 'object') {
    expect(actual, path).toBeTypeOf('object');
    expect(actual, path).not.toBeNull();
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    expect(Object.keys(a).sort(), path).toEqual(Object.keys(e).sort());
    for (const k of Object.keys(e)) expectDeepClose(a[k], e[k], `${path}.${k}`);
    return;
  }
  expect(actual, path).toBe(expected);
}

describe('results', () => {
  it('equal a brute-force recomputation from the raw events, per unit and over all units', async () => {
    const { service, stores, clock } = setup();
    await service.create(input('rank'));
    await service.start('rank');
    const rng = mulberry32(20240101);
    const assignments = await service.assignMany(users('user', 400), ['rank']);
    const assigned = new Map(assignments.map((row, i) => [`user-${i}`, row[0]!.variant]));
    const events = simulate(rng, assigned);
    expect(events.length).toBeGreaterThan(1500);

    // Send in shuffled batches, resending some events later as duplicates.
    const resend = events.filter(() => rng() < 0.05);
    const stream = [...shuffled(events, rng), ...resend].map((e) => e.raw);
    let accepted = 0;
    let duplicates = 0;
    for (let i = 0; i < stream.length; i += 700) {
      const r = await service.track(stream.slice(i, i + 700));
      expect(r.rejected).toEqual([]);
      accepted += r.accepted;
      duplicates += r.duplicates;
    }
    expect(accepted).toBe(events.length);
    expect(duplicates).toBe(resend.length);
    expect(await service.units('rank')).toEqual(['home:hero', 'home:trending']);

    clock.advance(5000);
    const counts = await stores.assignments.counts('rank');
    for (const unitId of ['home:hero', 'home:trending', null]) {
      const res: ExperimentResults = await service.results('rank', unitId);
      const expected = bruteForce(events, assigned, unitId);
      expect(res.experimentKey).toBe('rank');
      expect(res.unitId).toBe(unitId);
      expect(res.generatedAt).toBe(T0 + 5000);
      expect(res.variants).toHaveLength(2);
      res.variants.forEach((v, i) => {
        const { stats: _stats, ...e } = expected.variants[i]!;
        expectDeepClose(v, { ...e, weight: 0.5, assignedUsers: counts[e.variant] ?? 0 }, `variants[${i}]`);
      });
      // The fields the engine computes (the rest, verdicts and settings, are tested on their own).
      const picked = res.comparisons.map((c) => ({
        variant: c.variant,
        control: c.control,
        metrics: c.metrics.map((m) => ({ metric: m.metric, control: m.control, treatment: m.treatment, absolute: m.absolute, relative: m.relative, pValue: m.pValue, relativePValue: m.relativePValue })),
      }));
      expectDeepClose(picked, expected.comparisons, 'comparisons');
      const observed = [counts['control'] ?? 0, counts['treatment'] ?? 0];
      const srm = sampleRatioMismatch(observed, [0.5, 0.5]);
      expect(res.srm.pValue).toBeCloseTo(srm.pValue, 12);
      expect(res.srm).toMatchObject({ flagged: srm.pValue < 0.001, observed, expectedShares: [0.5, 0.5] });
      // Sanity of the scenario: every metric has a p-value.
      for (const m of res.comparisons[0]!.metrics) expect(m.pValue, m.metric).not.toBeNull();
    }
    // Users exposed in either unit, over all units.
    const all = await service.results('rank', null);
    expect(all.variants.reduce((a, v) => a + v.exposedUsers, 0)).toBe(new Set(events.map((e) => e.userId)).size);
  });

  it('returns zeros and nulls for a unit without events, without throwing', async () => {
    const { service } = setup();
    await service.create(input('quiet', [0.2, 0.3, 0.5]));
    const res = await service.results('quiet', 'home:nothing');
    expect(res.variants.map((v) => v.variant)).toEqual(['control', 't1', 't2']);
    for (const v of res.variants) {
      expect(v).toMatchObject({ assignedUsers: 0, exposedUsers: 0, impressions: 0, clicks: 0, ctr: null, consumptionPerExposedUser: null, engagedUserRate: null, revenuePerExposedUser: null });
    }
    expect(res.comparisons.map((c) => [c.variant, c.control])).toEqual([
      ['t1', 'control'],
      ['t2', 'control'],
    ]);
    for (const c of res.comparisons) {
      for (const m of c.metrics) expect(m).toMatchObject({ control: null, treatment: null, absolute: null, relative: null, pValue: null, significant: false });
    }
    expect(res.srm).toEqual({ chiSquare: null, pValue: null, flagged: false, observed: [0, 0, 0], expectedShares: [0.2, 0.3, 0.5] });
    expect((await service.results('quiet', null)).variants.every((v) => v.exposedUsers === 0)).toBe(true);
    expect(await service.units('quiet')).toEqual([]);
  });

  it('rejects unit ids that are not valid (including the internal all-units key)', async () => {
    const { service } = setup();
    await service.create(input('exp'));
    await expectCode(service.results('exp', '*'), 'BAD_USER_INPUT');
    await expectCode(service.results('exp', ''), 'BAD_USER_INPUT');
  });

  it('does not flag SRM after a legitimate reweight', async () => {
    const { service } = setup();
    await service.create(input('srm'));
    await service.start('srm');
    await service.assignMany(users('a', 2000), ['srm']);
    await service.reweight('srm', [0.1, 0.9]);
    await service.assignMany(users('b', 2000), ['srm']);
    const res = await service.results('srm', null);
    expect(res.srm.flagged).toBe(false);
  });
});
