/**
 * npm run bench:audiences — the audiences subgraph under load, embedded (in-memory stores) and on
 * Redis (REDIS_URL, default redis://127.0.0.1:6379; a fresh key prefix per run, its keys deleted
 * afterwards). In each mode the 100 audiences of bench/lib/audiences-fixture.ts (trait conditions,
 * decayed affinity, inline event windows, series progress, SKU and category purchases, recency,
 * audiences of audiences, combinations) are live while a background load (bench/lib/background-load.ts,
 * a process of its own) posts AUDIENCES_BENCH_BG_EVENTS PLAY events/s (default 300) to
 * POST /v1/events for 5,000 other users, who each played once before (returning users). Measured:
 *
 * 1. event → membership: one PLAY (POST /v1/events) makes a warmed-up probe user enter an audience.
 *    First AUDIENCES_BENCH_PROBES probes (default 200) timed to the `audienceMembershipChanged
 *    (userId:)` message at a graphql-ws client subscribed through the gateway; then as many timed
 *    to the first `user(id) { audiences { audience { id } } }` through the gateway that shows the
 *    membership (queried back to back). Probes go out on a fixed schedule (every 40 ms) and are
 *    timed from when they were due, so a stall delays the probes behind it instead of hiding them
 *    (no coordinated omission). The change's `at` (when it was decided) splits the path;
 * 2. time-driven exits: one PLAY for each of AUDIENCES_BENCH_TIME_USERS users (default 200), then
 *    the exits of "1+ PLAY within 5 s" and "lastEventWithin 3 s" (for the probe cohort), due 5 s and
 *    3 s after the event's occurredAt: lateness is the exit message's arrival minus that due time;
 * 3. backfill: AUDIENCES_BENCH_PROFILES profiles (default 100,000; on memory
 *    AUDIENCES_BENCH_MEMORY_PROFILES, default 50,000) written straight into the profile store (no
 *    change notices), then an audience is created: profiles scanned ÷ (finishedAt − startedAt) of
 *    its backfill, BUILDING → LIVE;
 * and on Redis only:
 * 4. the profile updater's end-to-end events/s (AUDIENCES_BENCH_WORKLOAD_USERS fresh users ×
 *    AUDIENCES_BENCH_EVENTS_PER_USER events, default 1,000 × 15 plus an IDENTIFY each, posted in
 *    batches of 500, 4 at a time, timed until the updater group applied the last) with no audience,
 *    then the same workload for other fresh users with the 100 audiences (the audiences consumer
 *    group then reads every change notice): the ratio; and when the audiences consumer caught up;
 * 5. bytes per membership: MEMORY USAGE (all samples) of every membership hash and audience member
 *    set ÷ memberships, with the 100 audiences and again after the backfill; the due set's size.
 * The background load runs during 1 and 2 only.
 *
 * The subgraphs run in a child process (this file with the argument `audiences-subgraphs`:
 * startSubgraphs, as bench/platform-server.ts does, plus a loopback control endpoint that writes
 * profiles into the store and reports the process's CPU and event-loop delay per phase), the
 * gateway in another (bench/platform-server.ts gateway). AUDIENCES_BENCH_MODES=memory,redis.
 * On Redis the profile updater group runs in a process of its own, as bench:ingest, bench:soak and a
 * production deployment run it (`npm run start:profile-updater`); AUDIENCES_BENCH_SEPARATE_UPDATER=0
 * runs it inside the subgraphs process instead, where the audiences' evaluations share its event loop.
 * AUDIENCES_BENCH_NICE=<-20..19> runs that audiences process at this CPU priority (os.setPriority;
 * the README's "what was tried" has the figures: on these two shared cores the updater ratio and the
 * membership latency trade against each other).
 * On Redis the audiences subgraph runs in a process of its own too (this file with the arguments
 * `audiences-subgraphs audiences`, as `npm run start:audiences`; the others with `… profile`),
 * as a deployment runs each subgraph: in one process with the profile subgraph, its evaluations
 * held up the profile's POST /v1/events in the same event loop (in the throughput run with 100
 * audiences the posting took 5x as long, so the updater was fed slowly, in small batches of one
 * event per user). AUDIENCES_BENCH_AUDIENCES_APART=0 runs it with the others.
 *
 * Diagnostics: AUDIENCES_BENCH_DEBUG_TIMING=1 logs, per phase, the audiences consumer's batches and
 * the time of each store / profile-source call and the most frequent transitions;
 * AUDIENCES_BENCH_PHASE_PROFILE=<dir> writes a CPU profile of each subgraphs process per phase;
 * AUDIENCES_BENCH_CPU_PROFILE=<dir> one of its whole life; AUDIENCES_BENCH_UPDATER_PROFILE=<dir> one of the
 * separate updater process's whole life; AUDIENCES_BENCH_DEBUG=1 lists the
 * exits whose entry message never arrived.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import { Pool } from 'undici';
import WebSocket from 'ws';
import { DEMO_MOVIE_REFS } from '../demo/catalog.js';
import type { ProfileEvent } from '../lib/contracts/event.js';
import type { RedisStreamEventLog } from '../lib/eventlog/redis-streams.js';
import { createInfrastructure, PROFILE_CHANGE_KEYS, PROFILE_CHANGES_LOG } from '../lib/infrastructure.js';
import { deleteByPrefix, isCluster, scanKeys } from '../lib/redis/connection.js';
import type { RedisClient } from '../lib/redis/connection.js';
import { AUDIENCES_GROUP } from '../subgraphs/audiences/src/app/audience-service.js';
import type { AudienceService } from '../subgraphs/audiences/src/app/audience-service.js';
import { PROFILE_UPDATER_GROUP } from '../subgraphs/profile/src/app/profile-service.js';
import type { ProfileService } from '../subgraphs/profile/src/app/profile-service.js';
import type { ProfileStores } from '../subgraphs/profile/src/store/ports.js';
import { applyEvents } from '../subgraphs/profile/src/domain/reducer.js';
import {
  audienceSpecs,
  BACKFILL_AUDIENCE,
  PROBE_AUDIENCE,
  PROBE_COHORT,
  PROBE_ITEM,
  TIME_RECENCY,
  TIME_RECENCY_MS,
  TIME_WINDOW,
  TIME_WINDOW_MS,
  workload,
} from './lib/audiences-fixture.js';
import { benchAuth } from './lib/auth.js';
import type { BackgroundLoad } from './lib/background-load.js';
import { startChild } from './lib/child.js';
import type { BenchChild } from './lib/child.js';
import { gatewayClient } from './lib/gateway-client.js';
import type { GatewayClient } from './lib/gateway-client.js';
import { cpuSeconds, redisCounters } from './lib/process-stats.js';
import { saveReport } from './lib/report.js';
import { percentiles } from './lib/synthetic.js';

const CHILD_ROLE = 'audiences-subgraphs';
/** Profiles written side by side when seeding the store. */
const SEED_CHUNK = 2500;
const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const REDIS_URL = process.env['REDIS_URL'] || 'redis://127.0.0.1:6379';
const MODES = (process.env['AUDIENCES_BENCH_MODES'] ?? 'memory,redis').split(',').map((s) => s.trim());
const PROBES = num('AUDIENCES_BENCH_PROBES', 200);
const PROBE_INTERVAL_MS = num('AUDIENCES_BENCH_PROBE_INTERVAL', 40);
const TIME_USERS = num('AUDIENCES_BENCH_TIME_USERS', 200);
const PROFILES = num('AUDIENCES_BENCH_PROFILES', 100_000);
/** The embedded store lists its profiles in O(n) per page (see the report): fewer by default, to keep the run short. */
const MEMORY_PROFILES = num('AUDIENCES_BENCH_MEMORY_PROFILES', Math.min(PROFILES, 50_000));
const BG_EVENTS = num('AUDIENCES_BENCH_BG_EVENTS', 300);
const WORKLOAD_USERS = num('AUDIENCES_BENCH_WORKLOAD_USERS', 1000);
const WORKLOAD_PER_USER = num('AUDIENCES_BENCH_EVENTS_PER_USER', 15);
const WORKLOAD_BATCH = 500;
/** The background load's users (bench/lib/background-load.ts sends for bg-0 … bg-4999). */
const BG_USERS = 5000;
/** On Redis, the profile updater group in a process of its own (as `npm run start:profile-updater`). */
const SEPARATE_UPDATER = process.env['AUDIENCES_BENCH_SEPARATE_UPDATER'] !== '0';
/** On Redis, the audiences subgraph in a process of its own (as `npm run start:audiences`). */
const AUDIENCES_APART = process.env['AUDIENCES_BENCH_AUDIENCES_APART'] !== '0';
const WORKLOAD_CONNECTIONS = 4;
const PROBE_TIMEOUT_MS = 10_000;
const NODE_FLAGS = (process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);
const NICE = process.env['AUDIENCES_BENCH_NICE'] ? Number(process.env['AUDIENCES_BENCH_NICE']) : undefined;
if (NICE !== undefined && !(Number.isInteger(NICE) && NICE >= -20 && NICE <= 19)) throw new Error(`AUDIENCES_BENCH_NICE must be an integer from -20 to 19; got ${process.env['AUDIENCES_BENCH_NICE']}`);
const GOALS = { membershipP99Ms: 50, exitLatenessP99Ms: 1000, backfillProfilesPerSecond: 5000, throughputRatio: 0.8 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

// --- the child process: the subgraphs, and a control endpoint -------------------------------

/**
 * What a child process runs: every subgraph (`all`), every subgraph but audiences (`profile`), or
 * the audiences subgraph alone (`audiences`, on the profile subgraph at AUDIENCES_PROFILE_URL, as
 * `npm run start:audiences` runs it).
 */
type Part = 'all' | 'profile' | 'audiences';

async function child(part: Part): Promise<void> {
  const env = { ...process.env, HOST: '127.0.0.1', GATEWAY_PORT: '0', PROFILE_PORT: '0', RECOMMENDATIONS_PORT: '0', EXPERIMENTS_PORT: '0', AUDIENCES_PORT: '0', LOG_LEVEL: 'error' };
  let started: { subgraphUrls: Record<string, string>; profile: string | null; stores: string; audiences: AudienceService | null; close: () => Promise<void> };
  let profileSide: { profiles: ProfileStores['profiles']; service: ProfileService } | null = null;
  if (part === 'audiences') {
    const { startAudiencesProcess } = await import('../subgraphs/audiences/src/process.js');
    const { loadAudiencesConfig } = await import('../subgraphs/audiences/src/config.js');
    const audiences = await startAudiencesProcess(loadAudiencesConfig(env), env);
    started = { subgraphUrls: { audiences: `${audiences.server.url}/graphql` }, profile: null, stores: audiences.kind, audiences: audiences.server.service, close: audiences.close };
  } else {
    const { startSubgraphs } = await import('../platform/platform.js');
    const subgraphs = await startSubgraphs({ env, audiences: part === 'all' });
    profileSide = { profiles: subgraphs.backends.profileStores.profiles, service: subgraphs.profile.service };
    started = { subgraphUrls: subgraphs.subgraphUrls, profile: subgraphs.profile.url, stores: subgraphs.backends.kind, audiences: subgraphs.audiences?.service ?? null, close: subgraphs.close };
  }
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  // AUDIENCES_BENCH_DEBUG_TIMING=1: the audiences consumer's batches (size, lag of the oldest notice, duration), on /stats.
  const batches: { size: number; users: number; lagMs: number; ms: number }[] = [];
  const parts: Record<string, number[]> = {};
  const transitions = new Map<string, number>();
  if (process.env['AUDIENCES_BENCH_DEBUG_TIMING'] && started.audiences) {
    const service = started.audiences;
    const handle = service.handleNotices.bind(service);
    // The parts: each async method of the service's collaborators, timed.
    const inner = service as unknown as Record<string, Record<string, Record<string, unknown>>>;
    const targets: [string, Record<string, unknown>, string][] = [
      ['source.profiles', inner['source'] as unknown as Record<string, unknown>, 'profiles'],
      ['source.page', inner['source'] as unknown as Record<string, unknown>, 'page'],
      ['memberships.ofMany', inner['stores']!['memberships']!, 'ofMany'],
      ['audiences.replace', inner['stores']!['audiences']!, 'replace'],
      ['memberships.of', inner['stores']!['memberships']!, 'of'],
      ['memberships.apply', inner['stores']!['memberships']!, 'apply'],
      ['due.schedule', inner['stores']!['due']!, 'schedule'],
      ['audiences.version', inner['stores']!['audiences']!, 'version'],
      ['changes.append', inner['outputs']!['changes']!, 'append'],
      ['pubsub.publish', inner['outputs']!['pubsub']!, 'publish'],
    ];
    for (const [name, obj, method] of targets) {
      const fn = (obj[method] as (...a: unknown[]) => Promise<unknown>).bind(obj);
      obj[method] = async (...a: unknown[]) => {
        const t = performance.now();
        try {
          return await fn(...a);
        } finally {
          (parts[name] ??= []).push(performance.now() - t);
        }
      };
    }
    const changes = inner['outputs']!['changes']! as unknown as { append: (c: { audienceId: string; entered: boolean; reason: string }[]) => Promise<unknown> };
    const append = changes.append.bind(changes);
    changes.append = (list) => {
      for (const c of list) transitions.set(`${c.audienceId} ${c.entered ? 'in' : 'out'} ${c.reason}`, (transitions.get(`${c.audienceId} ${c.entered ? 'in' : 'out'} ${c.reason}`) ?? 0) + 1);
      return append(list);
    };
    service.handleNotices = async (notices) => {
      const t = Date.now();
      const lagMs = t - Math.min(...notices.map((n) => n.at));
      try {
        return await handle(notices);
      } finally {
        batches.push({ size: notices.length, users: new Set(notices.map((n) => n.userId)).size, lagMs, ms: Date.now() - t });
      }
    };
  }

  /** Profiles written straight into the store (no change notice): what a migration or a long-lived store holds. */
  const seed = async (prefix: string, count: number, perUser: number) => {
    if (!profileSide) throw new Error('no profile subgraph in this process');
    const { profiles, service: profileService } = profileSide;
    await profileService.traits.fresh();
    const config = profileService.reducerConfig;
    const end = Date.now();
    for (let offset = 0; offset < count; offset += SEED_CHUNK) {
      const events = workload(prefix, Math.min(SEED_CHUNK, count - offset), perUser, end, 11, offset);
      const byUser = new Map<string, ProfileEvent[]>();
      for (const e of events) (byUser.get(e.userId) ?? byUser.set(e.userId, []).get(e.userId)!).push(e);
      await Promise.all([...byUser].map(([userId, list]) => profiles.apply(userId, list, (current, fresh, owned) => applyEvents(current, fresh, config, owned).profile)));
    }
  };
  let inspector: import('node:inspector/promises').Session | undefined;
  const routes: Record<string, (body: Record<string, unknown>) => Promise<unknown>> = {
    '/seed': async (b) => {
      const t = performance.now();
      await seed(String(b['prefix']), Number(b['count']), Number(b['perUser']));
      return { seconds: (performance.now() - t) / 1000 };
    },
    // AUDIENCES_BENCH_PHASE_PROFILE=<dir>: a CPU profile of one phase (inspector), written there.
    '/profile-start': async () => {
      const { Session } = await import('node:inspector/promises');
      inspector = new Session();
      inspector.connect();
      await inspector.post('Profiler.enable');
      await inspector.post('Profiler.start');
      return {};
    },
    '/profile-stop': async (b) => {
      const { profile } = (await inspector!.post('Profiler.stop')) as { profile: unknown };
      const { writeFileSync, mkdirSync } = await import('node:fs');
      mkdirSync(String(b['dir']), { recursive: true });
      writeFileSync(join(String(b['dir']), `${String(b['name'])}${part === 'all' ? '' : `-${part}`}.cpuprofile`), JSON.stringify(profile));
      inspector!.disconnect();
      return {};
    },
    '/delete': async (b) => {
      if (!profileSide) throw new Error('no profile subgraph in this process');
      const { profiles } = profileSide;
      const ids = Array.from({ length: Number(b['count']) }, (_, i) => `${String(b['prefix'])}${i}`);
      for (let i = 0; i < ids.length; i += 500) await Promise.all(ids.slice(i, i + 500).map((id) => profiles.delete(id)));
      return { deleted: ids.length };
    },
    // CPU so far, and the event-loop delay since the previous call (a busy loop delays every request in it).
    '/stats': async () => {
      const ms = (ns: number) => ns / 1e6;
      const pct = (xs: number[]) => {
        const sorted = [...xs].sort((a, b) => a - b);
        return { n: sorted.length, p50: sorted[Math.floor(sorted.length / 2)], p99: sorted[Math.floor(sorted.length * 0.99)], max: sorted[sorted.length - 1] };
      };
      const consumer = batches.length ? { size: pct(batches.map((b) => b.size)), users: pct(batches.map((b) => b.users)), lagMs: pct(batches.map((b) => b.lagMs)), ms: pct(batches.map((b) => b.ms)) } : undefined;
      batches.length = 0;
      const timing = Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, { ...pct(v), p50: Math.round(pct(v).p50! * 10) / 10, p99: Math.round(pct(v).p99! * 10) / 10 }]));
      for (const k of Object.keys(parts)) delete parts[k];
      const top = [...transitions].sort((a, b) => b[1] - a[1]).slice(0, 12);
      transitions.clear();
      const out = { top, timing, cpu: process.cpuUsage(), rss: process.memoryUsage().rss, loopDelayMs: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) }, consumer };
      loop.reset();
      return out;
    },
  };
  const control = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const route = routes[req.url ?? ''];
      if (!route) return void res.writeHead(404).end();
      route(body ? (JSON.parse(body) as Record<string, unknown>) : {}).then(
        (out) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out)),
        (err: unknown) => res.writeHead(500).end(String((err as Error)?.stack ?? err)),
      );
    });
  });
  await new Promise<void>((r) => control.listen(0, '127.0.0.1', r));
  const controlUrl = `http://127.0.0.1:${(control.address() as AddressInfo).port}`;
  process.stdout.write(`${JSON.stringify({ subgraphUrls: started.subgraphUrls, profile: started.profile, stores: started.stores, control: controlUrl })}\n`);
  process.on('SIGTERM', () => {
    control.close();
    void started.close().then(() => process.exit(0));
  });
}

