/**
 * npm run bench:soak — the platform under steady load for a long time, on Redis (REDIS_URL,
 * default redis://127.0.0.1:6379; a fresh key prefix, its keys deleted afterwards). Not part of
 * `npm run bench`: it takes SOAK_DURATION seconds (default 600) after SOAK_WARMUP (default 60).
 *
 * Processes, as a deployment would have them: the subgraphs (profile API, recommendations,
 * experiments), the audiences subgraph with the 100 live audiences of
 * bench/lib/audiences-fixture.ts, the profile updater group, and the gateway, each in a process
 * of its own. SOAK_SUBSCRIPTIONS users
 * (default 1,000) each hold one `profileUpdated` subscription through the gateway (graphql-ws,
 * 20 sockets) while SOAK_RATE events/s (default 1,000) are posted to POST /v1/events for them.
 *
 * Checked over the whole run (warm-up included):
 * - no event missing: at the end every user's last message carries the version of its last event;
 * - per-user order: every message's version is above the one before it (a message may cover
 *   several events, never go back);
 * - memory: the resident set of every process every 10 s; growth from the end of the warm-up to
 *   the end (goal < 10 %);
 * - stream backlog: entries appended and not yet acknowledged, per consumer group of the event
 *   log (profile updater, trending) and of the change-notice log (audiences), every 10 s; flat
 *   when the least-squares slope over the measured part is under one second's arrivals per minute;
 * - latency: ingest call → message at the client, per minute and over the run.
 * `--save` also writes bench/results/soak.md and soak.json, which `npm run bench` quotes in
 * BENCHMARKS.md as the last soak run (with its date and commit).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createHistogram } from 'node:perf_hooks';
import type { RecordableHistogram } from 'node:perf_hooks';
import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { EventLog } from '../lib/eventlog/port.js';
import { createInfrastructure, PROFILE_CHANGE_KEYS, PROFILE_CHANGES_LOG } from '../lib/infrastructure.js';
import { deleteByPrefix } from '../lib/redis/connection.js';
import { audienceSpecs } from './lib/audiences-fixture.js';
import { benchAuth } from './lib/auth.js';
import { backlog, slope } from './lib/backlog.js';
import { startChild } from './lib/child.js';
import { gatewayClient } from './lib/gateway-client.js';
import { playPoster } from './lib/play-poster.js';
import { coresUsed, cpuNow, rssOf } from './lib/process-stats.js';
import { saveReport } from './lib/report.js';
import { histogramPercentiles } from './lib/synthetic.js';
import type { Percentiles } from './lib/synthetic.js';

const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const REDIS_URL = process.env['REDIS_URL'] || 'redis://127.0.0.1:6379';
const DURATION_S = num('SOAK_DURATION', 600);
const WARMUP_S = num('SOAK_WARMUP', 60);
const SUBSCRIPTIONS = num('SOAK_SUBSCRIPTIONS', 1000);
const RATE = num('SOAK_RATE', 1000);
const SAMPLE_EVERY_MS = num('SOAK_SAMPLE_MS', 10_000);
/**
 * Events per user posted as fast as they are taken before the subscriptions open (default 300):
 * profiles then start at their size bounds (256 entries per computed trait, 64 applied event ids),
 * so what the RSS measures is the processes, not profiles still growing into their bounds.
 */
const PREFILL = num('SOAK_PREFILL', 300);
/** SOAK_AUDIENCES=0: no audience (a comparison run); default the 100 of the fixture. */
const AUDIENCES = num('SOAK_AUDIENCES', 100);
const GOALS = { rssGrowth: 0.1 };
const save = process.argv.includes('--save');
const log = (m: string) => console.error(m);

const LIVE = `subscription Soak($id: ID!) { profileUpdated(userId: $id) { version at user { id profile { genreAffinities(limit: 3) { key score } } } } }`;
const CREATE = `mutation ($input: AudienceInput!) { createAudience(input: $input) { id } }`;

interface Sample {
  atS: number;
  rss: Record<string, number>;
  /** CPU seconds used so far, per process (cores used = its rise ÷ the time between samples). */
  cpu: Record<string, number>;
  backlog: Record<string, number>;
  /** Ingest posts sent and not answered yet: where a saturated ingest path queues. */
  postsInFlight: number;
}

