/**
 * npm run bench:fanout — live fan-out through the gateway at scale: FANOUT_SUBSCRIPTIONS
 * `profileUpdated` subscriptions (default 10,000, graphql-ws, 50 per socket) while FANOUT_RATE
 * events/s (default 1,000) arrive on POST /v1/events, in two shapes:
 *   devices   1,000 users × 10 subscriptions each (one user's identical subscriptions are executed
 *             once per event and shared at the gateway);
 *   distinct  10,000 users, one subscription each.
 * Every subscription must see every event of its user (a message with version v makes every event
 * up to v visible); reported per shape: events visible at every subscriber ÷ expected, ingest →
 * message p50/p99, and the heap per subscription at the gateway and at the profile subgraph:
 * what they hold (heap after a full collection with the subscriptions live, after the load,
 * minus once they are closed, ÷ their number), and since they opened (live before the load minus
 * before they opened: that also counts what the readiness events added to the users' profiles
 * and event log on the embedded stores). Processes: subgraphs (embedded stores unless REDIS_URL), gateway, this load generator.
 * FANOUT_DURATION (default 20 s) after FANOUT_WARMUP (default 3 s); FANOUT_SHAPES=devices,distinct.
 */
import { resolve } from 'node:path';
import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { benchAuth } from './lib/auth.js';
import { startChild } from './lib/child.js';
import { playPoster } from './lib/play-poster.js';
import { coresUsed, cpuNow } from './lib/process-stats.js';
import { saveReport } from './lib/report.js';
import { percentiles } from './lib/synthetic.js';

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const SUBSCRIPTIONS = num('FANOUT_SUBSCRIPTIONS', 10_000);
const RATE = num('FANOUT_RATE', 1000);
const DURATION_S = num('FANOUT_DURATION', 20);
const WARMUP_S = num('FANOUT_WARMUP', 3);
const PER_SOCKET = 50;
const DEVICES = 10;
const SHAPES = (process.env['FANOUT_SHAPES'] ?? 'devices,distinct').split(',').map((s) => s.trim()) as ('devices' | 'distinct')[];
const GOALS = { p99Ms: 100, heapBytesPerSubscription: 8192 };
const log = (m: string) => console.error(m);

/** FANOUT_SELECTION=row (default): bench:live's selection, the profile and a re-ranked row; light: the profile's top genres only. */
const SELECTIONS = {
  row: `subscription Fanout($id: ID!) { profileUpdated(userId: $id) { version at user { id profile { genreAffinities { key score } } recommendedFor(limit: 5) { items { item { title } reasons } } } } }`,
  light: `subscription Fanout($id: ID!) { profileUpdated(userId: $id) { version at user { id profile { genreAffinities(limit: 3) { key score } } } } }`,
};
const SELECTION = (process.env['FANOUT_SELECTION'] ?? 'row') as keyof typeof SELECTIONS;
const LIVE = SELECTIONS[SELECTION] ?? SELECTIONS.row;

interface ShapeResult {
  shape: 'devices' | 'distinct';
  subscriptions: number;
  users: number;
  liveAtStart: number;
  eventsPerSecond: number;
  expected: number;
  visible: number;
  errors: number;
  /** Of those, in the measured window. */
  measuredErrors: number;
  ingestErrors: number;
  latencyMs: ReturnType<typeof percentiles>;
  /**
   * CPU seconds per second of the load (warm-up, measured window and the wait for the last
   * messages), per process: what the 2 cores were asked for, and where the time goes.
   */
  coresUsed: { gateway: number; subgraphs: number; loadGenerator: number };
  /** Held by the live subscriptions: heap with them live (after the load) − after they closed, ÷ their number. */
  heapBytesPerSubscription: { gateway: number; profileSubgraph: number };
  /** Heap with them live (before the load) − before they opened, ÷ their number: also what the readiness events added to the users' data (embedded stores). */
  heapBytesPerSubscriptionSinceOpening: { gateway: number; profileSubgraph: number };
}

