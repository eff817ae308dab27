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
import type { EventLog } from './eventlog/port.js';
import { DEFAULT_STREAM_OPTIONS, RedisStreamEventLog } from './eventlog/redis-streams.js';
import { MemoryPubSub } from './pubsub/memory.js';
import type { ProfilePubSub } from './pubsub/port.js';
import { RedisPubSub } from './pubsub/redis.js';
import { connect, redisSettingsFromEnv } from './redis/connection.js';
import type { RedisClient } from './redis/connection.js';

export interface Infrastructure extends Closable {
  kind: 'memory' | 'redis' | 'redis-cluster';
  /** The Redis connection and key prefix every Redis store uses (null: embedded stores). */
  redis: { client: RedisClient; prefix: string } | null;
  eventLog: EventLog;
  pubsub: ProfilePubSub;
}

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
    const eventLog = new MemoryEventLog({ retention: envInt(env, 'STREAM_RETENTION', 100_000, 1), dedupeTtlMs, onError });
    const pubsub = new MemoryPubSub();
    return closable({
      kind: 'memory',
      redis: null,
      eventLog,
      pubsub,
      close: async () => {
        await eventLog.close();
        await pubsub.close();
      },
    });
  }
  const client = connect(settings);
  client.on('error', () => undefined); // reported by the failing commands; ioredis keeps reconnecting
  const eventLog = new RedisStreamEventLog(client, {
    ...DEFAULT_STREAM_OPTIONS,
    prefix: settings.prefix,
    partitions: envInt(env, 'STREAM_PARTITIONS', DEFAULT_STREAM_OPTIONS.partitions, 1, 1024),
    retention: envInt(env, 'STREAM_RETENTION', DEFAULT_STREAM_OPTIONS.retention, 1000),
    batchSize: envInt(env, 'STREAM_BATCH', DEFAULT_STREAM_OPTIONS.batchSize, 1, 10_000),
    inFlightBatches: envInt(env, 'STREAM_IN_FLIGHT', DEFAULT_STREAM_OPTIONS.inFlightBatches, 1, 64),
    reclaimIdleMs: envDuration(env, 'CONSUMER_RECLAIM_IDLE', '30s'),
    deadAfterMs: envDuration(env, 'CONSUMER_DEAD_AFTER', '2s'),
    dedupeTtlMs,
    ...(options.protectedGroup ? { protectedGroup: options.protectedGroup } : {}),
    onError,
  });
  const pubsub = new RedisPubSub(client, settings.prefix);
  return closable({
    kind: settings.clusterNodes?.length ? 'redis-cluster' : 'redis',
    redis: { client, prefix: settings.prefix },
    eventLog,
    pubsub,
    close: async () => {
      await eventLog.close();
      await pubsub.close();
      await client.quit().catch(() => client.disconnect());
    },
  });
}
