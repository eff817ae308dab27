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
import { analyze } from '../../subgraphs/experiments/src/domain/analysis/index.js';
import { EMPTY_MEAN, SRM_THRESHOLD, meanOf, srmTest, varianceOf } from '../../subgraphs/experiments/src/domain/stats.js';
import type { Interval, MeanStats } from '../../subgraphs/experiments/src/domain/stats.js';

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
const A4 = [5, 5, 5, 5, 5];
const B4 = [3, 7, 4, 9, 6, 5];

/** Python output, verbatim. */
const REF = {
  W1: { control: 7.166666666666667, treatment: 10.383333333333333, p: 0.43389009270259826, low: -5.112697231984762, high: 11.546030565318095, rel: 0.4488372093023254, rel_low: -0.89682119801862, rel_high: 1.7944956166232708 },
  W2: { control: 145.625, treatment: 22.15, p: 0.14392492177169244, low: -300.8206400115678, high: 53.87064001156779, rel: -0.8478969957081546, rel_low: -1.0156387520941859, rel_high: -0.6801552393221233 },
  W3: { control: 0.3, treatment: 0.525, p: 0.05836737081312112, low: -0.00820298610937567, high: 0.4582029861093757, rel: 0.7500000000000002, rel_low: -0.35430544659312035, rel_high: 1.8543054465931208 },
  W4: { control: 5.0, treatment: 5.666666666666667, p: 0.48376289371953357, low: -1.6003734206112, high: 2.933706753944534, rel: 0.1333333333333333, rel_low: -0.21237181878241518, rel_high: 0.4790384854490818 },
  S1: { chi2: 0.16, p: 0.6891565167793516 },
  S2: { chi2: 36.0, p: 1.9731752900753933e-9 },
  S3: { chi2: 1.9000000000000001, p: 0.38674102345450123 },
  S4: { chi2: 1.9666666666666666, p: 0.3740621446020826 },
} as const;

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

function meanStats(xs: readonly number[]): MeanStats {
  return { n: xs.length, sum: sum(xs), sumSq: sum(xs.map((x) => x * x)) };
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

/** The engine's two-sided t-test (gbstats) on the absolute difference: Welch's test, as SciPy's. */
function expectWelch(a: MeanStats, b: MeanStats, r: WelchRef) {
  const [c] = analyze({ engine: 'frequentist', metric: 'mean', variants: [a, b].map((m) => ({ n: m.n, sum: m.sum, sumSquares: m.sumSq })) }).comparisons;
  expectClose(c!.controlMean, r.control);
  expectClose(c!.treatmentMean, r.treatment);
  expectClose(c!.absolute.pValue, r.p);
  expectInterval({ estimate: c!.absolute.estimate!, low: c!.absolute.low!, high: c!.absolute.high! }, r.treatment - r.control, r.low, r.high);
}

describe("the engine's t-test against scipy.stats.ttest_ind(equal_var=False)", () => {
  it.each([
    ['consumption with zeros (12 vs 15)', A1, B1, REF.W1],
    ['unequal sizes and variances (8 vs 40)', A2, B2, REF.W2],
    ['engaged-user indicators (30 vs 40)', A3, B3, REF.W3],
  ] as const)('%s', (_name, a, b, ref) => {
    expectWelch(meanStats(a), meanStats(b), ref);
  });

  it('a control without variance gets no test, as in gbstats (SciPy would still answer: W4)', () => {
    const [c] = analyze({ engine: 'frequentist', metric: 'mean', variants: [A4, B4].map((xs) => ({ n: xs.length, sum: sum(xs), sumSquares: sum(xs.map((x) => x * x)) })) }).comparisons;
    expect(c!.absolute.pValue).toBeNull();
    expect(c!.errorMessage).toBeTruthy();
    expectClose(c!.treatmentMean, REF.W4.treatment);
  });

  it('gives the mean and unbiased variance of the raw values', () => {
    const s = meanStats(A2);
    expectClose(meanOf(s), sum(A2) / A2.length);
    const m = sum(A2) / A2.length;
    expectClose(varianceOf(s), sum(A2.map((x) => (x - m) ** 2)) / (A2.length - 1));
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
