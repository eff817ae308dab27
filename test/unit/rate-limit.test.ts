import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../lib/rate-limit.js';

describe('RateLimiter (token bucket per caller)', () => {
  const clock = () => {
    let t = 0;
    return { now: () => t, advance: (ms: number) => void (t += ms) };
  };

  it('allows a burst, then refills at the rate; a request that does not fit is refused whole', () => {
    const c = clock();
    const limiter = new RateLimiter(100, 200, c.now);
    expect(limiter.take('a', 200).ok).toBe(true);
    const refused = limiter.take('a', 50);
    expect(refused).toEqual({ ok: false, retryAfterMs: 500 });
    c.advance(250); // 25 units back
    expect(limiter.take('a', 50).ok).toBe(false);
    c.advance(250); // 50 units in all
    expect(limiter.take('a', 50).ok).toBe(true);
    expect(limiter.take('a', 1).ok).toBe(false);
  });

  it('keeps callers apart and never holds more than the burst', () => {
    const c = clock();
    const limiter = new RateLimiter(10, 20, c.now);
    expect(limiter.take('a', 20).ok).toBe(true);
    expect(limiter.take('b', 20).ok).toBe(true);
    c.advance(60_000);
    expect(limiter.take('a', 20).ok).toBe(true);
    expect(limiter.take('a', 1)).toEqual({ ok: false, retryAfterMs: 100 });
  });

  it('a request larger than the burst needs a full bucket, and is not refused forever', () => {
    const c = clock();
    const limiter = new RateLimiter(10, 20, c.now);
    expect(limiter.take('a', 5).ok).toBe(true);
    expect(limiter.take('a', 50)).toEqual({ ok: false, retryAfterMs: 500 });
    c.advance(500);
    expect(limiter.take('a', 50).ok).toBe(true);
  });

  it('rate 0 turns limiting off', () => {
    const limiter = new RateLimiter(0, 1);
    expect(limiter.take('a', 1_000_000).ok).toBe(true);
  });
});
