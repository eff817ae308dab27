/**
 * Experiment results from running aggregates, with the analysis engine (analysis/, equal to
 * GrowthBook's gbstats): per metric and treatment the engine's estimates, absolute and relative
 * lift with intervals, p-value (frequentist, optionally sequential) or chance to win and risk
 * (Bayesian), CUPED with the variance reduction it achieved, multiple-testing adjustment of the
 * goal metrics (guardrails are never corrected), a minimum of data before any verdict, the same
 * per position in the row, and planning figures. Pure: the service gives it what the stores hold.
 */
import { adjustPValues, analyze, minimumDetectableEffect, sampleSizeForEffect } from './analysis/index.js';
import { srmTest } from './stats.js';
import type { AnalysisInput, ComparisonResult, MetricKind, VariantInput } from './analysis/index.js';
import type { AnalysisSettings, Experiment } from './experiment.js';
import { emptyAggregate, emptySlot } from './metrics.js';
import type { CovariateStats, SlotStats, VariantAggregate } from './metrics.js';
import type { Interval, MeanStats, RatioStats } from './stats.js';

export type Verdict = 'WIN' | 'LOSE' | 'INCONCLUSIVE' | 'HARM' | 'NOT_ENOUGH_DATA';

export interface MetricComparison {
  metric: string;
  /** mean, proportion or ratio (how the engine treats the metric). */
  metricType: MetricKind;
  /** welch (per-user means and proportions) or delta (ratio metrics). */
  method: 'welch' | 'delta';
  engine: 'FREQUENTIST' | 'BAYESIAN';
  sequential: boolean;
  control: number | null;
  treatment: number | null;
  absolute: Interval | null;
  relative: Interval | null;
  /** Frequentist: two-sided p-value of the absolute difference (and of the relative lift). */
  pValue: number | null;
  relativePValue: number | null;
  /** The p-value after the experiment's multiple-testing adjustment (goal metrics only). */
  adjustedPValue: number | null;
  /** Bayesian: chance the treatment beats control, and the expected loss of shipping either. */
  chanceToWin: number | null;
  risk: { control: number; treatment: number } | null;
  cuped: { applied: boolean; theta: number | null; varianceReduction: number | null };
  guardrail: boolean;
  significant: boolean;
  verdict: Verdict;
  /** Why an estimate is missing (gbstats' message), when it is. */
  note: string | null;
}

export interface VariantComparison {
  variant: string;
  control: string;
  metrics: MetricComparison[];
}

export interface SlotVariant {
  variant: string;
  /** Clicks at the position per row impression. */
  ctr: number | null;
  /** Seconds consumed from the position per row impression. */
  consumptionPerImpression: number | null;
  clicks: number;
}

export interface SlotResult {
  position: number;
  variants: SlotVariant[];
  comparisons: VariantComparison[];
}

export interface PlanningFigure {
  metric: string;
  /** Relative lift detectable with 80% power at the exposed users so far (null: not yet). */
  minimumDetectableEffect: number | null;
  targetEffect: number;
  /** Exposed users per variant the target effect needs at 80% power. */
  usersNeededPerVariant: number | null;
  /** At the exposure rate so far (null when it is unknown). */
  daysNeeded: number | null;
  exposedUsersPerDay: number | null;
}

export interface ResultsInput {
  experiment: Experiment;
  aggregates: Record<string, VariantAggregate>;
  /** Users assigned per variant (SRM uses those assigned under the current weights). */
  sinceReweight: Record<string, number>;
  now: number;
  /** The relative lift planning is asked about (default 5%). */
  targetEffect?: number;
}

export interface ComputedResults {
  comparisons: VariantComparison[];
  slots: SlotResult[];
  planning: PlanningFigure[];
  srm: { chiSquare: number | null; pValue: number | null; flagged: boolean; observed: number[]; expectedShares: number[] };
}

