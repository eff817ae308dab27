/*
Reference values below were computed with SciPy 1.17.1 / NumPy 2.4.6, independently of our code,
by running this script with `python3 -W ignore ref.py` (the warning is SciPy noting that A4 is
constant). Its output is pasted into REF in the test body.

import numpy as np
from scipy import stats

def welch(a, b):
    a = np.array(a, float); b = np.array(b, float)
    ea = a.var(ddof=1) / len(a); eb = b.var(ddof=1) / len(b)
    se = np.sqrt(ea + eb)
    df = (ea + eb) ** 2 / (ea ** 2 / (len(a) - 1) + eb ** 2 / (len(b) - 1))
    res = stats.ttest_ind(b, a, equal_var=False)
    diff = b.mean() - a.mean()
    crit = stats.t.ppf(0.975, df)
    ma, mb = a.mean(), b.mean()
    rel = mb / ma - 1
    rse = np.sqrt(eb / ma ** 2 + mb ** 2 * ea / ma ** 4)
    z = stats.norm.ppf(0.975)
    return dict(control=ma, treatment=mb, df=df, t=res.statistic, p=res.pvalue,
                low=diff - crit * se, high=diff + crit * se,
                rel=rel, rel_low=rel - z * rse, rel_high=rel + z * rse)

def ratio_var(x, y):
    x = np.array(x, float); y = np.array(y, float); n = len(x)
    R = x.sum() / y.sum()
    c = np.cov(x, y, ddof=1)
    return R, (c[0, 0] - 2 * R * c[0, 1] + R ** 2 * c[1, 1]) / (n * y.mean() ** 2)

def delta(xa, ya, xb, yb):
    ra, va = ratio_var(xa, ya); rb, vb = ratio_var(xb, yb)
    diff = rb - ra; se = np.sqrt(va + vb); z = stats.norm.ppf(0.975)
    rel = rb / ra - 1
    rse = np.sqrt(vb / ra ** 2 + rb ** 2 * va / ra ** 4)
    return dict(control=ra, treatment=rb, var_a=va, var_b=vb, p=2 * stats.norm.sf(abs(diff / se)),
                low=diff - z * se, high=diff + z * se,
                rel=rel, rel_low=rel - z * rse, rel_high=rel + z * rse)

def srm(obs, w):
    obs = np.array(obs, float); w = np.array(w, float)
    r = stats.chisquare(obs, f_exp=obs.sum() * w / w.sum())
    return dict(chi2=r.statistic, p=r.pvalue)

# per-user consumption (seconds), including zeros
A1 = [0, 0, 3.5, 12, 7.25, 0, 30, 1.5, 9, 0, 4, 18.75]
B1 = [2, 0, 14.5, 22, 0, 5.5, 11, 40, 0, 3.25, 8, 17, 0, 26.5, 6]
# unequal sizes and variances (8 vs 40)
A2 = [120, 0, 45, 300, 15, 0, 610, 75]
B2 = [30, 0, 0, 12, 95, 40, 0, 5, 60, 18, 0, 22, 7, 0, 150, 33, 9, 0, 41, 3,
      0, 27, 64, 11, 0, 8, 19, 0, 36, 2, 88, 0, 14, 6, 0, 25, 47, 0, 10, 4]
# engaged-user indicators (0/1)
A3 = [1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0]
B3 = [1, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0,
      1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 0]
# per-user clicks (x) and impressions (y); one user exposed without impressions
XA = [0, 1, 0, 2, 0, 0, 3, 1, 0, 0, 1, 0, 4, 0, 1, 0, 0, 2, 0, 1]
YA = [5, 8, 3, 10, 2, 6, 12, 4, 7, 1, 9, 5, 15, 3, 6, 4, 2, 11, 0, 5]
XB = [1, 2, 0, 3, 1, 0, 4, 2, 1, 0, 2, 1, 5, 0, 2, 1, 0, 3, 1, 2, 0, 1, 6, 0, 2]
YB = [6, 7, 4, 9, 3, 5, 14, 6, 8, 2, 10, 4, 16, 3, 7, 5, 1, 12, 2, 6, 3, 4, 18, 2, 9]

# one control with zero variance
A4 = [5, 5, 5, 5, 5]
B4 = [3, 7, 4, 9, 6, 5]
# control ratio 0 (no clicks at all)
XC = [0, 0, 0, 0, 0, 0]
YC = [3, 1, 4, 2, 5, 2]
XD = [1, 0, 2, 0, 1, 1, 0]
YD = [4, 2, 5, 1, 3, 6, 2]

for name, r in [('W1', welch(A1, B1)), ('W2', welch(A2, B2)), ('W3', welch(A3, B3)),
                ('W4', welch(A4, B4)), ('D1', delta(XA, YA, XB, YB)),
                ('S1', srm([5020, 4980], [0.5, 0.5])), ('S2', srm([5300, 4700], [0.5, 0.5])),
                ('S3', srm([1030, 480, 490], [0.5, 0.25, 0.25])), ('S4', srm([3050, 1460, 1490], [0.5, 0.25, 0.25]))]:
    print(name, {k: repr(float(v)) for k, v in r.items()})
rc, vc = ratio_var(XC, YC); rd, vd = ratio_var(XD, YD); se = np.sqrt(vc + vd); z = stats.norm.ppf(0.975)
d2 = {'control': rc, 'treatment': rd, 'var_a': vc, 'var_b': vd, 'p': 2 * stats.norm.sf(abs((rd - rc) / se)),
      'low': rd - rc - z * se, 'high': rd - rc + z * se}
print('D2', {k: repr(float(v)) for k, v in d2.items()})
*/
import { describe, expect, it } from 'vitest';
import {
  EMPTY_MEAN,
  EMPTY_RATIO,
  SRM_THRESHOLD,
  meanOf,
  ratioOf,
  ratioTest,
  ratioVariance,
  srmTest,
  varianceOf,
  welchTest,
} from '../../subgraphs/experiments/src/domain/stats.js';
import type { Comparison, Interval, MeanStats, RatioStats } from '../../subgraphs/experiments/src/domain/stats.js';

