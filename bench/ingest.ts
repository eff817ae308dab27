/**
 * npm run bench:ingest — sustained ingestion on Redis, end to end: HTTP POST /v1/events → Redis
 * Streams → profile updater group → profile in Redis. Reports events/s until every accepted event
 * is applied (phase 1, a burst), then for each steady phase (BENCH_STEADY_SHARES of that rate,
 * default 50% and 80%, BENCH_STEADY_DURATION s each, default 60) the p50/p99 ingest-to-applied
 * latency through the updater group (probes that wait for its ProfileUpdated), read-your-writes
 * (?wait=applied), the updater group's stream backlog in entries sampled every second (flat: its
 * slope is under one second's appended entries per minute) and the cost per event; bytes per profile (MEMORY
 * USAGE), and the ratio to redis-benchmark's pipelined SET throughput measured in the same run on
 * the same Redis. BENCH_STEADY_SHARES= (empty) skips the steady phases.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { createBackends } from '../platform/backends.js';
import { RedisStreamEventLog } from '../lib/eventlog/redis-streams.js';
import { PROFILE_UPDATER_GROUP } from '../subgraphs/profile/src/app/profile-service.js';
import { deleteByPrefix, scanKeys } from '../lib/redis/connection.js';
import { startChild } from './lib/child.js';
import { pacedLoad } from './lib/paced-load.js';
import type { PacedLoadResult } from './lib/paced-load.js';
import { cpuSeconds, redisCounters, redisDelta } from './lib/process-stats.js';
import { benchAuth } from './lib/auth.js';
import { percentiles } from './lib/synthetic.js';
import { backlog, slope } from './lib/backlog.js';
import { saveReport } from './lib/report.js';
import { GENRES } from './lib/synthetic.js';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const DURATION_S = Number(process.env['BENCH_DURATION'] ?? 10);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 4);
const BATCH = Number(process.env['BENCH_BATCH'] ?? 250);
const USERS = Number(process.env['BENCH_USERS'] ?? 20_000);
const PARTITIONS = process.env['STREAM_PARTITIONS'] ?? '8';
const json = process.argv.includes('--json');
// The updater runs in its own process by default: consumer groups scale out by adding members.
const SEPARATE_UPDATER = process.env['BENCH_SEPARATE_UPDATER'] !== '0';
/** Updater processes in the group (with the updater in its own process; default 1). */
const UPDATERS = SEPARATE_UPDATER ? Math.max(1, Number(process.env['BENCH_UPDATERS'] ?? 1)) : 0;
/** Allocation-heavy JSON work: a larger young generation cuts scavenge time (see README). */
const NODE_FLAGS = (process.env['BENCH_NODE_FLAGS'] ?? '--max-semi-space-size=128').split(' ').filter(Boolean);
/**
 * Steady phases, each a share of phase 1's end-to-end rate (issue 19's goals: p99 at 50% and
 * 80%); BENCH_STEADY_RATE=<events/s> runs one phase at that rate instead.
 */
const STEADY_SHARES = (process.env['BENCH_STEADY_SHARES'] ?? '0.5,0.8').split(',').filter((x) => x.trim() !== '').map(Number);
const badShare = STEADY_SHARES.find((x) => !(x > 0 && x <= 2));
if (badShare !== undefined) throw new Error(`BENCH_STEADY_SHARES: each share must be a number in (0, 2], like 0.5; got ${process.env['BENCH_STEADY_SHARES']}`);
const STEADY_RATE = process.env['BENCH_STEADY_RATE'] ? Number(process.env['BENCH_STEADY_RATE']) : undefined;
if (STEADY_RATE !== undefined && !(STEADY_RATE > 0)) throw new Error(`BENCH_STEADY_RATE must be a positive number of events/s; got ${process.env['BENCH_STEADY_RATE']}`);
/** Backlog samples of a phase's first seconds (the climb from a drained stream) left out of its slope. */
const SLOPE_SKIP_S = 5;
const STEADY_DURATION_S = Number(process.env['BENCH_STEADY_DURATION'] ?? 60);
/** The p99 goals of ingest → applied by share of the burst rate. */
const STEADY_GOALS_MS: Record<string, number> = { '0.5': 100, '0.8': 500 };
const log = (m: string) => {
  if (!json) console.error(m);
};