const mean = (s: MeanStats): VariantInput => ({ n: s.n, sum: s.sum, sumSquares: s.sumSq });
const ratio = (s: RatioStats): VariantInput => ({ n: s.n, sum: s.sumX, sumSquares: s.sumX2, denominatorSum: s.sumY, denominatorSumSquares: s.sumY2, sumProducts: s.sumXY });
const slotRatio = (s: SlotStats, ctr: RatioStats): VariantInput => ({ n: ctr.n, sum: s.sumX, sumSquares: s.sumX2, denominatorSum: ctr.sumY, denominatorSumSquares: ctr.sumY2, sumProducts: s.sumXY });
const withCovariate = (v: VariantInput, c: CovariateStats, cross: number): VariantInput => ({ ...v, covariateSum: c.sum, covariateSumSquares: c.sumSq, covariateSumProducts: cross });

interface MetricSpec {
  name: string;
  kind: MetricKind;
  input(a: VariantAggregate): VariantInput;
  /** The variant input with the covariate, for CUPED (mean and proportion metrics). */
  cuped?(a: VariantAggregate): VariantInput;
}

const SPECS: MetricSpec[] = [
  { name: 'ctr', kind: 'ratio', input: (a) => ratio(a.ctr) },
  { name: 'consumption_per_exposed_user', kind: 'mean', input: (a) => mean(a.consumption), cuped: (a) => withCovariate(mean(a.consumption), a.covariate, a.covariate.consumption) },
  { name: 'engaged_user_rate', kind: 'proportion', input: (a) => ({ n: a.engaged.n, sum: a.engaged.sum }), cuped: (a) => withCovariate(mean(a.engaged), a.covariate, a.covariate.engaged) },
  { name: 'revenue_per_exposed_user', kind: 'mean', input: (a) => mean(a.revenue), cuped: (a) => withCovariate(mean(a.revenue), a.covariate, a.covariate.revenue) },
];

const interval = (d: { estimate: number | null; low: number | null; high: number | null }): Interval | null =>
  d.estimate === null || d.low === null || d.high === null ? null : { estimate: d.estimate, low: d.low, high: d.high };

/** Whether the users' covariate varies at all (CUPED with a constant covariate adjusts nothing). */
function covariateVaries(aggs: readonly VariantAggregate[]): boolean {
  return aggs.some((a) => {
    const n = a.consumption.n;
    return n > 1 && a.covariate.sumSq - (a.covariate.sum * a.covariate.sum) / n > 1e-9;
  });
}

function compare(spec: MetricSpec, control: VariantAggregate, treatments: VariantAggregate[], s: AnalysisSettings, guardrail: boolean): Omit<MetricComparison, 'adjustedPValue' | 'significant' | 'verdict'>[] {
  const all = [control, ...treatments];
  const cuped = s.cuped && spec.cuped !== undefined && covariateVaries(all);
  const input: AnalysisInput = {
    engine: s.engine === 'BAYESIAN' ? 'bayesian' : 'frequentist',
    sequential: s.engine === 'FREQUENTIST' && s.sequential,
    sequentialTuning: s.sequentialTuning,
    alpha: s.alpha,
    metric: cuped ? 'mean' : spec.kind,
    cuped,
    variants: all.map((a) => (cuped ? spec.cuped!(a) : spec.input(a))),
  };
  let result: ComparisonResult[];
  try {
    result = analyze(input).comparisons;
  } catch (err) {
    // Too little data for the engine's input rules (for example no user yet): nothing to compare.
    result = treatments.map((_, i) => ({ variant: i + 1, controlMean: NaN, treatmentMean: NaN, absolute: NONE, relative: NONE, chanceToWin: null, risk: null, errorMessage: (err as Error).message }));
  }
  const meanOr = (a: VariantAggregate, m: number) => (spec.input(a).n > 0 && Number.isFinite(m) ? m : null);
  return result.map((r, i) => ({
    metric: spec.name,
    metricType: spec.kind,
    method: spec.kind === 'ratio' ? 'delta' : 'welch',
    engine: s.engine,
    sequential: input.sequential === true,
    control: meanOr(control, r.controlMean),
    treatment: meanOr(treatments[i]!, r.treatmentMean),
    absolute: interval(r.absolute),
    relative: interval(r.relative),
    pValue: r.absolute.pValue,
    relativePValue: r.relative.pValue,
    chanceToWin: r.chanceToWin,
    risk: r.risk,
    cuped: { applied: cuped && (r.cuped?.theta ?? 0) !== 0, theta: r.cuped?.theta ?? null, varianceReduction: r.cuped?.varianceReduction ?? null },
    guardrail,
    note: r.errorMessage ?? null,
  }));
}

