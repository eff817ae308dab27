/**
 * One entry point for experiment analysis from sufficient statistics: `analyze(input)` runs
 * GrowthBook's stats engine (reimplemented from gbstats; see statistics.ts for the version) on
 * each treatment against variant 0 and checks the traffic split, and `validateAnalysisInput(raw)`
 * checks a JSON-like input, naming the first bad field.
 *
 * Per comparison, both the absolute and the relative difference are computed (each with its own
 * gbstats test run, as gbstats does for the configured difference type); chance to win and risk
 * are those of `differenceType` (default relative). CUPED theta is computed per comparison from the
 * two arms, as gbstats does.
 */
import chisquareCdf from '@stdlib/stats-base-dists-chisquare-cdf';
import { DEFAULT_PRIOR, effectBayesianABTest } from './bayesian.js';
import type { BayesianResult, GaussianPrior } from './bayesian.js';
import { DEFAULT_ALPHA, DEFAULT_SEQUENTIAL_TUNING, sequentialTwoSidedTTest, twoSidedTTest } from './frequentist.js';
import type { FrequentistResult } from './frequentist.js';
import { createThetaAdjustedStatistics, proportion, sampleMean, unadjustedMeanOf, unadjustedStatistic, varianceOf } from './statistics.js';
import type { DifferenceType, Moments, TestStatistic } from './statistics.js';

export * from './statistics.js';
export * from './frequentist.js';
export * from './bayesian.js';
export * from './corrections.js';
export * from './power.js';

// ---------------------------------------------------------------------------------------------
// Input

export type Engine = 'frequentist' | 'bayesian';
export type MetricKind = 'mean' | 'proportion' | 'ratio';

/** One arm's sufficient statistics. Fields beyond n/sum depend on the metric and CUPED. */
export interface VariantInput {
  /** Units in the arm. */
  n: number;
  /** Σ of the per-unit metric (the numerator for ratio metrics, the successes for proportions). */
  sum: number;
  /** Σ of squares (required for mean and ratio metrics, ignored for proportions). */
  sumSquares?: number;
  /** Expected traffic share for the SRM check (any scale; all or none of the variants). */
  weight?: number;
  // ratio metrics
  denominatorSum?: number;
  denominatorSumSquares?: number;
  /** Σ numerator·denominator. */
  sumProducts?: number;
  // CUPED (pre-exposure covariate; for ratio metrics the pre-exposure numerator)
  covariateSum?: number;
  covariateSumSquares?: number;
  /** Σ metric·covariate (post numerator · pre numerator for ratio metrics). */
  covariateSumProducts?: number;
  // CUPED for ratio metrics (gbstats RegressionAdjustedRatioStatistic)
  denominatorPreSum?: number;
  denominatorPreSumSquares?: number;
  /** Σ post numerator · pre denominator. */
  mainPostDenominatorPreSumProducts?: number;
  /** Σ pre numerator · post denominator. */
  mainPreDenominatorPostSumProducts?: number;
  /** Σ pre numerator · pre denominator. */
  mainPreDenominatorPreSumProducts?: number;
  /** Σ post denominator · pre denominator. */
  denominatorPostDenominatorPreSumProducts?: number;
}

export interface PriorInput {
  /** Prior mean of the effect (default 0). */
  mean?: number;
  /** Prior standard deviation of the effect (default 0.3). */
  stddev?: number;
  /** Use the prior (default false: flat improper prior). */
  proper?: boolean;
  /** Scale of the prior (default relative). */
  type?: DifferenceType;
}

export interface AnalysisInput {
  engine: Engine;
  /** Frequentist only: always-valid sequential test. */
  sequential?: boolean;
  /** Sequential tuning parameter (default 5000). */
  sequentialTuning?: number;
  /** Significance level / 1 − credibility (default 0.05). */
  alpha?: number;
  metric: MetricKind;
  cuped?: boolean;
  /** Which difference chance to win and risk refer to (both intervals are returned anyway). */
  differenceType?: DifferenceType;
  /** Lower is better (Bayesian chance to win and risk are flipped). */
  inverse?: boolean;
  prior?: PriorInput;
  /** Variant 0 is control. */
  variants: VariantInput[];
}

// ---------------------------------------------------------------------------------------------
// Output

export interface DifferenceResult {
  estimate: number | null;
  low: number | null;
  high: number | null;
  /** Null under the Bayesian engine. */
  pValue: number | null;
}

