/**
 * npm run bench:gateway — the home-page query (profile fields, `recommendedFor(limit: 10)` with
 * item fields, the user's assignment) at fixed concurrency for a fixed time through our gateway
 * and, in the same run against the same subgraphs and supergraph, through Hive Gateway
 * (`@graphql-hive/gateway`, installed under bench/ with its own package.json). Rounds alternate
 * ours / hive to cancel machine noise; each gateway's figures are the median of its rounds. The
 * subgraph fetches of the query plan are then hit directly, to show the gateway's own overhead.
 *
 * Hive Gateway plans with its Hive Router query planner (`--hive-router-runtime`) by default: its
 * CLI's own planner (BENCH_HIVE_RUNTIME=default) sends the recommendations `_entities` fetch in
 * parallel with the experiments one and without the `assignments` that recommendedFor @requires,
 * so control users get the REALTIME row instead of BASELINE and no variant; the check below that
 * both gateways return the same data then stops the run, as it must for any difference.
 *
 * Processes: the subgraphs (one process, embedded stores), our gateway and Hive Gateway (one
 * process each, both up the whole time, loaded one at a time), autocannon in this process.
 * Environment: BENCH_CONNECTIONS (16), BENCH_DURATION s (10), BENCH_WARMUP s (3), BENCH_ROUNDS (2),
 * BENCH_USERS (300), BENCH_HIVE_RUNTIME (router or default). `--json` prints one JSON line of every
 * figure; progress goes to stderr.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { DEMO_CATALOG } from '../demo/catalog.js';
import { asItemRef } from '../subgraphs/recommendations/src/domain/catalog.js';
import type { CatalogItem } from '../subgraphs/recommendations/src/domain/catalog.js';
import { startChild } from './lib/child.js';
import { cpuSeconds } from './lib/process-stats.js';
import { benchAuth } from './lib/auth.js';
import { HOME_QUERY } from './lib/queries.js';
import { saveReport } from './lib/report.js';
import { IDENTITY_HEADER } from '../lib/auth.js';
import type { BenchChild } from './lib/child.js';
import { rng } from './lib/synthetic.js';

const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 16);
const DURATION_S = Number(process.env['BENCH_DURATION'] ?? 10);
const WARMUP_S = Number(process.env['BENCH_WARMUP'] ?? 3);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 2);
const USERS = Number(process.env['BENCH_USERS'] ?? 300);
const HIVE_RUNTIME = process.env['BENCH_HIVE_RUNTIME'] ?? 'router';
if (HIVE_RUNTIME !== 'router' && HIVE_RUNTIME !== 'default') throw new Error(`BENCH_HIVE_RUNTIME must be router or default; got "${HIVE_RUNTIME}"`);
const json = process.argv.includes('--json');
// Progress always goes to stderr, so stdout carries only the table or the JSON line.
const log = (m: string) => console.error(m);

const ROOT = new URL('../', import.meta.url);
const BENCH = new URL('./', import.meta.url);
/** Hive Gateway's own package (bench/hive/package.json): its node_modules stay out of the other benchmarks' resolution. */
const HIVE_DIR = new URL('./hive/', import.meta.url);
const HIVE_PACKAGES = ['@graphql-hive/gateway', '@graphql-hive/router-runtime'];


/** Children to stop on the way out, whatever happens. */
const children: BenchChild<unknown>[] = [];
let stopping: Promise<void> | undefined;
const stopAll = () => (stopping ??= Promise.all(children.map((c) => c.stop())).then(() => undefined));
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143)));
}

/** A child that prints its URLs when ready (within 60 s), stopped with the others at the end. */
async function start<Info>(entry: string, args: string[], env: NodeJS.ProcessEnv): Promise<BenchChild<Info>> {
  // BENCH_GATEWAY_PROFILE=<dir>: CPU profiles of our gateway processes (--cpu-prof), written there when they stop.
  const profile = process.env['BENCH_GATEWAY_PROFILE'] && entry === 'platform-server.ts' && args[0] === 'gateway' ? { cpuProfileDir: process.env['BENCH_GATEWAY_PROFILE'] } : {};
  const child = await startChild<Info>(new URL(entry, BENCH), { args, env, ready: true, readyTimeoutMs: 60_000, ...profile });
  children.push(child as BenchChild<unknown>);
  return child;
}

// --- Hive Gateway install -------------------------------------------------------------------

