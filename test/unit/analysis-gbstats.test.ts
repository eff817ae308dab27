/*
 * The analysis engine (subgraphs/experiments/src/domain/analysis) against GrowthBook's own published
 * test cases, to 4 decimals. Sources (growthbook/growthbook repository):
 *   - packages/stats/tests/frequentist/test_tests.py   (gbstats frequentist tests)
 *   - packages/stats/tests/bayesian/test_tests.py      (gbstats EffectBayesianABTest tests)
 *   - packages/stats/tests/test_gbstats.py             (gbstats end-to-end analyze_metric_df tests)
 *   - packages/stats/tests/test_shared_models.py       (statistic variances vs numpy)
 *   - packages/shared/test/power.test.ts               (GrowthBook power calculator and the
 *                                                       mid-experiment power of gbstats' power module)
 *   - front-end experiments tests "pvalue correction method" / "adjusts CIs as we expect"
 *   - back-end util/stats tests "calculates SRM correctly" (the cases where it agrees with gbstats'
 *     check_srm)
 * Expected values are copied from those tests (gbstats rounds to 5 decimals, test_gbstats to 9).
 */
import { describe, expect, it } from 'vitest';
import {
  AnalysisInvalidError,
  BASELINE_VARIATION_ZERO_MESSAGE,
  ZERO_NEGATIVE_VARIANCE_MESSAGE,
  adjustedInterval,
  analyze,
  benjaminiHochberg,
  computeCovariance,
  createThetaAdjustedStatistics,
  effectBayesianABTest,
  estimatePower,
  holmBonferroni,
  meanOf,
  midExperimentPower,
  midExperimentSampleSize,
  minimumDetectableEffect,
  planningVariance,
  powerByPeriod,
  proportion,
  sampleMean,
  sampleRatioMismatch,
  sampleSizeForEffect,
  sequentialTwoSidedTTest,
  stddevOf,
  twoSidedTTest,
  validateAnalysisInput,
  varianceOf,
  welchDof,
} from '../../subgraphs/experiments/src/domain/analysis/index.js';
import type {
  AnalysisInput,
  PlanningMetric,
  Ratio,
  RegressionAdjusted,
  RegressionAdjustedRatio,
  TestStatistic,
  VariantInput,
} from '../../subgraphs/experiments/src/domain/analysis/index.js';
import tQuantile from '@stdlib/stats-base-dists-t-quantile';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';

const close = (actual: number | null | undefined, expected: number) => {
  expect(actual).toBeTypeOf('number');
  expect(actual as number).toBeCloseTo(expected, 4);
};

interface Expected {
  expected: number;
  ci: [number, number];
  stddev: number;
  pValue?: number;
}

function expectFrequentist(r: ReturnType<typeof twoSidedTTest>, e: Expected) {
  expect(r.errorMessage).toBeNull();
  close(r.estimate, e.expected);
  close(r.ci?.[0], e.ci[0]);
  close(r.ci?.[1], e.ci[1]);
  close(r.standardError, e.stddev);
  if (e.pValue !== undefined) close(r.pValue, e.pValue);
}

// Shared fixtures of test_tests.py
const STAT_A = sampleMean(3407, 1396.87, 52377.9767);
const STAT_B = sampleMean(3461, 2422.7, 134698.29);
const STAT_A_3000 = sampleMean(3000, 1396.87, 52377.9767);

const RAR_A: RegressionAdjustedRatio = {
  kind: 'regressionAdjustedRatio',
  n: 100,
  mPost: sampleMean(100, 485.112236689623, 2715.484666118136),
  dPost: sampleMean(100, 679.9093275844917, 4939.424001640236),
  mPre: sampleMean(100, 192.59138069991536, 460.076026390857),
  dPre: sampleMean(100, 290.1398399750233, 920.9461385038898),
  mPostMPreSumProducts: 1113.6215759318352,
  dPostDPreSumProducts: 2130.9404074446747,
  mPreDPreSumProducts: 634.239482353647,
  mPostDPostSumProducts: 3602.146836776702,
  mPostDPreSumProducts: 1559.2878434944676,
  mPreDPostSumProducts: 1460.3181079276983,
  theta: null,
};
const RAR_B: RegressionAdjustedRatio = {
  kind: 'regressionAdjustedRatio',
  n: 100,
  mPost: sampleMean(100, 514.7757826608777, 2994.897482705013),
  dPost: sampleMean(100, 705.4090874383759, 5291.36604146392),
  mPre: sampleMean(100, 206.94157227402536, 514.2903702246757),
  dPre: sampleMean(100, 302.54389139107326, 994.4506208125663),
  mPostMPreSumProducts: 1237.0953021125997,
  dPostDPreSumProducts: 2292.081739775257,
  mPreDPreSumProducts: 698.4173425817908,
  mPostDPostSumProducts: 3918.1561431600717,
  mPostDPreSumProducts: 1701.0287270040265,
  mPreDPostSumProducts: 1604.0759503266522,
  theta: null,
};