const NONE = { estimate: null, low: null, high: null, pValue: null };

/** A verdict from the (adjusted) p-value or the chance to win, once both arms have enough data. */
function verdictOf(m: Omit<MetricComparison, 'significant' | 'verdict'>, s: AnalysisSettings, enough: boolean): { significant: boolean; verdict: Verdict } {
  if (!enough) return { significant: false, verdict: 'NOT_ENOUGH_DATA' };
  const up = (m.absolute?.estimate ?? 0) > 0;
  let significant: boolean;
  let better: boolean;
  if (s.engine === 'BAYESIAN') {
    const ctw = m.chanceToWin;
    significant = ctw !== null && (ctw > 1 - s.alpha / 2 || ctw < s.alpha / 2);
    better = ctw !== null && ctw > 0.5;
  } else {
    const p = m.guardrail ? m.pValue : (m.adjustedPValue ?? m.pValue);
    significant = p !== null && p < s.alpha;
    better = up;
  }
  if (!significant) return { significant, verdict: 'INCONCLUSIVE' };
  if (m.guardrail) return { significant, verdict: better ? 'INCONCLUSIVE' : 'HARM' };
  return { significant, verdict: better ? 'WIN' : 'LOSE' };
}

export function computeResults(input: ResultsInput): ComputedResults {
  const e = input.experiment;
  const s = e.analysis;
  const agg = (variant: string): VariantAggregate => input.aggregates[variant] ?? emptyAggregate();
  const control = agg(e.variants[0]!.key);
  const treatments = e.variants.slice(1).map((v) => agg(v.key));
  const enough = (a: VariantAggregate) => a.exposedUsers >= s.minimumExposedUsers && control.exposedUsers >= s.minimumExposedUsers;

  // Every metric × treatment, then the goal metrics' p-values adjusted together.
  const byMetric = SPECS.map((spec) => compare(spec, control, treatments, s, s.guardrails.includes(spec.name)));
  const goals = byMetric.flat().filter((m) => !m.guardrail);
  // Tests without a p-value (too little data) take no part in the adjustment.
  const tested = goals.filter((m) => m.pValue !== null);
  const method = s.correction === 'HOLM_BONFERRONI' ? 'holm-bonferroni' : 'benjamini-hochberg';
  const adjusted = s.engine === 'FREQUENTIST' && s.correction !== 'NONE' ? adjustPValues(tested.map((m) => m.pValue!), method) : null;
  const adjustedOf = new Map(tested.map((m, i) => [m, adjusted ? adjusted[i]! : null]));
  const comparisons = e.variants.slice(1).map((v, t) => ({
    variant: v.key,
    control: e.variants[0]!.key,
    metrics: byMetric.map((list) => {
      const m = { ...list[t]!, adjustedPValue: adjustedOf.get(list[t]!) ?? null };
      return { ...m, ...verdictOf(m, s, enough(treatments[t]!)) };
    }),
  }));

  // Per position in the row: clicks and consumption there, per row impression (not corrected).
  const positions = [...new Set(e.variants.flatMap((v) => Object.keys(agg(v.key).slots)))].map(Number).filter((p) => p > 0).sort((a, b) => a - b);
  const slots = positions.map((position) => {
    const key = String(position);
    const slotOf = (a: VariantAggregate) => a.slots[key] ?? emptySlot();
    const slotSpecs: MetricSpec[] = [
      { name: 'slot_ctr', kind: 'ratio', input: (a) => slotRatio(slotOf(a).clicks, a.ctr) },
      { name: 'slot_consumption', kind: 'ratio', input: (a) => slotRatio(slotOf(a).consumption, a.ctr) },
    ];
    const lists = slotSpecs.map((spec) => compare(spec, control, treatments, { ...s, cuped: false }, false));
    return {
      position,
      variants: e.variants.map((v) => {
        const a = agg(v.key);
        const sl = slotOf(a);
        return {
          variant: v.key,
          ctr: a.ctr.sumY > 0 ? sl.clicks.sumX / a.ctr.sumY : null,
          consumptionPerImpression: a.ctr.sumY > 0 ? sl.consumption.sumX / a.ctr.sumY : null,
          clicks: sl.clicks.sumX,
        };
      }),
      comparisons: e.variants.slice(1).map((v, t) => ({
        variant: v.key,
        control: e.variants[0]!.key,
        metrics: lists.map((list) => {
          const m = { ...list[t]!, adjustedPValue: null };
          return { ...m, ...verdictOf(m, s, enough(treatments[t]!)) };
        }),
      })),
    };
  });

  // SRM: users assigned under the current weights against the weights. gbstats' check_srm skips
  // arms of weight 0; here users in one flag the split at once (assignment put them where none belong).
  const observed = e.variants.map((v) => input.sinceReweight[v.key] ?? 0);
  const expectedShares = e.variants.map((v) => v.weight);
  const srm = srmTest(observed, expectedShares);

  return {
    comparisons,
    slots,
    planning: planning(e, control, treatments, input.now, input.targetEffect ?? 0.05),
    srm: { ...srm, observed, expectedShares },
  };
}

