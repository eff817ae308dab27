import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { pacedLoad } from '../../bench/lib/paced-load.js';

/** A loopback server recording when each request arrived; `hold(n)` delays the n-th answer until released. */
async function recorder() {
  const arrivals: number[] = [];
  let held: { n: number; release: Promise<void> } | null = null;
  const server = createServer((req, res) => {
    const n = arrivals.push(performance.now());
    req.resume();
    req.on('end', () => {
      const answer = () => res.writeHead(202).end('{}');
      if (held?.n === n) void held.release.then(answer);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/events`;
  return {
    url,
    arrivals,
    hold(n: number, release: Promise<void>) {
      held = { n, release };
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

describe('pacedLoad (the benchmarks’ steady arrival rate)', () => {
  it('spreads the requests of a second over the second instead of sending them at its start', async () => {
    const server = await recorder();
    close = server.close;
    const result = await pacedLoad({ url: server.url, rate: 100, connections: 4, durationS: 1, body: () => '{}' }).done;
    expect(result.non2xx + result.errors).toBe(0);
    expect(result.requests).toBe(server.arrivals.length);
    expect(result.requests).toBeGreaterThanOrEqual(95);
    expect(result.requests).toBeLessThanOrEqual(101);
    // Evenly spread, a quarter of a second holds about a quarter of them; a per-second quota
    // sent back to back (autocannon's overallRate) puts all of them in the first quarter.
    const first = server.arrivals[0]!;
    const inFirstQuarter = server.arrivals.filter((t) => t - first < 250).length;
    expect(inFirstQuarter).toBeLessThan(50);
    const inLastHalf = server.arrivals.filter((t) => t - first >= 500).length;
    expect(inLastHalf).toBeGreaterThan(30);
  });

  it('counts latency from when a request was due, so a stall delays the requests behind it', async () => {
    const server = await recorder();
    close = server.close;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    server.hold(5, released);
    const load = pacedLoad({ url: server.url, rate: 200, connections: 1, body: () => '{}' });
    // Let 40 more requests fall due (queued behind the held one on the only connection), then answer it.
    while (load.sent() < 45) await new Promise((r) => setTimeout(r, 1));
    release();
    while (server.arrivals.length < 45) await new Promise((r) => setImmediate(r));
    load.stop();
    const result = await load.done;
    expect(result.errors).toBe(0);
    // Timed from the send, only the held request would be slow: here every request that fell due
    // during the stall is at least as late as the time it waited for a connection.
    expect(result.latencyMs.p50).toBeGreaterThan(20);
    expect(result.latencyMs.n).toBe(result.requests);
  });

  it('rejects a rate that is not positive', () => {
    expect(() => pacedLoad({ url: 'http://127.0.0.1:1/', rate: 0, connections: 1 })).toThrow(/rate must be > 0/);
  });
});