describe('gbstats frequentist TwoSidedTTest (tests/frequentist/test_tests.py TestTwoSidedTTest)', () => {
  it('test_two_sided_ttest: relative lift, interval with Student t at the Welch df', () => {
    const r = twoSidedTTest(STAT_A, STAT_B, { differenceType: 'relative' });
    expectFrequentist(r, { expected: 0.70732, ci: [-0.03526, 1.44989], stddev: 0.37879, pValue: 0.06191 });
    // The half-width is t_{0.975, Welch df}·se. A normal critical value (what stats.ts uses for the
    // relative lift) gives −0.03511, which misses gbstats at the 4th decimal.
    const dof = welchDof(STAT_A, STAT_B);
    close(r.ci![0], r.estimate! - tQuantile(0.975, dof) * r.standardError!);
    const normalLow = r.estimate! - normalQuantile(0.975, 0, 1) * r.standardError!;
    expect(Math.abs(normalLow - -0.03526)).toBeGreaterThan(5e-5);
  });

  it('test_two_sided_ttest_absolute', () => {
    const r = twoSidedTTest(STAT_A, STAT_B, { differenceType: 'absolute' });
    expectFrequentist(r, { expected: 0.7 - 0.41, ci: [0.04538, 0.53462], stddev: 0.12478, pValue: 0.02016 });
  });

  it('test_two_sided_ttest_binom', () => {
    const r = twoSidedTTest(proportion(28, 14), proportion(30, 16));
    expectFrequentist(r, { expected: (16 / 30 - 0.5) / 0.5, ci: [-0.47767, 0.61101], stddev: 0.2717, pValue: 0.80707 });
  });

  it('test_two_sided_ttest_missing_variance: n = 2 with negative variance gives the default output', () => {
    const r = twoSidedTTest(sampleMean(2, 1396.87, 52377.9767), STAT_B);
    expect(r.errorMessage).toBe(ZERO_NEGATIVE_VARIANCE_MESSAGE);
    expect(r.estimate).toBeNull();
    expect(r.ci).toBeNull();
    expect(r.pValue).toBeNull();
  });

  it('test_two_sided_ttest_test_runs_ratio_ra (CUPED ratio metric)', () => {
    const r = twoSidedTTest(RAR_A, RAR_B);
    expectFrequentist(r, { expected: -0.0007, ci: [-0.00841, 0.007], stddev: 0.00391, pValue: 0.85771 });
  });
});

describe('gbstats SequentialTwoSidedTTest (tests/frequentist/test_tests.py TestSequentialTTest)', () => {
  it('test_sequential_test_runs (tuning 1000)', () => {
    const r = sequentialTwoSidedTTest(STAT_A_3000, STAT_B, { sequentialTuning: 1000 });
    expectFrequentist(r, { expected: 0.50336, ci: [-0.55844, 1.56516], stddev: 0.33341, pValue: 1 });
  });

  it('test_sequential_test_runs_prop (default tuning 5000)', () => {
    const r = sequentialTwoSidedTTest(proportion(3000, 1396), proportion(3461, 2422));
    expectFrequentist(r, { expected: 0.50386, ci: [0.40098, 0.60675], stddev: 0.03386, pValue: 0 });
  });

  it('test_sequential_test_runs_ra (CUPED)', () => {
    const a: RegressionAdjusted = { kind: 'regressionAdjusted', n: 3000, post: STAT_A_3000, pre: sampleMean(3000, 16.87, 527.9767), postPreSumProducts: 1, theta: null };
    const b: RegressionAdjusted = { kind: 'regressionAdjusted', n: 3461, post: STAT_B, pre: sampleMean(3461, 22.7, 1348.29), postPreSumProducts: 1, theta: null };
    const r = sequentialTwoSidedTTest(a, b);
    expectFrequentist(r, { expected: 0.50338, ci: [-0.50969, 1.51646], stddev: 0.33341, pValue: 1 });
  });

  it('test_sequential_test_runs_ratio_ra (CUPED ratio metric)', () => {
    const r = sequentialTwoSidedTTest(RAR_A, RAR_B);
    expectFrequentist(r, { expected: -0.0007, ci: [-0.02063, 0.01923], stddev: 0.00391, pValue: 1 });
  });

  it('test_sequential_test_tuning_as_expected: tightest near the tuning parameter', () => {
    const ci = (tuning: number) => sequentialTwoSidedTTest(STAT_A_3000, STAT_B, { sequentialTuning: tuning }).ci!;
    const below = ci(10);
    const near = ci(6461);
    const above = ci(10000);
    expect(below[0] < above[0] && below[1] > above[1]).toBe(true);
    expect(below[0] < near[0] && below[1] > near[1]).toBe(true);
    expect(above[0] < near[0] && above[1] > near[1]).toBe(true);
  });
});

