/**
 * Results from running aggregates (domain/results.ts) over seeded synthetic users: the engine's
 * fields per metric, Bayesian chance to win and risk, corrections that guardrails escape, the
 * minimum of data before a verdict, CUPED's variance reduction with a covariate that predicts
 * the metric, sequential intervals wider than fixed ones, per-slot comparisons and planning.
 */
import { describe, expect, it } from 'vitest';
import { checkAnalysis, newExperiment } from '../../subgraphs/experiments/src/domain/experiment.js';
import type { AnalysisSettings, Experiment } from '../../subgraphs/experiments/src/domain/experiment.js';
import { addEvent, emptyAggregate, shiftAggregate, ZERO_TOTALS } from '../../subgraphs/experiments/src/domain/metrics.js';
import type { UserTotals, VariantAggregate } from '../../subgraphs/experiments/src/domain/metrics.js';
import { computeResults } from '../../subgraphs/experiments/src/domain/results.js';
import { mulberry32 } from './fixtures.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 1);

function experiment(analysis: Partial<AnalysisSettings> = {}): Experiment {
  const e = newExperiment({ key: 'exp', name: 'Exp', variants: [{ key: 'control', weight: 0.5 }, { key: 'treatment', weight: 0.5 }] }, T0);
  return { ...e, status: 'RUNNING', startedAt: T0, analysis: checkAnalysis(analysis) };
}

/**
 * `users` per arm: a covariate c (past activity) that drives consumption, a click at a position,
 * and the treatment adding `lift` seconds on average.
 */
function aggregates(users: number, lift: number, seed = 1): Record<string, VariantAggregate> {
  const r = mulberry32(seed);
  const out: Record<string, VariantAggregate> = {};
  for (const variant of ['control', 'treatment']) {
    let agg = emptyAggregate();
    for (let i = 0; i < users; i++) {
      const c = Math.floor(r() * 50);
      let t: UserTotals = addEvent(ZERO_TOTALS, { type: 'IMPRESSION', value: 0, completed: false, position: null });
      const seconds = Math.max(0, 20 * c + (variant === 'treatment' ? lift : 0) + (r() - 0.5) * 200);
      if (r() < 0.3) t = addEvent(t, { type: 'CLICK', value: 0, completed: false, position: 1 + Math.floor(r() * 3) });
      t = addEvent(t, { type: 'CONSUME', value: seconds, completed: false, position: 1 });
      agg = shiftAggregate(agg, undefined, t, c);
    }
    out[variant] = agg;
  }
  return out;
}

const metric = (res: ReturnType<typeof computeResults>, name: string) => res.comparisons[0]!.metrics.find((m) => m.metric === name)!;

