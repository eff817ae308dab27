/**
 * npm run bench:freshness — how soon a row reflects an event: ingest one event through the
 * gateway (`ingestEvents` mutation), then query `recommendedFor` through the gateway until the row
 * was ranked on the profile version that event produced. p50/p95/p99 over PROBES events (default
 * 1,000) while a steady background load (bench/lib/paced-load.ts) runs on the platform: events on POST /v1/events for
 * other users and home-page queries through the gateway. Runs embedded (in-memory stores, inline
 * apply) and on Redis (Redis Streams, the updater group applying asynchronously), each two ways:
 * `async` (the mutation returns once the event is accepted; on Redis the row is polled until the
 * updater group has applied it) and
 * `read-your-writes` (`ingestEvents(wait: true)` returns once it is applied: the request applies
 * its own events, on Redis too, and the updater group skips them; one query follows). Each mode starts with uncounted warm-up probes, one per probe user, so measured events update
 * existing profiles (a returning user) rather than create them.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChild } from './lib/child.js';
import { benchAuth } from './lib/auth.js';
import type { BenchChild } from './lib/child.js';
import type { BackgroundLoad } from './lib/background-load.js';
import { percentiles } from './lib/synthetic.js';
import { saveReport } from './lib/report.js';
import { gatewayClient } from './lib/gateway-client.js';
import { connect, deleteByPrefix } from '../lib/redis/connection.js';
import { DEMO_MOVIE_REFS } from '../demo/catalog.js';

const PROBES = Number(process.env['BENCH_PROBES'] ?? 1000);
/** Background ingestion, events per second (sent as batches of 10). */
const BG_EVENTS = Number(process.env['BENCH_BG_EVENTS'] ?? 1000);
/** Background home-page queries per second through the gateway. */
const BG_QUERIES = Number(process.env['BENCH_BG_QUERIES'] ?? 100);
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const MODES = (process.env['BENCH_MODES'] ?? 'memory,redis').split(',');
/** Node flags of the processes under test, e.g. --max-semi-space-size=64. */
const NODE_FLAGS = (process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);
const json = process.argv.includes('--json');
const log = (m: string) => {
  if (!json) console.error(m);
};

const playable = DEMO_MOVIE_REFS;
const INGEST = `mutation ($events: [EventInput!]!, $wait: Boolean) { ingestEvents(events: $events, wait: $wait) { accepted rejected { code } } }`;
const ROW = `query ($id: ID!) { user(id: $id) { recommendedFor(limit: 10) { model profileVersion items { item { id } } } } }`;
const tmpFile = (name: string) => join(tmpdir(), `bench-freshness-${process.pid}-${name}.json`);

/** `async`: ingestEvents returns once accepted, the row is polled; `read-your-writes`: ingestEvents(wait: true). */
type Read = 'async' | 'read-your-writes';

interface ModeResult {
  stores: string;
  read: Read;
  probes: number;
  /** Users the probes cycle over (served REALTIME), and the uncounted warm-up probes before them. */
  probeUsers: number;
  warmupProbes: number;
  latencyMs: ReturnType<typeof percentiles>;
  /** The parts: the ingestEvents mutation, and each row query. */
  mutationMs: ReturnType<typeof percentiles>;
  queryMs: ReturnType<typeof percentiles>;
  /** Queries per probe until the row reflected the event (1 = the first query after the mutation). */
  queriesPerProbe: number;
  background: { eventsPerSecond: number; queriesPerSecond: number; errors: number };
}

