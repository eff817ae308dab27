/**
 * Experiment planning and mid-experiment power.
 *
 * Planning (before the experiment) is GrowthBook's frequentist power calculator. It is not part of
 * gbstats' Python package: GrowthBook computes it in TypeScript (packages/shared/src/power.ts, earlier
 * front-end/components/PowerCalculation/stats.ts): `frequentistVariance`, `powerStandardError`,
 * `sequentialPowerSequentialVariance`, `powerEstFrequentist`, `findMdeFrequentist`,
 * `powerMetricWeeks`. Effects are relative lifts, the treatment mean is mean·(1 + lift) and both
 * arms share the metric variance; the sequential variant inflates the variance by the
 * confidence-sequence width at the planned sample size.
 *
 * Mid-experiment power (how many more units until the target power) is gbstats
 * power/midexperimentpower.py, MidExperimentPower.power / calculate_scaling_factor.
 */
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import { sequentialIntervalHalfwidth, sequentialRho } from './frequentist.js';
import type { GaussianPrior } from './bayesian.js';

const zQuantile = (p: number) => normalQuantile(p, 0, 1);
const phi = (x: number) => normalCdf(x, 0, 1);

// ---------------------------------------------------------------------------------------------
// Planning (GrowthBook shared/power.ts)

/** A metric as the power calculator takes it: a mean with its standard deviation, or a rate. */
export type PlanningMetric =
  | { type: 'mean'; mean: number; standardDeviation: number }
  | { type: 'proportion'; conversionRate: number };

export interface PlanningOptions {
  /** Significance level (default 0.05). */
  alpha?: number;
  /** Sequential tuning parameter; null or absent plans a fixed-horizon test. */
  sequentialTuning?: number | null;
}

function metricMean(m: PlanningMetric): number {
  return m.type === 'mean' ? m.mean : m.conversionRate;
}

function metricVariance(m: PlanningMetric): number {
  return m.type === 'mean' ? m.standardDeviation ** 2 : m.conversionRate * (1 - m.conversionRate);
}

/**
 * GrowthBook frequentistVariance: variance of the absolute difference, or of the relative one by the
 * delta method, VB/(A²nB) + VA·B²/(A⁴nA).
 */
export function planningVariance(varA: number, meanA: number, nA: number, varB: number, meanB: number, nB: number, relative: boolean): number {
  if (relative) return varB / (meanA ** 2 * nB) + (varA * meanB ** 2) / (meanA ** 4 * nA);
  return varB / nB + varA / nA;
}

/**
 * GrowthBook sequentialPowerSequentialVariance: the per-unit variance that makes a fixed-horizon
 * interval as wide as the confidence sequence over `nTotal` units: v · nTotal · D / z²_{1−α/2},
 * with D the term under the root of the sequential half-width.
 */
export function sequentialPlanningVariance(variance: number, nTotal: number, alpha: number, sequentialTuning: number): number {
  const rho = sequentialRho(alpha, sequentialTuning);
  const halfwidthOverSe = sequentialIntervalHalfwidth(nTotal, nTotal, rho, alpha); // √n·√D
  return (variance * halfwidthOverSe ** 2) / zQuantile(1 - alpha / 2) ** 2;
}

/**
 * GrowthBook powerStandardError / sequentialPowerStandardError: standard error of the relative lift
 * with nPerVariation units in each arm (sequential: over both arms' 2·nPerVariation units).
 */
export function planningStandardError(metric: PlanningMetric, effectSize: number, nPerVariation: number, options: PlanningOptions = {}): number {
  const m = metricMean(metric);
  const v = metricVariance(metric);
  const varRel = planningVariance(v, m, nPerVariation, v, m * (1 + effectSize), nPerVariation, true);
  const tuning = options.sequentialTuning ?? 0;
  if (tuning > 0) return Math.sqrt(sequentialPlanningVariance(varRel, 2 * nPerVariation, options.alpha ?? 0.05, tuning));
  return Math.sqrt(varRel);
}

/** GrowthBook powerFrequentist: P(reject) for a true effect with this standard error (two tails by default). */
export function powerFrequentist(effectSize: number, standardError: number, alpha = 0.05, twoTailed = true): number {
  const zStar = twoTailed ? zQuantile(1 - alpha / 2) : zQuantile(1 - alpha);
  const standardized = effectSize / standardError;
  let power = 1 - phi(zStar - standardized);
  if (twoTailed) power += phi(-zStar - standardized);
  return power;
}

/** GrowthBook powerEstFrequentist: power to detect a relative lift with nPerVariation units per arm. */
export function estimatePower(metric: PlanningMetric, effectSize: number, nPerVariation: number, options: PlanningOptions = {}): number {
  return powerFrequentist(effectSize, planningStandardError(metric, effectSize, nPerVariation, options), options.alpha ?? 0.05, true);
}

export type MdeResult = { ok: true; mde: number } | { ok: false; error: string };

/**
 * GrowthBook findMdeFrequentist: the smallest relative lift detected with the given power
 * (default 0.8). Solves (x − m)² = z²σ²(1 + x²/m²) for the treatment mean x, with
 * z = z_{1−α/2} + z_{power} and σ² = v/nPerVariation (v the sequential planning variance when
 * sequential), keeping the larger root; the MDE is x/m − 1.
 */
