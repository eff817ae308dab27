/**
 * Sufficient-statistic types, their means and variances, CUPED theta and the effect moments
 * (point estimate and standard error of the absolute or relative difference) shared by the
 * frequentist and Bayesian engines.
 *
 * Reimplements GrowthBook's stats engine (gbstats, Python, growthbook/growthbook repository,
 * packages/stats/gbstats). Version matched: the newest readable one, the post-stratification era:
 *   - models/statistics.py   frozen pydantic dataclasses, `TestStatistic` union including
 *                            QuantileClusteredStatistic, BanditPeriodData*, and
 *                            `create_theta_adjusted_statistics`: SampleMeanStatistic,
 *                            ProportionStatistic, RatioStatistic, RegressionAdjustedStatistic,
 *                            RegressionAdjustedRatioStatistic, compute_covariance, compute_theta,
 *                            create_joint_statistic, compute_theta_regression_adjusted_ratio
 *   - models/tests.py        EffectMoments (with pairwise_sample_size, theta set beforehand by
 *                            BaseABTest), frequentist_variance_all_cases,
 *                            frequentist_variance_relative_cuped(_ratio)
 *   - utils.py               (with multinomial_covariance / invert_symmetric_matrix)
 *                            frequentist_diff, frequentist_variance, variance_of_ratios, check_srm
 *   - messages.py            error message constants
 *   - gbstats.py             get_configured_test (prior N(prior_mean, prior_stddev²) of type
 *                            "relative"; TwoSidedTTest / SequentialTwoSidedTTest / EffectBayesianABTest)
 * checked against tests/test_gbstats.py at commit 01d75aeffaf1c616823c5dc3c56d2b3252cc1c22.
 * Written from the reference, not copied; each function names the gbstats function it mirrors.
 * Quantile statistics, post-stratification and one-sided tests are not implemented.
 */

// ---------------------------------------------------------------------------------------------
// Messages (gbstats messages.py)

export const ZERO_NEGATIVE_VARIANCE_MESSAGE = 'ZERO_NEGATIVE_VARIANCE';
export const BASELINE_VARIATION_ZERO_MESSAGE = 'ZERO_NEGATIVE_BASELINE_VARIATION';

// ---------------------------------------------------------------------------------------------
// Types

/** Per-unit values x_i: n units, Σx, Σx² (gbstats SampleMeanStatistic). */
export interface SampleMean {
  kind: 'sampleMean';
  n: number;
  sum: number;
  sumSquares: number;
}

/** Per-unit 0/1 values: n units, `sum` successes (gbstats ProportionStatistic; Σx² = Σx). */
export interface Proportion {
  kind: 'proportion';
  n: number;
  sum: number;
}

/** A plain per-unit moment statistic. */
export type Moments = SampleMean | Proportion;

/**
 * Ratio of two per-unit quantities, numerator m and denominator d, over n units:
 * Σm, Σm², Σd, Σd², Σm·d (gbstats RatioStatistic with SampleMeanStatistic parts).
 */
export interface Ratio {
  kind: 'ratio';
  n: number;
  mSum: number;
  mSumSquares: number;
  dSum: number;
  dSumSquares: number;
  mdSumProducts: number;
}

/**
 * CUPED: the post-exposure statistic, the pre-exposure covariate statistic (same kind) and
 * Σ post·pre. `theta` null until computed across both arms (gbstats RegressionAdjustedStatistic).
 */
export interface RegressionAdjusted {
  kind: 'regressionAdjusted';
  n: number;
  post: Moments;
  pre: Moments;
  postPreSumProducts: number;
  theta: number | null;
}

/**
 * CUPED for a ratio metric: post and pre numerator (m) and denominator (d) statistics and all six
 * cross products (gbstats RegressionAdjustedRatioStatistic).
 */
export interface RegressionAdjustedRatio {
  kind: 'regressionAdjustedRatio';
  n: number;
  mPost: SampleMean;
  dPost: SampleMean;
  mPre: SampleMean;
  dPre: SampleMean;
  mPostMPreSumProducts: number;
  dPostDPreSumProducts: number;
  mPreDPreSumProducts: number;
  mPostDPostSumProducts: number;
  mPostDPreSumProducts: number;
  mPreDPostSumProducts: number;
  theta: number | null;
}

/** Any statistic the tests accept (gbstats TestStatistic, without quantiles). */
export type TestStatistic = Moments | Ratio | RegressionAdjusted | RegressionAdjustedRatio;

export type DifferenceType = 'relative' | 'absolute';

// ---------------------------------------------------------------------------------------------
// Constructors