async function runMode(mode: string): Promise<ModeResult[]> {
  const auth = await benchAuth();
  const base = { ...process.env, ...auth.env, BENCH_LOOP_DELAY: '1' };
  const env: NodeJS.ProcessEnv =
    mode === 'redis' ? { ...base, REDIS_URL, REDIS_PREFIX: `bench:${randomUUID().slice(0, 6)}:` } : { ...base, REDIS_URL: '', REDIS_CLUSTER_NODES: '' };
  const server = new URL('./platform-server.ts', import.meta.url);
  // On Redis the profile updater group may run in a process of its own (BENCH_SEPARATE_UPDATER=1).
  const separateUpdater = mode === 'redis' && process.env['BENCH_SEPARATE_UPDATER'] === '1';
  const subgraphs = await startChild(server, {
    args: ['subgraphs'],
    env: { ...env, ...(separateUpdater ? { PROFILE_RUN_UPDATER: 'false' } : {}) },
    nodeFlags: NODE_FLAGS,
    ready: true,
  });
  const updater = separateUpdater ? await startChild(new URL('../subgraphs/profile/src/updater-main.ts', import.meta.url), { env }) : undefined;
  const gatewayChild = await startChild(server, {
    args: ['gateway'],
    nodeFlags: NODE_FLAGS,
    env: { ...env, BENCH_SUBGRAPH_URLS: JSON.stringify(subgraphs.info['subgraphUrls']) },
    ready: true,
  });
  const gateway = gatewayChild.info['url'] as string;
  const { gql, close: closeClient } = gatewayClient(gateway, auth.caller, { connections: 4 });
  const profile = subgraphs.info['profile'] as string;
  const stores = subgraphs.info['stores'] as string;
  const background: BenchChild<unknown>[] = [];
  try {
    // Probe users served by the REALTIME model (the control variant ranks on the nightly snapshot).
    const run = randomUUID().slice(0, 6);
    const candidates = Array.from({ length: 400 }, (_, i) => `fresh-${run}-${i}`);
    const probeUsers: string[] = [];
    for (const id of candidates) {
      const row = await gql<{ user: { recommendedFor: { model: string } } }>(ROW, { id });
      if (row.user.recommendedFor.model === 'REALTIME') probeUsers.push(id);
    }
    if (probeUsers.length < 50) throw new Error(`only ${probeUsers.length} of ${candidates.length} users are served REALTIME`);

    // Background load at a steady rate, in processes of their own: events for other users, home-page queries.
    const loads: BackgroundLoad[] = [
      ...(BG_EVENTS > 0 ? [{ kind: 'events' as const, url: `${profile}/v1/events`, rate: BG_EVENTS / 10, connections: 2, headers: auth.caller, resultFile: tmpFile('events') }] : []),
      ...(BG_QUERIES > 0 ? [{ kind: 'home' as const, url: gateway, rate: BG_QUERIES, connections: 2, headers: auth.caller, resultFile: tmpFile('home') }] : []),
    ];
    for (const load of loads) background.push(await startChild(new URL('./lib/background-load.ts', import.meta.url), { args: [JSON.stringify(load)], ready: true }));
    await new Promise((r) => setTimeout(r, 2000)); // background load reaches its rate

    const versions = new Map<string, number>();
    for (const id of probeUsers) versions.set(id, 0);
    /**
     * PROBES events, each followed by row queries until the row reflects it. Warm-up events come
     * first and are not counted: one per probe user (so every measured event lands on a profile
     * that exists, as for a returning user, not on a first-ever event) and at least 20;
     * BENCH_WARMUP overrides the count.
     */
    const warmup = Number(process.env['BENCH_WARMUP'] ?? Math.max(20, probeUsers.length));
    const probe = async (read: Read) => {
      const latencies: number[] = [];
      const mutations: number[] = [];
      const rowQueries: number[] = [];
      let queries = 0;
      for (let i = 0; i < PROBES + warmup; i++) {
        const id = probeUsers[i % probeUsers.length]!;
        const expected = versions.get(id)! + 1;
        const event = { eventId: `probe-${run}-${read}-${i}`, userId: id, type: 'PLAY', occurredAt: Date.now(), item: playable[i % playable.length] };
        const t = performance.now();
        const ingested = await gql<{ ingestEvents: { accepted: number } }>(INGEST, { events: [event], wait: read === 'read-your-writes' });
        if (ingested.ingestEvents.accepted !== 1) throw new Error(`probe event not accepted: ${JSON.stringify(ingested)}`);
        if (i >= warmup) mutations.push(performance.now() - t);
        for (let polls = 1; ; polls++) {
          const q0 = performance.now();
          const row = await gql<{ user: { recommendedFor: { profileVersion: number } } }>(ROW, { id });
          if (i >= warmup) rowQueries.push(performance.now() - q0);
          if (row.user.recommendedFor.profileVersion >= expected) {
            versions.set(id, row.user.recommendedFor.profileVersion);
            if (i >= warmup) {
              latencies.push(performance.now() - t);
              queries += polls;
            }
            break;
          }
          if (performance.now() - t > 10_000) throw new Error(`the row of ${id} did not reach version ${expected} within 10 s`);
        }
      }
      return {
        stores,
        read,
        probes: latencies.length,
        probeUsers: probeUsers.length,
        warmupProbes: warmup,
        latencyMs: percentiles(latencies),
        mutationMs: percentiles(mutations),
        queryMs: percentiles(rowQueries),
        queriesPerProbe: queries / latencies.length,
      };
    };
    const probes = [await probe('async'), await probe('read-your-writes')];
    await Promise.all(background.map((b) => b.stop()));
    const figures = Object.fromEntries(
      loads.map((l) => [l.kind, JSON.parse(readFileSync(l.resultFile, 'utf8')) as { perSecond: number; errors: number }]),
    );
    return probes.map((p) => ({
      ...p,
      background: {
        eventsPerSecond: figures['events']?.perSecond ?? 0,
        queriesPerSecond: figures['home']?.perSecond ?? 0,
        errors: Object.values(figures).reduce((a, f) => a + f.errors, 0),
      },
    }));
  } finally {
    await closeClient();
    await Promise.all(background.map((b) => b.stop()));
    await gatewayChild.stop();
    await updater?.stop();
    await subgraphs.stop();
    if (mode === 'redis') {
      // The run's keys (profiles, streams, dedupe ids) go.
      const redis = connect({ url: REDIS_URL, prefix: env['REDIS_PREFIX']! });
      await deleteByPrefix(redis, env['REDIS_PREFIX']!).finally(() => redis.quit());
    }
  }
}