// --- the benchmark ----------------------------------------------------------------------------

const json = process.argv.includes('--json');
const log = (m: string) => {
  if (!json) console.error(m);
};

type Pct = ReturnType<typeof percentiles>;

interface Change {
  entered: boolean;
  reason: string;
  at: string;
  audience: { id: string };
  user: { id: string };
}

interface ModeResult {
  stores: string;
  /** The profile updater group ran in a process of its own (else in the subgraphs process). */
  separateUpdater: boolean;
  audiences: number;
  /** Probes through the query path: event → first query showing the membership. */
  membershipQueryMs: Pct & { lost: number; queriesPerProbe: number; queryMs: Pct };
  /** Probes through the subscription path: event → message at the client. */
  subscriptionMs: Pct & { lost: number };
  /** Event sent → the decision's time (`at` of the message / `since`), both probe paths. */
  eventToDecisionMs: Pct;
  timeExits: {
    users: number;
    /** Lateness of the exit message at the client after the due time, both audiences. */
    latenessMs: Pct;
    windowLatenessMs: Pct;
    recencyLatenessMs: Pct;
    /** Lateness of the decision (`at` of the exit) after the due time. */
    decisionLatenessMs: Pct;
    /** Exits not received within 10 s of the last due time. */
    missing: number;
    /** Exits whose entry message (sent with the others of the same evaluation) never reached the client. */
    entriesNotDelivered: number;
    reasons: Record<string, number>;
  };
  backfill: { seededProfiles: number; seedSeconds: number; scanned: number; total: number | null; seconds: number; profilesPerSecond: number; wallSeconds: number; members: number };
  throughput?: {
    events: number;
    zero: ThroughputRun;
    hundred: ThroughputRun;
    ratio: number;
  };
  bytesPerMembership?: MembershipBytes;
  bytesPerMembershipAfterBackfill?: MembershipBytes;
  background: { eventsPerSecond: number; errors: number; latencyMs: { p50: number; p99: number } };
  subscriptionsLive: { expected: number; live: number; errors: number };
  /** The audiences subgraph ran in a process of its own (Redis; else with the other subgraphs). */
  audiencesApart: boolean;
  /** Each process with a control endpoint (`subgraphs`, and `audiences` when apart) in each phase. */
  processes: Record<string, Record<string, ProcessLoad>>;
}

interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

interface ProcessLoad {
  cpuCores: number;
  loopDelayMs: LoopDelay;
}

interface ThroughputRun {
  audiences: number;
  events: number;
  /** accepted → applied by the updater group. */
  eventsPerSecond: number;
  httpSeconds: number;
  appliedSeconds: number;
  /** From the first event until the audiences consumer group had read every change notice. */
  audiencesCaughtUpSeconds: number | null;
  /** CPU seconds of the subgraphs process during the run. */
  subgraphsCpuSeconds: number;
  /** CPU seconds of the audiences process, the profile updater process (each when it runs apart) and Redis. */
  audiencesCpuSeconds: number | null;
  updaterCpuSeconds: number | null;
  redisCpuSeconds: number | null;
}

interface CpuSample {
  subgraphs: number;
  audiences?: number | undefined;
  updater?: number | undefined;
  redis?: number;
}

interface MembershipBytes {
  memberships: number;
  /** Users with a membership hash, and those of them in no audience now. */
  users: number;
  usersWithoutMembership: number;
  /** The due set (time-driven re-evaluations scheduled): entries and bytes. */
  dueEntries: number;
  dueBytes: number;
  audiences: number;
  hashBytes: number;
  memberSetBytes: number;
  bytesPerMembership: number;
  hashBytesPerMembership: number;
  memberSetBytesPerMembership: number;
}

/** POST /v1/events on the profile subgraph. */
function eventsClient(profileUrl: string, caller: Record<string, string>) {
  const pool = new Pool(profileUrl, { connections: 16 });
  const headers = { 'content-type': 'application/json', ...caller };
  return {
    async post(events: readonly unknown[]): Promise<{ accepted: number; duplicates: number; rejected: unknown[] }> {
      const res = await pool.request({ path: '/v1/events', method: 'POST', headers, body: JSON.stringify({ events }) });
      const body = (await res.body.json()) as { accepted: number; duplicates: number; rejected: unknown[] };
      if (res.statusCode !== 200) throw new Error(`POST /v1/events answered ${res.statusCode}: ${JSON.stringify(body).slice(0, 500)}`);
      return body;
    },
    close: () => pool.close(),
  };
}