const prefix = `bench:${randomUUID().slice(0, 6)}:`;
const auth = await benchAuth();
const env = { ...process.env, ...auth.env, REDIS_URL, REDIS_PREFIX: prefix, STREAM_PARTITIONS: PARTITIONS };

let seq = 0;
const base = Date.now() - 3_600_000;
function body(): string {
  const events: string[] = [];
  for (let i = 0; i < BATCH; i++) {
    const n = seq++;
    const user = (n * 7919) % USERS;
    const genre = GENRES[n % GENRES.length];
    events.push(
      `{"eventId":"b${n}","userId":"user-${user}","type":"PLAY","occurredAt":${base + (n % 3_000_000)},"item":{"id":"movie-${n % 5000}","kind":"MOVIE","genres":["${genre}"],"metadata":{"director":"Director ${n % 300}"}}}`,
    );
  }
  return `{"events":[${events.join(',')}]}`;
}

function redisBenchmark(): number {
  const { hostname, port } = new URL(REDIS_URL);
  const out = execFileSync('redis-benchmark', ['-h', hostname, '-p', port || '6379', '-t', 'set', '-n', '300000', '-P', '32', '-q'], {
    encoding: 'utf8',
  });
  const m = /SET: ([\d.]+) requests per second/.exec(out);
  if (!m) throw new Error(`could not read redis-benchmark output: ${out}`);
  return Number(m[1]);
}

interface SteadyPhase {
  share: number;
  eventsPerSecond: number;
  ingestToApplied: ReturnType<typeof percentiles>;
  /**
   * The same probes by stage, in wall-clock time of this machine: the POST until its answer
   * (accepted: in the stream), the POST until the updater published the change (ProfileUpdated.at),
   * and that publication until the message arrived here.
   */
  stages: { answered: ReturnType<typeof percentiles>; published: ReturnType<typeof percentiles>; delivered: ReturnType<typeof percentiles> };
  readYourWrites: ReturnType<typeof percentiles>;
  goalP99Ms: number | null;
  /** What autocannon sent (eventsPerSecond is the rate asked for). */
  achievedEventsPerSecond: number;
  /** flat: null where Redis does not count appended entries (before 7.0). */
  backlog: { max: number; end: number; slopePerMinute: number; flat: boolean | null };
  perEvent: { ingestCpuMs: number; updaterCpuMs: number; redisCpuMs: number; redisCommands: number };
}

