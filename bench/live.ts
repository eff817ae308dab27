/**
 * npm run bench:live — live updates through the gateway, per transport: SUBSCRIPTIONS
 * subscriptions (default 1,000, one user each) selecting the profile and a re-ranked
 * `recommendedFor`, while events arrive at RATE events/s (default 500) on POST /v1/events.
 * Each transport in turn on the same two processes (subgraphs, gateway), same rate and count:
 *   graphql-ws  20 sockets, 50 subscriptions each (graphql-ws's client);
 *   sse         GraphQL over SSE at /graphql/stream, one request per subscription (graphql-sse's
 *               client, distinct connections mode);
 *   multipart   Apollo's multipart subscriptions on POST /graphql, one request per subscription,
 *               read by the small multipart reader below (the transport, not a client's cache).
 * Reports p50/p95/p99 from the ingest call to the message at the client, how many updates
 * arrived, and each transport's ratio to graphql-ws. BENCH_TRANSPORTS=sse,multipart runs a subset;
 * BENCH_ROUNDS (default 2) rounds alternate the order, each transport's figures pool its rounds.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import type { ExecutionResult } from 'graphql';
import { Agent, fetch as undiciFetch } from 'undici';
import WebSocket from 'ws';
import { startChild } from './lib/child.js';
import { cpuSeconds } from './lib/process-stats.js';
import { benchAuth } from './lib/auth.js';
import { percentiles } from './lib/synthetic.js';
import { saveReport } from './lib/report.js';
import { DEMO_MOVIE_REFS } from '../demo/catalog.js';

const SUBSCRIPTIONS = Number(process.env['BENCH_SUBSCRIPTIONS'] ?? 1000);
const RATE = Number(process.env['BENCH_RATE'] ?? 500);
const DURATION_S = Number(process.env['BENCH_DURATION'] ?? 10);
// The first seconds of each transport warm the JIT and connection pools: their latencies are not counted.
const WARMUP_S = Number(process.env['BENCH_WARMUP'] ?? 3);
const ALL_TRANSPORTS = ['graphql-ws', 'sse', 'multipart'] as const;
type TransportName = (typeof ALL_TRANSPORTS)[number];
const TRANSPORTS = [
  ...new Set(
    (process.env['BENCH_TRANSPORTS'] ?? ALL_TRANSPORTS.join(','))
      .split(',')
      .map((t) => t.trim())
      .filter((t): t is TransportName => (ALL_TRANSPORTS as readonly string[]).includes(t)),
  ),
];
/**
 * Rounds of every transport, the order reversed each round (graphql-ws, SSE, multipart, then
 * multipart, SSE, graphql-ws): on a machine whose load drifts (other work on the same cores), no
 * transport gets only the quiet or only the busy minutes, so the ratios stay fair.
 */
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 2);
const LABEL: Record<TransportName, string> = { 'graphql-ws': 'graphql-ws', sse: 'SSE', multipart: 'multipart' };
const json = process.argv.includes('--json');
const log = (m: string) => {
  if (!json) console.error(m);
};

const LIVE = `subscription Live($id: ID!) { profileUpdated(userId: $id) { version changed at user { id profile { genreAffinities { key score } } recommendedFor(limit: 5) { items { item { title } reasons } } } } }`;

type Result = ExecutionResult<{ profileUpdated?: { version: number; at: string } }>;

/** What one transport's subscriptions report to: every message with its arrival time. */
interface Receiver {
  message(user: string, result: Result, at: number): void;
  error(user: string, err: unknown): void;
}

/** Open subscriptions of one transport; `close` ends them all. */
interface Opened {
  close(): Promise<void>;
}

/**
 * Latency bookkeeping for one transport: an update to version v makes every event up to v
 * visible at the client (coalesced ones included), measured from each event's ingest call.
 */
class Measurement {
  readonly latencies: number[] = [];
  /** Milliseconds from the profile change being published to the message at the client. */
  readonly afterPublish: number[] = [];
  readonly live = new Set<string>();
  messages = 0;
  errors = 0;
  private readonly delivered = new Map<string, number>();
  measureFrom = Infinity;

  constructor(private readonly sent: Map<string, number[]>) {}

  record(user: string, result: Result, at: number): void {
    const update = result.data?.profileUpdated;
    if (result.errors?.length || !update) {
      this.errors++;
      return;
    }
    this.messages++;
    this.live.add(user);
    this.afterPublish.push(Date.now() - Date.parse(update.at));
    const before = this.delivered.get(user) ?? 0;
    if (update.version <= before) return;
    this.delivered.set(user, update.version);
    const times = this.sent.get(user) ?? [];
    for (let v = before + 1; v <= update.version; v++) {
      const t = times[v - 1];
      if (t !== undefined && t >= this.measureFrom) this.latencies.push(at - t);
    }
  }
}