// The same raw arrays as in the Python script above.
const A1 = [0, 0, 3.5, 12, 7.25, 0, 30, 1.5, 9, 0, 4, 18.75];
const B1 = [2, 0, 14.5, 22, 0, 5.5, 11, 40, 0, 3.25, 8, 17, 0, 26.5, 6];
const A2 = [120, 0, 45, 300, 15, 0, 610, 75];
const B2 = [
  30, 0, 0, 12, 95, 40, 0, 5, 60, 18, 0, 22, 7, 0, 150, 33, 9, 0, 41, 3, 0, 27, 64, 11, 0, 8, 19, 0, 36, 2, 88, 0, 14, 6, 0, 25, 47,
  0, 10, 4,
];
const A3 = [1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0];
const B3 = [
  1, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 0,
];
const XA = [0, 1, 0, 2, 0, 0, 3, 1, 0, 0, 1, 0, 4, 0, 1, 0, 0, 2, 0, 1];
const YA = [5, 8, 3, 10, 2, 6, 12, 4, 7, 1, 9, 5, 15, 3, 6, 4, 2, 11, 0, 5];
const XB = [1, 2, 0, 3, 1, 0, 4, 2, 1, 0, 2, 1, 5, 0, 2, 1, 0, 3, 1, 2, 0, 1, 6, 0, 2];
const YB = [6, 7, 4, 9, 3, 5, 14, 6, 8, 2, 10, 4, 16, 3, 7, 5, 1, 12, 2, 6, 3, 4, 18, 2, 9];
const A4 = [5, 5, 5, 5, 5];
const B4 = [3, 7, 4, 9, 6, 5];
const XC = [0, 0, 0, 0, 0, 0];
const YC = [3, 1, 4, 2, 5, 2];
const XD = [1, 0, 2, 0, 1, 1, 0];
const YD = [4, 2, 5, 1, 3, 6, 2];