async function control<T>(base: string, path: string, body: unknown = {}): Promise<T> {
  const res = await fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(600_000) });
  if (!res.ok) throw new Error(`control ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const CREATE = `mutation ($input: AudienceInput!) { createAudience(input: $input) { id status } }`;
const STATUSES = `query { audiences { id status } }`;
const AUDIENCE = `query ($id: ID!) { audience(id: $id) { status size backfill { scanned total startedAt finishedAt } } }`;
const MEMBERSHIPS = `query ($id: ID!) { user(id: $id) { audiences { since audience { id } } } }`;
const CHANGES = `subscription ($userId: ID!) { audienceMembershipChanged(userId: $userId) { entered reason at audience { id } user { id } } }`;

async function runMode(mode: string): Promise<ModeResult> {
  const auth = await benchAuth();
  const run = randomUUID().slice(0, 6);
  const prefix = `bench:aud-${run}:`;
  const base = { ...process.env, ...auth.env, BENCH_LOOP_DELAY: '1' };
  const env: NodeJS.ProcessEnv = mode === 'redis' ? { ...base, REDIS_URL, REDIS_PREFIX: prefix } : { ...base, REDIS_URL: '', REDIS_CLUSTER_NODES: '' };
  const began = performance.now();
  const elapsed = () => Math.round((performance.now() - began) / 1000);
  const separateUpdater = mode === 'redis' && SEPARATE_UPDATER;
  const audiencesApart = mode === 'redis' && AUDIENCES_APART;
  const childOf = (part: Part, childEnv: NodeJS.ProcessEnv) =>
    startChild<{ subgraphUrls: Record<string, string>; profile: string; stores: string; control: string }>(new URL(import.meta.url), {
      args: [CHILD_ROLE, part],
      env: childEnv,
      nodeFlags: NODE_FLAGS,
      ...(process.env['AUDIENCES_BENCH_CPU_PROFILE'] ? { cpuProfileDir: process.env['AUDIENCES_BENCH_CPU_PROFILE'] } : {}),
      ready: true,
      readyTimeoutMs: 120_000,
    });
  const subgraphs = await childOf(audiencesApart ? 'profile' : 'all', { ...env, ...(separateUpdater ? { PROFILE_RUN_UPDATER: 'false' } : {}) });
  const audiencesChild = audiencesApart ? await childOf('audiences', { ...env, AUDIENCES_PROFILE_URL: `${subgraphs.info.profile}/graphql` }) : undefined;
  if (NICE !== undefined && audiencesChild?.process.pid) setPriority(audiencesChild.process.pid, NICE);
  const updaterProfile = process.env['AUDIENCES_BENCH_UPDATER_PROFILE'];
  const updater = separateUpdater ? await startChild(new URL('../subgraphs/profile/src/updater-main.ts', import.meta.url), { env, nodeFlags: NODE_FLAGS, ...(updaterProfile ? { cpuProfileDir: updaterProfile } : {}) }) : undefined;
  const gatewayChild = await startChild<{ url: string }>(new URL('./platform-server.ts', import.meta.url), {
    args: ['gateway'],
    env: { ...env, BENCH_SUBGRAPH_URLS: JSON.stringify({ ...subgraphs.info.subgraphUrls, ...audiencesChild?.info.subgraphUrls }) },
    nodeFlags: NODE_FLAGS,
    ready: true,
    readyTimeoutMs: 120_000,
  });
  const { stores, profile, control: controlUrl } = subgraphs.info;
  const gateway = gatewayChild.info.url;
  const { gql, close: closeGateway } = gatewayClient(gateway, auth.caller, { connections: 16, errorChars: 500 });
  const events = eventsClient(profile, auth.caller);
  const infrastructure = mode === 'redis' ? createInfrastructure(env) : null;
  const redis = infrastructure?.redis?.client ?? null;
  const background: BenchChild<unknown>[] = [];
  const clients: Client[] = [];
  const bgFile = join(tmpdir(), `bench-audiences-${process.pid}-${run}-bg.json`);
  /** The control endpoints: the subgraphs process, and the audiences process when it runs apart. */
  const controls: Record<string, string> = { subgraphs: controlUrl, ...(audiencesChild ? { audiences: audiencesChild.info.control } : {}) };
  /** Each control endpoint's process: CPU so far and its event-loop delay since the last look. */
  const stats = async () => {
    const procs: Record<string, { cpuSeconds: number; loopDelayMs: LoopDelay }> = {};
    for (const [name, url] of Object.entries(controls)) {
      const s = await control<{ cpu: { user: number; system: number }; loopDelayMs: LoopDelay; consumer?: unknown }>(url, '/stats');
      if (s.consumer || Object.keys((s as { timing?: object }).timing ?? {}).length > 0) log(`  [debug] audiences consumer batches since the last look: ${JSON.stringify(s.consumer)}\n  [debug] parts: ${JSON.stringify((s as { timing?: unknown }).timing)}\n  [debug] transitions: ${JSON.stringify((s as { top?: unknown }).top)}`);
      procs[name] = { cpuSeconds: (s.cpu.user + s.cpu.system) / 1e6, loopDelayMs: s.loopDelayMs };
    }
    return { procs, at: performance.now() };
  };
  /** CPU so far of the subgraphs process(es), the separate updater and Redis (the throughput runs). */
  const cpuSample = async (): Promise<CpuSample> => {
    const { procs } = await stats();
    return { subgraphs: procs['subgraphs']!.cpuSeconds, audiences: procs['audiences']?.cpuSeconds, updater: cpuSeconds(updater?.process.pid), ...(redis ? { redis: (await redisCounters(redis)).cpuSeconds } : {}) };
  };
  /** Each process over a phase: CPU (1 = one core busy all the time) and its event-loop delay. */
  const phase = (from: Awaited<ReturnType<typeof stats>>, to: Awaited<ReturnType<typeof stats>>): Record<string, ProcessLoad> =>
    Object.fromEntries(
      Object.entries(to.procs).map(([name, p]) => [name, { cpuCores: (p.cpuSeconds - from.procs[name]!.cpuSeconds) / ((to.at - from.at) / 1000), loopDelayMs: p.loopDelayMs }]),
    );
  const load: Record<string, Record<string, ProcessLoad>> = {};
  /** A CPU profile of a phase in each process (AUDIENCES_BENCH_PHASE_PROFILE). */
  const profileStart = async () => {
    for (const url of Object.values(controls)) await control(url, '/profile-start');
  };
  const profileStop = async (dir: string, name: string) => {
    for (const url of Object.values(controls)) await control(url, '/profile-stop', { dir, name });
  };
  try {
    // --- 4 (first half). The updater's throughput with no audience (Redis) ---------------------
    let zero: ThroughputRun | undefined;
    if (infrastructure) {
      log(`  [${mode} +${elapsed()}s] warm-up, then the updater's throughput with 0 audiences (${WORKLOAD_USERS} users × ${WORKLOAD_PER_USER + 1} events)...`);
      await throughput(infrastructure, events, `w-${run}-`, 500, 10, 0, cpuSample);
      zero = await throughput(infrastructure, events, `t0-${run}-`, WORKLOAD_USERS, WORKLOAD_PER_USER, 0, cpuSample);
      // Their profiles go (straight from the store): the 100 backfills below would scan them.
      await control(controlUrl, '/delete', { prefix: `w-${run}-`, count: 500 });
      await control(controlUrl, '/delete', { prefix: `t0-${run}-`, count: WORKLOAD_USERS });
    }

    // --- the 100 audiences -------------------------------------------------------------------
    const specs = audienceSpecs();
    log(`  [${mode} +${elapsed()}s] creating ${specs.length} audiences...`);
    for (const s of specs) await gql(CREATE, { input: { id: s.id, name: s.name, rule: s.rule } });
    for (const deadline = performance.now() + 120_000; ; ) {
      const { audiences } = await gql<{ audiences: { id: string; status: string }[] }>(STATUSES);
      if (audiences.length >= specs.length && audiences.every((a) => a.status === 'LIVE')) break;
      if (performance.now() > deadline) throw new Error(`audiences not LIVE after 120 s: ${audiences.filter((a) => a.status !== 'LIVE').length} building`);
      await sleep(100);
    }
    await sleep(1200); // the profile's computed-trait definitions are at most 1 s old when it applies

    // --- 4 (second half). The same workload with 100 audiences -------------------------------
    let throughputResult: ModeResult['throughput'];
    if (infrastructure && zero) {
      log(`  [${mode} +${elapsed()}s] the updater's throughput with ${specs.length} audiences...`);
      const profileDir = process.env['AUDIENCES_BENCH_PHASE_PROFILE'];
      if (profileDir) await profileStart();
      const hundred = await throughput(infrastructure, events, `t1-${run}-`, WORKLOAD_USERS, WORKLOAD_PER_USER, specs.length, cpuSample);
      if (profileDir) await profileStop(profileDir, `throughput-${mode}`);
      throughputResult = { events: hundred.events, zero, hundred, ratio: hundred.eventsPerSecond / zero.eventsPerSecond };
    }

    // --- background users: each plays once first, so the load below is of returning users ------
    if (BG_EVENTS > 0) {
      log(`  [${mode} +${elapsed()}s] ${BG_USERS.toLocaleString('en-US')} background users play once (returning users from then on)...`);
      const first = Array.from({ length: BG_USERS }, (_, k) => ({ eventId: `bg-first-${run}-${k}`, userId: `bg-${k}`, type: 'PLAY', occurredAt: Date.now(), item: DEMO_MOVIE_REFS[k % DEMO_MOVIE_REFS.length] }));
      for (let i = 0; i < first.length; i += 500) await events.post(first.slice(i, i + 500));
      await settled(gql, events, `settle-${run}`);
    }

    // --- subscriptions for the probe and time users --------------------------------------------
    const subUsers = Array.from({ length: PROBES }, (_, i) => `ps-${run}-${i}`);
    const queryUsers = Array.from({ length: PROBES }, (_, i) => `pq-${run}-${i}`);
    const timeUsers = Array.from({ length: TIME_USERS }, (_, i) => `tm-${run}-${i}`);
    const inbox = new Map<string, { change: Change; perf: number; wall: number }[]>();
    const waiters = new Map<string, (perf: number, wall: number, change: Change) => void>();
    let subscriptionErrors = 0;
    const watch = (userId: string, audienceId: string, entered: boolean) => `${userId}|${audienceId}|${entered}`;
    for (let i = 0; i < 8; i++) {
      clients.push(createClient({ url: gateway.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, connectionParams: auth.caller }));
    }
    // One subscription first, alone, until it delivers: on Redis the subgraph opens its subscriber
    // connection on the first SUBSCRIBE, and a SUBSCRIBE sent while that connection is still in its
    // handshake breaks it (see this benchmark's report); the burst below then finds it ready.
    const primerUser = `primer-${run}`;
    let primed = false;
    const primer = clients[0]!.subscribe({ query: CHANGES, variables: { userId: primerUser } }, { next: (m) => void (primed ||= !!m.data), error: () => undefined, complete: () => undefined });
    for (let k = 0; !primed && k < 40; k++) {
      await events.post([{ eventId: `primer-${run}-${k}`, userId: primerUser, type: 'IDENTIFY', occurredAt: Date.now(), traits: { cohort: k % 2 === 0 ? 'probe' : 'none' } }]);
      for (const until = performance.now() + 500; !primed && performance.now() < until; ) await sleep(20);
    }
    if (!primed) log(`  [${mode}] the primer subscription never delivered; going on`);
    // A subscription that fails (the gateway then ends it) is opened again, up to 3 times.
    const subscribeUser = (userId: string, i: number, attempt = 0): void => {
      let failed = false;
      const retry = (detail: string) => {
        if (subscriptionErrors++ === 0) log(`  [${mode}] first subscription error (opened again): ${detail.slice(0, 300)}`);
        if (failed || attempt >= 3) return;
        failed = true;
        setTimeout(() => subscribeUser(userId, i, attempt + 1), 200);
      };
      clients[i % clients.length]!.subscribe(
        { query: CHANGES, variables: { userId } },
        {
          next: (m) => {
            const perf = performance.now();
            const wall = Date.now();
            const change = (m.data as { audienceMembershipChanged?: Change } | undefined)?.audienceMembershipChanged;
            if (!change) return retry(JSON.stringify(m));
            (inbox.get(userId) ?? inbox.set(userId, []).get(userId)!).push({ change, perf, wall });
            waiters.get(watch(userId, change.audience.id, change.entered))?.(perf, wall, change);
          },
          error: (err) => retry(String((err as Error)?.message ?? JSON.stringify(err))),
          complete: () => undefined,
        },
      );
    };
    [...subUsers, ...timeUsers].forEach((userId, i) => subscribeUser(userId, i));
    log(`  [${mode} +${elapsed()}s] ${subUsers.length + timeUsers.length} subscriptions through the gateway; background load ${BG_EVENTS} events/s...`);

    // Background load: a steady stream of PLAY events for bg-0..bg-4999 (a process of its own).
    if (BG_EVENTS > 0) {
      const load: BackgroundLoad = { kind: 'events', url: `${profile}/v1/events`, rate: BG_EVENTS / 10, connections: 2, headers: auth.caller, resultFile: bgFile };
      background.push(await startChild(new URL('./lib/background-load.ts', import.meta.url), { args: [JSON.stringify(load)], ready: true }));
    }
    await sleep(2000); // subscriptions upstream, background load at its rate

    // Warm-up: every probe and time user identifies into the probe cohort (a profile exists, as
    // for a returning user); the entry message tells that the user's subscription is live.
    const warm = [...subUsers, ...queryUsers, ...timeUsers];
    for (let i = 0; i < warm.length; i += 200) {
      await events.post(warm.slice(i, i + 200).map((userId) => ({ eventId: `warm-${userId}`, userId, type: 'IDENTIFY', occurredAt: Date.now(), traits: { cohort: 'probe' } })));
    }
    const subscribed = [...subUsers, ...timeUsers];
    const isLive = (u: string) => inbox.get(u)?.some((m) => m.change.audience.id === PROBE_COHORT) ?? false;
    // Users whose subscription was opened again after the warm-up: out of the cohort and back in.
    for (let round = 1, deadline = performance.now() + 15_000; performance.now() < deadline && !subscribed.every(isLive); round++) {
      await sleep(2500);
      const late = subscribed.filter((u) => !isLive(u));
      for (const cohort of ['none', 'probe']) {
        for (let i = 0; i < late.length; i += 200) {
          await events.post(late.slice(i, i + 200).map((userId) => ({ eventId: `warm-${userId}-${round}-${cohort}`, userId, type: 'IDENTIFY', occurredAt: Date.now(), traits: { cohort } })));
        }
      }
    }
    // The warm-up's own transitions settle first: its "lastEventWithin 3 s" exits come 3 s after it.
    await sleep(TIME_RECENCY_MS + 1000);
    const liveSub = subUsers.filter(isLive);
    const liveTime = timeUsers.filter(isLive);
    log(`  [${mode} +${elapsed()}s] ${liveSub.length + liveTime.length} of ${subscribed.length} subscriptions live; ${PROBES} subscription probes, then ${PROBES} query probes, every ${PROBE_INTERVAL_MS} ms...`);

    // --- 1. event → membership, by query and by subscription -----------------------------------
    const queryLatencies: number[] = [];
    const queryTimes: number[] = [];
    const subLatencies: number[] = [];
    const decisions: number[] = [];
    let queryLost = 0;
    let subLost = 0;
    let polls = 0;
    const probeEvent = (userId: string, i: number) => ({ eventId: `probe-${run}-${i}`, userId, type: 'PLAY', occurredAt: Date.now(), item: PROBE_ITEM });
    const queryProbe = async (userId: string, i: number, due: number) => {
      const sentWall = Date.now();
      await events.post([probeEvent(userId, i)]);
      for (;;) {
        const q = performance.now();
        const r = await gql<{ user: { audiences: { since: string; audience: { id: string } }[] } }>(MEMBERSHIPS, { id: userId });
        const done = performance.now();
        queryTimes.push(done - q);
        polls++;
        const m = r.user.audiences.find((a) => a.audience.id === PROBE_AUDIENCE);
        if (m) {
          queryLatencies.push(done - due);
          decisions.push(Date.parse(m.since) - sentWall);
          return;
        }
        if (done - due > PROBE_TIMEOUT_MS) return void queryLost++;
      }
    };
    const subProbe = async (userId: string, i: number, due: number) => {
      if (!liveSub.includes(userId)) return;
      const sentWall = Date.now();
      const key = watch(userId, PROBE_AUDIENCE, true);
      const arrived = new Promise<{ perf: number; change: Change } | null>((resolve) => {
        waiters.set(key, (perf, _wall, change) => resolve({ perf, change }));
        setTimeout(() => resolve(null), PROBE_TIMEOUT_MS).unref();
      });
      await events.post([probeEvent(userId, i)]);
      const got = await arrived;
      waiters.delete(key);
      if (!got) return void subLost++;
      subLatencies.push(got.perf - due);
      decisions.push(Date.parse(got.change.at) - sentWall);
    };
    // Two phases, each on a fixed schedule: the subscription probes first (nothing polls meanwhile),
    // then the query probes (each polls its user back to back until the membership shows).
    const probeProfileDir = process.env['AUDIENCES_BENCH_PHASE_PROFILE'];
    if (probeProfileDir) await profileStart();
    const scheduled = async (users: string[], offset: number, probe: (userId: string, i: number, due: number) => Promise<void>) => {
      const running: Promise<void>[] = [];
      const start = performance.now() + 50;
      for (const [k, userId] of users.entries()) {
        const due = start + k * PROBE_INTERVAL_MS;
        await sleep(due - performance.now());
        running.push(probe(userId, offset + k, due));
      }
      await Promise.all(running);
    };
    let from = await stats();
    await scheduled(subUsers, 0, subProbe);
    load['subscriptionProbes'] = phase(from, (from = await stats()));
    await scheduled(queryUsers, PROBES, queryProbe);
    load['queryProbes'] = phase(from, await stats());
    if (probeProfileDir) await profileStop(probeProfileDir, `probes-${mode}`);

    // --- 2. time-driven exits --------------------------------------------------------------------
    log(`  [${mode} +${elapsed()}s] time-driven exits: ${liveTime.length} users, one PLAY each (exits due 3 s and 5 s later)...`);
    const timeStats = await stats();
    const playedAt = new Map<string, number>();
    const spread = Math.max(1, Math.floor(4000 / Math.max(1, liveTime.length)));
    const sends: Promise<unknown>[] = [];
    for (const [i, userId] of liveTime.entries()) {
      await sleep(spread);
      const at = Date.now();
      playedAt.set(userId, at);
      sends.push(events.post([{ eventId: `time-${run}-${i}`, userId, type: 'PLAY', occurredAt: at, item: PROBE_ITEM }]));
    }
    await Promise.all(sends);
    const messagesOf = (userId: string, audienceId: string) => (inbox.get(userId) ?? []).filter((m) => m.change.audience.id === audienceId && m.wall >= playedAt.get(userId)!);
    const exitOf = (userId: string, audienceId: string) => messagesOf(userId, audienceId).find((m) => !m.change.entered);
    const lastDue = Math.max(...playedAt.values()) + TIME_WINDOW_MS;
    for (;;) {
      if (liveTime.every((u) => exitOf(u, TIME_WINDOW) && exitOf(u, TIME_RECENCY))) break;
      if (Date.now() > lastDue + 10_000) break;
      await sleep(50);
    }
    load['timeExits'] = phase(timeStats, await stats());
    const lateness: Record<string, number[]> = { [TIME_WINDOW]: [], [TIME_RECENCY]: [] };
    const decisionLateness: number[] = [];
    const reasons: Record<string, number> = {};
    let missing = 0;
    let entriesNotDelivered = 0;
    for (const userId of liveTime) {
      for (const [audienceId, windowMs] of [[TIME_WINDOW, TIME_WINDOW_MS], [TIME_RECENCY, TIME_RECENCY_MS]] as const) {
        const due = playedAt.get(userId)! + windowMs;
        const exit = exitOf(userId, audienceId);
        if (!exit) {
          missing++;
          continue;
        }
        // An exit means the user had entered: when no entry message came, it was lost on the way.
        if (!messagesOf(userId, audienceId).some((m) => m.change.entered && m.wall <= exit.wall)) {
          if (process.env['AUDIENCES_BENCH_DEBUG']) console.error(`no entry message before the exit of ${audienceId}: ${userId} played ${playedAt.get(userId)}`, JSON.stringify((inbox.get(userId) ?? []).map((m) => [m.wall, m.change.audience.id, m.change.entered, m.change.reason, m.change.at])));
          entriesNotDelivered++;
        }
        reasons[exit.change.reason] = (reasons[exit.change.reason] ?? 0) + 1;
        lateness[audienceId]!.push(exit.wall - due);
        decisionLateness.push(Date.parse(exit.change.at) - due);
      }
    }

    // Background figures.
    await Promise.all(background.map((b) => b.stop()));
    background.length = 0;
    const bg = BG_EVENTS > 0 ? (JSON.parse(readFileSync(bgFile, 'utf8')) as { perSecond: number; errors: number; latencyMs: { p50: number; p99: number } }) : { perSecond: 0, errors: 0, latencyMs: { p50: 0, p99: 0 } };
    const bgFigures = { eventsPerSecond: bg.perSecond, errors: bg.errors, latencyMs: bg.latencyMs };
    primer();
    for (const c of clients) await c.dispose();
    clients.length = 0;

    // --- 5. bytes per membership (Redis) ----------------------------------------------------------
    const bytes = redis ? await membershipBytes(redis, prefix) : undefined;

    // --- 3. backfill ------------------------------------------------------------------------------
    const profiles = mode === 'redis' ? PROFILES : MEMORY_PROFILES;
    log(`  [${mode} +${elapsed()}s] writing ${profiles.toLocaleString('en-US')} profiles into the profile store...`);
    const seeded = await control<{ seconds: number }>(controlUrl, '/seed', { prefix: `bf-${run}-`, count: profiles, perUser: 3 });
    log(`  [${mode} +${elapsed()}s] ${profiles.toLocaleString('en-US')} profiles in ${seeded.seconds.toFixed(1)} s; creating ${BACKFILL_AUDIENCE.id} (backfill)...`);
    const backfillProfileDir = process.env['AUDIENCES_BENCH_PHASE_PROFILE'];
    if (backfillProfileDir) await profileStart();
    const backfillStats = await stats();
    const t0 = performance.now();
    await gql(CREATE, { input: { id: BACKFILL_AUDIENCE.id, name: BACKFILL_AUDIENCE.name, rule: BACKFILL_AUDIENCE.rule } });
    let audience: { status: string; size: number; backfill: { scanned: number; total: number | null; startedAt: string; finishedAt: string | null } };
    for (;;) {
      audience = (await gql<{ audience: typeof audience }>(AUDIENCE, { id: BACKFILL_AUDIENCE.id })).audience;
      if (audience.status === 'LIVE') break;
      if (performance.now() - t0 > 600_000) throw new Error('the backfill did not finish within 600 s');
      await sleep(100);
    }
    const wallSeconds = (performance.now() - t0) / 1000;
    load['backfill'] = phase(backfillStats, await stats());
    if (backfillProfileDir) await profileStop(backfillProfileDir, `backfill-${mode}`);
    const seconds = (Date.parse(audience.backfill.finishedAt!) - Date.parse(audience.backfill.startedAt)) / 1000;
    const backfill = {
      seededProfiles: profiles,
      seedSeconds: seeded.seconds,
      scanned: audience.backfill.scanned,
      total: audience.backfill.total,
      seconds,
      profilesPerSecond: audience.backfill.scanned / seconds,
      wallSeconds,
      members: audience.size,
    };
    const bytesAfter = redis ? await membershipBytes(redis, prefix) : undefined;

    const reasonsOk = Object.keys(reasons).every((r) => r === 'TIME');
    if (!reasonsOk) log(`  [${mode} +${elapsed()}s] note: exit reasons ${JSON.stringify(reasons)}`);
    return {
      stores,
      separateUpdater,
      audiences: specs.length,
      membershipQueryMs: { ...percentiles(queryLatencies), lost: queryLost, queriesPerProbe: polls / Math.max(1, queryLatencies.length), queryMs: percentiles(queryTimes) },
      subscriptionMs: { ...percentiles(subLatencies), lost: subLost + (subUsers.length - liveSub.length) },
      eventToDecisionMs: percentiles(decisions),
      timeExits: {
        users: liveTime.length,
        latenessMs: percentiles([...lateness[TIME_WINDOW]!, ...lateness[TIME_RECENCY]!]),
        windowLatenessMs: percentiles(lateness[TIME_WINDOW]!),
        recencyLatenessMs: percentiles(lateness[TIME_RECENCY]!),
        decisionLatenessMs: percentiles(decisionLateness),
        missing,
        entriesNotDelivered,
        reasons,
      },
      backfill,
      ...(throughputResult ? { throughput: throughputResult } : {}),
      ...(bytes ? { bytesPerMembership: bytes } : {}),
      ...(bytesAfter ? { bytesPerMembershipAfterBackfill: bytesAfter } : {}),
      background: bgFigures,
      subscriptionsLive: { expected: subscribed.length, live: liveSub.length + liveTime.length, errors: subscriptionErrors },
      audiencesApart,
      processes: load,
    };
  } finally {
    for (const c of clients) await Promise.resolve(c.dispose()).catch(() => undefined);
    await Promise.all(background.map((b) => b.stop()));
    await closeGateway();
    await events.close();
    await gatewayChild.stop();
    await updater?.stop();
    await audiencesChild?.stop();
    await subgraphs.stop();
    if (infrastructure) {
      await deleteKeys(infrastructure.redis!.client, prefix).catch((err) => console.error('could not delete the run keys', err));
      log(`  [${mode} +${elapsed()}s] the run's keys (${prefix}*) deleted`);
      await infrastructure.close();
    }
  }
}

