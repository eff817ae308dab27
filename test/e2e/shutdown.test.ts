/**
 * Graceful shutdown of the real entry point (`node --import ./scripts/ts/register.mjs platform/start.ts`, as `npm start`) in a child
 * process: on SIGTERM the platform stops accepting, lets in-flight requests finish (also on
 * keep-alive connections), closes graphql-ws subscriptions with 1001 (Going away) and exits 0
 * within SHUTDOWN_GRACE_MS. On Redis, every event of every batch answered 2xx is applied: the
 * platform is started again on the same Redis prefix and the profiles are read back.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '../../lib/redis/connection.js';
import { REDIS_URL, deleteByPrefix, freshPrefix, redisTargets, requireTarget } from '../helpers/redis.js';
import { until as untilHolds } from '../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GRACE_MS = 8000;
const PARTITIONS = 4;

interface Child {
  process: ChildProcess;
  gatewayUrl: string;
  eventsUrl: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

const children: ChildProcess[] = [];

/** Starts platform/start.ts on ephemeral ports and waits for its banner. */
async function startChild(extraEnv: Record<string, string>): Promise<Child> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Not "test": Apollo Server only registers its own signal handlers outside NODE_ENV=test, and
  // this test is about what a deployed process does.
  delete env['NODE_ENV'];
  delete env['NODE_OPTIONS'];
  delete env['REDIS_URL'];
  delete env['REDIS_CLUSTER_NODES'];
  Object.assign(env, {
    HOST: '127.0.0.1',
    GATEWAY_PORT: '0',
    PROFILE_PORT: '0',
    RECOMMENDATIONS_PORT: '0',
    EXPERIMENTS_PORT: '0', AUDIENCES_PORT: '0', CONSOLE_PORT: '0',
    // The demo's background traffic would be load this test does not count.
    DEMO_SIMULATION_USERS: '0',
    LOG_LEVEL: 'warn',
    // Authentication and rate limits are tested elsewhere (test/e2e/auth.test.ts).
    AUTH_DISABLED: '1',
    INGEST_RATE_LIMIT: '0',
    SHUTDOWN_GRACE_MS: String(GRACE_MS),
    ...extraEnv,
  });
  const child = spawn(process.execPath, ['--import', './scripts/ts/register.mjs', 'platform/start.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  // The banner is the readiness signal: resolved on the output that completes it, failed when the
  // child exits first or after 30 s.
  await new Promise<void>((resolve, reject) => {
    const fail = () => reject(new Error(`platform did not start:\n${output}`));
    const timer = setTimeout(fail, 30_000);
    const onData = () => {
      if (!output.includes('Ctrl-C stops everything')) return;
      clearTimeout(timer);
      resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', () => {
      clearTimeout(timer);
      fail();
    });
  });
  const gatewayUrl = /Gateway \+ Apollo Sandbox\s+(\S+)/.exec(output)?.[1];
  const eventsUrl = /Events API\s+POST (\S+)/.exec(output)?.[1];
  if (!gatewayUrl || !eventsUrl) throw new Error(`no URLs in the banner:\n${output}`);
  return { process: child, gatewayUrl, eventsUrl, output: () => output, exited };
}

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/** A POST on the given agent; resolves with the answer, rejects with the socket error (err.code). */
function post(url: string, body: unknown, agent: http.Agent): Promise<Reply> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: data ? JSON.parse(data) : null }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(text);
  });
}

/**
 * A POST whose body is sent in two halves: after start() the request is in flight (headers and
 * half the body are at the server), finish() sends the rest.
 */
function slowPost(url: string, body: unknown, agent: http.Agent) {
  const text = JSON.stringify(body);
  const half = Math.floor(text.length / 2);
  let finish!: () => void;
  const reply = new Promise<Reply>((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: data ? JSON.parse(data) : null }));
    });
    req.on('error', reject);
    req.write(text.slice(0, half));
    finish = () => req.end(text.slice(half));
  });
  reply.catch(() => undefined); // awaited later; a failure then fails the test, not the run
  return { reply, finish: () => finish() };
}

const event = (userId: string, eventId: string) => ({
  eventId,
  userId,
  type: 'PLAY',
  occurredAt: new Date().toISOString(),
  item: { id: `m-${eventId}`, kind: 'MOVIE', genres: ['Crime', 'Drama'] },
});

const PRODUCER_USERS = Array.from({ length: 8 }, (_, i) => `sd-u${i}`);
type Outcome = { kind: 'accepted'; events: Array<{ userId: string }> } | { kind: 'refused'; how: string };

/**
 * Sends batches of 20 events one after the other on a keep-alive connection until the platform
 * refuses, recording each answer in `outcomes` as it comes: 503 (closing) or connection refused (closed). A connection reset counts as refused
 * too: Node's server.close() closes the connections that are idle at that moment, and a request
 * that was on its way on one of them was never read (the final check that the versions equal the
 * accepted events, not more, confirms it). The producer goes on after a reset, as a real one
 * would retry.
 */
