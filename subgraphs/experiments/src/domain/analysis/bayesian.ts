/**
 * GrowthBook's default Bayesian engine, reimplementing gbstats bayesian/tests.py
 * EffectBayesianABTest (growthbook/growthbook, packages/stats/gbstats; the version that builds on
 * models/tests.BaseABTest + EffectMoments): a Gaussian model of the effect (absolute or relative
 * difference) with the effect-moments likelihood and an optional Gaussian prior on the effect.
 *   - posterior precision = 1/se² + [proper]/σ²_prior; posterior mean = the data estimate, or the
 *     precision-weighted mean when the prior is proper;
 *   - chance to win = P(effect > 0) (P(effect < 0) for inverse metrics);
 *   - risk (expected loss) = [E max(effect, 0), E max(−effect, 0)], i.e. what choosing control and
 *     what choosing treatment loses, swapped for inverse metrics (gbstats get_risk);
 *   - credible interval = normal quantiles at alpha/2 and 1 − alpha/2.
 * The prior is on the relative lift by default (gbstats prior_type "relative", as gbstats.py
 * configures it) and is rescaled by the control mean for the absolute difference.
 * Defaults follow GrowthBook's metric defaults: proper prior off, mean 0, stddev 0.3.
 * Version: the EffectMoments-based one that tests/bayesian/test_tests.py (EffectBayesianABTest with
 * a list of statistic pairs, risk_type, error_message) and the newest gbstats.py use; the data
 * variance is frequentist_variance_all_cases, so relative CUPED uses the CUPED delta method.
 */
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import { BASELINE_VARIATION_ZERO_MESSAGE, createThetaAdjustedStatistics, effectMoments, unadjustedMeanOf } from './statistics.js';
import type { DifferenceType, TestStatistic } from './statistics.js';

export interface GaussianPrior {
  mean: number;
  /** Prior variance (stddev²). */
  variance: number;
  /** Whether the prior is used at all (an improper flat prior otherwise). */
  proper: boolean;
}

/** GrowthBook's default metric prior: N(0, 0.3²), not applied unless `proper`. */
export const DEFAULT_PRIOR: GaussianPrior = { mean: 0, variance: 0.3 ** 2, proper: false };

export interface BayesianConfig {
  /** 1 − credibility of the interval (default 0.05). */
  alpha?: number;
  differenceType?: DifferenceType;
  /** Lower is better: chance to win and risk are flipped. */
  inverse?: boolean;
  prior?: Partial<GaussianPrior>;
  /** Scale the prior is expressed on (default relative, as gbstats.py configures it). */
  priorType?: DifferenceType;
}

export interface BayesianResult {
  differenceType: DifferenceType;
  /** Posterior mean of the effect (gbstats `expected`). */
  estimate: number | null;
  /** Credible interval [low, high]. */
  ci: [number, number] | null;
  /** Posterior standard deviation (gbstats uplift.stddev). */
  stddev: number | null;
  chanceToWin: number | null;
  /** Expected loss of shipping control and of shipping treatment, on the scale of `differenceType`. */
  risk: { control: number; treatment: number } | null;
  statA: TestStatistic;
  statB: TestStatistic;
  errorMessage: string | null;
}

const SQRT_2PI = Math.sqrt(2 * Math.PI);

/**
 * gbstats EffectBayesianABTest.get_risk: for effect ~ N(μ, σ²),
 * control risk = P(effect > 0)·E[effect | effect > 0] = μΦ(μ/σ) + σφ(μ/σ) and
 * treatment risk = −P(effect < 0)·E[effect | effect < 0] = −μΦ(−μ/σ) + σφ(μ/σ)
 * (gbstats uses scipy's truncated-normal mean; these closed forms are the same quantities).
 */
export function gaussianRisk(mu: number, sigma: number): [number, number] {
  const z = mu / sigma;
  const pdf = Math.exp(-0.5 * z * z) / SQRT_2PI;
  const riskControl = mu * normalCdf(z, 0, 1) + sigma * pdf;
  const riskTreatment = -mu * normalCdf(-z, 0, 1) + sigma * pdf;
  return [riskControl, riskTreatment];
}

/** gbstats EffectBayesianABTest.compute_result. */
export function effectBayesianABTest(control: TestStatistic, treatment: TestStatistic, config: BayesianConfig = {}): BayesianResult {
  const alpha = config.alpha ?? 0.05;
  const difference = config.differenceType ?? 'relative';
  const relative = difference === 'relative';
  const inverse = config.inverse ?? false;
  const priorType = config.priorType ?? 'relative';
  const prior: GaussianPrior = { ...DEFAULT_PRIOR, ...config.prior };
  const [a, b] = createThetaAdjustedStatistics(control, treatment);
  const fail = (errorMessage: string): BayesianResult => ({
    differenceType: difference,
    estimate: null,
    ci: null,
    stddev: null,
    chanceToWin: null,
    risk: null,
    statA: a,
    statB: b,
    errorMessage,
  });

  const m = effectMoments(a, b, difference);
  if (m.errorMessage !== null || m.pointEstimate === null || m.standardError === null) return fail(m.errorMessage ?? 'NO_ESTIMATE');

  // Rescale the prior to the scale of the difference (gbstats: relative prior → × |control mean|).
  let scaled = prior;
  const baseline = unadjustedMeanOf(a);
  if (relative && priorType === 'absolute') {
    scaled = { mean: prior.mean / Math.abs(baseline), variance: prior.variance / baseline ** 2, proper: prior.proper };
  } else if (!relative && priorType === 'relative') {
    if (prior.proper && baseline === 0) return fail(BASELINE_VARIATION_ZERO_MESSAGE);
    scaled = { mean: prior.mean * Math.abs(baseline), variance: prior.variance * baseline ** 2, proper: prior.proper };
  }

  const dataMean = m.pointEstimate;
  const dataVariance = m.standardError ** 2;
  const postPrec = 1 / dataVariance + (scaled.proper ? 1 / scaled.variance : 0);
  const meanDiff = scaled.proper ? (dataMean / dataVariance + scaled.mean / scaled.variance) / postPrec : dataMean;
  const stdDiff = Math.sqrt(1 / postPrec);

  const pWin = normalCdf(meanDiff / stdDiff, 0, 1); // norm.sf(0, mean, sd)
  const [riskCtrl, riskTrt] = gaussianRisk(meanDiff, stdDiff);
  return {
    differenceType: difference,
    estimate: meanDiff,
    ci: [normalQuantile(alpha / 2, meanDiff, stdDiff), normalQuantile(1 - alpha / 2, meanDiff, stdDiff)],
    stddev: stdDiff,
    chanceToWin: inverse ? 1 - pWin : pWin,
    risk: inverse ? { control: riskTrt, treatment: riskCtrl } : { control: riskCtrl, treatment: riskTrt },
    statA: a,
    statB: b,
    errorMessage: null,
  };
}