/** Removes every key under `prefix`: UNLINK of each SCAN page on one Redis (one key a call on a cluster, whose keys span slots). */
async function deleteKeys(redis: RedisClient, prefix: string): Promise<void> {
  if (isCluster(redis)) return deleteByPrefix(redis, prefix);
  for await (const keys of scanKeys(redis, `${prefix}*`, 2000)) await redis.unlink(...keys);
}

/**
 * Resolves once the audiences consumer has evaluated what was ingested before: a sentinel user
 * identifies into the probe cohort after it, and its membership is polled for.
 */
async function settled(gql: GatewayClient['gql'], events: ReturnType<typeof eventsClient>, userId: string): Promise<void> {
  await events.post([{ eventId: `${userId}-settle`, userId, type: 'IDENTIFY', occurredAt: Date.now(), traits: { cohort: 'probe' } }]);
  for (const deadline = performance.now() + 120_000; performance.now() < deadline; await sleep(50)) {
    const r = await gql<{ user: { audiences: { audience: { id: string } }[] } }>(MEMBERSHIPS, { id: userId });
    if (r.user.audiences.some((a) => a.audience.id === PROBE_COHORT)) return;
  }
  throw new Error('the audiences consumer did not catch up within 120 s');
}

/**
 * N events for fresh users `<prefix><n>` posted in batches (4 at a time) and timed until the
 * profile updater group applied the last of them; then until the audiences consumer group read
 * every change notice those produced.
 */