export const sampleMean = (n: number, sum: number, sumSquares: number): SampleMean => ({ kind: 'sampleMean', n, sum, sumSquares });
export const proportion = (n: number, sum: number): Proportion => ({ kind: 'proportion', n, sum });

// ---------------------------------------------------------------------------------------------
// Moments

/** gbstats SampleMeanStatistic.mean / ProportionStatistic.mean: Σx / n, 0 when n = 0. */
function momentsMean(s: Moments): number {
  return s.n === 0 ? 0 : s.sum / s.n;
}

/**
 * gbstats SampleMeanStatistic.variance (unbiased, 0 when n ≤ 1) and ProportionStatistic.variance
 * (p·(1 − p), the population variance, as gbstats uses).
 */
function momentsVariance(s: Moments): number {
  if (s.kind === 'proportion') {
    const p = momentsMean(s);
    return p * (1 - p);
  }
  if (s.n <= 1) return 0;
  return (s.sumSquares - (s.sum * s.sum) / s.n) / (s.n - 1);
}

/**
 * gbstats compute_covariance: covariance of two per-unit quantities from their sums and Σ a·b.
 * Two proportions use the population form Σab/n − ΣaΣb/n², anything else the unbiased form.
 */
export function computeCovariance(n: number, a: Moments, b: Moments, sumOfProducts: number): number {
  if (n <= 1) return 0;
  if (a.kind === 'proportion' && b.kind === 'proportion') {
    return sumOfProducts / n - (a.sum * b.sum) / (n * n);
  }
  return (sumOfProducts - (a.sum * b.sum) / n) / (n - 1);
}

/**
 * gbstats utils.variance_of_ratios: delta-method variance of M / D given the means, variances
 * and covariance of M and D (0 when the mean of D is 0).
 */
export function varianceOfRatios(meanM: number, varM: number, meanD: number, varD: number, covMD: number): number {
  if (meanD === 0) return 0;
  return varM / meanD ** 2 + (varD * meanM ** 2) / meanD ** 4 - (2 * covMD * meanM) / meanD ** 3;
}

// ---------------------------------------------------------------------------------------------
// Ratio

const ratioM = (s: Ratio): SampleMean => sampleMean(s.n, s.mSum, s.mSumSquares);
const ratioD = (s: Ratio): SampleMean => sampleMean(s.n, s.dSum, s.dSumSquares);

/** gbstats RatioStatistic.covariance. */
function ratioCovariance(s: Ratio): number {
  return computeCovariance(s.n, ratioM(s), ratioD(s), s.mdSumProducts);
}

// ---------------------------------------------------------------------------------------------
// Regression adjusted (CUPED)

/** gbstats RegressionAdjustedStatistic.covariance: Cov(post, pre). */
function raCovariance(s: RegressionAdjusted): number {
  return computeCovariance(s.n, s.post, s.pre, s.postPreSumProducts);
}

/** gbstats create_joint_statistic: pool one statistic of both arms into one with n = nA + nB. */
function jointMoments(a: Moments, b: Moments, n: number): Moments {
  if (a.kind === 'proportion' && b.kind === 'proportion') return proportion(n, a.sum + b.sum);
  if (a.kind === 'sampleMean' && b.kind === 'sampleMean') return sampleMean(n, a.sum + b.sum, a.sumSquares + b.sumSquares);
  throw new Error('Statistic types for a metric must not be different types across variations.');
}

/**
 * gbstats compute_theta: theta = Cov(post, pre) / Var(pre), computed on both arms pooled.
 * 0 when the pooled pre or post statistic has no variance.
 */
export function computeTheta(a: RegressionAdjusted, b: RegressionAdjusted): number {
  const n = a.n + b.n;
  const post = jointMoments(a.post, b.post, n);
  const pre = jointMoments(a.pre, b.pre, n);
  const preVar = momentsVariance(pre);
  if (preVar === 0 || momentsVariance(post) === 0) return 0;
  return computeCovariance(n, post, pre, a.postPreSumProducts + b.postPreSumProducts) / preVar;
}

// ---------------------------------------------------------------------------------------------
// Regression adjusted ratio (CUPED for ratio metrics)

/** gbstats RegressionAdjustedRatioStatistic.betahat: per-unit means of m_post, d_post, m_pre, d_pre. */
function rarBetahat(s: RegressionAdjustedRatio): [number, number, number, number] {
  return [momentsMean(s.mPost), momentsMean(s.dPost), momentsMean(s.mPre), momentsMean(s.dPre)];
}