export function minimumDetectableEffect(metric: PlanningMetric, nPerVariation: number, options: PlanningOptions & { power?: number } = {}): MdeResult {
  const alpha = options.alpha ?? 0.05;
  const power = options.power ?? 0.8;
  if (power <= alpha) return { ok: false, error: 'power must be greater than alpha.' };
  const z = zQuantile(1 - alpha / 2) - zQuantile(1 - power);
  const m = metricMean(metric);
  let v = metricVariance(metric);
  const tuning = options.sequentialTuning ?? 0;
  if (tuning > 0) v = sequentialPlanningVariance(v, 2 * nPerVariation, alpha, tuning);
  if (nPerVariation <= (v * z ** 2) / m ** 2) {
    return { ok: false, error: 'need to increase number of users or reduce number of variations.' };
  }
  const sigma2 = v / nPerVariation;
  const a = 1 - (z ** 2 * sigma2) / m ** 2;
  const b = -2 * m;
  const c = m ** 2 - z ** 2 * sigma2;
  const x = (-b + Math.sqrt(b ** 2 - 4 * a * c)) / (2 * a);
  return { ok: true, mde: (x - m) / m };
}

export type SampleSizeResult =
  | { ok: true; nPerVariation: number; totalUsers: number; days: number | null; power: number }
  | { ok: false; error: string };

/**
 * Units needed to detect a relative lift with the target power (default 0.8): the smallest whole
 * nPerVariation whose estimatePower reaches it (GrowthBook scans weeks for the first one with
 * power ≥ 0.8; this finds the exact unit count by bisection), and the days needed at usersPerDay
 * users per day across nVariations arms (default 2).
 */
export function sampleSizeForEffect(
  metric: PlanningMetric,
  effectSize: number,
  options: PlanningOptions & { power?: number; usersPerDay?: number; nVariations?: number } = {},
): SampleSizeResult {
  const target = options.power ?? 0.8;
  const nVariations = options.nVariations ?? 2;
  if (!(effectSize !== 0 && Number.isFinite(effectSize))) return { ok: false, error: 'effect size must be a non-zero number.' };
  if (metricMean(metric) === 0) return { ok: false, error: 'the metric mean must be non-zero for a relative effect.' };
  const powerAt = (n: number) => estimatePower(metric, effectSize, n, options);
  let hi = 2;
  while (!(powerAt(hi) >= target)) {
    hi *= 2;
    if (hi > 1e13) return { ok: false, error: 'the target power is not reached with fewer than 1e13 units per variation.' };
  }
  let lo = hi / 2;
  if (powerAt(lo) >= target) lo = 1;
  // Invariant: power(lo) < target ≤ power(hi) (or lo = 1); find the smallest whole n.
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (powerAt(mid) >= target) hi = mid;
    else lo = mid;
  }
  const nPerVariation = lo >= 1 && powerAt(lo) >= target ? lo : hi;
  const totalUsers = nPerVariation * nVariations;
  const days = options.usersPerDay && options.usersPerDay > 0 ? Math.ceil(totalUsers / options.usersPerDay) : null;
  return { ok: true, nPerVariation, totalUsers, days, power: powerAt(nPerVariation) };
}

export interface PeriodPower {
  /** Users across all variations after this many periods. */
  users: number;
  power: number;
  /** Relative MDE at power 0.8 (NaN when none exists yet, as GrowthBook leaves it). */
  mde: number;
}

/**
 * GrowthBook powerMetricWeeks for one metric: power and MDE after each period (week or day) when
 * usersPerPeriod users arrive and are split over nVariations arms; `poweredAt` is the first
 * period (1-based) whose power rounded to 2 decimals reaches 0.8, as GrowthBook reports it.
 */
export function powerByPeriod(
  metric: PlanningMetric,
  effectSize: number,
  options: PlanningOptions & { usersPerPeriod: number; nPeriods: number; nVariations: number },
): { periods: PeriodPower[]; poweredAt: number | null } {
  const periods: PeriodPower[] = [];
  let poweredAt: number | null = null;
  let lastMde = NaN;
  for (let j = 1; j <= options.nPeriods; j++) {
    const users = options.usersPerPeriod * j;
    const nPer = users / options.nVariations;
    const power = estimatePower(metric, effectSize, nPer, options);
    const mde = minimumDetectableEffect(metric, nPer, { ...options, power: 0.8 });
    if (mde.ok) lastMde = mde.mde;
    if (poweredAt === null && Math.round(power * 100) / 100 >= 0.8) poweredAt = j;
    periods.push({ users, power, mde: lastMde });
  }
  return { periods, poweredAt };
}

// ---------------------------------------------------------------------------------------------
// Mid-experiment power (gbstats power/midexperimentpower.py)