async function throughput(
  infrastructure: ReturnType<typeof createInfrastructure>,
  events: ReturnType<typeof eventsClient>,
  prefix: string,
  users: number,
  perUser: number,
  audiences: number,
  cpu: () => Promise<CpuSample>,
): Promise<ThroughputRun> {
  const eventLog = infrastructure.eventLog as RedisStreamEventLog;
  const notices = infrastructure.log(PROFILE_CHANGES_LOG, PROFILE_CHANGE_KEYS) as RedisStreamEventLog<unknown>;
  const redis = infrastructure.redis!.client;
  const all = workload(prefix, users, perUser);
  const batches: ProfileEvent[][] = [];
  for (let i = 0; i < all.length; i += WORKLOAD_BATCH) batches.push(all.slice(i, i + WORKLOAD_BATCH));
  const cpu0 = await cpu();
  const started = performance.now();
  let next = 0;
  let accepted = 0;
  await Promise.all(
    Array.from({ length: WORKLOAD_CONNECTIONS }, async () => {
      while (next < batches.length) {
        const r = await events.post(batches[next++]!);
        accepted += r.accepted;
      }
    }),
  );
  const posted = performance.now();
  if (accepted !== all.length) throw new Error(`${all.length - accepted} workload events not accepted`);
  if (!(await eventLog.waitApplied(await (eventLog as RedisStreamEventLog<unknown>).tail(), PROFILE_UPDATER_GROUP, 600_000))) throw new Error('the updater did not catch up');
  const applied = performance.now();
  await sleep(20); // the last notices are appended on the next turn of the updater's loop
  const caughtUp = (await notices.waitApplied(await notices.tail(), AUDIENCES_GROUP, 600_000)) ? performance.now() : null;
  const cpu1 = await cpu();
  return {
    audiences,
    events: all.length,
    eventsPerSecond: all.length / ((applied - started) / 1000),
    httpSeconds: (posted - started) / 1000,
    appliedSeconds: (applied - started) / 1000,
    audiencesCaughtUpSeconds: caughtUp === null ? null : (caughtUp - started) / 1000,
    subgraphsCpuSeconds: cpu1.subgraphs - cpu0.subgraphs,
    audiencesCpuSeconds: cpu1.audiences === undefined || cpu0.audiences === undefined ? null : cpu1.audiences - cpu0.audiences,
    updaterCpuSeconds: cpu1.updater === undefined || cpu0.updater === undefined ? null : cpu1.updater - cpu0.updater,
    redisCpuSeconds: cpu1.redis === undefined || cpu0.redis === undefined ? null : cpu1.redis - cpu0.redis,
  };
}