/** gbstats RegressionAdjustedRatioStatistic.lambda_matrix: covariance of (m_post, d_post, m_pre, d_pre). */
function rarLambda(s: RegressionAdjustedRatio): number[][] {
  const n = s.n;
  const vMPost = momentsVariance(s.mPost);
  const vDPost = momentsVariance(s.dPost);
  const vMPre = momentsVariance(s.mPre);
  const vDPre = momentsVariance(s.dPre);
  const cMPostDPost = computeCovariance(n, s.mPost, s.dPost, s.mPostDPostSumProducts);
  const cMPostMPre = computeCovariance(n, s.mPost, s.mPre, s.mPostMPreSumProducts);
  const cMPostDPre = computeCovariance(n, s.mPost, s.dPre, s.mPostDPreSumProducts);
  const cDPostMPre = computeCovariance(n, s.dPost, s.mPre, s.mPreDPostSumProducts);
  const cDPostDPre = computeCovariance(n, s.dPost, s.dPre, s.dPostDPreSumProducts);
  const cMPreDPre = computeCovariance(n, s.mPre, s.dPre, s.mPreDPreSumProducts);
  return [
    [vMPost, cMPostDPost, cMPostMPre, cMPostDPre],
    [cMPostDPost, vDPost, cDPostMPre, cDPostDPre],
    [cMPostMPre, cDPostMPre, vMPre, cMPreDPre],
    [cMPostDPre, cDPostDPre, cMPreDPre, vDPre],
  ];
}

/**
 * gbstats RegressionAdjustedRatioStatistic.nabla: gradient of m_post/d_post − θ·m_pre/d_pre with
 * respect to the four means (zeros when a denominator mean is 0).
 */
function rarNabla(s: RegressionAdjustedRatio, theta: number): [number, number, number, number] {
  const [mPost, dPost, mPre, dPre] = rarBetahat(s);
  if (dPost === 0 || dPre === 0) return [0, 0, 0, 0];
  return [1 / dPost, -mPost / dPost ** 2, -theta / dPre, (theta * mPre) / dPre ** 2];
}

/** xᵀ M y over the index ranges [r0, r1) × [c0, c1). */
function quadForm(x: readonly number[], m: number[][], y: readonly number[], r0: number, r1: number, c0: number, c1: number): number {
  let total = 0;
  for (let i = r0; i < r1; i++) {
    for (let j = c0; j < c1; j++) total += x[i]! * m[i]![j]! * y[j]!;
  }
  return total;
}

/** gbstats RegressionAdjustedRatioStatistic.mean_post / mean_pre. */
function rarMeanPost(s: RegressionAdjustedRatio): number {
  return s.dPost.sum === 0 ? 0 : s.mPost.sum / s.dPost.sum;
}
function rarMeanPre(s: RegressionAdjustedRatio): number {
  return s.dPre.sum === 0 ? 0 : s.mPre.sum / s.dPre.sum;
}

/**
 * gbstats compute_theta_regression_adjusted_ratio: with θ = 1 in the gradients,
 * θ = −(Cov_A + Cov_B) / (VarPre_A + VarPre_B), where VarPre is the pre block of ∇ᵀΛ∇ and Cov the
 * pre×post block. 0 when the pre variances sum to 0.
 */
export function computeThetaRegressionAdjustedRatio(a: RegressionAdjustedRatio, b: RegressionAdjustedRatio): number {
  const part = (s: RegressionAdjustedRatio) => {
    const g = rarNabla(s, 1);
    const l = rarLambda(s);
    return { varPre: quadForm(g, l, g, 2, 4, 2, 4), cov: quadForm(g, l, g, 2, 4, 0, 2) };
  };
  const pa = part(a);
  const pb = part(b);
  if (pa.varPre + pb.varPre === 0) return 0;
  return -(pa.cov + pb.cov) / (pa.varPre + pb.varPre);
}

// ---------------------------------------------------------------------------------------------
// Generic accessors

const thetaOf = (s: { theta: number | null }): number => (s.theta ? s.theta : 0);

/** gbstats Statistic.mean for every statistic type (the CUPED-adjusted mean for CUPED ones). */
export function meanOf(s: TestStatistic): number {
  switch (s.kind) {
    case 'sampleMean':
    case 'proportion':
      return momentsMean(s);
    case 'ratio':
      return s.dSum === 0 ? 0 : s.mSum / s.dSum;
    case 'regressionAdjusted':
      return momentsMean(s.post) - thetaOf(s) * momentsMean(s.pre);
    case 'regressionAdjustedRatio':
      if (s.dPost.sum === 0 || s.dPre.sum === 0) return 0;
      return rarMeanPost(s) - thetaOf(s) * rarMeanPre(s);
  }
}