async function produce(eventsUrl: string, producer: number, stopAfter: number, outcomes: Outcome[] = []): Promise<Outcome[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let batch = 0; Date.now() < stopAfter; batch++) {
      const events = Array.from({ length: 20 }, (_, i) => event(PRODUCER_USERS[(producer + i) % PRODUCER_USERS.length]!, `sd-${producer}-${batch}-${i}`));
      try {
        const res = await post(eventsUrl, { events }, agent);
        if (res.status === 503) {
          outcomes.push({ kind: 'refused', how: `503 ${JSON.stringify(res.body)}` });
          break;
        }
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(res.body).toMatchObject({ accepted: events.length, duplicates: 0, rejected: [] });
        outcomes.push({ kind: 'accepted', events });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? String(err);
        if (code !== 'ECONNREFUSED' && code !== 'ECONNRESET') throw err;
        outcomes.push({ kind: 'refused', how: code });
        if (code === 'ECONNREFUSED') break;
      }
    }
  } finally {
    agent.destroy();
  }
  return outcomes;
}

/** Whether a fresh connection to the URL is refused. */
async function refused(url: string): Promise<boolean> {
  try {
    await post(url, {}, new http.Agent());
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}

/** Whether a new request is turned away: 503 (closing) or connection refused (closed). */
async function refusedOr503(url: string): Promise<boolean> {
  try {
    return (await post(url, {}, new http.Agent())).status === 503;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}

/** A subscription through the gateway that records its messages and how it ended. */
function subscribe(gatewayUrl: string, userId: string) {
  const messages: any[] = [];
  let ended: { how: 'error' | 'complete'; code?: number; reason?: string; at: number } | undefined;
  const client = createClient({ url: gatewayUrl.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
  client.subscribe(
    { query: `subscription ($id: ID!) { profileUpdated(userId: $id) { version user { profile { version } } } }`, variables: { id: userId } },
    {
      next: (m) => messages.push(m),
      error: (e) => (ended = { how: 'error', code: (e as { code?: number }).code, reason: (e as { reason?: string }).reason, at: Date.now() }),
      complete: () => (ended = { how: 'complete', at: Date.now() }),
    },
  );
  return { messages, ended: () => ended, dispose: () => client.dispose() };
}

/** Waits until `check` holds; an error `check` throws fails the wait at once (not retried). */
async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  let failure: { error: unknown } | undefined;
  await untilHolds(
    async () => {
      try {
        return await check();
      } catch (error) {
        failure = { error };
        return true;
      }
    },
    timeoutMs,
    what,
  );
  if (failure) throw failure.error;
}

/**
 * The shutdown itself, the same on both backends: returns what the producers got answered, and
 * how many events the subscribed user got.
 * In flight at SIGTERM: a POST /v1/events and a GraphQL ingestEvents through the gateway whose
 * bodies are only half sent, an open subscription, and producers streaming batches on keep-alive
 * connections (with idle keep-alive connections in between).
 */
async function shutDownUnderLoad(child: Child) {
  const { gatewayUrl, eventsUrl } = child;
  const keepAlive = new http.Agent({ keepAlive: true });

  // A live subscription through the gateway: it has delivered an update before the signal. The
  // child's pub/sub is out of this process's reach, so the delivery itself tells the subscription
  // is live upstream: events are applied until one comes through (earlier ones reach nobody).
  const sub = subscribe(gatewayUrl, 'sd-sub');
  let subscriptionEvents = 0;
  await until(async () => {
    if (sub.messages.some((m) => m.data?.profileUpdated?.version >= 1)) return true;
    const applied = await post(`${eventsUrl}?wait=applied`, { events: [event('sd-sub', `sd-sub-${++subscriptionEvents}`)] }, keepAlive);
    expect(applied.body).toMatchObject({ accepted: 1 });
    return false;
  }, 'a subscription update');

  // An idle keep-alive connection to the gateway must not hold up the close either.
  const warm = await post(gatewayUrl, { query: '{ __typename }' }, keepAlive);
  expect(warm.status).toBe(200);

  const slowEvents = slowPost(eventsUrl, { events: [event('sd-slow-http', 'sd-slow-http-1'), event('sd-slow-http', 'sd-slow-http-2')] }, keepAlive);
  const slowGraphql = slowPost(
    gatewayUrl,
    {
      query: 'mutation ($events: [EventInput!]!) { ingestEvents(events: $events) { accepted duplicates rejected { code } } }',
      variables: { events: [event('sd-slow-gql', 'sd-slow-gql-1')] },
    },
    keepAlive,
  );
  const stopAfter = Date.now() + GRACE_MS;
  const produced: Outcome[][] = [[], [], [], []];
  const producers = Promise.all(produced.map((outcomes, n) => produce(eventsUrl, n, stopAfter, outcomes)));
  // The signal comes while every producer streams on its keep-alive connection (two batches in).
  await until(() => produced.every((o) => o.filter((x) => x.kind === 'accepted').length >= 2), 'every producer to stream');

  const signalledAt = Date.now();
  child.process.kill('SIGTERM');
  // The gateway closes first (its in-flight operations still need the subgraphs): new requests
  // to it are refused now, but the one in flight is answered in full, and its keep-alive
  // connection is closed after it rather than holding up the close.
  await until(() => refusedOr503(gatewayUrl), 'the gateway to refuse requests');
  slowGraphql.finish();
  const gqlReply = await slowGraphql.reply;
  expect(gqlReply.status).toBe(200);
  expect(gqlReply.body).toEqual({ data: { ingestEvents: { accepted: 1, duplicates: 0, rejected: [] } } });
  expect(gqlReply.headers.connection).toBe('close');
  // Then the subgraphs: once the profile refuses new requests, its in-flight request is answered too.
  await until(() => refusedOr503(eventsUrl), 'the profile subgraph to refuse requests');
  slowEvents.finish();
  const httpReply = await slowEvents.reply;
  expect(httpReply.status).toBe(200);
  expect(httpReply.body).toMatchObject({ accepted: 2, duplicates: 0, rejected: [] });
  expect(httpReply.headers.connection).toBe('close');

  const outcomes = (await producers).flat();
  const exit = await child.exited;
  keepAlive.destroy();

  // The subscription was told: closed with 1001 (Going away), before the process exited.
  const ended = sub.ended();
  expect(ended, child.output()).toMatchObject({ how: 'error', code: 1001 });
  expect(ended!.at).toBeLessThanOrEqual(exit.at);
  await sub.dispose();

  // Exit 0 within the grace period.
  expect({ code: exit.code, signal: exit.signal }, child.output()).toEqual({ code: 0, signal: null });
  expect(exit.at - signalledAt).toBeLessThan(GRACE_MS);
  expect(child.output()).not.toMatch(/did not finish|shutdown failed|received during server shutdown/);

  // After the close nothing is accepted any more.
  expect(await refused(gatewayUrl)).toBe(true);
  expect(await refused(eventsUrl)).toBe(true);

  // Every producer had batches accepted, then was refused (503 or connection refused) in the end.
  expect(outcomes.filter((o) => o.kind === 'accepted').length).toBeGreaterThan(4);
  expect(outcomes.filter((o) => o.kind === 'refused' && o.how !== 'ECONNRESET')).toHaveLength(4);
  return { outcomes, subscriptionEvents };
}

describe('graceful shutdown of platform/start.ts on SIGTERM', () => {
  it('embedded stores: in-flight requests finish, the subscription is closed with 1001, exit 0', async () => {
    const child = await startChild({});
    await shutDownUnderLoad(child);
  }, 60_000);

  it('Redis: every event of every batch answered 2xx is applied (read back after a restart)', async ({ skip }) => {
    let note = '';
    if (!(await requireTarget(redisTargets()[0]!, (n) => (note = n)))) skip(note);
    const prefix = freshPrefix();
    const env = { REDIS_URL, REDIS_PREFIX: prefix, STREAM_PARTITIONS: String(PARTITIONS) };
    const redis = connect({ url: REDIS_URL, prefix: '' });
    try {
      const { outcomes, subscriptionEvents } = await shutDownUnderLoad(await startChild(env));

      // The updater finished what it had read: nothing is left pending on the stopped consumer
      // (which only XAUTOCLAIM after CONSUMER_RECLAIM_IDLE would hand to another one).
      for (let p = 0; p < PARTITIONS; p++) {
        const [pending] = (await redis.xpending(`${prefix}{ev:${p}}:stream`, 'profile-updater')) as [number];
        expect(pending, `partition ${p}`).toBe(0);
      }

      const accepted = new Map<string, number>(PRODUCER_USERS.map((u) => [u, 0]));
      for (const o of outcomes) if (o.kind === 'accepted') for (const e of o.events) accepted.set(e.userId, accepted.get(e.userId)! + 1);
      accepted.set('sd-sub', subscriptionEvents).set('sd-slow-http', 2).set('sd-slow-gql', 1);

      // Started again on the same Redis: the updater group applies whatever it had not read yet.
      const again = await startChild(env);
      const users = [...accepted.keys()];
      const query = `{ ${users.map((u, i) => `u${i}: user(id: "${u}") { profile { version } }`).join(' ')} }`;
      const versions = async () => {
        const res = await post(again.gatewayUrl, { query }, new http.Agent());
        return Object.fromEntries(users.map((u, i) => [u, res.body.data[`u${i}`].profile.version as number]));
      };
      const expected = Object.fromEntries(accepted);
      // Each profile counts exactly the events of its accepted batches: none lost, none from a
      // batch that was refused. (Polled: the restarted updater may still be reading what the
      // stopped one had not.)
      await expect.poll(versions, { timeout: 15_000, interval: 50 }).toEqual(expected);

      again.process.kill('SIGTERM');
      expect((await again.exited).code).toBe(0);
    } finally {
      await deleteByPrefix(redis, prefix);
      await redis.quit();
    }
  }, 90_000);
});