/** MEMORY USAGE (every sample) of the membership hashes and member sets ÷ memberships (members of the sets). */
async function membershipBytes(redis: RedisClient, prefix: string): Promise<MembershipBytes> {
  const usage = async (keys: string[]) => {
    let total = 0;
    for (let i = 0; i < keys.length; i += 500) {
      const sizes = await Promise.all(keys.slice(i, i + 500).map((k) => redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0') as Promise<number | null>));
      total += sizes.reduce<number>((a, s) => a + Number(s ?? 0), 0);
    }
    return total;
  };
  const collect = async (pattern: string) => {
    const out: string[] = [];
    for await (const keys of scanKeys(redis, pattern, 1000)) out.push(...keys);
    return out;
  };
  const hashes = await collect(`${prefix}{u:*}:aud`);
  const sets = await collect(`${prefix}aud:{a:*}:members`);
  let memberships = 0;
  for (let i = 0; i < sets.length; i += 500) memberships += (await Promise.all(sets.slice(i, i + 500).map((k) => redis.zcard(k)))).reduce((a, b) => a + b, 0);
  // Hashes that hold no current membership (only the profile version decided on, or exits).
  let empty = 0;
  for (let i = 0; i < hashes.length; i += 500) {
    const all = await Promise.all(hashes.slice(i, i + 500).map((k) => redis.hgetall(k)));
    empty += all.filter((h) => !Object.entries(h).some(([f, v]) => f.startsWith('m:') && !v.endsWith('|'))).length;
  }
  const due = Number(await redis.zcard(`${prefix}aud:due`));
  const dueBytes = Number((await redis.call('MEMORY', 'USAGE', `${prefix}aud:due`, 'SAMPLES', '0')) ?? 0);
  const hashBytes = await usage(hashes);
  const memberSetBytes = await usage(sets);
  const per = (b: number) => (memberships > 0 ? b / memberships : NaN);
  return {
    memberships,
    users: hashes.length,
    usersWithoutMembership: empty,
    dueEntries: due,
    dueBytes,
    audiences: sets.length,
    hashBytes,
    memberSetBytes,
    bytesPerMembership: per(hashBytes + memberSetBytes),
    hashBytesPerMembership: per(hashBytes),
    memberSetBytesPerMembership: per(memberSetBytes),
  };
}

// --- output -------------------------------------------------------------------------------------

const f1 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(1));
const int = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? 'n/a' : Math.round(x).toLocaleString('en-US'));
const met = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? 'met' : 'NOT met');

type GoalName = 'membershipQueryP99' | 'subscriptionP99' | 'exitLatenessP99' | 'backfillProfilesPerSecond' | 'throughputRatio';
type Goals = Partial<Record<GoalName, { value: number; goal: number; met: boolean }>>;

function goals(results: ModeResult[]): Goals {
  const redis = results.find((r) => r.stores.startsWith('redis'));
  if (!redis) return {};
  return {
    membershipQueryP99: { value: redis.membershipQueryMs.p99, goal: GOALS.membershipP99Ms, met: redis.membershipQueryMs.p99 <= GOALS.membershipP99Ms && redis.membershipQueryMs.lost === 0 },
    subscriptionP99: { value: redis.subscriptionMs.p99, goal: GOALS.membershipP99Ms, met: redis.subscriptionMs.p99 <= GOALS.membershipP99Ms && redis.subscriptionMs.lost === 0 },
    exitLatenessP99: { value: redis.timeExits.latenessMs.p99, goal: GOALS.exitLatenessP99Ms, met: redis.timeExits.latenessMs.p99 <= GOALS.exitLatenessP99Ms && redis.timeExits.missing === 0 },
    backfillProfilesPerSecond: { value: redis.backfill.profilesPerSecond, goal: GOALS.backfillProfilesPerSecond, met: redis.backfill.profilesPerSecond >= GOALS.backfillProfilesPerSecond },
    ...(redis.throughput ? { throughputRatio: { value: redis.throughput.ratio, goal: GOALS.throughputRatio, met: redis.throughput.ratio >= GOALS.throughputRatio } } : {}),
  };
}

