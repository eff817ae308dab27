/**
 * The platform on Redis through the gateway: streaming ingestion with read-your-writes,
 * ProfileUpdated messages, and Redis going away and coming back.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createBackends } from '../../platform/backends.js';
import type { Backends } from '../../platform/backends.js';
import { startTestPlatform } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';
import { REDIS_URL, deleteByPrefix, freshPrefix, redisTargets, requireTarget } from '../helpers/redis.js';

const INGEST = `mutation ($events: [EventInput!]!, $wait: Boolean) { ingestEvents(events: $events, wait: $wait) { accepted duplicates applied rejected { code } } }`;
const PROFILE = `query ($id: ID!) { user(id: $id) { profile { version genreAffinities { key } } } }`;

const play = (userId: string, eventId: string, genre = 'Crime') => ({
  eventId,
  userId,
  type: 'PLAY',
  occurredAt: new Date().toISOString(),
  item: { id: `m-${eventId}`, kind: 'MOVIE', genres: [genre] },
});

describe('platform on Redis (stream mode)', () => {
  let available = true;
  let note = '';
  let backends: Backends;
  let p: TestPlatform;
  const prefix = freshPrefix();

  beforeAll(async () => {
    available = await requireTarget(redisTargets()[0]!, (n) => (note = n));
    if (!available) return;
    backends = createBackends({ REDIS_URL, REDIS_PREFIX: prefix, STREAM_PARTITIONS: '4' });
    p = await startTestPlatform({ backends, env: { SEED_RANKING_EXPERIMENT: 'false' } });
  });
  afterAll(async () => {
    if (!available) return;
    await p.close();
    await deleteByPrefix(backends.redis!, prefix);
    await backends.close();
  });

  it('HTTP ?wait=applied and GraphQL wait:true answer once the profile shows the events', async ({ skip }) => {
    if (!available) skip(note);
    const res = await fetch(`${p.profile.url}/v1/events?wait=applied`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ events: [play('r1', 'r1-a'), play('r1', 'r1-b')] }),
    });
    expect(await res.json()).toMatchObject({ accepted: 2, applied: true });
    expect((await p.query(PROFILE, { id: 'r1' })).data.user.profile.version).toBe(2);

    const gql = await p.query(INGEST, { events: [play('r1', 'r1-c', 'Comedy')], wait: true });
    expect(gql.data.ingestEvents).toMatchObject({ accepted: 1, applied: true });
    const profile = (await p.query(PROFILE, { id: 'r1' })).data.user.profile;
    expect(profile.version).toBe(3);
    expect(profile.genreAffinities.map((a: { key: string }) => a.key).sort()).toEqual(['Comedy', 'Crime']);

    const again = await p.query(INGEST, { events: [play('r1', 'r1-c', 'Comedy')], wait: true });
    expect(again.data.ingestEvents).toMatchObject({ accepted: 0, duplicates: 1 });
  });

  it('without waiting the events still get applied by the updater group, and ProfileUpdated is published', async ({ skip }) => {
    if (!available) skip(note);
    const messages: number[] = [];
    const unsubscribe = await backends.pubsub.subscribe('r2', (m) => messages.push(m.version));
    const res = await p.query(INGEST, { events: [play('r2', 'r2-a'), play('r2', 'r2-b'), play('r2', 'r2-c')] });
    expect(res.data.ingestEvents.accepted).toBe(3);
    await expect.poll(async () => (await p.query(PROFILE, { id: 'r2' })).data.user.profile.version, { timeout: 10_000, interval: 20 }).toBe(3);
    await vi.waitFor(() => expect(messages).toContain(3), { timeout: 10_000, interval: 10 });
    expect([...messages].sort((a, b) => a - b)).toEqual(messages);
    await unsubscribe();
  });

  it('/ready counts the consumer groups that have joined every stream partition', async ({ skip }) => {
    if (!available) skip(note);
    const checks = async (url: string) => ((await (await fetch(`${url}/ready`)).json()) as { checks: Record<string, string> }).checks;
    expect(await checks(p.profile.url)).toEqual({ profileStore: 'ok', updaterGroup: 'ok' });
    expect(await checks(p.recommendations.url)).toEqual({ trendingGroup: 'ok' });
    expect(await checks(p.audiences.url)).toMatchObject({ profileChangesGroup: 'ok' });
  });

  it('restarting every service loses no profile, experiment, assignment, aggregate or catalog item', async ({ skip }) => {
    if (!available) skip(note);
    await p.query(`mutation { createExperiment(input: { key: "persist", name: "Persist", variants: [{ key: "a", weight: 0.5 }, { key: "b", weight: 0.5 }] }) { key } }`);
    await p.query(`mutation { startExperiment(key: "persist") { key } }`);
    await p.query(`mutation { upsertItems(items: [{ id: "persisted-item", kind: MOVIE, title: "Kept", genres: ["Drama"] }]) { upserted } }`);
    const assigned = (await p.query(`{ user(id: "r1") { assignment(experimentKey: "persist") { variant } } }`)).data.user.assignment.variant;
    const before = (await p.query(`{ user(id: "r1") { profile { version } } experiment(key: "persist") { status results { variants { assignedUsers } } } }`)).data;

    await p.close();
    p = await startTestPlatform({ backends, env: { SEED_RANKING_EXPERIMENT: 'false' } });

    const after = (await p.query(`{ user(id: "r1") { profile { version } } experiment(key: "persist") { status results { variants { assignedUsers } } } }`)).data;
    expect(after).toEqual(before);
    expect(after.user.profile.version).toBe(3);
    expect((await p.query(`{ user(id: "r1") { assignment(experimentKey: "persist") { variant reason } } }`)).data.user.assignment).toEqual({
      variant: assigned,
      reason: 'STICKY',
    });
    expect((await p.query(`{ item(id: "persisted-item") { title } }`)).data.item.title).toBe('Kept');
  });
});

describe('Redis unavailable and back', () => {
  let port = 0;
  let server: ChildProcess | undefined;
  const spawned: ChildProcess[] = [];
  let backends: Backends;
  let p: TestPlatform;
  let available = true;
  let note = '';

  /** The process id of the redis-server answering on `port`, or null while none answers. */
  const serverPid = async (): Promise<number | null> => {
    const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      return Number(/process_id:(\d+)/.exec(await probe.info('server'))?.[1]);
    } catch {
      return null;
    } finally {
      probe.disconnect();
    }
  };
  /** A redis-server of this test's own on `port`, once it answers; fails if it exits (the port is taken). */
  const startRedis = async () => {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    server = child;
    spawned.push(child);
    // Answering as this very process: another server that took the port does not count.
    await vi.waitFor(
      async () => {
        if (child.exitCode === null) expect(await serverPid()).toBe(child.pid);
      },
      { timeout: 10_000, interval: 20 },
    );
    if (child.exitCode !== null) throw new Error(`redis-server could not start on port ${port} (exit ${child.exitCode})`);
  };
  /** A port nothing listens on now (the kernel's pick), for the test's redis-server. */
  const freePort = () =>
    new Promise<number>((resolve, reject) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as AddressInfo;
        probe.close(() => resolve(free));
      });
      probe.on('error', reject);
    });

  beforeAll(async () => {
    available = await requireTarget(redisTargets()[0]!, (n) => (note = n));
    if (!available) return;
    port = await freePort();
    await startRedis();
    backends = createBackends({ REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_PREFIX: freshPrefix(), STREAM_PARTITIONS: '2' }, () => undefined);
    p = await startTestPlatform({ backends, env: { SEED_RANKING_EXPERIMENT: 'false' } });
  });
  afterAll(async () => {
    if (!available) return;
    try {
      await p.close();
      await backends.close();
    } finally {
      // Whatever happened in the test, no redis-server it started outlives it (killed after the
      // clients are closed: they would wait for a server that is gone).
      for (const child of spawned) child.kill('SIGKILL');
    }
  });

  it('answers a clear retryable error while Redis is down, and recovers by itself', async ({ skip }) => {
    if (!available) skip(note);
    const ok = await p.query(INGEST, { events: [play('o1', 'o1-a')], wait: true });
    expect(ok.data.ingestEvents.accepted).toBe(1);

    const gone = once(server!, 'exit');
    server!.kill('SIGKILL');
    await gone;
    // The platform has seen its connection drop (until then a command could still be on its way).
    await vi.waitFor(() => expect(backends.redis!.status).not.toBe('ready'), { timeout: 10_000, interval: 10 });
    const http = await fetch(`${p.profile.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ events: [play('o1', 'o1-b')] }),
    });
    expect(http.status).toBe(503);
    expect(http.headers.get('retry-after')).toBe('1');
    expect(await http.json()).toMatchObject({ error: { code: 'STORE_UNAVAILABLE', retryable: true } });
    const gql = await p.query(INGEST, { events: [play('o1', 'o1-c')] });
    expect(gql.errors?.[0]?.extensions).toMatchObject({ code: 'STORE_UNAVAILABLE', retryable: true });
    // Queries answer what they can: the catalog is in memory, the profile part errors.
    const partial = await p.query(`{ item(id: "m-laugh-track") { title } user(id: "o1") { profile { version } } }`);
    expect(partial.data.item.title).toBe('Laugh Track');
    expect(partial.errors?.length).toBeGreaterThan(0);

    await startRedis();
    // Retried as a client would until accepted (each attempt a real request; errors while reconnecting).
    const recovered = await vi.waitFor(
      async () => {
        const attempt = await p.query(INGEST, { events: [play('o1', 'o1-d')], wait: true });
        if (attempt.data?.ingestEvents?.accepted !== 1) throw new Error(`not recovered: ${JSON.stringify(attempt)}`);
        return attempt;
      },
      { timeout: 15_000, interval: 200 },
    );
    expect(recovered.data!.ingestEvents).toMatchObject({ accepted: 1, applied: true });
    // The stream path recovered too: the updater group (it recreates its group on the empty
    // Redis) applies an event accepted without waiting.
    const queued = await p.query(INGEST, { events: [play('o1', 'o1-e')] });
    expect(queued.data.ingestEvents).toMatchObject({ accepted: 1, applied: false });
    const version = async () => (await p.query(`{ user(id: "o1") { profile { version } } }`)).data?.user?.profile?.version;
    await expect.poll(version, { timeout: 15_000, interval: 100 }).toBe(2);
  }, 40_000);
});
