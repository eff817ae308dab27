/**
 * Sufficient statistics of the running aggregates (n, sums, sums of squares and cross-products),
 * so results come from aggregates, never from scanning events, and the sample ratio mismatch
 * check (chi-square goodness of fit against the configured weights; users in an arm of weight 0
 * flag it at once). The tests of differences are the analysis engine's (analysis/, gbstats).
 */
import chisquareCdf from '@stdlib/stats-base-dists-chisquare-cdf';

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