interface Heap {
  heapUsed: number;
}
/** FANOUT_HEAP_SNAPSHOTS=<dir>: heap snapshots of both processes where the heap is read (`<shape>-<before|live>-<process>.heapsnapshot`). */
const SNAPSHOTS = process.env['FANOUT_HEAP_SNAPSHOTS'];
const heapOf = async (url: string, snapshot?: string): Promise<number> =>
  ((await (await fetch(SNAPSHOTS && snapshot ? `${url}?snapshot=${encodeURIComponent(resolve(SNAPSHOTS, `${snapshot}.heapsnapshot`))}` : url)).json()) as Heap).heapUsed;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Both processes' heaps once the subscriptions are closed: the gateway's `live_subscriptions`
 * gauge reads 0, then the subgraphs' heap is read until it falls by less than 1% of what it
 * was with them live (their upstream subscriptions close as the gateway's complete).
 */
async function closedHeaps(shape: string, gateway: string, gatewayHeap: string, subgraphsHeap: string, subgraphsLoaded: number): Promise<{ gateway: number; subgraphs: number }> {
  const by = performance.now() + 60_000;
  const live = async () => {
    const m = /^\w*live_subscriptions(?:\{[^}]*\})? (\d+)/m.exec(await (await fetch(new URL('/metrics', gateway))).text());
    if (!m) throw new Error('the gateway reports no live_subscriptions gauge at /metrics');
    return Number(m[1]);
  };
  while ((await live()) !== 0) {
    if (performance.now() > by) throw new Error('the gateway still counts live subscriptions 60 s after every client closed');
    await sleep(100);
  }
  let subgraphs = await heapOf(subgraphsHeap);
  for (let last = subgraphsLoaded; last - subgraphs > subgraphsLoaded * 0.01 && performance.now() < by; ) {
    last = subgraphs;
    await sleep(200);
    subgraphs = await heapOf(subgraphsHeap);
  }
  if (SNAPSHOTS) await heapOf(subgraphsHeap, `${shape}-closed-subgraphs`);
  return { gateway: await heapOf(gatewayHeap, `${shape}-closed-gateway`), subgraphs };
}

