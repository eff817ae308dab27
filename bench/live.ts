/**
 * npm run bench:live — live updates through the gateway: SUBSCRIPTIONS graphql-ws subscriptions
 * (default 1,000, one user each) selecting the profile and a re-ranked `recommendedFor`, while
 * events arrive at RATE events/s (default 500) on POST /v1/events. Reports p50/p95/p99 from the
 * ingest call to the message at the client, and how many updates arrived.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startChild } from './lib/child.js';
import { benchAuth } from './lib/auth.js';
import { percentiles } from './lib/synthetic.js';
import { saveReport } from './lib/report.js';
import { DEMO_MOVIE_REFS } from '../demo/catalog.js';

const SUBSCRIPTIONS = Number(process.env['BENCH_SUBSCRIPTIONS'] ?? 1000);
const RATE = Number(process.env['BENCH_RATE'] ?? 500);
const DURATION_S = Number(process.env['BENCH_DURATION'] ?? 10);
const json = process.argv.includes('--json');
const log = (m: string) => {
  if (!json) console.error(m);
};

const LIVE = `subscription ($id: ID!) { profileUpdated(userId: $id) { version changed at user { profile { genreAffinities { key score } } recommendedFor(limit: 5) { items { item { title } reasons } } } } }`;

async function main() {
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  const start = (role: string, env: NodeJS.ProcessEnv) =>
    startChild(new URL('./platform-server.ts', import.meta.url), {
      args: [role],
      env: { ...env, BENCH_LOOP_DELAY: '1' },
      ready: true,
      nodeFlags: (process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter(Boolean),
      ...(process.env['BENCH_PROFILE'] ? { cpuProfileDir: `/tmp/prof-live-${role}` } : {}),
    });
  const auth = await benchAuth();
  const subgraphs = await start('subgraphs', { ...process.env, ...auth.env });
  const { profile, stores } = subgraphs.info as { profile: string; stores: string };
  const gatewayProcess = await start('gateway', { ...process.env, ...auth.env, BENCH_SUBGRAPH_URLS: JSON.stringify(subgraphs.info['subgraphUrls']) });
  const gateway = gatewayProcess.info['url'] as string;
  log(`subgraphs and gateway up in two processes (${stores}); opening ${SUBSCRIPTIONS} subscriptions...`);

  // Several sockets, many subscriptions each, as browsers behind one gateway would.
  const clients: Client[] = Array.from({ length: Math.ceil(SUBSCRIPTIONS / 50) }, () =>
    createClient({ url: gateway.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, connectionParams: auth.caller }),
  );
  const sent = new Map<string, number[]>(); // user → send times of its events, in order
  const latencies: number[] = [];
  const measureFromRef = { value: Infinity };
  /** Milliseconds from the profile change being published to the message at the client. */
  const afterPublish: number[] = [];
  let messages = 0;
  let errors = 0;
  const delivered = new Map<string, number>(); // user → highest version seen
  const unsubscribes = Array.from({ length: SUBSCRIPTIONS }, (_, i) => {
    const user = `live-user-${i}`;
    return clients[i % clients.length]!.subscribe(
      { query: LIVE, variables: { id: user } },
      {
        next: (m) => {
          const at = performance.now();
          if (m.errors?.length) {
            errors++;
            return;
          }
          messages++;
          const update = (m.data as { profileUpdated: { version: number; at: string } }).profileUpdated;
          const version = update.version;
          afterPublish.push(Date.now() - Date.parse(update.at));
          const before = delivered.get(user) ?? 0;
          delivered.set(user, version);
          // Every send up to this version is now visible at the client (coalesced ones included).
          const times = sent.get(user) ?? [];
          for (let v = before + 1; v <= version; v++) {
            const t = times[v - 1];
            if (t !== undefined && t >= measureFromRef.value) latencies.push(at - t);
          }
        },
        error: () => errors++,
        complete: () => undefined,
      },
    );
  });
  await new Promise((r) => setTimeout(r, 2000 + SUBSCRIPTIONS));

  log(`sending ${RATE} events/s for ${DURATION_S} s...`);
  loopDelay.enable();
  const perTick = Math.max(1, Math.round(RATE / 100));
  let n = 0;
  let ingestErrors = 0;
  // The first seconds warm the JIT and connection pools: their latencies are not counted.
  const WARMUP_S = Number(process.env['BENCH_WARMUP'] ?? 3);
  const measureFrom = performance.now() + WARMUP_S * 1000;
  measureFromRef.value = measureFrom;
  const end = measureFrom + DURATION_S * 1000;
  const inflight: Promise<void>[] = [];
  while (performance.now() < end) {
    const tickStart = performance.now();
    const events = Array.from({ length: perTick }, () => {
      const user = `live-user-${(n * 7919) % SUBSCRIPTIONS}`;
      const item = DEMO_MOVIE_REFS[n % DEMO_MOVIE_REFS.length];
      n++;
      return { eventId: `live-${n}`, userId: user, type: 'PLAY', occurredAt: Date.now(), item };
    });
    const t = performance.now();
    for (const e of events) (sent.get(e.userId) ?? sent.set(e.userId, []).get(e.userId)!).push(t);
    inflight.push(
      fetch(`${profile}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth.caller }, body: JSON.stringify({ events }) }).then(
        async (r) => {
          if (!r.ok) ingestErrors++;
          await r.arrayBuffer();
        },
        () => void ingestErrors++,
      ),
    );
    const wait = 10 - (performance.now() - tickStart);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(inflight);
  await new Promise((r) => setTimeout(r, 2000));

  loopDelay.disable();
  log(`load generator event-loop delay: p99 ${(loopDelay.percentile(99) / 1e6).toFixed(1)} ms, max ${(loopDelay.max / 1e6).toFixed(1)} ms`);
  const ap = percentiles(afterPublish);
  log(`publish → client: p50 ${ap.p50.toFixed(1)} ms, p99 ${ap.p99.toFixed(1)} ms`);
  const cpu = process.cpuUsage();
  log(`load generator CPU: ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s`);
  const expectedVersions = [...sent.values()].reduce((a, times) => a + times.filter((t) => t >= measureFrom).length, 0);
  const p = percentiles(latencies);
  for (const u of unsubscribes) u();
  await Promise.all(clients.map((c) => c.dispose()));
  await gatewayProcess.stop();
  await subgraphs.stop();

  const result = {
    stores,
    subscriptions: SUBSCRIPTIONS,
    eventsPerSecond: expectedVersions / DURATION_S,
    events: n,
    messages,
    updatesVisible: latencies.length,
    updatesExpected: expectedVersions,
    errors,
    ingestErrors,
    latencyMs: p,
  };
  saveReport(result);
  if (json) {
    console.log(JSON.stringify(result));
    return;
  }
  const f = (x: number) => x.toFixed(1);
  console.log(
    `Live updates through the gateway (${stores}): ${SUBSCRIPTIONS} subscriptions, ${Math.round(expectedVersions / DURATION_S)} events/s for ${DURATION_S} s (after ${WARMUP_S} s of warm-up)`,
  );
  console.log('');
  console.log('| figure | value |');
  console.log('|---|---|');
  console.log(`| events sent (measured) | ${expectedVersions} |`);
  console.log(`| messages received (coalesced updates count once) | ${messages} |`);
  console.log(`| events visible at a client | ${latencies.length} of ${expectedVersions} |`);
  console.log(`| errors (subscription / ingest) | ${errors} / ${ingestErrors} |`);
  console.log(`| ingest call → message at the client | p50 ${f(p.p50)} ms, p95 ${f(p.p95)} ms, p99 ${f(p.p99)} ms |`);
}

await main();
