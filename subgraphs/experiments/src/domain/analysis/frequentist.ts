/**
 * Frequentist tests, reimplementing gbstats frequentist/tests.py (growthbook/growthbook,
 * packages/stats/gbstats):
 *   - TwoSidedTTest: Welch t-test on the absolute or relative difference. The interval and the
 *     p-value both use Student's t at the Welch–Satterthwaite degrees of freedom, for the relative
 *     difference too (its standard error is the delta-method one).
 *   - SequentialTwoSidedTTest: asymptotic confidence sequence of Waudby-Smith et al. 2023
 *     (arXiv:2103.06476v7, eq. 9 for the half-width, eq. 161 for rho, eq. 155 for the p-value),
 *     tuned by the sequential tuning parameter (gbstats default 5000).
 * Version: the newest tests/frequentist/test_tests.py (with the SequentialOneSided* tests and
 * pValueErrorMessage) is what this is checked against; the newest Python source of this file was
 * not readable, so the formulas come from the readable gbstats versions (TTest / TwoSidedTTest /
 * SequentialTwoSidedTTest with rho, sequential_interval_halfwidth, the e-value p-value) and agree
 * with every case of that newest test file. One-sided tests are not implemented.
 * Degenerate inputs return nulls and gbstats' error message instead of gbstats' placeholder
 * (expected 0, ci [0, 0], p 1).
 */
import tCdf from '@stdlib/stats-base-dists-t-cdf';
import tQuantile from '@stdlib/stats-base-dists-t-quantile';
import { createThetaAdjustedStatistics, effectMoments, varianceOf } from './statistics.js';
import type { DifferenceType, TestStatistic } from './statistics.js';

export const DEFAULT_ALPHA = 0.05;
export const DEFAULT_SEQUENTIAL_TUNING = 5000;

export interface FrequentistConfig {
  /** Significance level of the interval (default 0.05). */
  alpha?: number;
  /** Which difference to test (default relative, as gbstats). */
  differenceType?: DifferenceType;
}

export interface SequentialConfig extends FrequentistConfig {
  /** gbstats sequential_tuning_parameter: the sample size where the sequence is tightest (default 5000). */
  sequentialTuning?: number;
}

export interface FrequentistResult {
  differenceType: DifferenceType;
  /** Point estimate of the difference (gbstats `expected`). */
  estimate: number | null;
  /** [low, high] at level 1 − alpha. */
  ci: [number, number] | null;
  pValue: number | null;
  /** Standard error of the estimate (gbstats uplift.stddev). */
  standardError: number | null;
  /** Welch–Satterthwaite degrees of freedom (null for the sequential test). */
  dof: number | null;
  /** The statistics after CUPED theta was applied (what the estimate was computed from). */
  statA: TestStatistic;
  statB: TestStatistic;
  errorMessage: string | null;
}

/**
 * gbstats TTest.dof: Welch–Satterthwaite degrees of freedom from the per-unit variances of the two
 * arms (the CUPED-adjusted variances when CUPED is on), used for the relative difference as well.
 */
export function welchDof(a: TestStatistic, b: TestStatistic): number {
  const va = varianceOf(a);
  const vb = varianceOf(b);
  return (vb / b.n + va / a.n) ** 2 / (vb ** 2 / (b.n ** 2 * (b.n - 1)) + va ** 2 / (a.n ** 2 * (a.n - 1)));
}

function failed(difference: DifferenceType, a: TestStatistic, b: TestStatistic, errorMessage: string): FrequentistResult {
  return { differenceType: difference, estimate: null, ci: null, pValue: null, standardError: null, dof: null, statA: a, statB: b, errorMessage };
}

/**
 * gbstats TwoSidedTTest.compute_result: estimate and standard error from EffectMoments,
 * ci = estimate ± t_{1−α/2, dof}·se, p = 2·(1 − T_dof(|estimate / se|)).
 */