/** Python output, verbatim. */
const REF = {
  W1: { control: 7.166666666666667, treatment: 10.383333333333333, p: 0.43389009270259826, low: -5.112697231984762, high: 11.546030565318095, rel: 0.4488372093023254, rel_low: -0.89682119801862, rel_high: 1.7944956166232708 },
  W2: { control: 145.625, treatment: 22.15, p: 0.14392492177169244, low: -300.8206400115678, high: 53.87064001156779, rel: -0.8478969957081546, rel_low: -1.0156387520941859, rel_high: -0.6801552393221233 },
  W3: { control: 0.3, treatment: 0.525, p: 0.05836737081312112, low: -0.00820298610937567, high: 0.4582029861093757, rel: 0.7500000000000002, rel_low: -0.35430544659312035, rel_high: 1.8543054465931208 },
  W4: { control: 5.0, treatment: 5.666666666666667, p: 0.48376289371953357, low: -1.6003734206112, high: 2.933706753944534, rel: 0.1333333333333333, rel_low: -0.21237181878241518, rel_high: 0.4790384854490818 },
  D1: { control: 0.13559322033898305, treatment: 0.24096385542168675, var_a: 0.0007635412746354504, var_b: 0.0004375220627800969, p: 0.0023623162916283184, low: 0.037445416262833264, high: 0.17329585390257413, rel: 0.7771084337349397, rel_low: 0.005589406843018785, rel_high: 1.5486274606268604 },
  D2: { control: 0.0, treatment: 0.21739130434782608, var_a: 0.0, var_b: 0.003285198856969971, p: 0.00014895081806261642, low: 0.10505272625979101, high: 0.32972988243586115 },
  S1: { chi2: 0.16, p: 0.6891565167793516 },
  S2: { chi2: 36.0, p: 1.9731752900753933e-9 },
  S3: { chi2: 1.9000000000000001, p: 0.38674102345450123 },
  S4: { chi2: 1.9666666666666666, p: 0.3740621446020826 },
} as const;

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

function meanStats(xs: readonly number[]): MeanStats {
  return { n: xs.length, sum: sum(xs), sumSq: sum(xs.map((x) => x * x)) };
}

function ratioStats(xs: readonly number[], ys: readonly number[]): RatioStats {
  expect(xs.length).toBe(ys.length);
  return {
    n: xs.length,
    sumX: sum(xs),
    sumY: sum(ys),
    sumX2: sum(xs.map((x) => x * x)),
    sumY2: sum(ys.map((y) => y * y)),
    sumXY: sum(xs.map((x, i) => x * ys[i]!)),
  };
}

/** |actual − expected| ≤ 1e-8·|expected| (plus a tiny absolute floor for values near zero). */
function expectClose(actual: number | null | undefined, expected: number, rel = 1e-8) {
  expect(actual).toBeTypeOf('number');
  const a = actual as number;
  const tol = rel * Math.abs(expected) + 1e-14;
  if (!(Math.abs(a - expected) <= tol)) {
    throw new Error(`expected ${a} to be within ${tol} of ${expected} (relative ${rel})`);
  }
}

function expectInterval(i: Interval | null, estimate: number, low: number, high: number) {
  expect(i).not.toBeNull();
  expectClose(i!.estimate, estimate);
  expectClose(i!.low, low);
  expectClose(i!.high, high);
}

interface WelchRef {
  control: number;
  treatment: number;
  p: number;
  low: number;
  high: number;
  rel: number;
  rel_low: number;
  rel_high: number;
}

function expectWelch(c: Comparison, r: WelchRef) {
  expect(c.method).toBe('welch');
  expectClose(c.control, r.control);
  expectClose(c.treatment, r.treatment);
  expectClose(c.pValue, r.p);
  expectInterval(c.absolute, r.treatment - r.control, r.low, r.high);
  expectInterval(c.relative, r.rel, r.rel_low, r.rel_high);
}