export interface ComparisonResult {
  /** Index of the treatment variant (≥ 1). */
  variant: number;
  /** Unadjusted means (ratio Σm/Σd for ratio metrics). */
  controlMean: number;
  treatmentMean: number;
  absolute: DifferenceResult;
  relative: DifferenceResult;
  /** Bayesian only. */
  chanceToWin: number | null;
  /** Bayesian only: expected loss of shipping control / treatment on the `differenceType` scale. */
  risk: { control: number; treatment: number } | null;
  /** Present when CUPED was requested. theta is 0 when gbstats reverted to the unadjusted statistic. */
  cuped?: { theta: number; varianceReduction: number | null };
  /** gbstats error message when an estimate could not be computed. */
  errorMessage?: string;
}

export interface AnalysisResult {
  comparisons: ComparisonResult[];
  srm: { chiSquare: number; pValue: number };
}

// ---------------------------------------------------------------------------------------------
// Validation

export interface AnalysisInputError {
  code: 'ANALYSIS_INVALID';
  message: string;
  field: string;
}

export type ValidationResult = { ok: true; input: AnalysisInput } | { ok: false; error: AnalysisInputError };

const TOP_KEYS = new Set(['engine', 'sequential', 'sequentialTuning', 'alpha', 'metric', 'cuped', 'differenceType', 'inverse', 'prior', 'variants']);
const PRIOR_KEYS = new Set(['mean', 'stddev', 'proper', 'type']);
const VARIANT_KEYS = new Set([
  'n',
  'sum',
  'sumSquares',
  'weight',
  'denominatorSum',
  'denominatorSumSquares',
  'sumProducts',
  'covariateSum',
  'covariateSumSquares',
  'covariateSumProducts',
  'denominatorPreSum',
  'denominatorPreSumSquares',
  'mainPostDenominatorPreSumProducts',
  'mainPreDenominatorPostSumProducts',
  'mainPreDenominatorPreSumProducts',
  'denominatorPostDenominatorPreSumProducts',
]);

class Invalid extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function rejectUnknown(obj: Record<string, unknown>, allowed: Set<string>, prefix: string) {
  for (const k of Object.keys(obj)) {
    if (!allowed.has(k)) throw new Invalid(prefix ? `${prefix}.${k}` : k, `unknown field "${k}"`);
  }
}

function num(obj: Record<string, unknown>, key: string, field: string, opts: { required: boolean; min?: number; positive?: boolean; integer?: boolean; below?: number }): number | undefined {
  const v = obj[key];
  if (v === undefined) {
    if (opts.required) throw new Invalid(field, 'is required');
    return undefined;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Invalid(field, 'must be a finite number');
  if (opts.integer && !Number.isInteger(v)) throw new Invalid(field, 'must be an integer');
  if (opts.min !== undefined && v < opts.min) throw new Invalid(field, `must be ≥ ${opts.min}`);
  if (opts.positive && !(v > 0)) throw new Invalid(field, 'must be > 0');
  if (opts.below !== undefined && !(v < opts.below)) throw new Invalid(field, `must be < ${opts.below}`);
  return v;
}

function bool(obj: Record<string, unknown>, key: string): boolean | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new Invalid(key, 'must be a boolean');
  return v;
}

function oneOf<T extends string>(obj: Record<string, unknown>, key: string, field: string, values: readonly T[], required: boolean): T | undefined {
  const v = obj[key];
  if (v === undefined) {
    if (required) throw new Invalid(field, `is required (one of ${values.join(', ')})`);
    return undefined;
  }
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) throw new Invalid(field, `must be one of ${values.join(', ')}`);
  return v as T;
}