const packageVersion = (file: URL) => (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;

/**
 * Hive Gateway lives in bench/hive/node_modules (not a platform dependency): installed on first
 * use, from bench/hive/package-lock.json. Returns the installed packages with their versions.
 */
function ensureHive(): string {
  const manifest = (name: string) => new URL(`node_modules/${name}/package.json`, HIVE_DIR);
  const missing = HIVE_PACKAGES.filter((name) => !existsSync(manifest(name)));
  if (missing.length > 0) {
    log(`bench/hive/node_modules lacks ${missing.join(', ')}: running npm ci --prefix bench/hive...`);
    // npm's output goes to stderr, so stdout stays the table or the JSON line.
    const npm = spawnSync('npm', ['ci', '--prefix', HIVE_DIR.pathname, '--no-audit', '--no-fund'], { stdio: ['ignore', 2, 2] });
    if (npm.status !== 0) throw new Error(`npm ci --prefix bench/hive failed (exit ${npm.status ?? npm.signal})`);
  }
  const [gateway, router] = HIVE_PACKAGES.map((name) => `${name} ${packageVersion(manifest(name))}`);
  return HIVE_RUNTIME === 'router' ? `${gateway}, --hive-router-runtime (${router})` : `${gateway}, its default planner`;
}

// --- seed -----------------------------------------------------------------------------------

const DAY = 86_400_000;

/**
 * USERS users with a month of history on the demo catalog: two favourite genres, series watched
 * in order, some shopping, traits from IDENTIFY (experiment targeting reads them). Deterministic.
 */
function seedEvents(now: number): Array<Record<string, unknown> & { occurredAt: string }> {
  const r = rng(7);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(r() * list.length)]!;
  const movies = DEMO_CATALOG.filter((i) => i.kind === 'MOVIE');
  const products = DEMO_CATALOG.filter((i) => i.kind === 'PRODUCT');
  const episodes = DEMO_CATALOG.filter((i) => i.kind === 'EPISODE');
  const series = [...new Set(episodes.map((e) => e.seriesId!))];
  const genres = [...new Set(movies.flatMap((m) => m.genres))];
  const events: Array<Record<string, unknown> & { occurredAt: string }> = [];
  for (let u = 0; u < USERS; u++) {
    const userId = `bench-user-${u}`;
    const tastes = [pick(genres), pick(genres)];
    const count = 20 + Math.floor(r() * 30);
    const at = (n: number) => new Date(now - 30 * DAY + Math.floor(((n + r()) / (count + 1)) * 30 * DAY)).toISOString();
    const add = (type: string, item: CatalogItem | null, n: number, extra: Record<string, unknown> = {}) =>
      events.push({ eventId: `${userId}-${n}`, userId, type, occurredAt: at(n), ...(item ? { item: asItemRef(item) } : {}), ...extra });
    add('IDENTIFY', null, 0, { traits: { plan: pick(['basic', 'premium', 'family']), country: pick(['SE', 'GB', 'DE', 'US', 'BR']) } });
    let binge: CatalogItem[] = [];
    for (let n = 1; n <= count; n++) {
      const roll = r();
      if (roll < 0.35) {
        if (binge.length === 0) {
          const next = pick(series);
          binge = episodes.filter((e) => e.seriesId === next);
        }
        add(r() < 0.7 ? 'PLAY' : 'COMPLETE', binge.shift()!, n);
      } else if (roll < 0.85) {
        const liked = movies.filter((m) => m.genres.includes(r() < 0.8 ? pick(tastes) : pick(genres)));
        const movie = liked.length > 0 ? pick(liked) : pick(movies);
        const type = pick(['PLAY', 'PLAY', 'COMPLETE', 'LIKE', 'RATE']);
        add(type, movie, n, type === 'RATE' ? { properties: { rating: 3 + Math.floor(r() * 5) / 2 } } : {});
      } else {
        const type = pick(['VIEW', 'VIEW', 'ADD_TO_CART', 'PURCHASE']);
        add(type, pick(products), n, type === 'PURCHASE' ? { properties: { quantity: 1 } } : {});
      }
    }
  }
  return events.sort((a, b) => a.occurredAt.localeCompare(b.occurredAt));
}