describe('welchTest against scipy.stats.ttest_ind(equal_var=False)', () => {
  it.each([
    ['consumption with zeros (12 vs 15)', A1, B1, REF.W1],
    ['unequal sizes and variances (8 vs 40)', A2, B2, REF.W2],
    ['engaged-user indicators (30 vs 40)', A3, B3, REF.W3],
    ['control with zero variance (df = n_b − 1)', A4, B4, REF.W4],
  ] as const)('%s', (_name, a, b, ref) => {
    expectWelch(welchTest(meanStats(a), meanStats(b)), ref);
  });

  it('is antisymmetric when control and treatment are swapped', () => {
    const ab = welchTest(meanStats(A1), meanStats(B1));
    const ba = welchTest(meanStats(B1), meanStats(A1));
    expectClose(ba.pValue, ab.pValue!);
    expectClose(ba.absolute!.estimate, -ab.absolute!.estimate);
    expectClose(ba.absolute!.low, -ab.absolute!.high);
    expectClose(ba.absolute!.high, -ab.absolute!.low);
  });

  it('gives the mean and unbiased variance of the raw values', () => {
    const s = meanStats(A2);
    expectClose(meanOf(s), sum(A2) / A2.length);
    const m = sum(A2) / A2.length;
    expectClose(varianceOf(s), sum(A2.map((x) => (x - m) ** 2)) / (A2.length - 1));
  });
});

describe('ratioTest (delta method) against numpy', () => {
  it('matches ratio, delta-method variances, z-test p, CI and relative lift', () => {
    const a = ratioStats(XA, YA);
    const b = ratioStats(XB, YB);
    expectClose(ratioOf(a), REF.D1.control);
    expectClose(ratioOf(b), REF.D1.treatment);
    expectClose(ratioVariance(a), REF.D1.var_a);
    expectClose(ratioVariance(b), REF.D1.var_b);
    const c = ratioTest(a, b);
    expect(c.method).toBe('delta');
    expectClose(c.control, REF.D1.control);
    expectClose(c.treatment, REF.D1.treatment);
    expectClose(c.pValue, REF.D1.p);
    expectInterval(c.absolute, REF.D1.treatment - REF.D1.control, REF.D1.low, REF.D1.high);
    expectInterval(c.relative, REF.D1.rel, REF.D1.rel_low, REF.D1.rel_high);
  });

  it('control ratio 0: absolute and p match, relative lift is null', () => {
    const a = ratioStats(XC, YC);
    const b = ratioStats(XD, YD);
    expect(ratioOf(a)).toBe(0);
    expect(ratioVariance(a)).toBe(0);
    expectClose(ratioVariance(b), REF.D2.var_b);
    const c = ratioTest(a, b);
    expectClose(c.pValue, REF.D2.p);
    expectInterval(c.absolute, REF.D2.treatment, REF.D2.low, REF.D2.high);
    expect(c.relative).toBeNull();
  });
});

describe('srmTest against scipy.stats.chisquare', () => {
  it.each([
    ['5,020 / 4,980 at 0.5/0.5', [5020, 4980], [0.5, 0.5], REF.S1, false],
    ['5,300 / 4,700 at 0.5/0.5', [5300, 4700], [0.5, 0.5], REF.S2, true],
    ['3 variants at 0.5/0.25/0.25 (2,000 users)', [1030, 480, 490], [0.5, 0.25, 0.25], REF.S3, false],
    ['3 variants at 0.5/0.25/0.25 (6,000 users)', [3050, 1460, 1490], [0.5, 0.25, 0.25], REF.S4, false],
  ] as const)('%s', (_name, observed, weights, ref, flagged) => {
    const r = srmTest(observed, weights);
    expectClose(r.chiSquare, ref.chi2);
    expectClose(r.pValue, ref.p);
    expect(r.flagged).toBe(flagged);
  });

  it('flags a clearly broken split below the threshold and not a healthy one', () => {
    const broken = srmTest([5300, 4700], [0.5, 0.5]);
    expect(broken.pValue!).toBeLessThan(SRM_THRESHOLD);
    expect(broken.flagged).toBe(true);
    const healthy = srmTest([5020, 4980], [0.5, 0.5]);
    expect(healthy.pValue!).toBeGreaterThan(SRM_THRESHOLD);
    expect(healthy.flagged).toBe(false);
  });

  it('normalises weights that are not shares', () => {
    const a = srmTest([1030, 480, 490], [2, 1, 1]);
    expectClose(a.chiSquare, REF.S3.chi2);
    expectClose(a.pValue, REF.S3.p);
  });

  it('returns nulls without users, with one variant, or without weights', () => {
    expect(srmTest([0, 0], [0.5, 0.5])).toEqual({ chiSquare: null, pValue: null, flagged: false });
    expect(srmTest([10], [1])).toEqual({ chiSquare: null, pValue: null, flagged: false });
    expect(srmTest([10, 10], [0, 0])).toEqual({ chiSquare: null, pValue: null, flagged: false });
  });

  it('flags users in a variant with weight 0', () => {
    expect(srmTest([10, 1], [1, 0])).toEqual({ chiSquare: Infinity, pValue: 0, flagged: true });
    // No users where none are expected is fine.
    expect(srmTest([10, 0], [1, 0])).toEqual({ chiSquare: 0, pValue: 1, flagged: false });
  });
});