function validateVariant(raw: unknown, i: number, metric: MetricKind, cuped: boolean): VariantInput {
  const p = `variants[${i}]`;
  if (!isRecord(raw)) throw new Invalid(p, 'must be an object');
  rejectUnknown(raw, VARIANT_KEYS, p);
  const f = (k: string) => `${p}.${k}`;
  const n = num(raw, 'n', f('n'), { required: true, min: 0, integer: true })!;
  const sum = num(raw, 'sum', f('sum'), { required: true })!;
  const out: VariantInput = { n, sum };
  const isProportion = metric === 'proportion';
  if (isProportion) {
    if (sum < 0 || sum > n) throw new Invalid(f('sum'), 'must be between 0 and n for a proportion');
  }
  const squares = (key: keyof VariantInput, required: boolean) => num(raw, key, f(key), { required, min: 0 });
  const any = (key: keyof VariantInput, required: boolean) => num(raw, key, f(key), { required });
  const set = (key: keyof VariantInput, v: number | undefined) => {
    if (v !== undefined) (out as unknown as Record<string, number>)[key] = v;
  };
  set('sumSquares', squares('sumSquares', !isProportion));
  set('weight', num(raw, 'weight', f('weight'), { required: false, min: 0 }));
  const ratio = metric === 'ratio';
  set('denominatorSum', any('denominatorSum', ratio));
  set('denominatorSumSquares', squares('denominatorSumSquares', ratio));
  set('sumProducts', any('sumProducts', ratio));
  set('covariateSum', any('covariateSum', cuped));
  if (cuped && isProportion && (out.covariateSum! < 0 || out.covariateSum! > n)) {
    throw new Invalid(f('covariateSum'), 'must be between 0 and n for a proportion covariate');
  }
  set('covariateSumSquares', squares('covariateSumSquares', cuped && !isProportion));
  set('covariateSumProducts', any('covariateSumProducts', cuped));
  const rr = cuped && ratio;
  set('denominatorPreSum', any('denominatorPreSum', rr));
  set('denominatorPreSumSquares', squares('denominatorPreSumSquares', rr));
  set('mainPostDenominatorPreSumProducts', any('mainPostDenominatorPreSumProducts', rr));
  set('mainPreDenominatorPostSumProducts', any('mainPreDenominatorPostSumProducts', rr));
  set('mainPreDenominatorPreSumProducts', any('mainPreDenominatorPreSumProducts', rr));
  set('denominatorPostDenominatorPreSumProducts', any('denominatorPostDenominatorPreSumProducts', rr));
  return out;
}

/**
 * Check a JSON-like analysis input. Refuses unknown fields, non-finite numbers, negative or
 * fractional n, negative sums of squares, proportions outside [0, n], fewer than 2 variants,
 * unknown engine/metric/difference type, sequential with the Bayesian engine, alpha outside
 * (0, 1), a non-positive tuning parameter or prior stddev, and weights given for only some variants
 * or all zero. The first problem is reported with its field path (e.g. `variants[1].sumSquares`).
 */
export function validateAnalysisInput(raw: unknown): ValidationResult {
  try {
    if (!isRecord(raw)) throw new Invalid('input', 'must be an object');
    rejectUnknown(raw, TOP_KEYS, '');
    const engine = oneOf(raw, 'engine', 'engine', ['frequentist', 'bayesian'] as const, true)!;
    const metric = oneOf(raw, 'metric', 'metric', ['mean', 'proportion', 'ratio'] as const, true)!;
    const input: AnalysisInput = { engine, metric, variants: [] };
    const sequential = bool(raw, 'sequential');
    if (sequential !== undefined) input.sequential = sequential;
    if (sequential && engine === 'bayesian') throw new Invalid('sequential', 'sequential testing is only available with the frequentist engine');
    const tuning = num(raw, 'sequentialTuning', 'sequentialTuning', { required: false, positive: true });
    if (tuning !== undefined) input.sequentialTuning = tuning;
    const alpha = num(raw, 'alpha', 'alpha', { required: false, positive: true, below: 1 });
    if (alpha !== undefined) input.alpha = alpha;
    const cuped = bool(raw, 'cuped');
    if (cuped !== undefined) input.cuped = cuped;
    const differenceType = oneOf(raw, 'differenceType', 'differenceType', ['relative', 'absolute'] as const, false);
    if (differenceType !== undefined) input.differenceType = differenceType;
    const inverse = bool(raw, 'inverse');
    if (inverse !== undefined) input.inverse = inverse;
    if (raw.prior !== undefined) {
      const pr = raw.prior;
      if (!isRecord(pr)) throw new Invalid('prior', 'must be an object');
      rejectUnknown(pr, PRIOR_KEYS, 'prior');
      const prior: PriorInput = {};
      const mean = num(pr, 'mean', 'prior.mean', { required: false });
      if (mean !== undefined) prior.mean = mean;
      const stddev = num(pr, 'stddev', 'prior.stddev', { required: false, positive: true });
      if (stddev !== undefined) prior.stddev = stddev;
      if (pr.proper !== undefined) {
        if (typeof pr.proper !== 'boolean') throw new Invalid('prior.proper', 'must be a boolean');
        prior.proper = pr.proper;
      }
      const type = oneOf(pr, 'type', 'prior.type', ['relative', 'absolute'] as const, false);
      if (type !== undefined) prior.type = type;
      input.prior = prior;
    }
    const variants = raw.variants;
    if (!Array.isArray(variants)) throw new Invalid('variants', 'must be an array');
    if (variants.length < 2) throw new Invalid('variants', 'needs at least 2 variants (control first)');
    input.variants = variants.map((v, i) => validateVariant(v, i, metric, cuped ?? false));
    const withWeight = input.variants.filter((v) => v.weight !== undefined).length;
    if (withWeight > 0 && withWeight < input.variants.length) {
      const missing = input.variants.findIndex((v) => v.weight === undefined);
      throw new Invalid(`variants[${missing}].weight`, 'weights must be given for all variants or none');
    }
    if (withWeight > 0 && !(input.variants.reduce((s, v) => s + v.weight!, 0) > 0)) {
      throw new Invalid('variants[0].weight', 'weights must not all be 0');
    }
    return { ok: true, input };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: { code: 'ANALYSIS_INVALID', message: `${e.field}: ${e.message}`, field: e.field } };
    throw e;
  }
}