export function twoSidedTTest(control: TestStatistic, treatment: TestStatistic, config: FrequentistConfig = {}): FrequentistResult {
  const alpha = config.alpha ?? DEFAULT_ALPHA;
  const difference = config.differenceType ?? 'relative';
  const [a, b] = createThetaAdjustedStatistics(control, treatment);
  const m = effectMoments(a, b, difference);
  if (m.errorMessage !== null || m.pointEstimate === null || m.standardError === null) {
    return failed(difference, a, b, m.errorMessage ?? 'NO_ESTIMATE');
  }
  const dof = welchDof(a, b);
  const halfwidth = tQuantile(1 - alpha / 2, dof) * m.standardError;
  const t = m.pointEstimate / m.standardError;
  return {
    differenceType: difference,
    estimate: m.pointEstimate,
    ci: [m.pointEstimate - halfwidth, m.pointEstimate + halfwidth],
    pValue: 2 * (1 - tCdf(Math.abs(t), dof)),
    standardError: m.standardError,
    dof,
    statA: a,
    statB: b,
    errorMessage: null,
  };
}

/**
 * gbstats sequential_rho (two-sided): the mixing parameter of the normal-mixture confidence
 * sequence, ρ = √((−2 ln α + ln(−2 ln α + 1)) / N), N the tuning parameter (eq. 161).
 */
export function sequentialRho(alpha: number, sequentialTuning: number): number {
  return Math.sqrt((-2 * Math.log(alpha) + Math.log(-2 * Math.log(alpha) + 1)) / sequentialTuning);
}

/**
 * gbstats sequential_interval_halfwidth (eq. 9): √s2 · √(2(nρ² + 1) ln(√(nρ² + 1) / α) / (nρ)²), with
 * s2 the per-unit variance (se² · n) and n the number of units in both arms.
 */
export function sequentialIntervalHalfwidth(s2: number, n: number, rho: number, alpha: number): number {
  const nr2 = n * rho * rho;
  return Math.sqrt(s2) * Math.sqrt((2 * (nr2 + 1) * Math.log(Math.sqrt(nr2 + 1) / alpha)) / (n * rho) ** 2);
}

/**
 * gbstats SequentialTwoSidedTTest.compute_result: the same estimate as the fixed-horizon test with
 * the confidence-sequence half-width, and the always-valid p-value min(1, 1/e) with
 * e = exp(ρ²·S / (2(nρ² + 1))) / √(nρ² + 1) and S = n·estimate²/se² (eq. 155 reparameterised).
 */
export function sequentialTwoSidedTTest(control: TestStatistic, treatment: TestStatistic, config: SequentialConfig = {}): FrequentistResult {
  const alpha = config.alpha ?? DEFAULT_ALPHA;
  const difference = config.differenceType ?? 'relative';
  const tuning = config.sequentialTuning ?? DEFAULT_SEQUENTIAL_TUNING;
  const [a, b] = createThetaAdjustedStatistics(control, treatment);
  const m = effectMoments(a, b, difference);
  if (m.errorMessage !== null || m.pointEstimate === null || m.standardError === null) {
    return failed(difference, a, b, m.errorMessage ?? 'NO_ESTIMATE');
  }
  const n = a.n + b.n;
  const rho = sequentialRho(alpha, tuning);
  const se2 = m.standardError ** 2;
  const halfwidth = sequentialIntervalHalfwidth(se2 * n, n, rho, alpha);
  const st2 = (m.pointEstimate ** 2 * n) / se2;
  const tr2p1 = n * rho * rho + 1;
  const evalue = Math.exp((rho * rho * st2) / (2 * tr2p1)) / Math.sqrt(tr2p1);
  return {
    differenceType: difference,
    estimate: m.pointEstimate,
    ci: [m.pointEstimate - halfwidth, m.pointEstimate + halfwidth],
    pValue: Math.min(1 / evalue, 1),
    standardError: m.standardError,
    dof: null,
    statA: a,
    statB: b,
    errorMessage: null,
  };
}