/** gbstats Statistic.unadjusted_mean: the mean without the regression adjustment. */
export function unadjustedMeanOf(s: TestStatistic): number {
  switch (s.kind) {
    case 'regressionAdjusted':
      return momentsMean(s.post);
    case 'regressionAdjustedRatio':
      return rarMeanPost(s);
    default:
      return meanOf(s);
  }
}

/** gbstats Statistic.variance: the per-unit variance (of the adjusted quantity for CUPED). */
export function varianceOf(s: TestStatistic): number {
  switch (s.kind) {
    case 'sampleMean':
    case 'proportion':
      return momentsVariance(s);
    case 'ratio': {
      const m = ratioM(s);
      const d = ratioD(s);
      if (momentsMean(d) === 0 || s.n <= 1) return 0;
      return varianceOfRatios(momentsMean(m), momentsVariance(m), momentsMean(d), momentsVariance(d), ratioCovariance(s));
    }
    case 'regressionAdjusted': {
      if (s.n <= 1) return 0;
      const theta = thetaOf(s);
      return momentsVariance(s.post) + theta ** 2 * momentsVariance(s.pre) - 2 * theta * raCovariance(s);
    }
    case 'regressionAdjustedRatio': {
      const g = rarNabla(s, thetaOf(s));
      return quadForm(g, rarLambda(s), g, 0, 4, 0, 4);
    }
  }
}

/** gbstats Statistic.stddev: √variance, 0 when the variance is not positive. */
export function stddevOf(s: TestStatistic): number {
  const v = varianceOf(s);
  return v <= 0 ? 0 : Math.sqrt(v);
}

/** The statistic without its regression adjustment (post-period ratio or post statistic). */
export function unadjustedStatistic(s: TestStatistic): TestStatistic {
  if (s.kind === 'regressionAdjusted') return s.post;
  if (s.kind === 'regressionAdjustedRatio') return rarToRatio(s);
  return s;
}

function rarToRatio(s: RegressionAdjustedRatio): Ratio {
  return {
    kind: 'ratio',
    n: s.n,
    mSum: s.mPost.sum,
    mSumSquares: s.mPost.sumSquares,
    dSum: s.dPost.sum,
    dSumSquares: s.dPost.sumSquares,
    mdSumProducts: s.mPostDPostSumProducts,
  };
}

/**
 * gbstats create_theta_adjusted_statistics: when both arms are CUPED statistics without theta,
 * compute theta across the two arms and set it on both; a theta of 0 (|θ| < 1e-8 for ratios)
 * reverts both to the unadjusted statistic, as gbstats does when a period has no variance.
 */
export function createThetaAdjustedStatistics(a: TestStatistic, b: TestStatistic): [TestStatistic, TestStatistic] {
  if (a.kind === 'regressionAdjusted' && b.kind === 'regressionAdjusted' && (a.theta === null || b.theta === null)) {
    const theta = computeTheta(a, b);
    if (theta === 0) return [a.post, b.post];
    return [{ ...a, theta }, { ...b, theta }];
  }
  if (a.kind === 'regressionAdjustedRatio' && b.kind === 'regressionAdjustedRatio' && (a.theta === null || b.theta === null)) {
    const theta = computeThetaRegressionAdjustedRatio(a, b);
    if (Math.abs(theta) < 1e-8) return [rarToRatio(a), rarToRatio(b)];
    return [{ ...a, theta }, { ...b, theta }];
  }
  return [a, b];
}

// ---------------------------------------------------------------------------------------------
// Effect moments (gbstats models/tests.py)

/** gbstats utils.frequentist_diff: B − A, or (B − A) / unadjusted A for the relative difference. */
export function frequentistDiff(meanA: number, meanB: number, relative: boolean, meanAUnadjusted?: number): number {
  const denom = meanAUnadjusted ? meanAUnadjusted : meanA;
  return relative ? (meanB - meanA) / denom : meanB - meanA;
}

/**
 * gbstats utils.frequentist_variance: Var(B̄ − Ā) = VB/nB + VA/nA, or for the relative difference
 * the delta method on B̄/Ā with independent arms.
 */
export function frequentistVariance(varA: number, meanA: number, nA: number, varB: number, meanB: number, nB: number, relative: boolean): number {
  if (relative) return varianceOfRatios(meanB, varB / nB, meanA, varA / nA, 0);
  return varB / nB + varA / nA;
}