/** Thrown by analyze() for an input validateAnalysisInput refuses. */
export class AnalysisInvalidError extends Error {
  readonly code = 'ANALYSIS_INVALID';
  constructor(readonly detail: AnalysisInputError) {
    super(detail.message);
  }
}

// ---------------------------------------------------------------------------------------------
// Analysis

function postMoments(metric: MetricKind, n: number, sum: number, sumSquares: number | undefined): Moments {
  return metric === 'proportion' ? proportion(n, sum) : sampleMean(n, sum, sumSquares ?? 0);
}

/** Build the gbstats statistic for one arm (gbstats gbstats.variation_statistic_from_metric_row). */
export function variantStatistic(input: AnalysisInput, v: VariantInput): TestStatistic {
  const n = v.n;
  if (input.metric === 'ratio') {
    if (!input.cuped) {
      return {
        kind: 'ratio',
        n,
        mSum: v.sum,
        mSumSquares: v.sumSquares ?? 0,
        dSum: v.denominatorSum ?? 0,
        dSumSquares: v.denominatorSumSquares ?? 0,
        mdSumProducts: v.sumProducts ?? 0,
      };
    }
    return {
      kind: 'regressionAdjustedRatio',
      n,
      mPost: sampleMean(n, v.sum, v.sumSquares ?? 0),
      dPost: sampleMean(n, v.denominatorSum ?? 0, v.denominatorSumSquares ?? 0),
      mPre: sampleMean(n, v.covariateSum ?? 0, v.covariateSumSquares ?? 0),
      dPre: sampleMean(n, v.denominatorPreSum ?? 0, v.denominatorPreSumSquares ?? 0),
      mPostMPreSumProducts: v.covariateSumProducts ?? 0,
      dPostDPreSumProducts: v.denominatorPostDenominatorPreSumProducts ?? 0,
      mPreDPreSumProducts: v.mainPreDenominatorPreSumProducts ?? 0,
      mPostDPostSumProducts: v.sumProducts ?? 0,
      mPostDPreSumProducts: v.mainPostDenominatorPreSumProducts ?? 0,
      mPreDPostSumProducts: v.mainPreDenominatorPostSumProducts ?? 0,
      theta: null,
    };
  }
  const post = postMoments(input.metric, n, v.sum, v.sumSquares);
  if (!input.cuped) return post;
  return {
    kind: 'regressionAdjusted',
    n,
    post,
    pre: postMoments(input.metric, n, v.covariateSum ?? 0, v.covariateSumSquares),
    postPreSumProducts: v.covariateSumProducts ?? 0,
    theta: null,
  };
}

/**
 * gbstats utils.check_srm: χ² goodness of fit of the units against the weights; variants with a
 * weight ≤ 0 are skipped (as gbstats does), no units at all gives χ² 0, p 1.
 */
export function sampleRatioMismatch(units: readonly number[], weights?: readonly number[]): { chiSquare: number; pValue: number } {
  const w = weights ?? units.map(() => 1);
  const total = units.reduce((a, b) => a + b, 0);
  if (!total) return { chiSquare: 0, pValue: 1 };
  const totalWeight = w.reduce((a, b) => a + b, 0);
  let x = 0;
  units.forEach((o, i) => {
    const wi = w[i] ?? 0;
    if (wi <= 0) return;
    const e = (wi / totalWeight) * total;
    x += (o - e) ** 2 / e;
  });
  return { chiSquare: x, pValue: 1 - chisquareCdf(x, units.length - 1) };
}

