/**
 * An open-loop load of POSTs at a steady arrival rate: request i is due at start + i / rate and is sent
 * when due, whatever the earlier ones are doing (undici's pool queues it when every connection is
 * busy), and its latency is counted from when it was due, not from when a connection took it, so
 * a stall delays the requests behind it instead of hiding them (no coordinated omission).
 *
 * Why not autocannon's `overallRate`: it gives each connection a quota per second and sends the
 * quota back to back at the start of the second, then nothing until the next one (its
 * httpClient's `reqsMadeThisSecond`). "300 events/s" then means a burst of 300 every second, and
 * everything measured under it sees that burst's queue.
 */
import { Pool } from 'undici';
import { percentiles } from './synthetic.js';

export interface PacedLoadOptions {
  /** Absolute URL of the endpoint (loopback). */
  url: string;
  headers?: Record<string, string>;
  /** The body of the next request (called once per request, when it is sent). */
  body?: () => string;
  /** Requests per second, spread evenly. */
  rate: number;
  connections: number;
  /** Stops after this many seconds; without it, runs until stop(). */
  durationS?: number;
}

export interface PacedLoadResult {
  /** Requests answered (any status). */
  requests: number;
  non2xx: number;
  /** Requests that failed without a response. */
  errors: number;
  seconds: number;
  /** From due time to the end of the response body, ms. */
  latencyMs: ReturnType<typeof percentiles>;
}

export interface PacedLoad {
  /** Resolves when the duration is over (or stop() was called) and every sent request is answered. */
  done: Promise<PacedLoadResult>;
  stop(): void;
  /** Requests sent so far. */
  sent(): number;
}

export function pacedLoad(options: PacedLoadOptions): PacedLoad {
  if (!(options.rate > 0)) throw new Error(`pacedLoad: rate must be > 0 (got ${options.rate})`);
  const target = new URL(options.url);
  const pool = new Pool(target.origin, { connections: options.connections });
  const path = target.pathname + target.search;
  const intervalMs = 1000 / options.rate;
  const latencies: number[] = [];
  const inflight = new Set<Promise<void>>();
  const result = { requests: 0, non2xx: 0, errors: 0 };
  const start = performance.now();
  const endAt = options.durationS === undefined ? Infinity : start + options.durationS * 1000;
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const send = (dueAt: number) => {
    const p: Promise<void> = pool
      .request({ path, method: 'POST', headers: { 'content-type': 'application/json', ...options.headers }, body: options.body?.() })
      .then(async (r) => {
        await r.body.dump();
        result.requests++;
        if (r.statusCode < 200 || r.statusCode >= 300) result.non2xx++;
        latencies.push(performance.now() - dueAt);
      })
      .catch(() => void result.errors++)
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };

  const tick = () => {
    const now = Math.min(performance.now(), endAt);
    // Every request due by now (one per tick at a low rate; several when a tick came late).
    const due = Math.floor((now - start) / intervalMs) + 1;
    for (; sent < due; sent++) send(start + sent * intervalMs);
    if (performance.now() >= endAt) return finish();
    timer = setTimeout(tick, Math.max(0, start + sent * intervalMs - performance.now()));
  };
  tick();

  return {
    sent: () => sent,
    stop() {
      clearTimeout(timer);
      finish();
    },
    done: finished.then(async () => {
      await Promise.all(inflight);
      await pool.close();
      return { ...result, seconds: (performance.now() - start) / 1000, latencyMs: percentiles(latencies) };
    }),
  };
}