async function main() {
  const auth = await benchAuth();
  const run = randomUUID().slice(0, 6);
  const prefix = `bench:soak-${run}:`;
  const env: NodeJS.ProcessEnv = { ...process.env, ...auth.env, REDIS_URL, REDIS_PREFIX: prefix };
  const subgraphs = await startChild<{ subgraphUrls: Record<string, string>; profile: string; stores: string }>(new URL('./platform-server.ts', import.meta.url), {
    args: ['subgraphs'],
    env: { ...env, PROFILE_RUN_UPDATER: 'false', BENCH_AUDIENCES_APART: '1' },
    // SOAK_CPU_PROFILE=<dir>: CPU profiles of the subgraphs and audiences processes (subdirectories), written when they stop.
    ...(process.env['SOAK_CPU_PROFILE'] ? { cpuProfileDir: `${process.env['SOAK_CPU_PROFILE']}/subgraphs` } : {}),
    ready: true,
    readyTimeoutMs: 120_000,
  });
  const updater = await startChild(new URL('../subgraphs/profile/src/updater-main.ts', import.meta.url), { env: { ...env, PROFILE_UPDATER_PORT: '0' } });
  const audiences = await startChild<{ url: string }>(new URL('./platform-server.ts', import.meta.url), {
    args: ['audiences'],
    env: { ...env, AUDIENCES_PORT: '0', AUDIENCES_PROFILE_URL: subgraphs.info.subgraphUrls['profile'] },
    ...(process.env['SOAK_CPU_PROFILE'] ? { cpuProfileDir: `${process.env['SOAK_CPU_PROFILE']}/audiences` } : {}),
    ready: true,
    readyTimeoutMs: 120_000,
  });
  const gatewayChild = await startChild<{ url: string }>(new URL('./platform-server.ts', import.meta.url), {
    args: ['gateway'],
    env: { ...env, BENCH_SUBGRAPH_URLS: JSON.stringify({ ...subgraphs.info.subgraphUrls, audiences: audiences.info.url }) },
    ready: true,
    readyTimeoutMs: 120_000,
  });
  const processes: Record<string, number> = {
    subgraphs: subgraphs.process.pid!,
    audiences: audiences.process.pid!,
    updater: updater.process.pid!,
    gateway: gatewayChild.process.pid!,
    'load generator': process.pid,
  };
  const gateway = gatewayChild.info.url;
  const { gql, close: closeGateway } = gatewayClient(gateway, auth.caller, { connections: 4, errorChars: 500 });
  const infrastructure = createInfrastructure(env);
  const changes = infrastructure.log(PROFILE_CHANGES_LOG, PROFILE_CHANGE_KEYS);
  const posters: ReturnType<typeof playPoster>[] = [];
  const clients: Client[] = [];
  try {
    const specs = audienceSpecs().slice(0, AUDIENCES);
    for (const s of specs) await gql(CREATE, { input: { id: s.id, name: s.name, rule: s.rule } });
    log(`soak (${subgraphs.info.stores}, prefix ${prefix}): ${specs.length} audiences; opening ${SUBSCRIPTIONS} subscriptions...`);

    const groups: Record<string, () => Promise<number>> = {
      'profile updater': () => backlog(infrastructure.eventLog as EventLog<unknown>, 'profile-updater'),
      trending: () => backlog(infrastructure.eventLog as EventLog<unknown>, 'recommendations-trending'),
      audiences: () => backlog(changes as EventLog<unknown>, 'audiences'),
    };
    // Per user: send times of its events (version v is the v-th), the last version delivered.
    const users = Array.from({ length: SUBSCRIPTIONS }, (_, i) => `soak-${run}-${i}`);
    const delivered = new Map<string, number>();
    // Latencies in histograms (µs, HDR with 3 significant digits), one a minute of the load and
    // one for the measured part, and send times forgotten once delivered: the load generator's own
    // bookkeeping must not be what grows in an RSS soak (an object per message took +40 % in a
    // 10-minute run; packed arrays of every sample still +10 %).
    const latencyByMinute: RecordableHistogram[] = [];
    const measuredLatency = createHistogram();
    let loadStart = Infinity;
    let messages = 0;
    let orderViolations = 0;
    let subscriptionErrors = 0;
    const began = performance.now();
    const nowS = () => (performance.now() - began) / 1000;
    const poster = playPoster(subgraphs.info.profile, auth.caller, users, `soak-${run}`);
    posters.push(poster);
    const { inflight } = poster;
    const ingest = poster.post;
    if (PREFILL > 0) {
      log(`prefill: ${PREFILL} events for each of ${users.length} users, as fast as they are taken...`);
      const t = performance.now();
      for (let round = 0; round < PREFILL; round++) {
        for (let i = 0; i < users.length; i += 500) {
          while (inflight.size >= 4) await Promise.race(inflight);
          ingest(users.slice(i, i + 500), false);
        }
      }
      await poster.settled();
      const drainedBy = performance.now() + 600_000;
      const idle = async () => (await groups['profile updater']!()) === 0 && (await groups['audiences']!()) === 0 && (await groups['trending']!()) === 0;
      while (!(await idle()) && performance.now() < drainedBy) await new Promise((r) => setTimeout(r, 200));
      log(`prefill: ${(PREFILL * users.length).toLocaleString('en-US')} events applied and evaluated in ${((performance.now() - t) / 1000).toFixed(0)} s`);
    }
    for (let i = 0; i < Math.ceil(users.length / 50); i++) {
      clients.push(createClient({ url: gateway.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, connectionParams: auth.caller }));
    }
    users.forEach((user, i) =>
      clients[i % clients.length]!.subscribe<{ profileUpdated: { version: number } }>(
        { query: LIVE, variables: { id: user } },
        {
          next: (m) => {
            const at = performance.now();
            const version = m.data?.profileUpdated?.version;
            if (m.errors?.length || version === undefined) return void subscriptionErrors++;
            messages++;
            const before = delivered.get(user) ?? 0;
            if (version <= before) return void orderViolations++;
            delivered.set(user, version);
            const second = nowS() - loadStart;
            if (second >= 0) {
              const minute = (latencyByMinute[Math.floor(second / 60)] ??= createHistogram());
              for (let v = before + 1; v <= version; v++) {
                const t = poster.timeOf(user, v);
                if (t === undefined || !Number.isFinite(t)) continue;
                const us = Math.max(1, Math.round((at - t) * 1000));
                minute.record(us);
                if (second >= WARMUP_S) measuredLatency.record(us);
              }
            }
            poster.forget(user, version);
          },
          error: () => void subscriptionErrors++,
          complete: () => undefined,
        },
      ),
    );
    // Live: every subscription has delivered (one event per user not yet live, every second).
    const liveBy = performance.now() + 120_000;
    const tries = new Map<string, number>();
    while (delivered.size < users.length && performance.now() < liveBy) {
      const waiting = users.filter((u) => !delivered.has(u) && (tries.set(u, (tries.get(u) ?? 0) + 1).get(u) ?? 0) <= 3);
      for (let i = 0; i < waiting.length; i += 100) ingest(waiting.slice(i, i + 100));
      for (let t = 0; t < 20 && delivered.size < users.length; t++) await new Promise((r) => setTimeout(r, 50));
    }
    log(`${delivered.size} of ${users.length} subscriptions live; ${RATE} events/s for ${WARMUP_S} s of warm-up and ${DURATION_S} s measured...`);

    const samples: Sample[] = [];
    loadStart = nowS();
    const sample = async () => {
      const rss = Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, rssOf(pid)]));
      const cpu = cpuNow(processes);
      const b: Record<string, number> = {};
      for (const [name, read] of Object.entries(groups)) b[name] = await read().catch(() => NaN);
      samples.push({ atS: nowS() - loadStart, rss, cpu, backlog: b, postsInFlight: inflight.size });
    };
    await sample();
    const sampler = setInterval(() => void sample(), SAMPLE_EVERY_MS);
    // 100 ticks a second, the users in a fixed shuffled order (each gets RATE / SUBSCRIPTIONS events/s).
    const perTick = RATE / 100;
    const end = performance.now() + (WARMUP_S + DURATION_S) * 1000;
    let k = 0;
    let owed = 0;
    let loadEvents = 0;
    let nextProgress = loadStart + 60;
    for (let tick = 0; performance.now() < end; tick++) {
      const due = began + (loadStart + tick / 100) * 1000;
      if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
      owed += perTick;
      const batch: string[] = [];
      for (; owed >= 1; owed--) batch.push(users[(k++ * 7919) % users.length]!);
      if (batch.length > 0) {
        ingest(batch);
        loadEvents += batch.length;
      }
      if (nowS() >= nextProgress) {
        nextProgress += 60;
        const s = samples[samples.length - 1]!;
        const before = samples.findLast((x) => x.atS <= s.atS - 50) ?? samples[0]!;
        const cores = coresUsed(before.cpu, s.cpu, s.atS - before.atS);
        log(
          `  +${Math.round(nowS() - loadStart)} s: ${messages} messages, RSS ${Object.entries(s.rss).map(([p, b]) => `${p} ${(b / 2 ** 20).toFixed(0)} MB`).join(', ')}; cores ${Object.entries(cores).map(([p, c]) => `${p} ${c.toFixed(2)}`).join(', ')}; backlog ${JSON.stringify(s.backlog)}; posts in flight ${s.postsInFlight}`,
        );
      }
    }
    const loadEnd = nowS();
    await poster.settled();
    // The last events reach their subscribers.
    const settledBy = performance.now() + 60_000;
    const missing = () => users.reduce((a, u) => a + poster.count(u) - (delivered.get(u) ?? 0), 0);
    while (missing() > 0 && performance.now() < settledBy) await new Promise((r) => setTimeout(r, 100));
    clearInterval(sampler);
    await sample();

    // --- figures ----------------------------------------------------------------------------
    // Events of the load (warm-up and measured), not the prefill's or the readiness ones.
    const timedEvents = loadEvents;
    const measured = samples.filter((s) => s.atS >= WARMUP_S);
    const first = measured[0] ?? samples[0]!;
    const last = samples[samples.length - 1]!;
    const rss = Object.fromEntries(
      Object.keys(processes).map((p) => {
        const max = Math.max(...measured.map((s) => s.rss[p]!));
        return [p, { afterWarmup: first.rss[p]!, end: last.rss[p]!, max, growth: last.rss[p]! / first.rss[p]! - 1 }];
      }),
    );
    const backlogs = Object.fromEntries(
      Object.keys(groups).map((g) => {
        const points = measured.filter((s) => Number.isFinite(s.backlog[g])).map((s) => [s.atS / 60, s.backlog[g]!] as [number, number]);
        const perMinute = slope(points);
        return [g, { max: Math.max(0, ...points.map(([, y]) => y)), end: last.backlog[g]!, slopePerMinute: perMinute, flat: perMinute < RATE }];
      }),
    );
    const minutes: { minute: number; events: number; p50: number; p99: number }[] = [];
    for (let m = 0; m * 60 < loadEnd - loadStart || latencyByMinute[m]; m++) {
      const p = histogramPercentiles(latencyByMinute[m], 1000);
      minutes.push({ minute: m + 1, events: p.n, p50: p.p50, p99: p.p99 });
    }
    const report = {
      stores: subgraphs.info.stores,
      durationSeconds: DURATION_S,
      warmupSeconds: WARMUP_S,
      subscriptions: SUBSCRIPTIONS,
      audiences: specs.length,
      rate: RATE,
      achievedRate: timedEvents / (loadEnd - loadStart),
      events: timedEvents,
      prefillEvents: PREFILL * users.length,
      ingestErrors: poster.errors,
      messages,
      subscriptionErrors,
      eventsMissing: missing(),
      orderViolations,
      latencyMs: histogramPercentiles(measuredLatency, 1000),
      rss,
      backlog: backlogs,
      minutes,
      samples,
      goals: { rssGrowthBelow: GOALS.rssGrowth },
      met: {
        rss: Object.values(rss).every((r) => r.growth < GOALS.rssGrowth),
        noneMissing: missing() === 0,
        orderKept: orderViolations === 0,
        backlogFlat: Object.values(backlogs).every((b) => b.flat),
      },
      at: new Date().toISOString(),
      commit: (() => {
        try {
          return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
        } catch {
          return 'unknown';
        }
      })(),
    };
    saveReport(report);
    const md = markdown(report);
    console.log(md);
    if (save) {
      const dir = new URL('./results/', import.meta.url);
      mkdirSync(dir, { recursive: true });
      writeFileSync(new URL('soak.json', dir), `${JSON.stringify(report, null, 2)}\n`);
      writeFileSync(new URL('soak.md', dir), `${md}\n`);
      log('wrote bench/results/soak.md and soak.json');
    }
  } finally {
    await Promise.all(clients.map((c) => c.dispose()));
    await closeGateway();
    await Promise.all(posters.map((p) => p.close()));
    await gatewayChild.stop();
    await updater.stop();
    await audiences.stop();
    await subgraphs.stop();
    if (infrastructure.redis) await deleteByPrefix(infrastructure.redis.client, prefix);
    await infrastructure.close();
  }
}