interface Endpoints {
  gateway: string;
  auth: Record<string, string>;
  /** The HTTP transports' pool (one connection per subscription), a fresh one per transport. */
  agent: Agent;
}

/** Enough connections for one per subscription; streams may be silent between events for long. */
const streamAgent = () => new Agent({ connections: SUBSCRIPTIONS + 10, bodyTimeout: 0, headersTimeout: 60_000 });

function openGraphqlWs(users: string[], to: Receiver, { gateway, auth }: Endpoints): Opened {
  // Several sockets, many subscriptions each, as browsers behind one gateway would.
  const clients: Client[] = Array.from({ length: Math.ceil(users.length / 50) }, () =>
    createClient({ url: gateway.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, connectionParams: auth }),
  );
  const stops = users.map((user, i) =>
    clients[i % clients.length]!.subscribe<Result['data']>(
      { query: LIVE, variables: { id: user } },
      { next: (m) => to.message(user, m as Result, performance.now()), error: (e) => to.error(user, e), complete: () => undefined },
    ),
  );
  return {
    close: async () => {
      for (const stop of stops) stop();
      await Promise.all(clients.map((c) => c.dispose()));
    },
  };
}

function openSse(users: string[], to: Receiver, { gateway, auth, agent }: Endpoints): Opened {
  const client = createSseClient({
    url: `${gateway}/stream`,
    headers: auth,
    retryAttempts: 0,
    fetchFn: (input: string, init: Parameters<typeof undiciFetch>[1]) => undiciFetch(input, { ...init, dispatcher: agent }),
  });
  const stops = users.map((user) =>
    client.subscribe<Result['data']>(
      { query: LIVE, variables: { id: user } },
      { next: (m) => to.message(user, m as Result, performance.now()), error: (e) => to.error(user, e), complete: () => undefined },
    ),
  );
  return {
    close: async () => {
      for (const stop of stops) stop();
      client.dispose();
    },
  };
}

/** Reads one multipart subscription body as Apollo Client does: a part is complete when the next boundary arrives. */
async function readMultipart(
  body: AsyncIterable<Uint8Array>,
  boundary: string,
  onPart: (value: { payload?: Result | null; errors?: unknown[] }, at: number) => void,
): Promise<void> {
  const delimiter = `\r\n--${boundary}`;
  const decoder = new TextDecoder();
  let buffer = '';
  const parse = (part: string) => {
    const headersEnd = part.indexOf('\r\n\r\n');
    const text = headersEnd < 0 ? '' : part.slice(headersEnd + 4).trim();
    if (text === '') return undefined;
    try {
      return JSON.parse(text) as { payload?: Result | null; errors?: unknown[] };
    } catch {
      return undefined;
    }
  };
  for await (const chunk of body) {
    const at = performance.now();
    buffer += decoder.decode(chunk, { stream: true });
    for (let i = buffer.indexOf(delimiter); i >= 0; i = buffer.indexOf(delimiter)) {
      const part = parse(buffer.slice(0, i));
      buffer = buffer.slice(i + delimiter.length);
      if (part) onPart(part, at);
    }
  }
}

function openMultipart(users: string[], to: Receiver, { gateway, auth, agent }: Endpoints): Opened {
  const controller = new AbortController();
  const streams = users.map(async (user) => {
    try {
      const res = await undiciFetch(gateway, {
        method: 'POST',
        dispatcher: agent,
        signal: controller.signal,
        headers: { 'content-type': 'application/json', accept: 'multipart/mixed;subscriptionSpec="1.0",application/json', ...auth },
        body: JSON.stringify({ query: LIVE, variables: { id: user } }),
      });
      const type = res.headers.get('content-type') ?? '';
      const boundary = /boundary="?([^";]+)"?/.exec(type)?.[1];
      if (!res.ok || !type.startsWith('multipart/mixed') || !boundary || !res.body) {
        to.error(user, new Error(`HTTP ${res.status} ${type}: ${(await res.text()).slice(0, 200)}`));
        return;
      }
      await readMultipart(res.body, boundary, (part, at) => {
        // `{}` is a heartbeat; an error without payload ends the subscription.
        if (part.payload) to.message(user, part.payload, at);
        else if (part.errors) to.error(user, part.errors);
      });
    } catch (err) {
      if (!controller.signal.aborted) to.error(user, err);
    }
  });
  return {
    close: async () => {
      controller.abort();
      await Promise.all(streams);
    },
  };
}