async function main() {
  const auth = await benchAuth();
  const env = { ...process.env, ...auth.env, BENCH_HEAP_ENDPOINT: '1' };
  const subgraphs = await startChild<{ subgraphUrls: Record<string, string>; profile: string; stores: string; heap: string }>(new URL('./platform-server.ts', import.meta.url), {
    args: ['subgraphs'],
    env,
    nodeFlags: ['--expose-gc'],
    // FANOUT_CPU_PROFILE=<dir>: CPU profiles of the subgraphs and gateway processes, written when they stop.
    ...(process.env['FANOUT_CPU_PROFILE'] ? { cpuProfileDir: process.env['FANOUT_CPU_PROFILE'] } : {}),
    ready: true,
    readyTimeoutMs: 120_000,
  });
  const gatewayChild = await startChild<{ url: string; heap: string }>(new URL('./platform-server.ts', import.meta.url), {
    args: ['gateway'],
    env: { ...env, BENCH_SUBGRAPH_URLS: JSON.stringify(subgraphs.info.subgraphUrls) },
    nodeFlags: ['--expose-gc'],
    ...(process.env['FANOUT_CPU_PROFILE'] ? { cpuProfileDir: process.env['FANOUT_CPU_PROFILE'] } : {}),
    ready: true,
    readyTimeoutMs: 120_000,
  });
  const gateway = gatewayChild.info.url;
  const posters: ReturnType<typeof playPoster>[] = [];
  const results: ShapeResult[] = [];
  try {
    for (const [round, shape] of SHAPES.entries()) {
      const userCount = shape === 'devices' ? Math.ceil(SUBSCRIPTIONS / DEVICES) : SUBSCRIPTIONS;
      const users = Array.from({ length: userCount }, (_, i) => `fanout-${round}-${shape}-${i}`);
      // Subscription i follows users[i % users.length]: DEVICES of them per user in the devices shape.
      const subs = Array.from({ length: SUBSCRIPTIONS }, (_, i) => users[i % users.length]!);
      const delivered = new Int32Array(SUBSCRIPTIONS);
      const live = new Uint8Array(SUBSCRIPTIONS);
      let liveCount = 0;
      let messages = 0;
      const latencies: number[] = [];
      let measureFrom = Infinity;
      let visible = 0;
      let errors = 0;
      let measuredErrors = 0;
      const errorSamples: string[] = [];
      const poster = playPoster(subgraphs.info.profile, auth.caller, users, `fanout-${round}`);
      posters.push(poster);
      const { sent } = poster;
      const ingest = poster.post;

      // The users exist before the heap is read (on the embedded stores their profiles are in
      // the subgraphs' heap): what the subscriptions add is what is left.
      for (let i = 0; i < users.length; i += 200) ingest(users.slice(i, i + 200));
      await poster.settled();
      const heapBefore = { gateway: await heapOf(gatewayChild.info.heap, `${shape}-before-gateway`), subgraphs: await heapOf(subgraphs.info.heap, `${shape}-before-subgraphs`) };
      log(`${shape}: ${SUBSCRIPTIONS} subscriptions for ${users.length} users...`);
      const clients: Client[] = Array.from({ length: Math.ceil(SUBSCRIPTIONS / PER_SOCKET) }, () =>
        createClient({ url: gateway.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, connectionParams: auth.caller }),
      );
      subs.forEach((user, i) =>
        clients[Math.floor(i / PER_SOCKET)]!.subscribe<{ profileUpdated: { version: number } }>(
          { query: LIVE, variables: { id: user } },
          {
            next: (m) => {
              const at = performance.now();
              messages++;
              const version = m.data?.profileUpdated?.version;
              if (m.errors?.length || version === undefined) {
                if (at >= measureFrom) measuredErrors++;
                if (errorSamples.length < 3) errorSamples.push(JSON.stringify(m.errors ?? m).slice(0, 300));
                return void errors++;
              }
              if (!live[i]) {
                live[i] = 1;
                liveCount++;
              }
              const before = delivered[i]!;
              if (version <= before) return;
              delivered[i] = version;
              const times = sent.get(user)!;
              for (let v = before + 1; v <= version; v++) {
                const t = times[v - 1];
                if (t !== undefined && t >= measureFrom) {
                  latencies.push(at - t);
                  visible++;
                }
              }
            },
            error: (e) => {
              if (errorSamples.length < 3) errorSamples.push(e instanceof Error ? e.message : JSON.stringify(e).slice(0, 300));
              errors++;
            },
            complete: () => undefined,
          },
        ),
      );
      // Live: every subscription has delivered (one event for each user whose subscriptions are not all live yet, every second).
      const liveBy = performance.now() + 180_000;
      // Paced, 500 users at a time: 10,000 first messages at once would measure a burst, not the fan-out.
      while (liveCount < SUBSCRIPTIONS && performance.now() < liveBy) {
        const waiting = [...new Set(subs.filter((_, i) => !live[i]))];
        for (let i = 0; i < waiting.length; i += 500) {
          const target = liveCount + Math.min(500, waiting.length - i) * (SUBSCRIPTIONS / users.length);
          ingest(waiting.slice(i, i + 500));
          for (let t = 0; t < 40 && liveCount < target; t++) await sleep(50);
        }
      }
      await poster.settled();
      // Quiet first: the readiness events' messages delivered (no message for half a second).
      for (let seen = -1; seen !== messages; ) {
        seen = messages;
        await sleep(500);
      }
      const heapLive = { gateway: await heapOf(gatewayChild.info.heap, `${shape}-live-gateway`), subgraphs: await heapOf(subgraphs.info.heap, `${shape}-live-subgraphs`) };
      log(`${shape}: ${liveCount} of ${SUBSCRIPTIONS} live; ${RATE} events/s for ${DURATION_S} s after ${WARMUP_S} s of warm-up...`);

      const start = performance.now();
      const pids = { gateway: gatewayChild.process.pid, subgraphs: subgraphs.process.pid, loadGenerator: process.pid };
      const cpuBefore = cpuNow(pids);
      measureFrom = start + WARMUP_S * 1000;
      const end = measureFrom + DURATION_S * 1000;
      let k = 0;
      let owed = 0;
      for (let tick = 0; performance.now() < end; tick++) {
        const due = start + tick * 10;
        if (due > performance.now()) await sleep(due - performance.now());
        owed += RATE / 100;
        const batch: string[] = [];
        for (; owed >= 1; owed--) batch.push(users[(k++ * 7919) % users.length]!);
        if (batch.length > 0) ingest(batch);
      }
      await poster.settled();
      // Events sent after measureFrom, once for each subscription of their user.
      const perUser = SUBSCRIPTIONS / users.length;
      const expected = [...sent.values()].reduce((a, times) => a + times.filter((t) => t >= measureFrom).length, 0) * perUser;
      const settleBy = performance.now() + 15_000;
      while (visible < expected && performance.now() < settleBy) await sleep(50);
      const cores = coresUsed(cpuBefore, cpuNow(pids), (performance.now() - start) / 1000);
      // What the subscriptions hold: the heap with them live, and once they are all closed (the
      // gateway's live_subscriptions gauge at 0, the subgraphs' heap no longer falling).
      const heapLoaded = { gateway: await heapOf(gatewayChild.info.heap, `${shape}-loaded-gateway`), subgraphs: await heapOf(subgraphs.info.heap, `${shape}-loaded-subgraphs`) };
      for (const c of clients) await c.dispose();
      const heapClosed = await closedHeaps(shape, gateway, gatewayChild.info.heap, subgraphs.info.heap, heapLoaded.subgraphs);
      const p = percentiles(latencies);
      for (const e of errorSamples) log(`${shape}: error: ${e}`);
      const result = {
        shape,
        subscriptions: SUBSCRIPTIONS,
        users: users.length,
        liveAtStart: liveCount,
        eventsPerSecond: expected / perUser / DURATION_S,
        expected,
        visible,
        errors,
        measuredErrors,
        ingestErrors: poster.errors,
        latencyMs: p,
        coresUsed: cores,
        heapBytesPerSubscription: {
          gateway: (heapLoaded.gateway - heapClosed.gateway) / SUBSCRIPTIONS,
          profileSubgraph: (heapLoaded.subgraphs - heapClosed.subgraphs) / SUBSCRIPTIONS,
        },
        heapBytesPerSubscriptionSinceOpening: {
          gateway: (heapLive.gateway - heapBefore.gateway) / SUBSCRIPTIONS,
          profileSubgraph: (heapLive.subgraphs - heapBefore.subgraphs) / SUBSCRIPTIONS,
        },
      };
      log(`${shape}: p50 ${p.p50.toFixed(1)} ms, p99 ${p.p99.toFixed(1)} ms; ${visible} of ${expected} visible; heap per subscription ${result.heapBytesPerSubscription.gateway.toFixed(0)} B gateway, ${result.heapBytesPerSubscription.profileSubgraph.toFixed(0)} B subgraphs`);
      results.push(result);
    }
  } finally {
    await Promise.all(posters.map((p) => p.close()));
    await gatewayChild.stop();
    await subgraphs.stop();
  }
  const report = { stores: subgraphs.info.stores, selection: SELECTION, rate: RATE, durationSeconds: DURATION_S, goals: GOALS, shapes: results };
  saveReport(report);
  const f = (x: number) => x.toFixed(1);
  const kb = (b: number) => `${(b / 1024).toFixed(1)} KB`;
  console.log(
    `Live fan-out through the gateway (${subgraphs.info.stores}): ${SUBSCRIPTIONS.toLocaleString('en-US')} profileUpdated subscriptions over graphql-ws (${PER_SOCKET} per socket) selecting ${SELECTION === 'row' ? 'the profile and a re-ranked recommendedFor (as bench:live)' : "the profile's top genres"}, ${RATE} events/s for ${DURATION_S} s after ${WARMUP_S} s of warm-up; subgraphs, gateway and load generator in separate processes`,
  );
  console.log('');
  console.log('| figure | ' + results.map((r) => (r.shape === 'devices' ? `${r.users.toLocaleString('en-US')} users × ${DEVICES} devices` : `${r.users.toLocaleString('en-US')} distinct users`)).join(' | ') + ' | goal |');
  console.log('|---|' + results.map(() => '---|').join('') + '---|');
  const row = (label: string, cell: (r: (typeof results)[number]) => string, goal = '') => console.log(`| ${label} | ${results.map(cell).join(' | ')} | ${goal} |`);
  row('subscriptions live at the start', (r) => `${r.liveAtStart.toLocaleString('en-US')} of ${r.subscriptions.toLocaleString('en-US')}`);
  row('events visible at every subscriber of their user', (r) => `${r.visible.toLocaleString('en-US')} of ${r.expected.toLocaleString('en-US')}`, 'all');
  row('errors: subscription messages (of them in the measured window) / ingest', (r) => `${r.errors} (${r.measuredErrors}) / ${r.ingestErrors}`);
  row('ingest call → message at the client', (r) => `p50 ${f(r.latencyMs.p50)} ms, p99 ${f(r.latencyMs.p99)} ms`, `p99 <= ${GOALS.p99Ms} ms (${results.every((r) => r.latencyMs.p99 <= GOALS.p99Ms) ? 'met' : 'NOT met'})`);
  row('cores used during the load: gateway / subgraphs / load generator (of 2)', (r) => `${r.coresUsed.gateway.toFixed(2)} / ${r.coresUsed.subgraphs.toFixed(2)} / ${r.coresUsed.loadGenerator.toFixed(2)}`);
  row(
    'heap per subscription (what closing them frees): gateway / subgraphs process',
    (r) => `${kb(r.heapBytesPerSubscription.gateway)} / ${kb(r.heapBytesPerSubscription.profileSubgraph)} (since opening, with the readiness events' data: ${kb(r.heapBytesPerSubscriptionSinceOpening.gateway)} / ${kb(r.heapBytesPerSubscriptionSinceOpening.profileSubgraph)})`,
    `<= 8 KB each (${results.every((r) => r.heapBytesPerSubscription.gateway <= GOALS.heapBytesPerSubscription && r.heapBytesPerSubscription.profileSubgraph <= GOALS.heapBytesPerSubscription) ? 'met' : 'NOT met'})`,
  );
}

await main();
