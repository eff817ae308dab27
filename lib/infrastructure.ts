/**
 * What the services share beneath their own stores: one Redis connection (or none: the embedded
 * in-memory default), the event log and the ProfileUpdated pub/sub. REDIS_URL (or
 * REDIS_CLUSTER_NODES) picks Redis; the stream settings are read here, once. Each service builds
 * its own stores on top (its `store/select.ts`); platform/ shares one Infrastructure among the
 * services of one process.
 */
import { closable } from './dispose.js';
import type { Closable } from './dispose.js';
import { envDuration, envInt } from './env.js';
import { MemoryEventLog } from './eventlog/memory.js';
import type { EntryKeys, EventLog } from './eventlog/port.js';
import { DEFAULT_STREAM_OPTIONS, RedisStreamEventLog } from './eventlog/redis-streams.js';
import { MemoryPubSub } from './pubsub/memory.js';
import type { ProfilePubSub, ProfileUpdated } from './pubsub/port.js';
import { RedisPubSub } from './pubsub/redis.js';
import { connect, redisSettingsFromEnv } from './redis/connection.js';
import type { RedisClient } from './redis/connection.js';

export interface Infrastructure extends Closable {
  kind: 'memory' | 'redis' | 'redis-cluster';
  /** The Redis connection and key prefix every Redis store uses (null: embedded stores). */
  redis: { client: RedisClient; prefix: string } | null;
  eventLog: EventLog;
  pubsub: ProfilePubSub;
  /**
   * Another log on the same infrastructure (its own streams under `<prefix><name>:`), for entries
   * other than profile events: profile change notices, audience changes. One per name (the same
   * name gives the same log); closed with the infrastructure. `dedupeTtlMs` 0: entries are not
   * deduplicated (consumers of notices are idempotent).
   */
  log<E>(name: string, keys: EntryKeys<E>, options?: { dedupeTtlMs?: number }): EventLog<E>;
}

/** The accepted profile events' log, as /metrics names it (its streams are `<prefix>{ev:<p>}:stream`). */
export const PROFILE_EVENTS_LOG = 'events';
/** Profile change notices (ProfileUpdated) as a log: what consumers that must not miss a change read. */
export const PROFILE_CHANGES_LOG = 'changes';
export const PROFILE_CHANGE_KEYS: EntryKeys<ProfileUpdated> = {
  orderKey: (m) => m.userId,
  dedupeKey: (m) => `${m.userId}:${m.version}:${m.at}`,
};

/**
 * DEDUPE_TTL: how long an accepted event id is remembered. The event log refuses it again within
 * this window, and the profile's ledger never applies it twice within it.
 */
export const dedupeWindowMs = (env: NodeJS.ProcessEnv): number => envDuration(env, 'DEDUPE_TTL', '7d');

export interface InfrastructureOptions {
  /** A consumer group whose unapplied entries the event log never trims (the profile updater's). */
  protectedGroup?: string;
  onError?: (err: unknown) => void;
}

export function createInfrastructure(env: NodeJS.ProcessEnv = process.env, options: InfrastructureOptions = {}): Infrastructure {
  const onError = options.onError ?? ((e: unknown) => console.error(e));
  const dedupeTtlMs = dedupeWindowMs(env);
  const settings = redisSettingsFromEnv(env);
  if (!settings) {
    const retention = envInt(env, 'STREAM_RETENTION', 100_000, 1);
    const eventLog = new MemoryEventLog({ retention, dedupeTtlMs, onError });
    const pubsub = new MemoryPubSub();
    const logs = namedLogs((name, keys, o) => new MemoryEventLog({ keys, retention, dedupeTtlMs: o?.dedupeTtlMs ?? 0, onError }));
    return closable({
      kind: 'memory',
      redis: null,
      eventLog,
      pubsub,
      log: logs.get,
      close: async () => {
        await logs.close();
        await eventLog.close();
        await pubsub.close();
      },
    });
  }
  const client = connect(settings);
  client.on('error', () => undefined); // reported by the failing commands; ioredis keeps reconnecting
  const streamOptions = {
    ...DEFAULT_STREAM_OPTIONS,
    partitions: envInt(env, 'STREAM_PARTITIONS', DEFAULT_STREAM_OPTIONS.partitions, 1, 1024),
    retention: envInt(env, 'STREAM_RETENTION', DEFAULT_STREAM_OPTIONS.retention, 1000),
    batchSize: envInt(env, 'STREAM_BATCH', DEFAULT_STREAM_OPTIONS.batchSize, 1, 10_000),
    inFlightBatches: envInt(env, 'STREAM_IN_FLIGHT', DEFAULT_STREAM_OPTIONS.inFlightBatches, 1, 64),
    reclaimIdleMs: envDuration(env, 'CONSUMER_RECLAIM_IDLE', '30s'),
    deadAfterMs: envDuration(env, 'CONSUMER_DEAD_AFTER', '2s'),
    onError,
  };
  const eventLog = new RedisStreamEventLog(client, {
    ...streamOptions,
    prefix: settings.prefix,
    dedupeTtlMs,
    ...(options.protectedGroup ? { protectedGroup: options.protectedGroup } : {}),
  });
  const logs = namedLogs((name, keys, o) => new RedisStreamEventLog(client, { ...streamOptions, keys, prefix: `${settings.prefix}${name}:`, dedupeTtlMs: o?.dedupeTtlMs ?? 0 }));
  const pubsub = new RedisPubSub(client, settings.prefix);
  return closable({
    kind: settings.clusterNodes?.length ? 'redis-cluster' : 'redis',
    redis: { client, prefix: settings.prefix },
    eventLog,
    pubsub,
    log: logs.get,
    close: async () => {
      await logs.close();
      await eventLog.close();
      await pubsub.close();
      await client.quit().catch(() => client.disconnect());
    },
  });
}

/** One log per name, made on first use. */
function namedLogs(make: <E>(name: string, keys: EntryKeys<E>, options?: { dedupeTtlMs?: number }) => EventLog<E>) {
  const logs = new Map<string, EventLog<unknown>>();
  return {
    get: <E>(name: string, keys: EntryKeys<E>, options?: { dedupeTtlMs?: number }): EventLog<E> => {
      let log = logs.get(name);
      if (!log) logs.set(name, (log = make(name, keys, options) as EventLog<unknown>));
      return log as EventLog<E>;
    },
    close: async () => {
      await Promise.all([...logs.values()].map((l) => l.close()));
      logs.clear();
    },
  };
}
