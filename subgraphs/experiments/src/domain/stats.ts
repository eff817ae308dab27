/**
 * Experiment statistics from sufficient statistics only (n, sums, sums of squares and
 * cross-products), so results come from running aggregates, never from scanning events.
 * - Per-user means: Welch's t-test, with the Welch–Satterthwaite degrees of freedom.
 * - Ratio metrics (clicks / impressions over users): delta method.
 * - Relative lift: delta method on the ratio of the two estimates.
 * - Sample ratio mismatch: chi-square goodness of fit against the configured weights.
 * Distribution functions come from stdlib.
 */
import chisquareCdf from '@stdlib/stats-base-dists-chisquare-cdf';
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import tCdf from '@stdlib/stats-base-dists-t-cdf';
import tQuantile from '@stdlib/stats-base-dists-t-quantile';

/** Per-user values x_i: n users, Σx, Σx². */
export interface MeanStats {
  n: number;
  sum: number;
  sumSq: number;
}

/** Per-user numerator x_i and denominator y_i (for example clicks and impressions). */
export interface RatioStats {
  n: number;
  sumX: number;
  sumY: number;
  sumX2: number;
  sumY2: number;
  sumXY: number;
}

export interface Interval {
  estimate: number;
  low: number;
  high: number;
}

export interface Comparison {
  method: 'welch' | 'delta';
  control: number | null;
  treatment: number | null;
  absolute: Interval | null;
  relative: Interval | null;
  pValue: number | null;
}

export const CONFIDENCE = 0.95;
export const SRM_THRESHOLD = 0.001;

export function meanOf(s: MeanStats): number | null {
  return s.n > 0 ? s.sum / s.n : null;
}

/** Unbiased sample variance of the per-user values. */
export function varianceOf(s: MeanStats): number | null {
  if (s.n < 2) return null;
  return Math.max(0, (s.sumSq - (s.sum * s.sum) / s.n) / (s.n - 1));
}

export function ratioOf(s: RatioStats): number | null {
  return s.sumY > 0 ? s.sumX / s.sumY : null;
}

/** Delta-method variance of Σx/Σy. */
export function ratioVariance(s: RatioStats): number | null {
  if (s.n < 2 || s.sumY <= 0) return null;
  const n = s.n;
  const mx = s.sumX / n;
  const my = s.sumY / n;
  const r = s.sumX / s.sumY;
  const sxx = (s.sumX2 - n * mx * mx) / (n - 1);
  const syy = (s.sumY2 - n * my * my) / (n - 1);
  const sxy = (s.sumXY - n * mx * my) / (n - 1);
  return Math.max(0, (sxx - 2 * r * sxy + r * r * syy) / (n * my * my));
}

const zCritical = () => normalQuantile(1 - (1 - CONFIDENCE) / 2, 0, 1);

function twoSidedZ(z: number): number {
  return 2 * (1 - normalCdf(Math.abs(z), 0, 1));
}

/**
 * Relative lift b/a − 1 with the delta-method variance of the ratio of two independent
 * estimates: Var(b/a) ≈ Vb/a² + b²·Va/a⁴.
 */
function relativeLift(a: number, varA: number, b: number, varB: number): Interval | null {
  if (a === 0) return null;
  const estimate = b / a - 1;
  const se = Math.sqrt(varB / (a * a) + (b * b * varA) / (a * a * a * a));
  const z = zCritical();
  return { estimate, low: estimate - z * se, high: estimate + z * se };
}

/** Welch's t-test of the difference of per-user means (treatment − control). */
export function welchTest(control: MeanStats, treatment: MeanStats): Comparison {
  const ma = meanOf(control);
  const mb = meanOf(treatment);
  const va = varianceOf(control);
  const vb = varianceOf(treatment);
  const base: Comparison = { method: 'welch', control: ma, treatment: mb, absolute: null, relative: null, pValue: null };
  if (ma === null || mb === null || va === null || vb === null) return base;
  const ea = va / control.n;
  const eb = vb / treatment.n;
  const se = Math.sqrt(ea + eb);
  const diff = mb - ma;
  if (se === 0) {
    return {
      ...base,
      absolute: { estimate: diff, low: diff, high: diff },
      relative: relativeLift(ma, 0, mb, 0),
      pValue: diff === 0 ? 1 : 0,
    };
  }
  const df = (ea + eb) ** 2 / ((ea * ea) / (control.n - 1) + (eb * eb) / (treatment.n - 1));
  const t = diff / se;
  const crit = tQuantile(1 - (1 - CONFIDENCE) / 2, df);
  return {
    ...base,
    absolute: { estimate: diff, low: diff - crit * se, high: diff + crit * se },
    relative: relativeLift(ma, ea, mb, eb),
    pValue: 2 * (1 - tCdf(Math.abs(t), df)),
  };
}

/** Delta-method z-test of the difference of two ratio metrics (treatment − control). */
export function ratioTest(control: RatioStats, treatment: RatioStats): Comparison {
  const ra = ratioOf(control);
  const rb = ratioOf(treatment);
  const va = ratioVariance(control);
  const vb = ratioVariance(treatment);
  const base: Comparison = { method: 'delta', control: ra, treatment: rb, absolute: null, relative: null, pValue: null };
  if (ra === null || rb === null || va === null || vb === null) return base;
  const diff = rb - ra;
  const se = Math.sqrt(va + vb);
  if (se === 0) return { ...base, absolute: { estimate: diff, low: diff, high: diff }, pValue: diff === 0 ? 1 : 0 };
  const z = zCritical();
  return {
    ...base,
    absolute: { estimate: diff, low: diff - z * se, high: diff + z * se },
    relative: relativeLift(ra, va, rb, vb),
    pValue: twoSidedZ(diff / se),
  };
}

export interface SrmResult {
  chiSquare: number | null;
  pValue: number | null;
  flagged: boolean;
}

/** Chi-square goodness of fit of observed counts against expected shares (weights). */
export function srmTest(observed: readonly number[], weights: readonly number[]): SrmResult {
  const total = observed.reduce((a, b) => a + b, 0);
  const weightSum = weights.reduce((a, b) => a + b, 0);
  if (total === 0 || observed.length < 2 || weightSum <= 0) return { chiSquare: null, pValue: null, flagged: false };
  let chiSquare = 0;
  for (let i = 0; i < observed.length; i++) {
    const expected = (total * (weights[i] ?? 0)) / weightSum;
    if (expected === 0) {
      if ((observed[i] ?? 0) > 0) return { chiSquare: Infinity, pValue: 0, flagged: true };
      continue;
    }
    chiSquare += ((observed[i] ?? 0) - expected) ** 2 / expected;
  }
  const pValue = 1 - chisquareCdf(chiSquare, observed.length - 1);
  return { chiSquare, pValue, flagged: pValue < SRM_THRESHOLD };
}

export const EMPTY_MEAN: MeanStats = { n: 0, sum: 0, sumSq: 0 };
export const EMPTY_RATIO: RatioStats = { n: 0, sumX: 0, sumY: 0, sumX2: 0, sumY2: 0, sumXY: 0 };