export interface MidExperimentPowerInput {
  /** Variance of the current effect estimate (gbstats sigmahat_2_delta, the squared standard error). */
  sigmahat2Delta: number;
  /** Units in the two arms so far (gbstats pairwise_sample_size). */
  pairwiseSampleSize: number;
  /** Effect to detect, on the scale of sigmahat2Delta (gbstats target_mde, absolute value used). */
  targetMde: number;
  alpha?: number;
  targetPower?: number;
  numGoalMetrics?: number;
  numVariations?: number;
  /** A proper prior makes it the Bayesian power; null or improper is frequentist. */
  prior?: GaussianPrior | null;
  sequential?: boolean;
  sequentialTuning?: number;
}

interface MidResolved {
  sigma2: number;
  n: number;
  mde: number;
  alphaPerTest: number;
  multiplier: number;
  adjustedPower: number;
  prior: GaussianPrior | null;
  sequential: boolean;
  tuning: number;
}

function resolveMid(input: MidExperimentPowerInput): MidResolved {
  const alpha = input.alpha ?? 0.05;
  const numGoalMetrics = input.numGoalMetrics ?? 1;
  const numTests = ((input.numVariations ?? 2) - 1) * numGoalMetrics;
  return {
    sigma2: input.sigmahat2Delta,
    n: input.pairwiseSampleSize,
    mde: Math.abs(input.targetMde),
    alphaPerTest: alpha / numTests,
    multiplier: zQuantile(1 - alpha / (2 * numTests)),
    adjustedPower: (input.targetPower ?? 0.8) ** (1 / numGoalMetrics),
    prior: input.prior ?? null,
    sequential: input.sequential ?? false,
    tuning: input.sequentialTuning ?? 5000,
  };
}

function midPower(r: MidResolved, scalingFactor: number): number {
  const adjustedVariance = r.sigma2 / (1 + scalingFactor);
  const sd = Math.sqrt(adjustedVariance);
  if (r.prior && r.prior.proper) {
    const postPrec = 1 / r.prior.variance + 1 / adjustedVariance;
    const num1 = adjustedVariance * Math.sqrt(postPrec) * r.multiplier;
    const num2 = (adjustedVariance * r.prior.mean) / r.prior.variance;
    return 1 - phi((num1 - num2 - r.mde) / sd) + phi(-(num1 + num2 + r.mde) / sd);
  }
  let halfwidth: number;
  if (r.sequential) {
    const rho = sequentialRho(r.alphaPerTest, r.tuning);
    halfwidth = sequentialIntervalHalfwidth(r.n * r.sigma2, r.n + scalingFactor * r.n, rho, r.alphaPerTest);
  } else {
    halfwidth = r.multiplier * sd;
  }
  return 1 - phi((halfwidth - r.mde) / sd) + phi(-(halfwidth + r.mde) / sd);
}

/**
 * gbstats MidExperimentPower.power: power at the end of the experiment if scalingFactor × the
 * current units are added (the estimate's variance shrinks to σ²/(1 + s)); alpha is split over
 * (variations − 1) × goal metrics tests.
 */
export function midExperimentPower(input: MidExperimentPowerInput, scalingFactor: number): number {
  return midPower(resolveMid(input), scalingFactor);
}

export interface MidExperimentSampleSize {
  /** Multiple of the current units still needed (0 when already powered), null when not found. */
  scalingFactor: number | null;
  additionalUsers: number | null;
  upperBoundAchieved: boolean;
  converged: boolean;
  error: string | null;
}

/**
 * gbstats MidExperimentPower.calculate_scaling_factor / calculate_sample_size: 0 if already above
 * target^(1/goal metrics); otherwise double the scaling factor from 1 (at most 27 times) until
 * powered, then bisect between 0 and that bound until the power is within 1e-5 of the target.
 */
export function midExperimentSampleSize(input: MidExperimentPowerInput): MidExperimentSampleSize {
  const r = resolveMid(input);
  if (!(r.sigma2 > 0)) return { scalingFactor: null, additionalUsers: null, upperBoundAchieved: false, converged: false, error: 'ZERO_NEGATIVE_VARIANCE' };
  if (midPower(r, 0) > r.adjustedPower) return { scalingFactor: 0, additionalUsers: 0, upperBoundAchieved: false, converged: true, error: null };
  let sf = 1;
  let current = midPower(r, sf);
  for (let i = 0; i < 27 && current < r.adjustedPower; i++) {
    sf *= 2;
    current = midPower(r, sf);
  }
  if (current < r.adjustedPower) {
    return { scalingFactor: null, additionalUsers: null, upperBoundAchieved: true, converged: false, error: 'could not find upper bound for scaling factor' };
  }
  let lower = 0;
  let upper = sf;
  let diff = current - r.adjustedPower;
  let iteration = 0;
  for (iteration = 0; iteration < 100; iteration++) {
    if (diff > 0) upper = sf;
    else lower = sf;
    sf = 0.5 * (lower + upper);
    current = midPower(r, sf);
    diff = current - r.adjustedPower;
    if (Math.abs(diff) < 1e-5) break;
  }
  const converged = iteration < 99;
  if (!converged) return { scalingFactor: null, additionalUsers: null, upperBoundAchieved: false, converged: false, error: 'bisection search did not converge' };
  return { scalingFactor: sf, additionalUsers: r.n * sf, upperBoundAchieved: false, converged: true, error: null };
}