describe('gbstats EffectBayesianABTest (tests/bayesian/test_tests.py)', () => {
  it('TestBinom.test_bayesian_binomial_ab_test', () => {
    const r = effectBayesianABTest(proportion(100, 49), proportion(100, 51));
    close(r.estimate, 0.04082);
    close(r.ci![0], -0.24779);
    close(r.ci![1], 0.32943);
    close(r.stddev, 0.14725);
    close(r.chanceToWin, 0.60918);
    close(r.risk!.control, 0.0814);
    close(r.risk!.treatment, 0.04058);
    expect(r.differenceType).toBe('relative');
    expect(r.errorMessage).toBeNull();
  });

  it('TestBinom.test_missing_data / TestNorm.test_missing_data: no estimate', () => {
    for (const r of [
      effectBayesianABTest(proportion(0, 0), proportion(0, 0)),
      effectBayesianABTest(sampleMean(0, 0, 0), sampleMean(0, 0, 0)),
    ]) {
      expect(r.chanceToWin).toBeNull();
      expect(r.estimate).toBeNull();
      expect(r.errorMessage).toBe(ZERO_NEGATIVE_VARIANCE_MESSAGE);
    }
  });

  const NA = sampleMean(10, 100, 1002.25);
  const NB = sampleMean(10, 105, 1111.5);

  it('TestNorm.test_bayesian_gaussian_ab_test', () => {
    const r = effectBayesianABTest(NA, NB);
    close(r.estimate, 0.05);
    close(r.ci![0], -0.02);
    close(r.ci![1], 0.12);
    close(r.stddev, 0.03572);
    close(r.chanceToWin, 0.91923);
    close(r.risk!.control, 0.05131);
    close(r.risk!.treatment, 0.00131);
  });

  it('TestNorm.test_bayesian_gaussian_ab_test_informative (proper prior N(0.1, 0.1))', () => {
    const r = effectBayesianABTest(NA, NB, { prior: { mean: 0.1, variance: 0.1, proper: true } });
    close(r.estimate, 0.05063);
    close(r.ci![0], -0.01893);
    close(r.ci![1], 0.12019);
    close(r.stddev, 0.03549);
    close(r.chanceToWin, 0.92315);
    close(r.risk!.control, 0.05186);
    close(r.risk!.treatment, 0.00123);
  });

  it('TestGaussianEffectRelativeAbsolutePriors: a relative prior rescaled to absolute keeps CTW close', () => {
    const c = sampleMean(100, 1000, 200000);
    const t = sampleMean(100, 1100, 200005);
    const prior = { mean: 1, variance: 1, proper: true };
    const abs = effectBayesianABTest(c, t, { differenceType: 'absolute', prior });
    const rel = effectBayesianABTest(c, t, { differenceType: 'relative', prior });
    expect(abs.chanceToWin!).toBeCloseTo(rel.chanceToWin!, 2);
  });
});