/** Resolves when `check` holds, polling every 50 ms; false after `timeoutMs`. */
async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One transport's round: the raw samples, pooled over rounds into TransportFigures. */
interface RoundSamples {
  liveAtStart: number;
  events: number;
  expected: number;
  messages: number;
  errors: number;
  ingestErrors: number;
  latencies: number[];
  afterPublish: number[];
  cpuSeconds: number;
  eventLoopP99Ms: number;
  /** CPU seconds of the gateway and of the subgraphs process over the measured window, and the messages delivered in it. */
  processCpu: { gateway: number; subgraphs: number; messages: number };
}

function pooled(transport: TransportName, rounds: RoundSamples[]): TransportFigures {
  const sum = (f: (r: RoundSamples) => number) => rounds.reduce((a, r) => a + f(r), 0);
  const expected = sum((r) => r.expected);
  return {
    transport,
    subscriptions: SUBSCRIPTIONS,
    rounds: rounds.length,
    liveAtStart: Math.min(...rounds.map((r) => r.liveAtStart)),
    eventsPerSecond: expected / (DURATION_S * rounds.length),
    events: sum((r) => r.events),
    messages: sum((r) => r.messages),
    updatesVisible: sum((r) => r.latencies.length),
    updatesExpected: expected,
    errors: sum((r) => r.errors),
    ingestErrors: sum((r) => r.ingestErrors),
    latencyMs: percentiles(rounds.flatMap((r) => r.latencies)),
    publishToClientMs: percentiles(rounds.flatMap((r) => r.afterPublish)),
    loadGenerator: { cpuSeconds: sum((r) => r.cpuSeconds), eventLoopP99Ms: Math.max(...rounds.map((r) => r.eventLoopP99Ms)) },
    cpuMsPerMessage: {
      gateway: (sum((r) => r.processCpu.gateway) * 1000) / Math.max(1, sum((r) => r.processCpu.messages)),
      subgraphs: (sum((r) => r.processCpu.subgraphs) * 1000) / Math.max(1, sum((r) => r.processCpu.messages)),
    },
  };
}