/**
 * Credentials per target: our gateway and the events API take the service JWT; Hive Gateway and
 * the subgraphs take the identity token our gateway would mint for it (Hive passes it on to the
 * subgraphs, see hive/gateway.config.mjs), so both gateways do the same work for the subgraphs.
 */
const credentials = new Map<string, Record<string, string>>();
const headersFor = (url: string) => ({
  'content-type': 'application/json',
  ...(credentials.get(url) ?? [...credentials].find(([prefix]) => url.startsWith(prefix))?.[1] ?? {}),
});

/** POSTs a JSON body with the target's credentials; a non-2xx answer fails with its text. */
async function post<T = unknown>(url: string, body: unknown): Promise<T> {
  const response = await fetch(url, { method: 'POST', headers: headersFor(url), body: typeof body === 'string' ? body : JSON.stringify(body) });
  if (!response.ok) throw new Error(`POST ${url}: HTTP ${response.status} ${(await response.text()).slice(0, 500)}`);
  return (await response.json()) as T;
}

/** Ingests the first 70% of the history, takes the batch snapshot (control users rank on it), then the rest. */
async function seed(profile: string, profileGraphql: string): Promise<number> {
  const events = seedEvents(Date.now());
  const cut = Math.floor(events.length * 0.7);
  const ingest = async (batch: typeof events) => {
    for (let i = 0; i < batch.length; i += 500) {
      const result = (await post(`${profile}/v1/events?wait=applied`, { events: batch.slice(i, i + 500) })) as { rejected: unknown[] };
      if (result.rejected.length > 0) throw new Error(`seed events rejected: ${JSON.stringify(result.rejected).slice(0, 500)}`);
    }
  };
  await ingest(events.slice(0, cut));
  const snapshot = (await post(profileGraphql, { query: 'mutation { runBatchSnapshot { profiles } }' })) as { errors?: unknown };
  if (snapshot.errors) throw new Error(`runBatchSnapshot: ${JSON.stringify(snapshot.errors)}`);
  await ingest(events.slice(cut));
  return events.length;
}

// --- supergraph for Hive --------------------------------------------------------------------

/** The static supergraph with each join__graph url replaced by the running subgraph's. */
function writeSupergraph(dir: string, name: string, urls: Record<string, string>): string {
  let sdl = readFileSync(new URL('schema/supergraph.graphql', ROOT), 'utf8');
  for (const [graph, url] of Object.entries(urls)) {
    const pattern = new RegExp(`(@join__graph\\(name: "${graph}", url: )"[^"]*"`);
    if (!pattern.test(sdl)) throw new Error(`no join__graph for subgraph ${graph} in schema/supergraph.graphql`);
    sdl = sdl.replace(pattern, `$1${JSON.stringify(url)}`);
  }
  const path = join(dir, `${name}.graphql`);
  writeFileSync(path, sdl);
  return path;
}

// --- the query through both gateways --------------------------------------------------------

const homeBody = (id: string) => JSON.stringify({ query: HOME_QUERY, variables: { id } });

const graphql = (url: string, body: string) => post<{ data?: unknown; errors?: unknown[] }>(url, body);

/** JSON with object keys sorted, so two responses compare by content, not key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

/** The path of the first value that differs between two JSON values, with both values. */
function firstDifference(a: unknown, b: unknown, path = 'data'): string | undefined {
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    for (const k of keys) {
      const at = Array.isArray(a) ? `${path}[${k}]` : `${path}.${k}`;
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], at);
      if (d) return d;
    }
    return undefined;
  }
  return canonical(a) === canonical(b) ? undefined : `${path}: ours ${canonical(a)}, hive ${canonical(b)}`;
}

/** Both gateways must give identical data without errors, with ranked rows, for every sampled user. */
async function verify(ours: string, hive: string, users: string[]): Promise<void> {
  let items = 0;
  for (const id of users) {
    const [a, b] = await Promise.all([graphql(ours, homeBody(id)), graphql(hive, homeBody(id))]);
    if (a.errors || b.errors) {
      throw new Error(`the query for ${id} returned errors: ours ${JSON.stringify(a.errors ?? [])}, hive ${JSON.stringify(b.errors ?? [])}`);
    }
    if (canonical(a.data) !== canonical(b.data)) {
      throw new Error(
        `our gateway and Hive Gateway return different data for ${id}, so their figures would not compare the same work` +
          `${HIVE_RUNTIME === 'default' ? ' (expected with BENCH_HIVE_RUNTIME=default: see the top of bench/gateway.ts)' : ''}:` +
          `\nfirst difference at ${firstDifference(a.data, b.data)}\nours ${canonical(a.data)}\nhive ${canonical(b.data)}`,
      );
    }
    items += (a.data as { user?: { recommendedFor?: { items: unknown[] } | null } | null }).user?.recommendedFor?.items.length ?? 0;
  }
  if (items === 0) throw new Error('recommendedFor returned no items for the sampled users: the seed did not take');
}