/** MDE now and the days still needed for the target effect, per mean and proportion metric (GrowthBook's power). */
function planning(e: Experiment, control: VariantAggregate, treatments: VariantAggregate[], now: number, targetEffect: number): PlanningFigure[] {
  const s = e.analysis;
  const all = [control, ...treatments];
  const exposed = all.reduce((n, a) => n + a.exposedUsers, 0);
  const days = e.startedAt === null ? null : (now - e.startedAt) / 86_400_000;
  const perDay = days !== null && days > 0 && exposed > 0 ? exposed / days : null;
  const perVariant = Math.min(...all.map((a) => a.exposedUsers));
  const pooled = (m: (a: VariantAggregate) => MeanStats) => {
    const n = all.reduce((x, a) => x + m(a).n, 0);
    const sum = all.reduce((x, a) => x + m(a).sum, 0);
    const sumSq = all.reduce((x, a) => x + m(a).sumSq, 0);
    const mu = n > 0 ? sum / n : 0;
    return { n, mu, sd: n > 1 ? Math.sqrt(Math.max(0, (sumSq - n * mu * mu) / (n - 1))) : 0 };
  };
  const options = { alpha: s.alpha, ...(s.engine === 'FREQUENTIST' && s.sequential ? { sequentialTuning: s.sequentialTuning } : {}) };
  const figures: [string, (a: VariantAggregate) => MeanStats, boolean][] = [
    ['consumption_per_exposed_user', (a) => a.consumption, false],
    ['engaged_user_rate', (a) => a.engaged, true],
    ['revenue_per_exposed_user', (a) => a.revenue, false],
  ];
  return figures.map(([metric, of, isProportion]) => {
    const p = pooled(of);
    const ready = p.n > 1 && p.mu !== 0;
    const pm = isProportion ? { type: 'proportion' as const, conversionRate: p.mu } : { type: 'mean' as const, mean: p.mu, standardDeviation: p.sd };
    const mde = ready && perVariant > 1 ? minimumDetectableEffect(pm, perVariant, options) : null;
    const needed = ready ? sampleSizeForEffect(pm, targetEffect, { ...options, nVariations: all.length }) : null;
    const usersNeeded = needed?.ok ? needed.nPerVariation : null;
    return {
      metric,
      minimumDetectableEffect: mde?.ok ? mde.mde : null,
      targetEffect,
      usersNeededPerVariant: usersNeeded,
      daysNeeded: usersNeeded !== null && perDay !== null ? Math.max(0, ((usersNeeded - perVariant) * all.length) / perDay) : null,
      exposedUsersPerDay: perDay,
    };
  });
}