function print(results: ModeResult[], report: { goals: Goals }) {
  const specs = audienceSpecs();
  const kinds = new Map<string, number>();
  for (const s of specs) kinds.set(s.kind, (kinds.get(s.kind) ?? 0) + 1);
  const pq = (p: Pct) => `p50 ${f1(p.p50)} ms, p99 ${f1(p.p99)} ms`;
  const cols = results.map((r) => r.stores);
  const row = (name: string, cells: string[], goal = '') => console.log(`| ${name} | ${cells.join(' | ')} | ${goal} |`);
  console.log(
    `Audiences: ${specs.length} live audiences (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')}) under ${BG_EVENTS} background events/s for 5,000 other users; subgraphs, gateway and load in separate processes${results.some((r) => r.separateUpdater) ? ', and on Redis the profile updater in one of its own' : ''}${results.some((r) => r.audiencesApart) ? ' and the audiences subgraph in another (as `npm run start:audiences`)' : ''}`,
  );
  console.log('');
  console.log(`| figure | ${cols.join(' | ')} | goal |`);
  console.log(`|---|${cols.map(() => '---|').join('')}---|`);
  const g = report.goals;
  const goalText = (k: GoalName, text: string) => (g[k] ? `${text} on Redis (${met(g[k]!.met)})` : text);
  row(`event → membership visible by query through the gateway (n=${results[0]?.membershipQueryMs.n ?? 0} per mode, a probe every ${PROBE_INTERVAL_MS} ms)`, results.map((r) => `${pq(r.membershipQueryMs)}${r.membershipQueryMs.lost ? `, ${r.membershipQueryMs.lost} lost` : ''}`), goalText('membershipQueryP99', `p99 <= ${GOALS.membershipP99Ms} ms`));
  row('  membership query itself; queries per probe', results.map((r) => `${pq(r.membershipQueryMs.queryMs)}; ${r.membershipQueryMs.queriesPerProbe.toFixed(2)}`));
  row(`event → audienceMembershipChanged(userId) message at a graphql-ws client (n=${results[0]?.subscriptionMs.n ?? 0})`, results.map((r) => `${pq(r.subscriptionMs)}${r.subscriptionMs.lost ? `, ${r.subscriptionMs.lost} lost` : ''}`), goalText('subscriptionP99', `p99 <= ${GOALS.membershipP99Ms} ms`));
  row('  event → decided (the change\'s `at` / `since`, both paths)', results.map((r) => pq(r.eventToDecisionMs)));
  row(`time-driven exits: exit message − due time, "1+ PLAY within 5 s" and "lastEventWithin 3 s" (n=${results[0]?.timeExits.latenessMs.n ?? 0})`, results.map((r) => `${pq(r.timeExits.latenessMs)}${r.timeExits.missing ? `, ${r.timeExits.missing} missing` : ''}`), goalText('exitLatenessP99', 'p99 <= 1 s'));
  row('  window 5 s / lastEventWithin 3 s', results.map((r) => `p50 ${f1(r.timeExits.windowLatenessMs.p50)} / ${f1(r.timeExits.recencyLatenessMs.p50)} ms, p99 ${f1(r.timeExits.windowLatenessMs.p99)} / ${f1(r.timeExits.recencyLatenessMs.p99)} ms`));
  row('  decision (`at`) − due time', results.map((r) => pq(r.timeExits.decisionLatenessMs)));
  row('  entry messages that never reached the client (of the entries these exits imply)', results.map((r) => `${r.timeExits.entriesNotDelivered} of ${r.timeExits.latenessMs.n}`));
  row(
    `backfill: profiles/s, BUILDING → LIVE (after writing N profiles straight into the store)`,
    results.map((r) => `${int(r.backfill.profilesPerSecond)} profiles/s (N = ${int(r.backfill.seededProfiles)}: ${int(r.backfill.scanned)} scanned in ${r.backfill.seconds.toFixed(1)} s; ${int(r.backfill.members)} members)`),
    goalText('backfillProfilesPerSecond', `>= ${GOALS.backfillProfilesPerSecond.toLocaleString('en-US')}/s`),
  );
  row('  writing the profiles into the store', results.map((r) => `${int(r.backfill.seededProfiles / r.backfill.seedSeconds)} profiles/s`));
  row(
    `profile updater end to end, 0 vs ${specs.length} audiences (${int(results.find((r) => r.throughput)?.throughput?.events)} events, batches of ${WORKLOAD_BATCH})`,
    results.map((r) => (r.throughput ? `${int(r.throughput.zero.eventsPerSecond)} vs ${int(r.throughput.hundred.eventsPerSecond)} events/s = ${r.throughput.ratio.toFixed(2)}x` : 'n/a (inline apply)')),
    goalText('throughputRatio', `>= ${GOALS.throughputRatio}x`),
  );
  row(
    '  audiences consumer caught up (from the first event); CPU s by process, 0 / 100',
    results.map((r) =>
      r.throughput
        ? `${f1(r.throughput.zero.audiencesCaughtUpSeconds ?? NaN)} / ${f1(r.throughput.hundred.audiencesCaughtUpSeconds ?? NaN)} s (updater ${f1(r.throughput.zero.appliedSeconds)} / ${f1(r.throughput.hundred.appliedSeconds)} s); CPU: subgraphs ${f1(r.throughput.zero.subgraphsCpuSeconds)} / ${f1(r.throughput.hundred.subgraphsCpuSeconds)} s${r.throughput.hundred.audiencesCpuSeconds === null ? '' : `, audiences ${f1(r.throughput.zero.audiencesCpuSeconds ?? NaN)} / ${f1(r.throughput.hundred.audiencesCpuSeconds)} s`}, updater ${f1(r.throughput.zero.updaterCpuSeconds ?? NaN)} / ${f1(r.throughput.hundred.updaterCpuSeconds ?? NaN)} s, Redis ${f1(r.throughput.zero.redisCpuSeconds ?? NaN)} / ${f1(r.throughput.hundred.redisCpuSeconds ?? NaN)} s`
        : 'n/a',
    ),
  );
  const bytesCell = (b: MembershipBytes | undefined) =>
    b
      ? `${int(b.bytesPerMembership)} B (hash ${int(b.hashBytesPerMembership)} + member set ${int(b.memberSetBytesPerMembership)}; ${int(b.memberships)} memberships; ${int(b.users)} user hashes, ${int(b.usersWithoutMembership)} of them in no audience; due set ${int(b.dueEntries)} entries, ${int(b.dueBytes / 1024)} KiB)`
      : 'n/a';
  row('bytes per membership in Redis (MEMORY USAGE), the 100 live audiences', results.map((r) => bytesCell(r.bytesPerMembership)));
  row('  the same after the backfill (its profiles evaluated for one audience)', results.map((r) => bytesCell(r.bytesPerMembershipAfterBackfill)));
  row('background events/s (errors; POST p50 / p99)', results.map((r) => `${int(r.background.eventsPerSecond)} (${r.background.errors}; ${f1(r.background.latencyMs.p50)} / ${f1(r.background.latencyMs.p99)} ms)`));
  const procs = [...new Set(results.flatMap((r) => Object.values(r.processes).flatMap((p) => Object.keys(p))))];
  for (const name of ['subscriptionProbes', 'queryProbes', 'timeExits', 'backfill']) {
    for (const proc of procs) {
      row(`${proc} process during ${name}: CPU cores busy; event-loop delay p50 / p99 / max`, results.map((r) => {
        const l = r.processes[name]?.[proc];
        return l ? `${l.cpuCores.toFixed(2)}; ${f1(l.loopDelayMs.p50)} / ${f1(l.loopDelayMs.p99)} / ${f1(l.loopDelayMs.max)} ms` : 'n/a';
      }));
    }
  }
  row('subscriptions live at the start (subscription errors)', results.map((r) => `${r.subscriptionsLive.live} of ${r.subscriptionsLive.expected} (${r.subscriptionsLive.errors})`));
  console.log('');
  const list = Object.entries(report.goals) as [GoalName, { value: number; goal: number; met: boolean }][];
  if (list.length > 0) {
    console.log(`Goals on Redis: ${list.map(([k, v]) => `${k} ${k.endsWith('Ratio') ? v.value.toFixed(2) : int(v.value)} (goal ${v.goal}): ${met(v.met)}`).join('; ')}.`);
  }
}

async function main() {
  const results: ModeResult[] = [];
  const wall = performance.now();
  for (const mode of MODES) {
    log(`audiences (${mode})...`);
    results.push(await runMode(mode));
  }
  const specs = audienceSpecs();
  const kinds: Record<string, number> = {};
  for (const s of specs) kinds[s.kind] = (kinds[s.kind] ?? 0) + 1;
  const report = {
    audiences: specs.length,
    kinds,
    backgroundEventsPerSecond: BG_EVENTS,
    probesPerPath: PROBES,
    probeIntervalMs: PROBE_INTERVAL_MS,
    timeUsers: TIME_USERS,
    profiles: PROFILES,
    memoryProfiles: MEMORY_PROFILES,
    seconds: (performance.now() - wall) / 1000,
    modes: results,
    goals: goals(results),
  };
  saveReport(report);
  if (json) {
    console.log(JSON.stringify(report));
    return;
  }
  print(results, report);
}

if (process.argv[2] === CHILD_ROLE) await child((process.argv[3] ?? 'all') as Part);
else await main();