describe('edge cases', () => {
  it('n < 2 gives null variance, interval and p (means still reported when n = 1)', () => {
    const one = meanStats([4]);
    expect(varianceOf(one)).toBeNull();
    expect(varianceOf(EMPTY_MEAN)).toBeNull();
    expect(meanOf(EMPTY_MEAN)).toBeNull();
    const c = welchTest(one, meanStats(B1));
    expect(c.control).toBe(4);
    expectClose(c.treatment, REF.W1.treatment);
    expect(c.absolute).toBeNull();
    expect(c.relative).toBeNull();
    expect(c.pValue).toBeNull();
    const empty = welchTest(EMPTY_MEAN, EMPTY_MEAN);
    expect(empty).toEqual({ method: 'welch', control: null, treatment: null, absolute: null, relative: null, pValue: null });
  });

  it('ratio with n < 2 or no impressions gives nulls', () => {
    expect(ratioVariance(ratioStats([1], [3]))).toBeNull();
    expect(ratioOf(EMPTY_RATIO)).toBeNull();
    expect(ratioVariance(EMPTY_RATIO)).toBeNull();
    const c = ratioTest(ratioStats([1], [3]), ratioStats(XB, YB));
    expectClose(c.control, 1 / 3);
    expect(c.absolute).toBeNull();
    expect(c.pValue).toBeNull();
    const noImpressions = ratioTest(ratioStats([0, 0], [0, 0]), ratioStats(XB, YB));
    expect(noImpressions.control).toBeNull();
    expect(noImpressions.pValue).toBeNull();
  });

  it('zero variance in both groups: degenerate interval, p 0 when means differ and 1 when equal', () => {
    const differ = welchTest(meanStats([2, 2, 2]), meanStats([5, 5, 5, 5]));
    expect(differ.absolute).toEqual({ estimate: 3, low: 3, high: 3 });
    expect(differ.pValue).toBe(0);
    const same = welchTest(meanStats([2, 2, 2]), meanStats([2, 2]));
    expect(same.absolute).toEqual({ estimate: 0, low: 0, high: 0 });
    expect(same.pValue).toBe(1);
    const ratioSame = ratioTest(ratioStats([1, 2], [2, 4]), ratioStats([3, 1], [6, 2]));
    expect(ratioSame.absolute).toEqual({ estimate: 0, low: 0, high: 0 });
    expect(ratioSame.pValue).toBe(1);
  });

  it('control mean 0 gives a null relative lift but a valid absolute comparison', () => {
    const c = welchTest(meanStats([0, 0, 0, 0]), meanStats([1, 2, 3]));
    expect(c.control).toBe(0);
    expect(c.relative).toBeNull();
    expect(c.absolute).not.toBeNull();
    expect(c.absolute!.estimate).toBe(2);
    // Control has no variance: df = n_b − 1 = 2, se = sd_b/√n_b = 1/√3, t = 2√3. The t CDF with 2 df
    // is 1/2 + t/(2√(2 + t²)), so p = 1 − 2√(3/14) in closed form.
    expectClose(c.pValue, 1 - 2 * Math.sqrt(3 / 14));
  });

  it('never reports a negative variance from rounding in the sufficient statistics', () => {
    // Σx² − (Σx)²/n can round below zero for constant values that are not exact in binary.
    const s = meanStats([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]);
    expect(varianceOf(s)!).toBeGreaterThanOrEqual(0);
    const r = ratioStats([0.1, 0.2, 0.3], [1, 2, 3]);
    expect(ratioVariance(r)!).toBeGreaterThanOrEqual(0);
  });
});