// --- subgraph fetches of the query plan -----------------------------------------------------

interface Fetch {
  subgraph: string;
  /** The root field or the entity fields the fetch selects, for the table. */
  label: string;
  /** The fetch's request body, one per user. */
  bodies: string[];
}

/**
 * A loopback HTTP proxy in front of the subgraphs that records each request body: a gateway
 * pointed at it shows the subgraph fetches of the query plan, with real representations.
 */
async function recordingProxy(subgraphUrls: Record<string, string>) {
  const calls: Array<{ subgraph: string; body: string }> = [];
  const server: Server = createServer((req, res) => {
    const subgraph = req.url!.split('/')[1]!;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      calls.push({ subgraph, body });
      const identity = req.headers[IDENTITY_HEADER];
      fetch(subgraphUrls[subgraph]!, { method: 'POST', headers: { 'content-type': 'application/json', ...(typeof identity === 'string' ? { [IDENTITY_HEADER]: identity } : {}) }, body }).then(
        async (r) => res.writeHead(r.status, { 'content-type': 'application/json' }).end(Buffer.from(await r.arrayBuffer())),
        (err: unknown) => res.writeHead(502).end(String(err)),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    urls: Object.fromEntries(Object.keys(subgraphUrls).map((name) => [name, `${base}/${name}/graphql`])),
    /** Runs the query for one user through `gateway` and returns the fetches it made, in order. */
    record: async (gateway: string, id: string) => {
      calls.length = 0;
      const result = await graphql(gateway, homeBody(id));
      if (result.errors) throw new Error(`recording ${id}: ${JSON.stringify(result.errors)}`);
      return [...calls];
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** `user(id:)` for a root fetch, `_entities → assignment, assignments` for an entity fetch. */
function fetchLabel(body: string): string {
  const query = (JSON.parse(body) as { query: string }).query;
  const entities = /_entities\([^)]*\)\s*\{\s*\.\.\.\s*on\s+\w+\s*\{/.exec(query);
  const from = entities ? entities.index + entities[0].length : query.indexOf('{') + 1;
  // Field names at the top level of the selection that starts at `from`.
  const fields: string[] = [];
  let depth = 0;
  let parens = 0;
  for (const token of query.slice(from).matchAll(/[A-Za-z_]\w*|[{}()]/g)) {
    const t = token[0];
    if (t === '(') parens++;
    else if (t === ')') parens--;
    else if (t === '{') depth++;
    else if (t === '}') {
      if (depth-- === 0) break;
    } else if (depth === 0 && parens === 0 && t !== 'on') fields.push(t);
  }
  return entities ? `_entities → ${fields.join(', ')}` : fields.join(', ');
}

/**
 * Records the subgraph fetches of the home query through a gateway, for every user: the same
 * fetches for each (in the order first seen; fetches that run in parallel may arrive either way).
 */
async function recordFetches(record: (id: string) => Promise<Array<{ subgraph: string; body: string }>>, users: string[]): Promise<Fetch[]> {
  const fetches = new Map<string, Fetch>();
  for (const id of users) {
    const calls = (await record(id)).map((c) => ({ ...c, label: fetchLabel(c.body) }));
    const keys = calls.map((c) => `${c.subgraph}: ${c.label}`);
    if (fetches.size > 0 && [...keys].sort().join('\n') !== [...fetches.keys()].sort().join('\n')) {
      throw new Error(`the query plan differs for ${id}: ${keys.join('; ')}`);
    }
    calls.forEach((c, i) => (fetches.get(keys[i]!) ?? fetches.set(keys[i]!, { subgraph: c.subgraph, label: c.label, bodies: [] }).get(keys[i]!)!).bodies.push(c.body));
  }
  return [...fetches.values()];
}

// --- load -----------------------------------------------------------------------------------


interface Load {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  /** 200 responses with a GraphQL `errors` member. */
  graphqlErrors: number;
  /** CPU milliseconds per request: the server under load, the subgraphs process, this process. */
  cpuMsPerRequest: { server?: number; subgraphs?: number; loadGenerator: number };
}

/**
 * autocannon at CONNECTIONS connections for `durationS`, cycling over `bodies`; `server` and
 * `subgraphs` are the pids whose CPU time is charged to the requests.
 */
async function load(url: string, bodies: string[], durationS: number, pids: { server?: number; subgraphs?: number }, connections = CONNECTIONS): Promise<Load> {
  let next = 0;
  let graphqlErrors = 0;
  const before = { server: cpuSeconds(pids.server), subgraphs: cpuSeconds(pids.subgraphs), self: process.cpuUsage() };
  const result = await autocannon({
    url,
    connections,
    duration: durationS,
    requests: [
      {
        method: 'POST',
        headers: headersFor(url),
        setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length]! }),
        onResponse: (status, body) => {
          if (status === 200 && body.includes('"errors"')) graphqlErrors++;
        },
      },
    ],
  });
  const self = process.cpuUsage(before.self);
  const perRequest = (start: number | undefined, end: number | undefined) =>
    start === undefined || end === undefined ? undefined : ((end - start) * 1000) / Math.max(1, result.requests.total);
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    graphqlErrors,
    cpuMsPerRequest: {
      server: perRequest(before.server, cpuSeconds(pids.server)),
      subgraphs: perRequest(before.subgraphs, cpuSeconds(pids.subgraphs)),
      loadGenerator: (self.user + self.system) / 1000 / Math.max(1, result.requests.total),
    },
  };
}

/** Warm-up (not counted), then the measured run. */
async function measured(url: string, bodies: string[], pids: { server?: number; subgraphs?: number }): Promise<Load> {
  if (WARMUP_S > 0) await load(url, bodies, WARMUP_S, pids);
  return load(url, bodies, DURATION_S, pids);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const medianOf = (rounds: Load[], pick: (l: Load) => number | undefined) => {
  const values = rounds.map(pick).filter((v): v is number => v !== undefined);
  return values.length > 0 ? median(values) : undefined;
};

/** One gateway's figures: medians of the rounds, error counts summed over them. */
function summary(rounds: Load[]) {
  return {
    requestsPerSecond: medianOf(rounds, (l) => l.requestsPerSecond)!,
    p50: medianOf(rounds, (l) => l.p50)!,
    p99: medianOf(rounds, (l) => l.p99)!,
    non2xx: rounds.reduce((a, l) => a + l.non2xx, 0),
    errors: rounds.reduce((a, l) => a + l.errors, 0),
    graphqlErrors: rounds.reduce((a, l) => a + l.graphqlErrors, 0),
    cpuMsPerRequest: {
      gateway: medianOf(rounds, (l) => l.cpuMsPerRequest.server),
      subgraphs: medianOf(rounds, (l) => l.cpuMsPerRequest.subgraphs),
      loadGenerator: medianOf(rounds, (l) => l.cpuMsPerRequest.loadGenerator)!,
    },
    rounds,
  };
}

// --- main -----------------------------------------------------------------------------------

async function main() {
  const hiveVersion = ensureHive();
  const apolloVersion = packageVersion(new URL('node_modules/@apollo/gateway/package.json', ROOT));
  const auth = await benchAuth();
  const env = { ...process.env, ...auth.env, NODE_ENV: 'production', LOG_LEVEL: 'error', HIVE_RUNTIME: HIVE_RUNTIME };
  const tmp = mkdtempSync(join(tmpdir(), 'bench-gateway-'));
  try {
    log('starting the subgraphs...');
    // Production subgraphs sign impression ids with a secret of their own: a throwaway one here.
    const subgraphEnv = { ...env, IMPRESSION_SECRET: process.env['IMPRESSION_SECRET'] ?? randomBytes(24).toString('hex') };
    const subgraphs = await start<{ subgraphUrls: Record<string, string>; profile: string; stores: string }>('platform-server.ts', ['subgraphs'], subgraphEnv);
    const { subgraphUrls, profile, stores } = subgraphs.info;
    credentials.set(`${profile}/v1/events`, auth.caller);
    for (const url of Object.values(subgraphUrls)) credentials.set(url, auth.subgraph);
    log(`seeding ${USERS} users...`);
    const events = await seed(profile, subgraphUrls['profile']!);
    const users = Array.from({ length: USERS }, (_, i) => `bench-user-${i}`);

    // The subgraph fetches of the plan, recorded through a proxy by a gateway of each kind.
    log('recording the subgraph fetches of the query plan (a gateway of each kind behind a recording proxy)...');
    const proxy = await recordingProxy(subgraphUrls);
    const [recordOurs, recordHive] = await Promise.all([
      start<{ url: string }>('platform-server.ts', ['gateway'], { ...env, BENCH_SUBGRAPH_URLS: JSON.stringify(proxy.urls) }),
      start<{ url: string }>('hive/start.mjs', ['hive', writeSupergraph(tmp, 'recording', proxy.urls)], env),
    ]);
    credentials.set(recordOurs.info.url, auth.caller);
    credentials.set(recordHive.info.url, auth.subgraph);
    const fetches = await recordFetches((id) => proxy.record(recordOurs.info.url, id), users);
    const hiveFetches = await recordFetches((id) => proxy.record(recordHive.info.url, id), users.slice(0, 20));
    await Promise.all([recordOurs.stop(), recordHive.stop()]);
    await proxy.close();

    log('starting our gateway and Hive Gateway...');
    const [ours, hive] = await Promise.all([
      start<{ url: string }>('platform-server.ts', ['gateway'], { ...env, BENCH_SUBGRAPH_URLS: JSON.stringify(subgraphUrls) }),
      start<{ url: string }>('hive/start.mjs', ['hive', writeSupergraph(tmp, 'supergraph', subgraphUrls)], env),
    ]);
    credentials.set(ours.info.url, auth.caller);
    credentials.set(hive.info.url, auth.subgraph);
    const sample = users.filter((_, i) => i % Math.max(1, Math.floor(USERS / 30)) === 0);
    await verify(ours.info.url, hive.info.url, sample);
    log(`both gateways return the same data for ${sample.length} sampled users`);

    const bodies = users.map(homeBody);
    const gateways = { ours, hive };
    const rounds: { ours: Load[]; hive: Load[] } = { ours: [], hive: [] };
    for (let round = 1; round <= ROUNDS; round++) {
      for (const name of ['ours', 'hive'] as const) {
        log(`round ${round}/${ROUNDS}: ${name}, ${WARMUP_S} s warm-up + ${DURATION_S} s at ${CONNECTIONS} connections...`);
        const result = await measured(gateways[name].info.url, bodies, { server: gateways[name].process.pid, subgraphs: subgraphs.process.pid });
        rounds[name].push(result);
        log(`  ${Math.round(result.requestsPerSecond)} req/s, p50 ${result.p50} ms, p99 ${result.p99} ms`);
      }
    }
    await hive.stop();

    // The capacity model's check (docs/SCALING.md): two of our gateway processes side by side,
    // the same connections split between them, against the prediction from one process's costs.
    const half = Math.max(1, Math.round(CONNECTIONS / 2));
    log(`two of our gateway processes: ${WARMUP_S} s warm-up + ${DURATION_S} s, ${half} connections each...`);
    const second = await start<{ url: string }>('platform-server.ts', ['gateway'], { ...env, BENCH_SUBGRAPH_URLS: JSON.stringify(subgraphUrls) });
    credentials.set(second.info.url, auth.caller);
    const pair = [ours, second];
    const both = async (durationS: number) =>
      Promise.all(pair.map((g, i) => load(g.info.url, i === 0 ? bodies : [...bodies].reverse(), durationS, { server: g.process.pid, subgraphs: subgraphs.process.pid }, half)));
    if (WARMUP_S > 0) await both(WARMUP_S);
    const twoLoads = await both(DURATION_S);
    await Promise.all(pair.map((g) => g.stop()));

    const direct: Array<Omit<Fetch, 'bodies'> & Load> = [];
    for (const f of fetches) {
      log(`subgraph direct: ${f.subgraph} ${f.label}, ${WARMUP_S} s warm-up + ${DURATION_S} s at ${CONNECTIONS} connections...`);
      const result = await measured(subgraphUrls[f.subgraph]!, f.bodies, { server: subgraphs.process.pid });
      direct.push({ subgraph: f.subgraph, label: f.label, ...result, cpuMsPerRequest: { loadGenerator: result.cpuMsPerRequest.loadGenerator, subgraphs: result.cpuMsPerRequest.server } });
    }

    const oursSummary = summary(rounds.ours);
    const hiveSummary = summary(rounds.hive);
    const gatewayScaling = scalingCheck(oursSummary, twoLoads);
    const result = {
      query: HOME_QUERY,
      stores,
      users: USERS,
      seedEvents: events,
      connections: CONNECTIONS,
      durationS: DURATION_S,
      warmupS: WARMUP_S,
      rounds: ROUNDS,
      versions: { ours: `@apollo/gateway ${apolloVersion}`, hive: hiveVersion, node: process.version },
      ours: oursSummary,
      hive: hiveSummary,
      ratio: {
        requestsPerSecond: oursSummary.requestsPerSecond / hiveSummary.requestsPerSecond,
        p50: oursSummary.p50 / hiveSummary.p50,
        p99: oursSummary.p99 / hiveSummary.p99,
        // The steadiest figure on a shared machine: CPU the gateway process spends per query.
        gatewayCpuMsPerRequest:
          oursSummary.cpuMsPerRequest.gateway === undefined || hiveSummary.cpuMsPerRequest.gateway === undefined
            ? undefined
            : oursSummary.cpuMsPerRequest.gateway / hiveSummary.cpuMsPerRequest.gateway,
      },
      subgraphFetchesPerQuery: {
        ours: fetches.map((f) => `${f.subgraph}: ${f.label}`),
        hive: hiveFetches.map((f) => `${f.subgraph}: ${f.label}`),
      },
      gatewayScaling,
      subgraphsDirect: direct,
      // The subgraphs share one process: the query's fetches one after another on it.
      subgraphsDirectAllFetchesPerSecond: 1 / direct.reduce((a, d) => a + 1 / d.requestsPerSecond, 0),
    };
    saveReport(result);
    if (json) {
      console.log(JSON.stringify(result));
      return;
    }
    print(result);
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

function print(r: {
  users: number;
  seedEvents: number;
  stores: string;
  versions: { ours: string; hive: string; node: string };
  ours: ReturnType<typeof summary>;
  hive: ReturnType<typeof summary>;
  ratio: { requestsPerSecond: number; p50: number; p99: number; gatewayCpuMsPerRequest: number | undefined };
  subgraphFetchesPerQuery: { ours: string[]; hive: string[] };
  subgraphsDirect: Array<{ subgraph: string; label: string } & Load>;
  subgraphsDirectAllFetchesPerSecond: number;
  gatewayScaling: ReturnType<typeof scalingCheck>;
}) {
  const f = (n: number | undefined, digits = 1) => (n === undefined ? 'n/a' : n.toFixed(digits));
  const cpu = (n: number | undefined) => f(n, 2);
  const failures = (l: { non2xx: number; errors: number; graphqlErrors: number }) => `${l.non2xx} / ${l.errors} / ${l.graphqlErrors}`;
  console.log(
    `Home-page query through two gateways on the same subgraphs (${r.stores} stores, ${r.users} users, ${r.seedEvents} seed events); ` +
      `${CONNECTIONS} connections, ${DURATION_S} s per round after ${WARMUP_S} s of warm-up, ${ROUNDS} rounds alternating ours / hive, median of rounds; Node ${r.versions.node}`,
  );
  console.log('');
  console.log('| path | req/s | p50 ms | p99 ms | non-2xx / errors / GraphQL errors | CPU ms per request: gateway, subgraphs, load generator |');
  console.log('|---|---|---|---|---|---|');
  for (const [name, s] of [[`our gateway (${r.versions.ours})`, r.ours], [`Hive Gateway (${r.versions.hive})`, r.hive]] as const) {
    console.log(
      `| ${name} | ${Math.round(s.requestsPerSecond)} | ${f(s.p50)} | ${f(s.p99)} | ${failures(s)} | ${cpu(s.cpuMsPerRequest.gateway)}, ${cpu(s.cpuMsPerRequest.subgraphs)}, ${cpu(s.cpuMsPerRequest.loadGenerator)} |`,
    );
  }
  for (const d of r.subgraphsDirect) {
    console.log(
      `| subgraph direct: ${d.subgraph} ${d.label} | ${Math.round(d.requestsPerSecond)} | ${f(d.p50)} | ${f(d.p99)} | ${failures(d)} | –, ${cpu(d.cpuMsPerRequest.subgraphs)}, ${cpu(d.cpuMsPerRequest.loadGenerator)} |`,
    );
  }
  console.log(`| subgraphs direct: the ${r.subgraphsDirect.length} fetches in turn (1 / Σ 1/req/s) | ${Math.round(r.subgraphsDirectAllFetchesPerSecond)} | | | | |`);
  console.log('');
  console.log(
    `ours / hive: ${f(r.ratio.requestsPerSecond, 2)}x req/s, ${f(r.ratio.p50, 2)}x p50, ${f(r.ratio.p99, 2)}x p99, ` +
      `${f(r.ratio.gatewayCpuMsPerRequest, 2)}x gateway CPU per request.`,
  );
  console.log(`Subgraph fetches per query: ours ${r.subgraphFetchesPerQuery.ours.length} (${r.subgraphFetchesPerQuery.ours.join('; ')}), hive ${r.subgraphFetchesPerQuery.hive.length} (${r.subgraphFetchesPerQuery.hive.join('; ')}).`);
  const rounds = (l: Load[]) => l.map((x) => Math.round(x.requestsPerSecond)).join(', ');
  console.log(`Rounds (req/s): ours ${rounds(r.ours.rounds)}; hive ${rounds(r.hive.rounds)}.`);
  const g = r.gatewayScaling;
  console.log('');
  console.log(
    `Capacity model check (docs/SCALING.md), our gateway on ${g.cores} cores, predicted from one process's CPU per query (gateway ${cpu(g.costs.gateway)}, subgraphs ${cpu(g.costs.subgraphs)}, load generator ${cpu(g.costs.loadGenerator)} ms): ` +
      `1 process ${Math.round(g.one.measured)} req/s (model ${Math.round(g.one.predicted)}, ${f(g.one.measured / g.one.predicted, 2)}x), ` +
      `2 processes ${Math.round(g.two.measured)} req/s (model ${Math.round(g.two.predicted)}, ${f(g.two.measured / g.two.predicted, 2)}x; bound: ${g.two.bound}); ` +
      `gateway CPU per query with 2: ${cpu(g.two.gatewayCpuMs)} ms; ${g.two.errors} failed requests.`,
  );
}

/**
 * The capacity model of docs/SCALING.md for N gateway processes: each one serves at most
 * 1,000 ÷ its CPU ms per query, the one subgraphs process and the one load generator (this
 * process) 1,000 ÷ theirs, and the machine's cores the sum of every process's CPU per query.
 * Predicted from the one-process figures, checked against the two-process run (measured ÷
 * predicted).
 */
function scalingCheck(one: ReturnType<typeof summary>, two: Load[]) {
  const cores = Number(process.env['SCALING_CORES'] ?? availableParallelism());
  const costs = { gateway: one.cpuMsPerRequest.gateway ?? NaN, subgraphs: one.cpuMsPerRequest.subgraphs ?? NaN, loadGenerator: one.cpuMsPerRequest.loadGenerator };
  const predict = (n: number) => {
    const bounds: Record<string, number> = {
      [`${n} gateway process${n === 1 ? '' : 'es'}`]: (n * 1000) / costs.gateway,
      'the subgraphs process': 1000 / costs.subgraphs,
      'the load generator': 1000 / costs.loadGenerator,
      [`${cores} cores`]: (cores * 1000) / (costs.gateway + costs.subgraphs + costs.loadGenerator),
    };
    const known = Object.entries(bounds).filter(([, v]) => Number.isFinite(v));
    const [bound, predicted] = known.length === Object.keys(bounds).length ? known.sort((a, b) => a[1] - b[1])[0]! : ['unknown (a CPU figure is missing)', NaN];
    return { predicted, bound };
  };
  const measuredTwo = two.reduce((a, l) => a + l.requestsPerSecond, 0);
  const requests = two.reduce((a, l) => a + l.requests, 0);
  const gatewayCpuMs = two.reduce((a, l) => a + (l.cpuMsPerRequest.server ?? NaN) * l.requests, 0) / Math.max(1, requests);
  return {
    cores,
    costs,
    one: { measured: one.requestsPerSecond, ...predict(1) },
    two: { measured: measuredTwo, ...predict(2), gatewayCpuMs, errors: two.reduce((a, l) => a + l.non2xx + l.errors + l.graphqlErrors, 0) },
  };
}

await main();