async function main() {
  const backends = createBackends(env);
  const eventLog = backends.eventLog as RedisStreamEventLog;
  const redis = backends.redis!;
  await redis.ping();

  log(`starting the profile service on ${REDIS_URL} (prefix ${prefix})...`);
  const server = await startChild<{ url: string }>(new URL('./ingest-server.ts', import.meta.url), {
    env: { ...env, PROFILE_RUN_UPDATER: String(!SEPARATE_UPDATER) },
    nodeFlags: NODE_FLAGS,
    ready: true,
    ...(process.env['BENCH_PROFILE'] ? { cpuProfileDir: '/tmp/prof-ingest' } : {}),
  });
  const { url } = server.info;
  // The updater consumer group in processes of their own (consumer groups scale out by members).
  const updaters = await Promise.all(
    Array.from({ length: UPDATERS }, () =>
      startChild(new URL('../subgraphs/profile/src/updater-main.ts', import.meta.url), {
        env: { ...env, PROFILE_UPDATER_PORT: '0' },
        nodeFlags: NODE_FLAGS,
        ...(process.env['BENCH_PROFILE_UPDATER'] ? { cpuProfileDir: '/tmp/prof-updater' } : {}),
      }),
    ),
  );
  const pids = { ingest: server.process.pid, updaters: updaters.map((u) => u.process.pid) };
  const cpuNow = () => ({ ingest: cpuSeconds(pids.ingest) ?? NaN, updaters: pids.updaters.map((p) => cpuSeconds(p) ?? NaN) });
  type Cpu = ReturnType<typeof cpuNow>;
  /** CPU ms per event of the ingest process, the updaters and Redis, and Redis commands per event, between two readings. */
  const costPerEvent = (before: Cpu, after: Cpu, redisUsed: ReturnType<typeof redisDelta>, events: number) => ({
    ingestCpuMs: ((after.ingest - before.ingest) * 1000) / events,
    updaterCpuMs: (after.updaters.reduce((a, c, i) => a + c - before.updaters[i]!, 0) * 1000) / events,
    redisCpuMs: (redisUsed.cpuSeconds * 1000) / events,
    redisCommands: redisUsed.commands / events,
  });

  // Latency probes while a load runs, one event each: `applied` probes go out every 50 ms without
  // waiting and are timed until the updater group's ProfileUpdated for the event arrives (ingest →
  // applied through the stream); `wait` probes, one after another, post with ?wait=applied
  // (read-your-writes: the request applies its own events) and are timed to the answer.
  let probing = false;
  const latencies: number[] = [];
  const waitLatencies: number[] = [];
  const appliedAt = new Map<string, (at: number) => void>();
  /** Wall-clock send time of each `applied` probe in flight, and the stages of those done. */
  const sentAt = new Map<string, number>();
  const stages = { answered: [] as number[], published: [] as number[], delivered: [] as number[] };
  // Each kind has users of its own, so the two never write the same profile at the same time.
  const probeUsers = Array.from({ length: 50 }, (_, i) => `probe-${i}`);
  const waitUsers = Array.from({ length: 50 }, (_, i) => `probe-wait-${i}`);
  const unsubscribe = await Promise.all(
    probeUsers.map((id) =>
      backends.pubsub.subscribe(id, (m) =>
        m.eventIds.forEach((e) => {
          const sent = sentAt.get(e);
          if (sent !== undefined && appliedAt.has(e)) {
            stages.published.push(m.at - sent);
            stages.delivered.push(Date.now() - m.at);
          }
          appliedAt.get(e)?.(performance.now());
        }),
      ),
    ),
  );
  let probeSeq = 0;
  /** Posts one probe event for `userId`; resolves with the answer's `applied`. */
  const post = (eventId: string, userId: string, wait: boolean): Promise<boolean> =>
    fetch(`${url}/v1/events${wait ? '?wait=applied' : ''}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth.caller },
      body: JSON.stringify({ events: [{ eventId, userId, type: 'VIEW', occurredAt: Date.now(), item: { id: 'x', kind: 'MOVIE', genres: ['Drama'] } }] }),
    }).then(async (res) => ((await res.json()) as { applied?: boolean }).applied === true);
  const pendingApplied: Promise<void>[] = [];
  const probeLoops = async () => {
    const waits = (async () => {
      while (probing) {
        const n = probeSeq++;
        const t = performance.now();
        if (await post(`probe-${n}`, waitUsers[n % waitUsers.length]!, true)) waitLatencies.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    while (probing) {
      const n = probeSeq++;
      const eventId = `probe-${n}`;
      const t = performance.now();
      // Timed to its ProfileUpdated; the answer itself is not waited for, so the pace holds.
      const applied = new Promise<number | null>((resolve) => {
        appliedAt.set(eventId, resolve);
        setTimeout(() => resolve(null), 120_000).unref();
      }).finally(() => {
        appliedAt.delete(eventId);
        sentAt.delete(eventId);
      });
      const sentWall = Date.now();
      sentAt.set(eventId, sentWall);
      const sent = post(eventId, probeUsers[n % probeUsers.length]!, false).then(
        () => {
          stages.answered.push(Date.now() - sentWall);
          return applied;
        },
        () => null, // not accepted: no latency
      );
      pendingApplied.push(sent.then((at) => void (at !== null && latencies.push(at - t))));
      await new Promise((r) => setTimeout(r, 50));
    }
    await waits;
  };

  log(`phase 1, throughput: ${CONNECTIONS} connections × batches of ${BATCH} events for ${DURATION_S} s...`);
  const cpuBefore = cpuNow();
  const selfBefore = process.cpuUsage();
  const redisBefore = await redisCounters(redis);
  const started = performance.now();
  const load = await autocannon({
    url: `${url}/v1/events`,
    connections: CONNECTIONS,
    duration: process.env['BENCH_SKIP_THROUGHPUT'] ? 1 : DURATION_S,
    requests: [{ method: 'POST', headers: { 'content-type': 'application/json', ...auth.caller }, setupRequest: (req) => ({ ...req, body: body() }) }],
  });
  const loadEnded = performance.now();
  if (load.non2xx > 0 || load.errors > 0) throw new Error(`${load.non2xx} non-2xx responses, ${load.errors} errors`);
  const accepted = load.requests.total * BATCH;

  // Wait until the updater group has applied everything appended.
  const drain = async () => {
    if (!(await eventLog.waitApplied(await eventLog.tail(), PROFILE_UPDATER_GROUP, 600_000))) throw new Error('the updater did not catch up');
  };
  await drain();
  const drained = performance.now();
  const endToEnd = accepted / ((drained - started) / 1000);
  // What phase 1 cost per event, by process and at Redis (the capacity model of docs/SCALING.md).
  const cpuAfter = cpuNow();
  const self = process.cpuUsage(selfBefore);
  const redisUsed = redisDelta(redisBefore, await redisCounters(redis));
  const perEvent = {
    ...costPerEvent(cpuBefore, cpuAfter, redisUsed, accepted),
    redisBytes: (redisUsed.netInputBytes + redisUsed.netOutputBytes) / accepted,
    /** This process: autocannon's HTTP load (and the wait for the drain). */
    loadGeneratorCpuMs: (self.user + self.system) / 1000 / accepted,
  };

  // Steady phases: a sustained rate, a share of the burst's end-to-end rate, with probes.
  /** Entries ever appended to the partitions' streams (an HTTP batch is an entry per partition it touches). */
  const entriesAdded = async () => {
    let total = 0;
    for (let p = 0; p < eventLog.options.partitions; p++) {
      const info = (await redis.xinfo('STREAM', eventLog.streamKey(p))) as unknown[];
      const i = info.indexOf('entries-added');
      // Redis before 7.0 does not count them: the phase's backlog is then not judged.
      if (i < 0) return null;
      total += Number(info[i + 1]);
    }
    return total;
  };
  const steadyPhases: SteadyPhase[] = [];
  for (const share of STEADY_RATE === undefined ? STEADY_SHARES : [STEADY_RATE / endToEnd]) {
    const perSecond = Math.max(1, Math.floor((STEADY_RATE ?? share * endToEnd) / BATCH));
    log(`steady phase at ${Math.round(share * 100)}%: ${perSecond * BATCH} events/s for ${STEADY_DURATION_S} s with probes (through the updater group, and ?wait=applied)...`);
    latencies.length = 0;
    waitLatencies.length = 0;
    for (const list of Object.values(stages)) list.length = 0;
    pendingApplied.length = 0;
    const steadyCpuBefore = cpuNow();
    const steadyRedisBefore = await redisCounters(redis);
    const samples: [number, number][] = [];
    const addedBefore = await entriesAdded();
    const phaseStart = performance.now();
    const sampler = setInterval(() => {
      const at = (performance.now() - phaseStart) / 60_000;
      void backlog(eventLog, PROFILE_UPDATER_GROUP).then((b) => samples.push([at, b]), () => undefined);
    }, 1000);
    probing = true;
    const probes = probeLoops();
    let steady: PacedLoadResult;
    try {
      // Evenly spaced batches (autocannon's overallRate would send each second's quota at its start).
      steady = await pacedLoad({ url: `${url}/v1/events`, connections: CONNECTIONS, durationS: STEADY_DURATION_S, rate: perSecond, headers: auth.caller, body }).done;
    } finally {
      clearInterval(sampler);
    }
    const addedAfter = await entriesAdded();
    const entriesPerSecond = addedBefore === null || addedAfter === null ? null : (addedAfter - addedBefore) / ((performance.now() - phaseStart) / 1000);
    probing = false;
    await probes;
    await Promise.all(pendingApplied); // probes still in the updater's backlog when the load stopped
    if (steady.non2xx > 0 || steady.errors > 0) throw new Error(`${steady.non2xx} non-2xx responses in the steady phase at ${share}`);
    await drain();
    // The phase's cost per event (small batches at a steady rate), until all of it was applied.
    const steadyCpuAfter = cpuNow();
    const steadyRedis = redisDelta(steadyRedisBefore, await redisCounters(redis));
    const events = steady.requests * BATCH;
    const eventsPerSecond = perSecond * BATCH;
    const perMinute = slope(samples.filter(([at]) => at * 60 >= SLOPE_SKIP_S));
    steadyPhases.push({
      share,
      eventsPerSecond,
      ingestToApplied: percentiles(latencies),
      stages: { answered: percentiles(stages.answered), published: percentiles(stages.published), delivered: percentiles(stages.delivered) },
      readYourWrites: percentiles(waitLatencies),
      goalP99Ms: STEADY_RATE === undefined ? STEADY_GOALS_MS[String(share)] ?? null : null,
      achievedEventsPerSecond: events / STEADY_DURATION_S,
      backlog: { max: Math.max(0, ...samples.map(([, b]) => b)), end: samples.at(-1)?.[1] ?? 0, slopePerMinute: perMinute, flat: entriesPerSecond === null ? null : perMinute < entriesPerSecond },
      perEvent: costPerEvent(steadyCpuBefore, steadyCpuAfter, steadyRedis, events),
    });
  }
  await Promise.all(unsubscribe.map((u) => u()));

  const sizes: number[] = [];
  // The ledger of applied event ids beside each profile (what makes redeliveries count once).
  const ledgerSizes: number[] = [];
  const ledgerEntries: number[] = [];
  for await (const keys of scanKeys(redis, `${prefix}{u:user-*}:profile`, 200)) {
    for (const k of keys.slice(0, 200 - sizes.length)) {
      sizes.push(Number(await redis.memory('USAGE', k)));
      const ledger = k.replace(/:profile$/, ':applied');
      ledgerSizes.push(Number((await redis.memory('USAGE', ledger)) ?? 0));
      ledgerEntries.push(await redis.zcard(ledger));
    }
    if (sizes.length >= 200) break;
  }
  await server.stop();
  await Promise.all(updaters.map((u) => u.stop()));

  log('running redis-benchmark (SET, pipeline 32) against the same Redis...');
  const redisSetsPerSecond = redisBenchmark();

  await deleteByPrefix(redis, prefix);
  await backends.close();

  const result = {
    redis: REDIS_URL,
    connections: CONNECTIONS,
    batch: BATCH,
    users: USERS,
    partitions: Number(PARTITIONS),
    updaters: UPDATERS,
    acceptedEvents: accepted,
    ingestEventsPerSecond: accepted / ((loadEnded - started) / 1000),
    endToEndEventsPerSecond: endToEnd,
    drainSeconds: (drained - loadEnded) / 1000,
    steady: steadyPhases,
    bytesPerProfile: percentiles(sizes),
    ledgerBytesPerProfile: percentiles(ledgerSizes),
    ledgerEntriesPerProfile: percentiles(ledgerEntries),
    redisBenchmarkSetPerSecond: redisSetsPerSecond,
    ratioToRedisBenchmark: endToEnd / redisSetsPerSecond,
    perEvent,
  };
  saveReport(result);
  if (json) {
    console.log(JSON.stringify(result));
    return;
  }
  const f = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log(
    `Ingestion on Redis (${REDIS_URL}), ${CONNECTIONS} connections, batches of ${BATCH}, ${f(USERS)} users, ${PARTITIONS} stream partitions, ${SEPARATE_UPDATER ? `${UPDATERS === 1 ? 'updater in its own process' : `${UPDATERS} updater processes`}` : 'updater in the ingest process'}`,
  );
  console.log('');
  console.log('| figure | value | goal |');
  console.log('|---|---|---|');
  console.log(`| events accepted (HTTP, ${DURATION_S} s) | ${f(accepted)} |`);
  console.log(`| ingest rate (HTTP accepted) | ${f(result.ingestEventsPerSecond)} events/s |`);
  console.log(`| end to end (until every event is applied to its profile) | ${f(endToEnd)} events/s |`);
  console.log(`| updater drain after the load stopped | ${result.drainSeconds.toFixed(1)} s |`);
  for (const phase of result.steady) {
    const at = `${Math.round(phase.share * 100)}% of the burst, ${f(phase.eventsPerSecond)} events/s for ${STEADY_DURATION_S} s`;
    const goal = phase.goalP99Ms === null ? '' : `p99 <= ${phase.goalP99Ms} ms (${phase.ingestToApplied.p99 <= phase.goalP99Ms ? 'met' : 'NOT met'})`;
    console.log(`| ingest → applied by the updater group at ${at} (ProfileUpdated, n=${phase.ingestToApplied.n}) | p50 ${phase.ingestToApplied.p50.toFixed(1)} ms, p99 ${phase.ingestToApplied.p99.toFixed(1)} ms | ${goal} |`);
    const st = phase.stages;
    const pp = (x: ReturnType<typeof percentiles>) => `${x.p50.toFixed(0)} / ${x.p99.toFixed(0)}`;
    console.log(`|   the same probes by stage, p50 / p99 ms: POST → answered (in the stream); POST → published by the updater; published → received | ${pp(st.answered)}; ${pp(st.published)}; ${pp(st.delivered)} |  |`);
    console.log(`|   read-your-writes (?wait=applied: applied during the request) at the same rate (n=${phase.readYourWrites.n}) | p50 ${phase.readYourWrites.p50.toFixed(1)} ms, p99 ${phase.readYourWrites.p99.toFixed(1)} ms |  |`);
    console.log(`|   the updater group's backlog (entries, sampled every second): max, end, slope | ${f(phase.backlog.max)}, ${f(phase.backlog.end)}, ${f(phase.backlog.slopePerMinute)} per minute | flat (${phase.backlog.flat === null ? 'not judged: Redis before 7.0' : phase.backlog.flat ? 'met' : 'NOT met'}) |`);
    console.log(`|   cost per event (until all of it was applied): CPU ms of the ingest process / the updater${UPDATERS === 1 ? '' : 's'} / Redis; Redis commands | ${phase.perEvent.ingestCpuMs.toFixed(3)} / ${phase.perEvent.updaterCpuMs.toFixed(3)} / ${phase.perEvent.redisCpuMs.toFixed(3)} ms; ${phase.perEvent.redisCommands.toFixed(2)} |  |`);
  }
  console.log(`| bytes per profile (MEMORY USAGE, ${sizes.length} profiles) | median ${f(result.bytesPerProfile.p50)}, p99 ${f(result.bytesPerProfile.p99)} |`);
  console.log(`| bytes of each profile's ledger of applied event ids (same profiles; entries median ${f(result.ledgerEntriesPerProfile.p50)}) | median ${f(result.ledgerBytesPerProfile.p50)}, p99 ${f(result.ledgerBytesPerProfile.p99)} |`);
  console.log(`| redis-benchmark SET, pipeline 32, same run | ${f(redisSetsPerSecond)} ops/s |`);
  console.log(`| end-to-end events/s ÷ redis-benchmark SET/s | ${result.ratioToRedisBenchmark.toFixed(3)} | >= 0.05 (${result.ratioToRedisBenchmark >= 0.05 ? 'met' : 'NOT met'}) |`);
  console.log(
    `| cost per event in phase 1: CPU ms of the ingest process / the updater${UPDATERS === 1 ? '' : 's'} / Redis / the load generator; Redis commands; Redis network bytes | ${perEvent.ingestCpuMs.toFixed(3)} / ${perEvent.updaterCpuMs.toFixed(3)} / ${perEvent.redisCpuMs.toFixed(3)} / ${perEvent.loadGeneratorCpuMs.toFixed(3)} ms; ${perEvent.redisCommands.toFixed(2)}; ${f(perEvent.redisBytes)} B |`,
  );
}

await main();