type Report = {
  stores: string;
  durationSeconds: number;
  warmupSeconds: number;
  subscriptions: number;
  audiences: number;
  rate: number;
  achievedRate: number;
  events: number;
  prefillEvents: number;
  ingestErrors: number;
  messages: number;
  subscriptionErrors: number;
  eventsMissing: number;
  orderViolations: number;
  latencyMs: Percentiles;
  rss: Record<string, { afterWarmup: number; end: number; max: number; growth: number }>;
  backlog: Record<string, { max: number; end: number; slopePerMinute: number; flat: boolean }>;
  minutes: { minute: number; events: number; p50: number; p99: number }[];
  met: Record<string, boolean>;
  at: string;
  commit: string;
};

function markdown(r: Report): string {
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;
  const met = (ok: boolean | undefined) => (ok ? 'met' : 'NOT met');
  const lines = [
    `Soak on ${r.stores}: ${r.subscriptions} profileUpdated subscriptions through the gateway (graphql-ws), ${r.rate} events/s for ${r.warmupSeconds} s of warm-up and ${r.durationSeconds} s measured, ${r.audiences} live audiences; subgraphs, audiences subgraph, profile updater, gateway and load generator in separate processes. Run at ${r.at.slice(0, 16).replace('T', ' ')} UTC, commit \`${r.commit}\`.`,
    '',
    '| figure | value | goal |',
    '|---|---|---|',
    `| events sent by the load (achieved rate); before it, the prefill; ingest errors | ${r.events.toLocaleString('en-US')} (${r.achievedRate.toFixed(0)} events/s); ${r.prefillEvents.toLocaleString('en-US')}; ${r.ingestErrors} | |`,
    `| events missing at their subscriber at the end | ${r.eventsMissing} | 0 (${met(r.met['noneMissing'])}) |`,
    `| messages out of order (a version not above the previous one) | ${r.orderViolations} of ${r.messages.toLocaleString('en-US')} | 0 (${met(r.met['orderKept'])}) |`,
    `| subscription errors | ${r.subscriptionErrors} | |`,
    `| ingest → message at the client, after warm-up | p50 ${r.latencyMs.p50.toFixed(1)} ms, p99 ${r.latencyMs.p99.toFixed(1)} ms | |`,
    ...Object.entries(r.rss).map(([p, x]) => `| RSS of the ${p}: after warm-up → end (max) | ${mb(x.afterWarmup)} → ${mb(x.end)} (${mb(x.max)}), ${pct(x.growth)} | < +10 % (${met(x.growth < 0.1)}) |`),
    ...Object.entries(r.backlog).map(([g, b]) => `| stream backlog of the ${g} group (entries): max, end, slope | ${b.max}, ${b.end}, ${b.slopePerMinute.toFixed(1)} per minute | flat (${met(b.flat)}) |`),
    '',
    '| minute | events visible | p50 | p99 |',
    '|---|---|---|---|',
    ...r.minutes.map((m) => `| ${m.minute} | ${m.events.toLocaleString('en-US')} | ${m.p50.toFixed(1)} ms | ${m.p99.toFixed(1)} ms |`),
  ];
  return lines.join('\n');
}

await main();