describe('experiment results', () => {
  it('frequentist: estimates, intervals and p-values per metric; CUPED narrows the interval with a predictive covariate', () => {
    const aggs = aggregates(2000, 40);
    const withCuped = computeResults({ experiment: experiment({ cuped: true }), aggregates: aggs, sinceReweight: { control: 2000, treatment: 2000 }, now: T0 + DAY });
    const without = computeResults({ experiment: experiment({ cuped: false }), aggregates: aggs, sinceReweight: { control: 2000, treatment: 2000 }, now: T0 + DAY });
    const a = metric(withCuped, 'consumption_per_exposed_user');
    const b = metric(without, 'consumption_per_exposed_user');
    expect(a.cuped.applied).toBe(true);
    expect(a.cuped.varianceReduction!).toBeGreaterThan(0.5);
    const width = (m: typeof a) => m.absolute!.high - m.absolute!.low;
    expect(width(a)).toBeLessThan(0.8 * width(b));
    expect(b.cuped.applied).toBe(false);
    for (const m of withCuped.comparisons[0]!.metrics) {
      expect(m.engine).toBe('FREQUENTIST');
      expect(m.chanceToWin).toBeNull();
      // Without variance (everyone engaged, nobody purchased) there is no test, and gbstats' reason instead.
      expect(m.pValue !== null || m.note !== null, m.metric).toBe(true);
    }
    expect(metric(withCuped, 'ctr').pValue).not.toBeNull();
    expect(metric(withCuped, 'revenue_per_exposed_user').note).not.toBeNull();
    expect(a.verdict).toBe('WIN');
    expect(withCuped.srm.flagged).toBe(false);
  });

  it('Bayesian: chance to win and risk instead of p-values', () => {
    const res = computeResults({ experiment: experiment({ engine: 'BAYESIAN' }), aggregates: aggregates(2000, 40), sinceReweight: { control: 2000, treatment: 2000 }, now: T0 + DAY });
    const m = metric(res, 'consumption_per_exposed_user');
    expect(m.engine).toBe('BAYESIAN');
    expect(m.pValue).toBeNull();
    expect(m.chanceToWin!).toBeGreaterThan(0.975);
    expect(m.risk!.treatment).toBeLessThan(m.risk!.control);
    expect(m.relative).not.toBeNull();
  });

  it('corrections adjust the goal metrics but never the guardrails; too little data gives no verdict', () => {
    const aggs = aggregates(500, 10, 3);
    const plain = computeResults({ experiment: experiment(), aggregates: aggs, sinceReweight: {}, now: T0 + DAY });
    const holm = computeResults({ experiment: experiment({ correction: 'HOLM_BONFERRONI', guardrails: ['revenue_per_exposed_user'] }), aggregates: aggs, sinceReweight: {}, now: T0 + DAY });
    for (const m of holm.comparisons[0]!.metrics) {
      if (m.guardrail) expect(m.adjustedPValue).toBeNull();
      else if (m.pValue !== null) expect(m.adjustedPValue!).toBeGreaterThanOrEqual(m.pValue);
    }
    expect(plain.comparisons[0]!.metrics.every((m) => m.adjustedPValue === null)).toBe(true);
    const tiny = computeResults({ experiment: experiment({ minimumExposedUsers: 1000 }), aggregates: aggs, sinceReweight: {}, now: T0 + DAY });
    expect(tiny.comparisons[0]!.metrics.every((m) => m.verdict === 'NOT_ENOUGH_DATA' && !m.significant)).toBe(true);
  });

  it('a guardrail that is significantly worse is HARM', () => {
    const aggs = aggregates(2000, -60, 5);
    const res = computeResults({ experiment: experiment({ guardrails: ['consumption_per_exposed_user'] }), aggregates: aggs, sinceReweight: {}, now: T0 + DAY });
    expect(metric(res, 'consumption_per_exposed_user').verdict).toBe('HARM');
  });

  it('sequential intervals are wider than fixed-horizon ones on the same data', () => {
    const aggs = aggregates(1000, 20, 7);
    const fixed = metric(computeResults({ experiment: experiment({ cuped: false }), aggregates: aggs, sinceReweight: {}, now: T0 + DAY }), 'consumption_per_exposed_user');
    const seq = metric(computeResults({ experiment: experiment({ cuped: false, sequential: true }), aggregates: aggs, sinceReweight: {}, now: T0 + DAY }), 'consumption_per_exposed_user');
    expect(seq.sequential).toBe(true);
    expect(seq.absolute!.high - seq.absolute!.low).toBeGreaterThan(fixed.absolute!.high - fixed.absolute!.low);
    expect(seq.pValue!).toBeGreaterThan(fixed.pValue!);
  });

  it('per slot: CTR and consumption by position per variant, with comparisons', () => {
    const res = computeResults({ experiment: experiment(), aggregates: aggregates(1000, 0, 9), sinceReweight: {}, now: T0 + DAY });
    expect(res.slots.map((s) => s.position)).toEqual([1, 2, 3]);
    const first = res.slots[0]!;
    expect(first.variants[0]!.consumptionPerImpression!).toBeGreaterThan(100);
    expect(first.comparisons[0]!.metrics.map((m) => m.metric)).toEqual(['slot_ctr', 'slot_consumption']);
    const total = res.slots.reduce((n, s) => n + s.variants[0]!.clicks, 0);
    expect(total).toBeGreaterThan(200);
  });

  it('planning: the MDE now, and the days still needed for the target effect at the rate so far', () => {
    const res = computeResults({ experiment: experiment(), aggregates: aggregates(1000, 0, 11), sinceReweight: {}, now: T0 + 2 * DAY, targetEffect: 0.01 });
    const p = res.planning.find((f) => f.metric === 'consumption_per_exposed_user')!;
    expect(p.exposedUsersPerDay).toBeCloseTo(1000, 6);
    expect(p.minimumDetectableEffect!).toBeGreaterThan(0.01);
    expect(p.usersNeededPerVariant!).toBeGreaterThan(1000);
    expect(p.daysNeeded!).toBeCloseTo(((p.usersNeededPerVariant! - 1000) * 2) / 1000, 6);
  });
});
