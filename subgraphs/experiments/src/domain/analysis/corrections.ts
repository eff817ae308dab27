/**
 * Multiple-testing corrections as GrowthBook applies them to frequentist results (they are not in
 * gbstats' Python package: GrowthBook adjusts after the engine, in its TypeScript
 * `adjustPValuesHolmBonferroni`, `adjustPValuesBenjaminiHochberg` and `adjustedCI`, shared/
 * front-end experiments helpers, tested in "pvalue correction method" / "adjusts CIs as we expect").
 * Both return adjusted p-values in the order given, monotone in the raw p-values and capped at 1.
 */
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';

/**
 * Holm–Bonferroni step-down (GrowthBook adjustPValuesHolmBonferroni): sort ascending, multiply the
 * i-th smallest (0-based) by m − i, cap at 1, then carry the running maximum upward.
 */
export function holmBonferroni(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = pValues.map((p, i) => ({ p, i })).sort((x, y) => x.p - y.p);
  const out = new Array<number>(m);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(p * (m - rank), 1));
    out[i] = running;
  });
  return out;
}

/**
 * Benjamini–Hochberg step-up (GrowthBook adjustPValuesBenjaminiHochberg): sort descending, take
 * p·m/rank (rank m for the largest down to 1), cap at 1, then carry the running minimum downward.
 */
export function benjaminiHochberg(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = pValues.map((p, i) => ({ p, i })).sort((x, y) => y.p - x.p);
  const out = new Array<number>(m);
  let running = 1;
  order.forEach(({ p, i }, k) => {
    running = Math.min(running, Math.min((p * m) / (m - k), 1));
    out[i] = running;
  });
  return out;
}

export type PValueCorrection = 'holm-bonferroni' | 'benjamini-hochberg';

export function adjustPValues(pValues: readonly number[], method: PValueCorrection): number[] {
  return method === 'holm-bonferroni' ? holmBonferroni(pValues) : benjaminiHochberg(pValues);
}

/**
 * GrowthBook adjustedCI (newest form, taking the p-value threshold): the interval implied by an
 * adjusted p-value. The standard error that would give that p-value for this estimate is
 * |estimate| / z_{1−p/2}; the interval is estimate ± z_{1−alpha/2}·se. An estimate of 0 gives [0, 0].
 */
export function adjustedInterval(adjustedPValue: number, estimate: number, alpha = 0.05): [number, number] {
  if (!estimate) return [0, 0];
  const se = Math.abs(estimate / normalQuantile(1 - adjustedPValue / 2, 0, 1));
  const width = normalQuantile(1 - alpha / 2, 0, 1) * se;
  return [estimate - width, estimate + width];
}