describe('statistics (tests/test_shared_models.py): sufficient statistics equal the raw-data formulas', () => {
  const M1 = [0.3, 0.5, 0.9, 22];
  const M3 = [2, 1, 5, 3];
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const mean = (xs: number[]) => sum(xs) / xs.length;

  it('test_sample_mean_statistic and test_sample_mean_statistic_low_n', () => {
    const s = sampleMean(4, sum(M1), sum(M1.map((x) => x * x)));
    const m = mean(M1);
    close(meanOf(s), m);
    close(varianceOf(s), sum(M1.map((x) => (x - m) ** 2)) / 3);
    expect(varianceOf(sampleMean(1, sum(M1), sum(M1.map((x) => x * x))))).toBe(0);
  });

  it('test_proportion_statistic: p(1 − p)', () => {
    const s = proportion(4, 3);
    close(meanOf(s), 0.75);
    close(varianceOf(s), 0.75 * 0.25);
  });

  it('test_ratio_statistic_statistic_covariance and test_ratio_denom_zero', () => {
    const cov = sum(M1.map((x, i) => (x - mean(M1)) * (M3[i]! - mean(M3)))) / 3;
    close(computeCovariance(4, sampleMean(4, sum(M1), 0), sampleMean(4, sum(M3), 0), sum(M1.map((x, i) => x * M3[i]!))), cov);
    const zeroDen: Ratio = { kind: 'ratio', n: 4, mSum: sum(M1), mSumSquares: sum(M1.map((x) => x * x)), dSum: 0, dSumSquares: 35, mdSumProducts: 1 };
    expect(varianceOf(zeroDen)).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// test_gbstats.py end-to-end cases through analyze()

const twoArm = (engine: 'frequentist' | 'bayesian', metric: AnalysisInput['metric'], variants: VariantInput[], extra: Partial<AnalysisInput> = {}): AnalysisInput => ({
  engine,
  metric,
  variants,
  ...extra,
});

// MULTI_DIMENSION_STATISTICS_DF, dimension "one": zero (control) and one.
const DIM_ONE: VariantInput[] = [
  { n: 100, sum: 270, sumSquares: 848.79, weight: 0.5 },
  { n: 120, sum: 300, sumSquares: 869, weight: 0.5 },
];
// RATIO_STATISTICS_DF
const RATIO_ROWS: VariantInput[] = [
  { n: 100, sum: 270, sumSquares: 848.79, denominatorSum: 510, denominatorSumSquares: 810, sumProducts: -900 },
  { n: 120, sum: 300, sumSquares: 869, denominatorSum: 500, denominatorSumSquares: 800, sumProducts: -905 },
];
// RA_STATISTICS_DF
const RA_ROWS: VariantInput[] = [
  { n: 3001, sum: 300, sumSquares: 600, covariateSum: 210, covariateSumSquares: 415, covariateSumProducts: -20 },
  { n: 3000, sum: 222, sumSquares: 555, covariateSum: 120, covariateSumSquares: 405, covariateSumProducts: -10 },
];
// RATIO_RA_STATISTICS_DF
const RATIO_RA_ROWS: VariantInput[] = [
  {
    n: 100,
    sum: 485.112236689623,
    sumSquares: 2715.484666118136,
    denominatorSum: 679.9093275844917,
    denominatorSumSquares: 4939.424001640236,
    covariateSum: 192.59138069991536,
    covariateSumSquares: 460.076026390857,
    denominatorPreSum: 290.1398399750233,
    denominatorPreSumSquares: 920.9461385038898,
    covariateSumProducts: 1113.6215759318352,
    sumProducts: 3602.146836776702,
    mainPostDenominatorPreSumProducts: 1559.2878434944676,
    mainPreDenominatorPostSumProducts: 1460.3181079276983,
    mainPreDenominatorPreSumProducts: 634.239482353647,
    denominatorPostDenominatorPreSumProducts: 2130.9404074446747,
  },
  {
    n: 100,
    sum: 514.7757826608777,
    sumSquares: 2994.897482705013,
    denominatorSum: 705.4090874383759,
    denominatorSumSquares: 5291.36604146392,
    covariateSum: 206.94157227402536,
    covariateSumSquares: 514.2903702246757,
    denominatorPreSum: 302.54389139107326,
    denominatorPreSumSquares: 994.4506208125663,
    covariateSumProducts: 1237.0953021125997,
    sumProducts: 3918.1561431600717,
    mainPostDenominatorPreSumProducts: 1701.0287270040265,
    mainPreDenominatorPostSumProducts: 1604.075950326651,
    mainPreDenominatorPreSumProducts: 698.4173425817913,
    denominatorPostDenominatorPreSumProducts: 2292.081739775257,
  },
];

describe('gbstats end to end (tests/test_gbstats.py) through analyze()', () => {
  it('TestAnalyzeMetricDfBayesian.test_get_metric_dfs_new (default prior: improper)', () => {
    const c = analyze(twoArm('bayesian', 'mean', DIM_ONE)).comparisons[0]!;
    close(c.controlMean, 2.7);
    close(c.treatmentMean, 2.5);
    close(c.relative.estimate, -0.074074074);
    close(c.chanceToWin, 0.071834168);
    close(c.risk!.treatment, 0.075691131);
    expect(c.relative.pValue).toBeNull();
    expect(c.absolute.pValue).toBeNull();
  });

  it('TestAnalyzeMetricDfBayesian.test_get_metric_dfs_bayesian_ratio', () => {
    const c = analyze(twoArm('bayesian', 'ratio', RATIO_ROWS)).comparisons[0]!;
    close(c.controlMean, 0.529411765);
    close(c.treatmentMean, 0.6);
    close(c.relative.estimate, 0.133333333);
    close(c.chanceToWin, 0.694926359);
    close(c.risk!.treatment, 0.050934045);
  });

  it('TestAnalyzeMetricDfBayesian.test_get_metric_dfs_inverse', () => {
    const c = analyze(twoArm('bayesian', 'mean', DIM_ONE, { inverse: true })).comparisons[0]!;
    close(c.relative.estimate, -0.074074074);
    close(c.chanceToWin, 1 - 0.071834168);
    close(c.risk!.treatment, 0.001617057);
  });

  it('test_get_metric_dfs_zero_val (one user in treatment): no estimate, gbstats error', () => {
    const oneUser: VariantInput[] = [
      { n: 3, sum: 20, sumSquares: 443 },
      { n: 1, sum: 1, sumSquares: 1 },
    ];
    for (const engine of ['bayesian', 'frequentist'] as const) {
      const c = analyze(twoArm(engine, 'mean', oneUser)).comparisons[0]!;
      close(c.controlMean, 6.666666667);
      close(c.treatmentMean, 1);
      expect(c.relative).toEqual({ estimate: null, low: null, high: null, pValue: null });
      expect(c.chanceToWin).toBeNull();
      expect(c.errorMessage).toBe(ZERO_NEGATIVE_VARIANCE_MESSAGE);
    }
  });

  it('test_get_metric_dfs_ratio_zero_denom: control denominator 0 gives no estimate', () => {
    const rows: VariantInput[] = [
      { n: 100, sum: 270, sumSquares: 848.79, denominatorSum: 0, denominatorSumSquares: 0, sumProducts: 0 },
      RATIO_ROWS[1]!,
    ];
    for (const engine of ['bayesian', 'frequentist'] as const) {
      const c = analyze(twoArm(engine, 'ratio', rows)).comparisons[0]!;
      expect(c.controlMean).toBe(0);
      close(c.treatmentMean, 0.6);
      expect(c.relative.estimate).toBeNull();
      expect(c.absolute.estimate).toBeNull();
      expect(c.errorMessage).toBe(ZERO_NEGATIVE_VARIANCE_MESSAGE);
    }
  });

  it('TestAnalyzeMetricDfFrequentist.test_get_metric_dfs_frequentist', () => {
    const c = analyze(twoArm('frequentist', 'mean', DIM_ONE)).comparisons[0]!;
    close(c.relative.estimate, -0.074074074);
    close(c.relative.pValue, 0.145219005);
    expect(c.chanceToWin).toBeNull();
    expect(c.risk).toBeNull();
  });

  it('TestAnalyzeMetricDfFrequentist.test_get_metric_dfs_frequentist_ratio', () => {
    const c = analyze(twoArm('frequentist', 'ratio', RATIO_ROWS)).comparisons[0]!;
    close(c.relative.estimate, 0.133333333);
    close(c.relative.pValue, 0.610663339);
  });

  it('TestAnalyzeMetricDfRegressionAdjustment.test_analyze_metric_df_ra', () => {
    const c = analyze(twoArm('frequentist', 'mean', RA_ROWS, { cuped: true })).comparisons[0]!;
    close(c.controlMean, 0.099966678);
    close(c.treatmentMean, 0.074);
    close(c.relative.estimate, -0.281707154);
    close(c.relative.pValue, 0.003732549);
    // "the difference is not just DIM / control mean, like it used to be"
    expect(Math.abs(c.relative.estimate! - (0.074 - 0.110963012) / 0.110963012)).toBeGreaterThan(1e-3);
    expect(c.cuped!.theta).not.toBe(0);
  });

  it('TestAnalyzeMetricDfRegressionAdjustment.test_analyze_metric_df_ra_proportion (binomial metric and covariate)', () => {
    const rows = RA_ROWS.map(({ sumSquares: _s, covariateSumSquares: _c, ...rest }) => rest);
    const c = analyze(twoArm('frequentist', 'proportion', rows, { cuped: true })).comparisons[0]!;
    close(c.controlMean, 0.099966678);
    close(c.treatmentMean, 0.074);
    close(c.relative.estimate, -0.31620216);
    close(c.relative.pValue, 0.000000353);
  });

  it('TestAnalyzeMetricDfRegressionAdjustment.test_analyze_metric_df_ratio_ra (CUPED ratio metric)', () => {
    const c = analyze(twoArm('frequentist', 'ratio', RATIO_RA_ROWS, { cuped: true })).comparisons[0]!;
    close(c.controlMean, 0.713495487);
    close(c.treatmentMean, 0.729754963);
    close(c.relative.estimate, -0.000701483);
    close(c.relative.pValue, 0.857710405);
  });

  it('TestAnalyzeMetricDfSequential.test_analyze_metric_df_sequential (tuning 600, then 1 is wider)', () => {
    const c = analyze(twoArm('frequentist', 'mean', DIM_ONE, { sequential: true, sequentialTuning: 600 })).comparisons[0]!;
    close(c.relative.estimate, -0.074074074);
    close(c.relative.pValue, 0.892332229);
    close(c.relative.low, -0.233322085);
    const bad = analyze(twoArm('frequentist', 'mean', DIM_ONE, { sequential: true, sequentialTuning: 1 })).comparisons[0]!;
    expect(c.relative.low!).toBeGreaterThan(bad.relative.low!);
  });

  it('TestThreeArmedCuped: CUPED standard deviations with theta from each pair', () => {
    const three: VariantInput[] = [...RA_ROWS, { n: 4000, sum: 450, sumSquares: 900, covariateSum: 300, covariateSumSquares: 600, covariateSumProducts: -30 }];
    const stats = three.map((v) => ({
      kind: 'regressionAdjusted' as const,
      n: v.n,
      post: sampleMean(v.n, v.sum, v.sumSquares!),
      pre: sampleMean(v.n, v.covariateSum!, v.covariateSumSquares!),
      postPreSumProducts: v.covariateSumProducts!,
      theta: null,
    }));
    const [ctrl02, v2] = createThetaAdjustedStatistics(stats[0]!, stats[2]!);
    const [, v1] = createThetaAdjustedStatistics(stats[0]!, stats[1]!);
    close(stddevOf(ctrl02), 0.434288923);
    close(stddevOf(v1), 0.423529598);
    close(stddevOf(v2), 0.458953951);
    const result = analyze(twoArm('frequentist', 'mean', three, { cuped: true }));
    expect(result.comparisons.map((c) => c.variant)).toEqual([1, 2]);
    close(result.comparisons[1]!.treatmentMean, 0.1125);
  });
});

// ---------------------------------------------------------------------------------------------
// Power

describe('planning power (GrowthBook packages/shared/test/power.test.ts)', () => {
  const meanMetric: PlanningMetric = { type: 'mean', mean: 10, standardDeviation: Math.sqrt(3909.9997749994377) };
  const nPerVariation = 400000 / 3;

  it('delta method variance absolute and relative correct', () => {
    close(planningVariance(2, 7, 4, 0.5, 5, 15, false), 0.53333);
    close(planningVariance(2, 7, 4, 0.5, 5, 15, true), 0.00589);
  });

  it('calculates power correctly (0.52144) and sequential power (0.20596)', () => {
    close(estimatePower(meanMetric, 0.05, nPerVariation), 0.52144);
    close(estimatePower(meanMetric, 0.05, nPerVariation, { sequentialTuning: 5000 }), 0.20596);
  });

  it('calculates two-tailed MDE (0.07027) and sequential MDE (0.12821)', () => {
    const fixed = minimumDetectableEffect(meanMetric, nPerVariation);
    const seq = minimumDetectableEffect(meanMetric, nPerVariation, { sequentialTuning: 5000 });
    expect(fixed.ok && seq.ok).toBe(true);
    if (fixed.ok) close(fixed.mde, 0.07027);
    if (seq.ok) close(seq.mde, 0.12821);
    expect(minimumDetectableEffect(meanMetric, 10).ok).toBe(false);
    expect(minimumDetectableEffect(meanMetric, nPerVariation, { power: 0.01 })).toEqual({ ok: false, error: 'power must be greater than alpha.' });
  });

  const ctr: PlanningMetric = { type: 'proportion', conversionRate: 0.1 };
  const revenue: PlanningMetric = { type: 'mean', mean: 0.1, standardDeviation: Math.sqrt(0.5) };
  const weekly = (tuning: number | null) => {
    const a = powerByPeriod(ctr, 0.05, { usersPerPeriod: 4500, nPeriods: 9, nVariations: 3, sequentialTuning: tuning });
    const b = powerByPeriod(revenue, 0.3, { usersPerPeriod: 4500, nPeriods: 9, nVariations: 3, sequentialTuning: tuning });
    const power: number[] = [];
    const mde: number[] = [];
    for (let j = 0; j < 9; j++) {
      power.push(a.periods[j]!.power, b.periods[j]!.power);
      mde.push(a.periods[j]!.mde, b.periods[j]!.mde);
    }
    return { power, mde, weeks: [a.poweredAt, b.poweredAt] };
  };

  it('checks power: 9 weeks × 2 metrics, 3 variations, 4500 users a week', () => {
    const powerSolution = [
      0.073, 0.17053, 0.0965, 0.29389, 0.1204, 0.41122, 0.14458, 0.51749, 0.16895, 0.61037, 0.19342, 0.68938, 0.21791, 0.75513, 0.24235,
      0.80886, 0.26666, 0.85213,
    ];
    const mdeSolution = [
      0.36767, 1.26769, 0.24505, 0.71941, 0.19525, 0.54299, 0.16673, 0.4506, 0.14774, 0.39208, 0.13394, 0.35099, 0.12336, 0.32018, 0.11491,
      0.29603, 0.10796, 0.27647,
    ];
    const r = weekly(null);
    r.power.forEach((p, i) => close(p, powerSolution[i]!));
    r.mde.forEach((m, i) => close(m, mdeSolution[i]!));
    expect(r.weeks).toEqual([null, 8]);
  });

  it('checks sequential power (tuning 5000)', () => {
    const powerSolution = [
      0.05936, 0.09832, 0.06912, 0.14992, 0.07849, 0.19972, 0.08761, 0.24784, 0.09657, 0.29426, 0.10541, 0.33888, 0.11415, 0.38165, 0.12282,
      0.42249, 0.13142, 0.46136,
    ];
    const mdeSolution = [
      0.65545, 4.33868, 0.4112, 1.51846, 0.32394, 1.04943, 0.27607, 0.84084, 0.24484, 0.71862, 0.22241, 0.63663, 0.20532, 0.577, 0.19172, 0.53123,
      0.18058, 0.49473,
    ];
    const r = weekly(5000);
    r.power.forEach((p, i) => close(p, powerSolution[i]!));
    r.mde.forEach((m, i) => close(m, mdeSolution[i]!));
    expect(r.weeks).toEqual([null, null]);
  });

  it('sample size for an effect inverts the MDE and converts to days', () => {
    const r = sampleSizeForEffect(meanMetric, 0.07027, { usersPerDay: 10000, nVariations: 3 });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    close(r.power, 0.8);
    expect(estimatePower(meanMetric, 0.07027, r.nPerVariation - 1)).toBeLessThan(0.8);
    // At 400,000 users over 3 arms the MDE is 0.07027, so about that many users are needed.
    expect(Math.abs(r.nPerVariation - nPerVariation) / nPerVariation).toBeLessThan(0.002);
    expect(r.totalUsers).toBe(3 * r.nPerVariation);
    expect(r.days).toBe(Math.ceil(r.totalUsers / 10000));
    // GrowthBook reports revenue powered in week 8 at 4,500 users a week over 3 arms.
    const rev = sampleSizeForEffect(revenue, 0.3, { usersPerDay: 4500, nVariations: 3 });
    expect(rev.ok && rev.days).toBe(8);
    const seq = sampleSizeForEffect(revenue, 0.3, { usersPerDay: 4500, nVariations: 3, sequentialTuning: 5000 });
    expect(seq.ok && seq.days).toBeGreaterThan(9);
  });
});

describe('gbstats power/midexperimentpower.py (values from GrowthBook power.test.ts "midExperimentPower")', () => {
  const base = { sigmahat2Delta: 0.008426853707414856, pairwiseSampleSize: 1000, targetMde: 0.05, alpha: 0.05, numGoalMetrics: 1, numVariations: 2 };

  it('frequentist: scaling factor 25.45703125 reaches power 0.8', () => {
    const r = midExperimentSampleSize(base);
    close(r.scalingFactor, 25.45703125);
    close(r.additionalUsers, 25457.03125);
    close(midExperimentPower(base, 25.45703125), 0.8);
  });

  it('sequential (tuning 5000): scaling factor 55.66796875', () => {
    const seq = { ...base, sequential: true, sequentialTuning: 5000 };
    close(midExperimentSampleSize(seq).scalingFactor, 55.66796875);
    close(midExperimentPower(seq, 55.66796875), 0.8);
  });

  it('Bayesian (proper prior, lift mean 0.05, variance 0.001): scaling factor 13.9404296875', () => {
    const bayes = { ...base, prior: { mean: 0.05, variance: 0.001, proper: true } };
    close(midExperimentSampleSize(bayes).scalingFactor, 13.9404296875);
    close(midExperimentPower(bayes, 13.9404296875), 0.8);
  });

  it('already powered gives 0 additional users', () => {
    expect(midExperimentSampleSize({ ...base, targetMde: 5 })).toMatchObject({ scalingFactor: 0, additionalUsers: 0, converged: true });
  });
});

// ---------------------------------------------------------------------------------------------
// Corrections and SRM

describe('p-value corrections (GrowthBook "pvalue correction method", "adjusts CIs as we expect")', () => {
  it('does HB procedure correctly', () => {
    const adjusted = holmBonferroni([0.01, 0.04, 0.03, 0.005, 0.55, 0.6]);
    [0.05, 0.12, 0.12, 0.03, 1, 1].forEach((p, i) => close(adjusted[i], p));
  });

  it('does BH procedure correctly', () => {
    const adjusted = benjaminiHochberg([0.898, 0.138, 0.007, 0.964, 0.538, 0.006, 0.138]);
    [0.964, 0.2415, 0.0245, 0.964, 0.7532, 0.0245, 0.2415].forEach((p, i) => close(adjusted[i], p));
  });

  it('results: HB and BH of (0.025, 0.03)', () => {
    expect(holmBonferroni([0.025, 0.03]).map((p) => +p.toFixed(8))).toEqual([0.05, 0.05]);
    expect(benjaminiHochberg([0.025, 0.03]).map((p) => +p.toFixed(8))).toEqual([0.03, 0.03]);
  });

  it('monotone in the raw p-values and capped at 1', () => {
    const raw = [0.2, 0.001, 0.6, 0.04, 0.04, 0.9, 0.3];
    for (const adj of [holmBonferroni(raw), benjaminiHochberg(raw)]) {
      const order = raw.map((p, i) => ({ p, a: adj[i]! })).sort((x, y) => x.p - y.p);
      for (let i = 1; i < order.length; i++) expect(order[i]!.a).toBeGreaterThanOrEqual(order[i - 1]!.a);
      adj.forEach((a, i) => {
        expect(a).toBeLessThanOrEqual(1);
        expect(a).toBeGreaterThanOrEqual(raw[i]!);
      });
    }
  });

  it('adjusts CIs as we expect', () => {
    const ci95 = adjustedInterval(0.049999999, 0.1, 0.05);
    expect(ci95[0]).toBeGreaterThan(0);
    expect(ci95[1]).toBeLessThan(0.2);
    close(ci95[0], 0);
    close(ci95[1], 0.2);
    const ci99 = adjustedInterval(0.0099999999, 0.1, 0.01);
    close(ci99[0], 0);
    close(ci99[1], 0.2);
  });
});

describe('SRM (gbstats utils.check_srm; values from GrowthBook "calculates SRM correctly")', () => {
  it.each([
    ['simple 2-way', [1000, 1200], [0.5, 0.5], 0.000020079],
    ['another 2-way', [135, 115], [0.5, 0.5], 0.205903211],
    ['uneven weights', [310, 98], [0.75, 0.25], 0.647434186],
    ['more than 2 variations', [500, 500, 600], [0.34, 0.33, 0.33], 0.000592638],
    ['completely equal', [500, 500], [0.5, 0.5], 1],
  ] as const)('%s', (_name, units, weights, p) => {
    close(sampleRatioMismatch(units, weights).pValue, p);
  });

  it('equal weights by default, and through analyze()', () => {
    close(sampleRatioMismatch([1000, 1200]).pValue, 0.000020079);
    const r = analyze(twoArm('frequentist', 'mean', DIM_ONE));
    const expected = sampleRatioMismatch([100, 120], [0.5, 0.5]);
    close(r.srm.chiSquare, expected.chiSquare);
    close(r.srm.pValue, expected.pValue);
    close(r.srm.chiSquare, 400 / 220);
    expect(sampleRatioMismatch([0, 0])).toEqual({ chiSquare: 0, pValue: 1 });
  });
});

// ---------------------------------------------------------------------------------------------
// analyze() shape, degenerate cases and validation

describe('analyze()', () => {
  it('returns both differences, Bayesian fields only under Bayesian, CUPED summary when asked', () => {
    const freq = analyze(twoArm('frequentist', 'mean', RA_ROWS, { cuped: true, differenceType: 'absolute' })).comparisons[0]!;
    const abs = twoSidedTTest(
      { kind: 'regressionAdjusted', n: 3001, post: sampleMean(3001, 300, 600), pre: sampleMean(3001, 210, 415), postPreSumProducts: -20, theta: null },
      { kind: 'regressionAdjusted', n: 3000, post: sampleMean(3000, 222, 555), pre: sampleMean(3000, 120, 405), postPreSumProducts: -10, theta: null },
      { differenceType: 'absolute' },
    );
    close(freq.absolute.estimate, abs.estimate!);
    close(freq.absolute.low, abs.ci![0]);
    close(freq.absolute.pValue, abs.pValue!);
    close(freq.relative.estimate, -0.281707154);
    expect(freq.cuped!.varianceReduction!).toBeGreaterThan(0);
    expect(freq.cuped!.varianceReduction!).toBeLessThan(1);
    expect(freq.errorMessage).toBeUndefined();

    const bayes = analyze(twoArm('bayesian', 'mean', DIM_ONE, { differenceType: 'absolute' })).comparisons[0]!;
    close(bayes.absolute.estimate, 2.5 - 2.7);
    expect(bayes.absolute.pValue).toBeNull();
    expect(bayes.chanceToWin).not.toBeNull();
    expect(bayes.cuped).toBeUndefined();
  });

  it('a proper prior in the input is the relative lift prior (gbstats default prior_type)', () => {
    const prior = { mean: 0.1, stddev: Math.sqrt(0.1), proper: true };
    const c = analyze({
      engine: 'bayesian',
      metric: 'mean',
      prior,
      variants: [
        { n: 10, sum: 100, sumSquares: 1002.25 },
        { n: 10, sum: 105, sumSquares: 1111.5 },
      ],
    }).comparisons[0]!;
    close(c.relative.estimate, 0.05063);
    close(c.chanceToWin, 0.92315);
  });

  it('zero control mean: absolute and relative refused as gbstats does', () => {
    const c = analyze(
      twoArm('frequentist', 'mean', [
        { n: 4, sum: 0, sumSquares: 4 },
        { n: 4, sum: 4, sumSquares: 6 },
      ]),
    ).comparisons[0]!;
    expect(c.relative.estimate).toBeNull();
    expect(c.absolute.estimate).toBeNull();
    expect([ZERO_NEGATIVE_VARIANCE_MESSAGE, BASELINE_VARIATION_ZERO_MESSAGE]).toContain(c.errorMessage);
    const abs = twoSidedTTest(sampleMean(4, 0, 4), sampleMean(4, 4, 6), { differenceType: 'absolute' });
    expect(abs.errorMessage).toBe(BASELINE_VARIATION_ZERO_MESSAGE);
  });

  it('CUPED with a constant covariate reverts to the unadjusted test (theta 0)', () => {
    const rows: VariantInput[] = [
      { n: 100, sum: 270, sumSquares: 848.79, covariateSum: 100, covariateSumSquares: 100, covariateSumProducts: 270 },
      { n: 120, sum: 300, sumSquares: 869, covariateSum: 120, covariateSumSquares: 120, covariateSumProducts: 300 },
    ];
    const c = analyze(twoArm('frequentist', 'mean', rows, { cuped: true })).comparisons[0]!;
    expect(c.cuped).toEqual({ theta: 0, varianceReduction: 0 });
    close(c.relative.pValue, 0.145219005);
  });

  it('throws AnalysisInvalidError on invalid input', () => {
    expect(() => analyze({ engine: 'frequentist', metric: 'mean', variants: [] })).toThrow(AnalysisInvalidError);
  });
});

describe('validateAnalysisInput', () => {
  const good = { engine: 'frequentist', metric: 'mean', variants: [{ n: 10, sum: 5, sumSquares: 9 }, { n: 12, sum: 7, sumSquares: 11 }] };
  const withVariant = (i: number, patch: Record<string, unknown>) => ({
    ...good,
    variants: good.variants.map((v, j) => (j === i ? { ...v, ...patch } : v)),
  });
  const fieldOf = (raw: unknown) => {
    const r = validateAnalysisInput(raw);
    if (r.ok) return null;
    expect(r.error.code).toBe('ANALYSIS_INVALID');
    expect(r.error.message).toContain(r.error.field);
    return r.error.field;
  };

  it('accepts a valid input and keeps it', () => {
    const r = validateAnalysisInput(good);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.input).toEqual(good);
  });

  it.each([
    ['not an object', 42, 'input'],
    ['unknown engine', { ...good, engine: 'bootstrap' }, 'engine'],
    ['missing engine', { metric: 'mean', variants: good.variants }, 'engine'],
    ['unknown metric', { ...good, metric: 'quantile' }, 'metric'],
    ['unknown top-level field', { ...good, sequentail: true }, 'sequentail'],
    ['fewer than 2 variants', { ...good, variants: [good.variants[0]] }, 'variants'],
    ['variants not an array', { ...good, variants: {} }, 'variants'],
    ['alpha out of range', { ...good, alpha: 1.5 }, 'alpha'],
    ['alpha zero', { ...good, alpha: 0 }, 'alpha'],
    ['non-positive tuning', { ...good, sequential: true, sequentialTuning: 0 }, 'sequentialTuning'],
    ['sequential with Bayesian', { ...good, engine: 'bayesian', sequential: true }, 'sequential'],
    ['unknown difference type', { ...good, differenceType: 'scaled' }, 'differenceType'],
    ['non-positive prior stddev', { ...good, prior: { stddev: 0 } }, 'prior.stddev'],
    ['unknown prior field', { ...good, prior: { variance: 1 } }, 'prior.variance'],
    ['non-boolean cuped', { ...good, cuped: 'yes' }, 'cuped'],
    ['non-finite sumSquares', withVariant(1, { sumSquares: Number.POSITIVE_INFINITY }), 'variants[1].sumSquares'],
    ['NaN sum', withVariant(0, { sum: Number.NaN }), 'variants[0].sum'],
    ['negative n', withVariant(1, { n: -1 }), 'variants[1].n'],
    ['fractional n', withVariant(0, { n: 2.5 }), 'variants[0].n'],
    ['negative sumSquares', withVariant(1, { sumSquares: -3 }), 'variants[1].sumSquares'],
    ['missing sumSquares for a mean', withVariant(1, { sumSquares: undefined }), 'variants[1].sumSquares'],
    ['string n', withVariant(0, { n: '10' }), 'variants[0].n'],
    ['unknown variant field', withVariant(1, { users: 3 }), 'variants[1].users'],
    ['weight on some variants only', withVariant(1, { weight: 0.5 }), 'variants[0].weight'],
    ['negative weight', withVariant(0, { weight: -1 }), 'variants[0].weight'],
  ])('%s', (_name, raw, field) => {
    expect(fieldOf(raw)).toBe(field);
  });

  it('metric- and CUPED-specific fields', () => {
    expect(fieldOf({ ...good, metric: 'proportion', variants: [{ n: 10, sum: 11 }, { n: 10, sum: 3 }] })).toBe('variants[0].sum');
    expect(fieldOf({ ...good, metric: 'proportion', variants: [{ n: 10, sum: 4 }, { n: 10, sum: 3 }] })).toBeNull();
    expect(fieldOf({ ...good, metric: 'ratio' })).toBe('variants[0].denominatorSum');
    expect(fieldOf({ ...good, cuped: true })).toBe('variants[0].covariateSum');
    expect(fieldOf({ ...good, metric: 'ratio', cuped: true, variants: RATIO_RA_ROWS })).toBeNull();
    const partial = RATIO_RA_ROWS.map((v, i) => (i === 1 ? { ...v, denominatorPreSum: undefined } : v));
    expect(fieldOf({ ...good, metric: 'ratio', cuped: true, variants: partial })).toBe('variants[1].denominatorPreSum');
    expect(fieldOf({ ...good, variants: good.variants.map((v) => ({ ...v, weight: 0 })) })).toBe('variants[0].weight');
  });
});

// Type-level check that every statistic kind is accepted by the tests.
const _kinds: TestStatistic[] = [sampleMean(1, 1, 1), proportion(1, 1), RAR_A];
void _kinds;