/** gbstats frequentist_variance_relative_cuped: delta-method variance of the relative CUPED lift. */
export function frequentistVarianceRelativeCuped(a: RegressionAdjusted, b: RegressionAdjusted): number {
  const ua = momentsMean(a.post);
  const denTrt = b.n * ua ** 2;
  const denCtrl = a.n * ua ** 2;
  if (denTrt === 0 || denCtrl === 0) return 0;
  const theta = thetaOf(a);
  const numTrt = momentsVariance(b.post) + theta ** 2 * momentsVariance(b.pre) - 2 * theta * raCovariance(b);
  const vTrt = numTrt / denTrt;
  const c = -momentsMean(b.post);
  const numA = (momentsVariance(a.post) * c ** 2) / ua ** 2;
  const numB = (2 * theta * raCovariance(a) * c) / ua;
  const numC = theta ** 2 * momentsVariance(a.pre);
  return vTrt + (numA + numB + numC) / denCtrl;
}

/** gbstats frequentist_variance_relative_cuped_ratio: delta-method variance of the relative CUPED ratio lift. */
export function frequentistVarianceRelativeCupedRatio(a: RegressionAdjustedRatio, b: RegressionAdjustedRatio): number {
  const ua = rarMeanPost(a);
  const dPostMeanA = momentsMean(a.dPost);
  if (ua === 0 || dPostMeanA === 0) return 0;
  const gAbs = meanOf(b) - meanOf(a);
  const gRelDen = Math.abs(ua);
  const mPostMeanA = momentsMean(a.mPost);
  const nablaA0 = -(gRelDen + gAbs) / dPostMeanA / gRelDen ** 2;
  const nablaA1 = ((mPostMeanA * gRelDen) / dPostMeanA ** 2 + (mPostMeanA * gAbs) / dPostMeanA ** 2) / gRelDen ** 2;
  const ga = rarNabla(a, thetaOf(a));
  const nablaA = [nablaA0, nablaA1, -ga[2] / gRelDen, -ga[3] / gRelDen];
  const nablaB = rarNabla(b, thetaOf(b)).map((x) => x / gRelDen);
  return quadForm(nablaA, rarLambda(a), nablaA, 0, 4, 0, 4) / a.n + quadForm(nablaB, rarLambda(b), nablaB, 0, 4, 0, 4) / b.n;
}

/** gbstats frequentist_variance_all_cases: variance of the estimated difference for any statistic pair. */
export function frequentistVarianceAllCases(a: TestStatistic, b: TestStatistic, relative: boolean): number {
  if (relative && a.kind === 'regressionAdjusted' && b.kind === 'regressionAdjusted') return frequentistVarianceRelativeCuped(a, b);
  if (relative && a.kind === 'regressionAdjustedRatio' && b.kind === 'regressionAdjustedRatio') return frequentistVarianceRelativeCupedRatio(a, b);
  return frequentistVariance(varianceOf(a), unadjustedMeanOf(a), a.n, varianceOf(b), unadjustedMeanOf(b), b.n, relative);
}

export interface EffectMomentsResult {
  /** Absolute or relative difference, null when it cannot be estimated. */
  pointEstimate: number | null;
  standardError: number | null;
  /** nA + nB. */
  pairwiseSampleSize: number;
  errorMessage: string | null;
}

/**
 * gbstats EffectMoments.compute_result: the point estimate and standard error of the difference,
 * or an error (zero/negative variance, zero baseline mean, mixed CUPED/non-CUPED arms). As in gbstats
 * the zero-baseline check applies to the absolute difference too. Statistics must already carry
 * theta (see createThetaAdjustedStatistics).
 */
export function effectMoments(a: TestStatistic, b: TestStatistic, difference: DifferenceType): EffectMomentsResult {
  const relative = difference === 'relative';
  const pairwiseSampleSize = a.n + b.n;
  const fail = (errorMessage: string): EffectMomentsResult => ({ pointEstimate: null, standardError: null, pairwiseSampleSize, errorMessage });
  const aCuped = a.kind === 'regressionAdjusted' || a.kind === 'regressionAdjustedRatio';
  const bCuped = b.kind === 'regressionAdjusted' || b.kind === 'regressionAdjustedRatio';
  if (aCuped !== bCuped) return fail('If one statistic is regression adjusted, the other must be as well');
  const variance = frequentistVarianceAllCases(a, b, relative);
  if (!(varianceOf(a) > 0) || !(varianceOf(b) > 0) || !(variance > 0)) return fail(ZERO_NEGATIVE_VARIANCE_MESSAGE);
  if (meanOf(a) === 0 || unadjustedMeanOf(a) === 0) return fail(BASELINE_VARIATION_ZERO_MESSAGE);
  return {
    pointEstimate: frequentistDiff(meanOf(a), meanOf(b), relative, unadjustedMeanOf(a)),
    standardError: Math.sqrt(variance),
    pairwiseSampleSize,
    errorMessage: null,
  };
}
