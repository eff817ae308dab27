/**
 * npm run bench:takeover — how long a dead profile updater's entries wait (needs Redis at
 * REDIS_URL, default redis://127.0.0.1:6379).
 *
 * Each trial starts a real updater process (`start:profile-updater`) and waits for its heartbeat,
 * stops it (SIGSTOP) and ingests one event for each of 50 users, waits until Redis has delivered
 * entries to it (they are pending with it), then kills it with SIGKILL and starts a live updater;
 * the time from the kill until every entry the victim held is applied and acknowledged is the
 * figure. The peer is the same trial with the previous release's only rescue, XAUTOCLAIM after
 * CONSUMER_RECLAIM_IDLE (the survivor's heartbeat check off), in the same run. Every trial's
 * events must end up applied exactly once (eventCount 1 per user), or the benchmark fails.
 */
import { randomUUID } from 'node:crypto';
import { createBackends } from '../platform/backends.js';
import { RedisStreamEventLog } from '../lib/eventlog/redis-streams.js';
import type { StreamConsumer } from '../lib/eventlog/redis-streams.js';
import { deleteByPrefix } from '../lib/redis/connection.js';
import type { RedisClient } from '../lib/redis/connection.js';
import { PROFILE_UPDATER_GROUP, ProfileService } from '../subgraphs/profile/src/app/profile-service.js';
import { loadProfileConfig } from '../subgraphs/profile/src/config.js';
import { startChild } from './lib/child.js';
import { percentiles } from './lib/synthetic.js';
import { saveReport } from './lib/report.js';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const TRIALS = Number(process.env['BENCH_TRIALS'] ?? 10);
const USERS = Number(process.env['BENCH_USERS'] ?? 50);
const SKIP_PEER = process.env['BENCH_SKIP_IDLE_RECLAIM'] === '1';
const PARTITIONS = 4;
const log = (msg: string) => console.error(msg);

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Trial {
  heldEntries: number;
  takeoverMs: number;
}

