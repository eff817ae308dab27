/**
 * Exponentially decayed counters anchored at their latest event time. Adding contributions is
 * commutative, so late and out-of-order events give the same score as in-order ones.
 */

export interface DecayedScore {
  /** Sum of weights, each decayed to `lastSeenAt`. */
  score: number;
  count: number;
  lastSeenAt: number;
}

export function decayFactor(elapsedMs: number, halfLifeMs: number): number {
  return elapsedMs <= 0 ? 1 : Math.pow(2, -elapsedMs / halfLifeMs);
}

/** Score of `entry` decayed to time `at` (never amplified for earlier times). */
export function scoreAt(entry: DecayedScore, at: number, halfLifeMs: number): number {
  return entry.score * decayFactor(at - entry.lastSeenAt, halfLifeMs);
}

/** Adds one contribution of `weight` at time `at`. */
export function addContribution(
  entry: DecayedScore | undefined,
  weight: number,
  at: number,
  halfLifeMs: number,
): DecayedScore {
  if (!entry) return { score: weight, count: 1, lastSeenAt: at };
  if (at >= entry.lastSeenAt) {
    return {
      score: entry.score * decayFactor(at - entry.lastSeenAt, halfLifeMs) + weight,
      count: entry.count + 1,
      lastSeenAt: at,
    };
  }
  return {
    score: entry.score + weight * decayFactor(entry.lastSeenAt - at, halfLifeMs),
    count: entry.count + 1,
    lastSeenAt: entry.lastSeenAt,
  };
}

/** Combines two independently accumulated scores (used when merging profiles). */
export function combine(a: DecayedScore | undefined, b: DecayedScore, halfLifeMs: number): DecayedScore {
  if (!a) return { ...b };
  const lastSeenAt = Math.max(a.lastSeenAt, b.lastSeenAt);
  return {
    score: scoreAt(a, lastSeenAt, halfLifeMs) + scoreAt(b, lastSeenAt, halfLifeMs),
    count: a.count + b.count,
    lastSeenAt,
  };
}