async function main() {
  const results: ModeResult[] = [];
  for (const mode of MODES) {
    log(`freshness (${mode}): ${PROBES} probes under ${BG_EVENTS} background events/s and ${BG_QUERIES} home queries/s...`);
    results.push(...(await runMode(mode)));
  }
  const report = { probes: PROBES, backgroundEventsPerSecond: BG_EVENTS, backgroundQueriesPerSecond: BG_QUERIES, modes: results };
  saveReport(report);
  if (json) {
    console.log(JSON.stringify(report));
    return;
  }
  const f = (x: number) => x.toFixed(1);
  console.log(`Freshness: ingestEvents through the gateway → recommendedFor ranked on the new profile version`);
  console.log('');
  console.log(
    `Probes cycle over ${results[0]?.probeUsers ?? 0} users served REALTIME; each mode first sends ${results[0]?.warmupProbes ?? 0} uncounted warm-up probes (one per user), so every measured event updates an existing profile.`,
  );
  console.log('');
  console.log('| stores | read | probes | p50 | p95 | p99 | mutation p50 / p99 | row query p50 / p99 | queries per probe | background events/s | background queries/s | background errors |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    console.log(
      `| ${r.stores} | ${r.read} | ${r.probes} | ${f(r.latencyMs.p50)} ms | ${f(r.latencyMs.p95)} ms | ${f(r.latencyMs.p99)} ms | ${f(r.mutationMs.p50)} / ${f(r.mutationMs.p99)} ms | ${f(r.queryMs.p50)} / ${f(r.queryMs.p99)} ms | ${r.queriesPerProbe.toFixed(2)} | ${Math.round(r.background.eventsPerSecond)} | ${Math.round(r.background.queriesPerSecond)} | ${r.background.errors} |`,
    );
  }
}

await main();