type Run = FrequentistResult | BayesianResult;

function difference(r: Run, frequentist: boolean): DifferenceResult {
  return {
    estimate: r.estimate,
    low: r.ci ? r.ci[0] : null,
    high: r.ci ? r.ci[1] : null,
    pValue: frequentist ? (r as FrequentistResult).pValue : null,
  };
}

/** Variance reduction of the absolute difference from CUPED: 1 − Var(adjusted) / Var(unadjusted). */
function cupedSummary(adjA: TestStatistic, adjB: TestStatistic, rawA: TestStatistic, rawB: TestStatistic): { theta: number; varianceReduction: number | null } {
  const theta = adjA.kind === 'regressionAdjusted' || adjA.kind === 'regressionAdjustedRatio' ? (adjA.theta ?? 0) : 0;
  const ua = unadjustedStatistic(rawA);
  const ub = unadjustedStatistic(rawB);
  const before = varianceOf(ua) / ua.n + varianceOf(ub) / ub.n;
  const after = varianceOf(adjA) / adjA.n + varianceOf(adjB) / adjB.n;
  return { theta, varianceReduction: before > 0 && Number.isFinite(after) ? 1 - after / before : null };
}

/**
 * Analyse every treatment against control (variant 0) with gbstats' TwoSidedTTest,
 * SequentialTwoSidedTTest or EffectBayesianABTest, for the absolute and the relative difference,
 * plus the SRM check. Degenerate arms (n < 2, zero variance, zero control mean) give null estimates
 * with gbstats' error message; an invalid input throws AnalysisInvalidError.
 */
export function analyze(rawInput: AnalysisInput): AnalysisResult {
  const checked = validateAnalysisInput(rawInput);
  if (!checked.ok) throw new AnalysisInvalidError(checked.error);
  const input = checked.input;
  const alpha = input.alpha ?? DEFAULT_ALPHA;
  const chosen: DifferenceType = input.differenceType ?? 'relative';
  const frequentist = input.engine === 'frequentist';
  const prior: GaussianPrior = {
    mean: input.prior?.mean ?? DEFAULT_PRIOR.mean,
    variance: input.prior?.stddev !== undefined ? input.prior.stddev ** 2 : DEFAULT_PRIOR.variance,
    proper: input.prior?.proper ?? DEFAULT_PRIOR.proper,
  };
  const stats = input.variants.map((v) => variantStatistic(input, v));
  const control = stats[0]!;

  const run = (b: TestStatistic, differenceType: DifferenceType): Run => {
    if (!frequentist) {
      return effectBayesianABTest(control, b, { alpha, differenceType, inverse: input.inverse ?? false, prior, priorType: input.prior?.type ?? 'relative' });
    }
    if (input.sequential) {
      return sequentialTwoSidedTTest(control, b, { alpha, differenceType, sequentialTuning: input.sequentialTuning ?? DEFAULT_SEQUENTIAL_TUNING });
    }
    return twoSidedTTest(control, b, { alpha, differenceType });
  };

  const comparisons: ComparisonResult[] = stats.slice(1).map((b, k) => {
    const abs = run(b, 'absolute');
    const rel = run(b, 'relative');
    const main = chosen === 'relative' ? rel : abs;
    const other = chosen === 'relative' ? abs : rel;
    const bayes = frequentist ? null : (main as BayesianResult);
    const out: ComparisonResult = {
      variant: k + 1,
      controlMean: unadjustedMeanOf(control),
      treatmentMean: unadjustedMeanOf(b),
      absolute: difference(abs, frequentist),
      relative: difference(rel, frequentist),
      chanceToWin: bayes ? bayes.chanceToWin : null,
      risk: bayes ? bayes.risk : null,
    };
    if (input.cuped) {
      const [adjA, adjB] = createThetaAdjustedStatistics(control, b);
      out.cuped = cupedSummary(adjA, adjB, control, b);
    }
    const errorMessage = main.errorMessage ?? other.errorMessage;
    if (errorMessage !== null) out.errorMessage = errorMessage;
    return out;
  });

  const weights = input.variants.every((v) => v.weight !== undefined) ? input.variants.map((v) => v.weight!) : undefined;
  return { comparisons, srm: sampleRatioMismatch(input.variants.map((v) => v.n), weights) };
}
