/**
 * Token buckets per caller: `rate` units per second refill up to `burst`. A request for more
 * units than the bucket holds is refused whole, with the time until it would fit (a request larger
 * than the burst needs a full bucket, so it is never refused forever). Buckets idle
 * long enough to be full again are dropped, so memory follows the active callers.
 */
import { GraphQLError } from 'graphql';

export interface RateDecision {
  ok: boolean;
  /** When refused: milliseconds until the request would fit. */
  retryAfterMs: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private lastSweep = 0;

  constructor(
    /** Units per second; 0 turns limiting off. */
    readonly rate: number,
    readonly burst: number,
    private readonly now: () => number = () => performance.now(),
    /** What is limited and its unit, for refusal messages. */
    private readonly what: { name: string; unit: string; per?: string } = { name: 'requests', unit: 'units' },
  ) {}

  /** Why `units` were refused, for the caller. */
  refusal(units: number, retryAfterMs: number): string {
    return `${this.what.name} is limited to ${this.rate} ${this.what.unit}/s per ${this.what.per ?? 'token'} (bursts of ${this.burst}); ${units} ${this.what.unit} do not fit now, retry in ${retryAfterMs} ms`;
  }

  /**
   * Takes `units` from the caller's bucket, or answers the GraphQL error every service refuses
   * with: RATE_LIMITED, retryable, with `retryAfterMs`.
   */
  refuse(key: string, units: number): GraphQLError | undefined {
    const { ok, retryAfterMs } = this.take(key, units);
    if (ok) return undefined;
    return new GraphQLError(this.refusal(units, retryAfterMs), { extensions: { code: 'RATE_LIMITED', retryable: true, retryAfterMs } });
  }

  /** Takes `units` from the caller's bucket; more than the burst costs the whole (full) bucket. */
  take(key: string, requested: number): RateDecision {
    if (this.rate <= 0) return { ok: true, retryAfterMs: 0 };
    const units = Math.min(requested, this.burst);
    const t = this.now();
    this.sweep(t);
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: t };
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.rate);
    b.at = t;
    this.buckets.set(key, b);
    if (units <= b.tokens) {
      b.tokens -= units;
      return { ok: true, retryAfterMs: 0 };
    }
    const missing = units - b.tokens;
    return { ok: false, retryAfterMs: Math.ceil((missing / this.rate) * 1000) };
  }

  private sweep(t: number) {
    const fullAfterMs = (this.burst / this.rate) * 1000;
    if (t - this.lastSweep < fullAfterMs) return;
    this.lastSweep = t;
    for (const [key, b] of this.buckets) if (t - b.at >= fullAfterMs) this.buckets.delete(key);
  }
}