async function main() {
  const prefix = `bench-takeover:${randomUUID().slice(0, 8)}:`;
  const env = { ...process.env, REDIS_URL, REDIS_PREFIX: prefix, STREAM_PARTITIONS: String(PARTITIONS), LOG_LEVEL: 'silent' };
  const backends = createBackends(env, () => undefined);
  const redis = backends.redis as RedisClient;
  const eventLog = backends.eventLog as RedisStreamEventLog;
  const config = loadProfileConfig(env);
  const service = new ProfileService(backends.profileStores, { reducer: config.reducer, validation: config.validation, eventLog, mode: 'stream' });
  const heartbeats = async () => new Set(await redis.keys(eventLog.heartbeatKey(PROFILE_UPDATER_GROUP, '*')));
  /** Pending entry ids per partition, of one consumer or of the whole group. */
  const pending = async (consumer?: string) => {
    const ids: Array<[number, string]> = [];
    for (let p = 0; p < PARTITIONS; p++) {
      const key = eventLog.streamKey(p);
      const rows = (await (consumer ? redis.xpending(key, PROFILE_UPDATER_GROUP, '-', '+', 10_000, consumer) : redis.xpending(key, PROFILE_UPDATER_GROUP, '-', '+', 10_000)).catch(
        () => [],
      )) as Array<[string, ...unknown[]]>;
      for (const [id] of rows) ids.push([p, id]);
    }
    return ids;
  };

  /** Connections blocked in XREADGROUP right now (CLIENT LIST: flags b, cmd xreadgroup). */
  const blockedReaders = async () =>
    String(await redis.client('LIST'))
      .split('\n')
      .filter((line) => / flags=\S*b\S* /.test(` ${line} `) && / cmd=xreadgroup /.test(` ${line} `)).length;

  async function trial(n: number, survivorLog: RedisStreamEventLog): Promise<Trial | undefined> {
    const before = await heartbeats();
    const baselineReaders = await blockedReaders();
    const victim = await startChild(new URL('../subgraphs/profile/src/updater-main.ts', import.meta.url), { env });
    // Ready once its heartbeat is in Redis: it beats before its first read.
    let key = '';
    await until(async () => {
      key = [...(await heartbeats())].find((k) => !before.has(k)) ?? '';
      return key !== '';
    }, 30_000, 'the updater process to start');
    const name = key.slice(eventLog.heartbeatKey(PROFILE_UPDATER_GROUP, '').length);
    // Frozen while its blocking read is outstanding (Redis lists it as blocked in XREADGROUP):
    // Redis delivers the next entries to it.
    await until(async () => (await blockedReaders()) > baselineReaders, 10_000, 'the updater to block in its read');
    victim.process.kill('SIGSTOP');
    const users = Array.from({ length: USERS }, (_, i) => `t${n}-u${i}`);
    await service.ingest(users.map((userId, i) => ({ eventId: `t${n}-e${i}`, userId, type: 'PLAY', occurredAt: Date.now(), item: { id: `m-${i}`, kind: 'MOVIE', genres: ['Crime'] } })));
    let held: Array<[number, string]> = [];
    try {
      await until(async () => (held = await pending(name)).length > 0, 1_000, 'entries delivered to the frozen updater');
    } catch {
      held = [];
    }
    victim.process.kill('SIGKILL');
    const killedAt = performance.now();
    const survivor = survivorLog.consume(PROFILE_UPDATER_GROUP, (batch) => service.applyBatch(batch)) as StreamConsumer;
    try {
      if (held.length === 0) {
        log(`  trial ${n + 1}: its read had just timed out, nothing was delivered to it; not counted`);
        await until(async () => (await pending()).length === 0, 60_000, 'the group to drain');
        return undefined;
      }
      const heldIds = new Set(held.map(([p, id]) => `${p}/${id}`));
      await until(async () => (await pending()).every(([p, id]) => !heldIds.has(`${p}/${id}`)), 120_000, 'the dead updater\'s entries to be applied');
      const takeoverMs = performance.now() - killedAt;
      // Every event applied: the held ones (taken over) and those the dead updater had not read
      // yet (its partitions pass to the survivor once its heartbeat has lapsed).
      const counts_ = async () => (await backends.profileStores.profiles.getMany(users)).map((p) => p?.eventCount ?? 0);
      await until(async () => (await counts_()).every((c) => c >= 1) && (await pending()).length === 0, 60_000, 'every event to be applied');
      const counts = await counts_();
      if (counts.some((c) => c !== 1)) throw new Error(`trial ${n + 1}: event counts ${JSON.stringify(counts)}, expected 1 each`);
      log(`  trial ${n + 1}: ${held.length} entries held by the killed updater, applied ${takeoverMs.toFixed(0)} ms after SIGKILL`);
      return { heldEntries: held.length, takeoverMs };
    } finally {
      await survivor.stop();
      await victim.stop().catch(() => undefined);
    }
  }

  const heartbeat: Trial[] = [];
  const idleOnly: Trial[] = [];
  try {
    log(`heartbeat takeover (CONSUMER_DEAD_AFTER ${eventLog.options.deadAfterMs} ms), ${TRIALS} trials:`);
    for (let n = 0; heartbeat.length < TRIALS && n < TRIALS * 3; n++) {
      const t = await trial(n, eventLog);
      if (t) heartbeat.push(t);
    }
    if (!SKIP_PEER) {
      log(`idle reclaim only (XAUTOCLAIM after CONSUMER_RECLAIM_IDLE ${eventLog.options.reclaimIdleMs} ms, as before heartbeats), 1 trial:`);
      // Heartbeats still decide which member reads which partition; only the takeover is off.
      const idleLog = new RedisStreamEventLog(redis, { ...eventLog.options, takeOverDead: false });
      for (let n = 1000; idleOnly.length < 1 && n < 1003; n++) {
        const t = await trial(n, idleLog);
        if (t) idleOnly.push(t);
      }
    }
  } finally {
    await deleteByPrefix(redis, prefix);
    await backends.close();
  }

  const h = percentiles(heartbeat.map((t) => t.takeoverMs));
  const idle = idleOnly.length ? percentiles(idleOnly.map((t) => t.takeoverMs)) : undefined;
  const result = {
    trials: h.n,
    users: USERS,
    deadAfterMs: eventLog.options.deadAfterMs,
    reclaimIdleMs: eventLog.options.reclaimIdleMs,
    heldEntries: percentiles(heartbeat.map((t) => t.heldEntries)),
    takeoverMs: { p50: h.p50, p99: h.p99, max: Math.max(...heartbeat.map((t) => t.takeoverMs)) },
    ...(idle ? { idleReclaimTakeoverMs: { p50: idle.p50, n: idle.n }, ratio: idle.p50 / h.p50 } : {}),
    exactlyOnce: true,
  };
  saveReport(result);
  const s = (v: number) => `${(v / 1000).toFixed(2)} s`;
  console.log(`A profile updater killed with SIGKILL while it holds entries: kill → every entry it held applied and acknowledged by a live updater (${h.n} trials, ${USERS} events each; every event applied exactly once).`);
  console.log('');
  console.log('| rescue | p50 | p99 | max |');
  console.log('|---|---|---|---|');
  console.log(`| heartbeat lapses (CONSUMER_DEAD_AFTER ${s(eventLog.options.deadAfterMs)}) | ${s(h.p50)} | ${s(h.p99)} | ${s(result.takeoverMs.max)} |`);
  if (idle) console.log(`| idle reclaim only (XAUTOCLAIM after CONSUMER_RECLAIM_IDLE ${s(eventLog.options.reclaimIdleMs)}), the previous release | ${s(idle.p50)} | | |`);
  if (idle) console.log(`\nHeartbeats take a dead updater's entries over ${(idle.p50 / h.p50).toFixed(1)}x sooner at p50.`);
}

await main();