interface TransportFigures {
  transport: TransportName;
  subscriptions: number;
  rounds: number;
  /** Subscriptions that had delivered a message before the measured load started (the fewest of any round). */
  liveAtStart: number;
  eventsPerSecond: number;
  events: number;
  messages: number;
  updatesVisible: number;
  updatesExpected: number;
  errors: number;
  ingestErrors: number;
  latencyMs: ReturnType<typeof percentiles>;
  publishToClientMs: ReturnType<typeof percentiles>;
  /** CPU summed over the rounds; the worst round's event-loop delay. */
  loadGenerator: { cpuSeconds: number; eventLoopP99Ms: number };
  /**
   * CPU ms per message delivered during the measured windows: the gateway's (the subscription's
   * selection executed per message, the transport's framing) and the subgraphs process's (its
   * ingest, applying the event, publishing it, and answering the gateway's entity fetches).
   */
  cpuMsPerMessage: { gateway: number; subgraphs: number };
}

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
  // SSE and multipart take one connection per subscription, all from this one address.
  const gatewayProcess = await start('gateway', {
    ...process.env,
    ...auth.env,
    MAX_CONNECTIONS_PER_CLIENT: String(SUBSCRIPTIONS + 100),
    BENCH_SUBGRAPH_URLS: JSON.stringify(subgraphs.info['subgraphUrls']),
  });
  const gateway = gatewayProcess.info['url'] as string;
  const endpoints = { gateway, auth: auth.caller };
  log(`subgraphs and gateway up in two processes (${stores}); transports: ${TRANSPORTS.join(', ')}`);

  let n = 0;
  const ingest = (events: { userId: string }[], sent: Map<string, number[]>, inflight: Promise<void>[], counters: { ingestErrors: number }) => {
    const t = performance.now();
    for (const e of events) (sent.get(e.userId) ?? sent.set(e.userId, []).get(e.userId)!).push(t);
    inflight.push(
      fetch(`${profile}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth.caller }, body: JSON.stringify({ events }) }).then(
        async (r) => {
          if (!r.ok) counters.ingestErrors++;
          await r.arrayBuffer();
        },
        () => void counters.ingestErrors++,
      ),
    );
  };
  const event = (user: string) => {
    const item = DEMO_MOVIE_REFS[n % DEMO_MOVIE_REFS.length];
    n++;
    return { eventId: `live-${n}`, userId: user, type: 'PLAY', occurredAt: Date.now(), item };
  };
  /** Subscriptions the gateway holds now (its live_subscriptions gauge), if it reports one. */
  const gatewaySubscriptions = async (): Promise<number | undefined> => {
    const text = await fetch(new URL('/metrics', gateway)).then((r) => r.text(), () => '');
    const m = /^\w*live_subscriptions(?:\{[^}]*\})? (\d+)/m.exec(text);
    return m ? Number(m[1]) : undefined;
  };

  const measureRound = async (transport: TransportName, round: number): Promise<RoundSamples> => {
    const sent = new Map<string, number[]>(); // user → send times of its events, in order
    const measurement = new Measurement(sent);
    // Fresh users per transport and round: each starts at version 0.
    const users = Array.from({ length: SUBSCRIPTIONS }, (_, i) => `live-${round}-${transport}-${i}`);
    const errorSamples: string[] = [];
    const receiver: Receiver = {
      message: (u, r, at) => {
        if (r.errors?.length && errorSamples.length < 3) errorSamples.push(JSON.stringify(r.errors).slice(0, 300));
        measurement.record(u, r, at);
      },
      error: (_u, err) => {
        measurement.errors++;
        if (errorSamples.length < 3) errorSamples.push(err instanceof Error ? err.message : JSON.stringify(err).slice(0, 300));
      },
    };
    log(`${LABEL[transport]} (round ${round + 1} of ${ROUNDS}): opening ${SUBSCRIPTIONS} subscriptions...`);
    const agent = streamAgent();
    const to: Endpoints = { ...endpoints, agent };
    const opened = transport === 'graphql-ws' ? openGraphqlWs(users, receiver, to) : transport === 'sse' ? openSse(users, receiver, to) : openMultipart(users, receiver, to);

    // Ready when every subscription has delivered an event: one per user not yet live, every second.
    const counters = { ingestErrors: 0 };
    const inflight: Promise<void>[] = [];
    const readyBy = performance.now() + 60_000;
    while (measurement.live.size < users.length && performance.now() < readyBy) {
      const waiting = users.filter((u) => !measurement.live.has(u));
      for (let i = 0; i < waiting.length; i += 100) ingest(waiting.slice(i, i + 100).map(event), sent, inflight, counters);
      await waitFor(() => measurement.live.size === users.length, 1000);
    }
    const liveAtStart = measurement.live.size;
    log(`${LABEL[transport]}: ${liveAtStart} of ${users.length} subscriptions live; sending ${RATE} events/s for ${DURATION_S} s after ${WARMUP_S} s of warm-up...`);

    const cpuBefore = process.cpuUsage();
    loopDelay.reset();
    loopDelay.enable();
    const perTick = Math.max(1, Math.round(RATE / 100));
    const measureFrom = performance.now() + WARMUP_S * 1000;
    measurement.measureFrom = measureFrom;
    const end = measureFrom + DURATION_S * 1000;
    let k = 0;
    const processCpu = () => ({ gateway: cpuSeconds(gatewayProcess.process.pid) ?? NaN, subgraphs: cpuSeconds(subgraphs.process.pid) ?? NaN, messages: measurement.messages });
    let windowStart: ReturnType<typeof processCpu> | undefined;
    while (performance.now() < end) {
      const tickStart = performance.now();
      if (!windowStart && tickStart >= measureFrom) windowStart = processCpu();
      ingest(Array.from({ length: perTick }, () => event(users[(k++ * 7919) % users.length]!)), sent, inflight, counters);
      const wait = 10 - (performance.now() - tickStart);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    await Promise.all(inflight);
    const expected = [...sent.values()].reduce((a, times) => a + times.filter((t) => t >= measureFrom).length, 0);
    // In-flight updates land; a multipart part may wait for the next heartbeat (5 s) to be complete.
    await waitFor(() => measurement.latencies.length >= expected, 6000);
    const windowEnd = processCpu();
    loopDelay.disable();
    const cpu = process.cpuUsage(cpuBefore);

    await opened.close();
    // Aborted streams' sockets are closed now, not when the pool gets round to it: the next
    // transport's connections must fit under the gateway's cap per client address.
    await agent.destroy();
    // The next transport starts on a gateway that holds none of these.
    await waitFor(async () => ((await gatewaySubscriptions()) ?? 0) === 0, 15_000);

    const p = percentiles(measurement.latencies);
    for (const sample of errorSamples) log(`${LABEL[transport]}: error: ${sample}`);
    log(`${LABEL[transport]}: p50 ${p.p50.toFixed(1)} ms, p95 ${p.p95.toFixed(1)} ms, p99 ${p.p99.toFixed(1)} ms; ${measurement.latencies.length} of ${expected} events visible, ${measurement.errors} errors`);
    return {
      liveAtStart,
      events: [...sent.values()].reduce((a, t) => a + t.length, 0),
      expected,
      messages: measurement.messages,
      errors: measurement.errors,
      ingestErrors: counters.ingestErrors,
      latencies: measurement.latencies,
      afterPublish: measurement.afterPublish,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      eventLoopP99Ms: loopDelay.percentile(99) / 1e6,
      processCpu: windowStart
        ? { gateway: windowEnd.gateway - windowStart.gateway, subgraphs: windowEnd.subgraphs - windowStart.subgraphs, messages: windowEnd.messages - windowStart.messages }
        : { gateway: 0, subgraphs: 0, messages: 0 },
    };
  };

  const samples = new Map<TransportName, RoundSamples[]>(TRANSPORTS.map((t) => [t, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const transport of round % 2 === 0 ? TRANSPORTS : [...TRANSPORTS].reverse()) samples.get(transport)!.push(await measureRound(transport, round));
  }
  const figures = TRANSPORTS.map((t) => pooled(t, samples.get(t)!));
  await gatewayProcess.stop();
  await subgraphs.stop();

  const reference = figures.find((f) => f.transport === 'graphql-ws');
  const ratio = (f: TransportFigures) =>
    reference ? { p50: f.latencyMs.p50 / reference.latencyMs.p50, p95: f.latencyMs.p95 / reference.latencyMs.p95, p99: f.latencyMs.p99 / reference.latencyMs.p99 } : undefined;
  const report = {
    stores,
    subscriptions: SUBSCRIPTIONS,
    rate: RATE,
    durationSeconds: DURATION_S,
    warmupSeconds: WARMUP_S,
    rounds: ROUNDS,
    // graphql-ws's figures at the top level, as before this report had transports.
    ...(reference ? { eventsPerSecond: reference.eventsPerSecond, latencyMs: reference.latencyMs } : {}),
    transports: Object.fromEntries(figures.map((f) => [f.transport, { ...f, ratioToGraphqlWs: ratio(f) }])),
  };
  saveReport(report);
  if (json) {
    console.log(JSON.stringify(report));
    return;
  }
  const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
  const x2 = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? `${x.toFixed(2)}x` : 'n/a');
  const rate = Math.round(figures.reduce((a, f) => a + f.eventsPerSecond, 0) / (figures.length || 1));
  console.log(
    `Live updates through the gateway (${stores}), per transport: ${SUBSCRIPTIONS} subscriptions each, about ${rate} events/s for ${DURATION_S} s (after ${WARMUP_S} s of warm-up), the transports one after another on the same processes, ${ROUNDS} round${ROUNDS === 1 ? '' : 's'} (the order reversed each round; figures pool the rounds)`,
  );
  console.log('');
  const row = (label: string, cell: (f: TransportFigures) => string) => console.log(`| ${label} | ${figures.map(cell).join(' | ')} |`);
  console.log(`| figure | ${figures.map((f) => LABEL[f.transport]).join(' | ')} |`);
  console.log(`|---|${figures.map(() => '---|').join('')}`);
  row('subscriptions live at the start', (f) => `${f.liveAtStart} of ${f.subscriptions}`);
  row('events sent (measured)', (f) => String(f.updatesExpected));
  row('messages received (coalesced updates count once)', (f) => String(f.messages));
  row('events visible at a client', (f) => `${f.updatesVisible} of ${f.updatesExpected}`);
  row('errors (subscription / ingest)', (f) => `${f.errors} / ${f.ingestErrors}`);
  row('ingest call → message at the client', (f) => `p50 ${f1(f.latencyMs.p50)} ms, p95 ${f1(f.latencyMs.p95)} ms, p99 ${f1(f.latencyMs.p99)} ms`);
  row('ratio to graphql-ws (p50 / p99)', (f) => {
    const r = ratio(f);
    return r ? `${x2(r.p50)} / ${x2(r.p99)}` : 'n/a';
  });
  row('profile published → message at the client', (f) => `p50 ${f1(f.publishToClientMs.p50)} ms, p99 ${f1(f.publishToClientMs.p99)} ms`);
  row('CPU per message delivered: gateway / subgraphs process (ingest, apply, publish, entity fetches)', (f) => `${f.cpuMsPerMessage.gateway.toFixed(3)} / ${f.cpuMsPerMessage.subgraphs.toFixed(3)} ms`);
  row('load generator: CPU, event-loop delay p99', (f) => `${f.loadGenerator.cpuSeconds.toFixed(1)} s, ${f1(f.loadGenerator.eventLoopP99Ms)} ms`);
}

await main();
