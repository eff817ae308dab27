/**
 * Chooses the stores: embedded in-memory by default, Redis (or Redis Cluster) when REDIS_URL (or
 * REDIS_CLUSTER_NODES) is set. Every service builds what it needs from the same environment.
 */
import { envDuration, envInt } from '../lib/env.js';
import { MemoryEventLog } from '../lib/eventlog/memory.js';
import type { EventLog } from '../lib/eventlog/port.js';
import { DEFAULT_STREAM_OPTIONS, RedisStreamEventLog } from '../lib/eventlog/redis-streams.js';
import { MemoryPubSub } from '../lib/pubsub/memory.js';
import type { ProfilePubSub } from '../lib/pubsub/port.js';
import { RedisPubSub } from '../lib/pubsub/redis.js';
import { connect, redisSettingsFromEnv } from '../lib/redis/connection.js';
import type { RedisClient } from '../lib/redis/connection.js';
import { createMemoryExperimentStores } from '../subgraphs/experiments/src/store/memory.js';
import type { ExperimentStores } from '../subgraphs/experiments/src/store/ports.js';
import { createRedisExperimentStores } from '../subgraphs/experiments/src/store/redis.js';
import { createMemoryStores } from '../subgraphs/profile/src/store/memory.js';
import type { ProfileStores } from '../subgraphs/profile/src/store/ports.js';
import { createRedisProfileStores } from '../subgraphs/profile/src/store/redis.js';
import { PROFILE_UPDATER_GROUP } from '../subgraphs/profile/src/app/profile-service.js';
import { MemoryCatalogStore } from '../subgraphs/recommendations/src/store/memory.js';
import type { CatalogStore } from '../subgraphs/recommendations/src/store/ports.js';
import { RedisCatalogStore } from '../subgraphs/recommendations/src/store/redis.js';

export interface Backends {
  kind: 'memory' | 'redis' | 'redis-cluster';
  /** inline: profiles change during the request; stream: the profile updater group applies them. */
  ingestMode: 'inline' | 'stream';
  profileStores: ProfileStores;
  eventLog: EventLog;
  pubsub: ProfilePubSub;
  catalogStore: CatalogStore;
  experimentStores: ExperimentStores;
  redis: RedisClient | null;
  close(): Promise<void>;
}

export function createBackends(env: NodeJS.ProcessEnv = process.env, onError: (err: unknown) => void = (e) => console.error(e)): Backends {
  const profileTtlMs = envDuration(env, 'PROFILE_TTL', '90d');
  const dedupeTtlMs = envDuration(env, 'DEDUPE_TTL', '7d');
  const settings = redisSettingsFromEnv(env);
  if (!settings) {
    const eventLog = new MemoryEventLog({ retention: envInt(env, 'STREAM_RETENTION', 100_000, 1), dedupeTtlMs, onError });
    const pubsub = new MemoryPubSub();
    return {
      kind: 'memory',
      ingestMode: 'inline',
      profileStores: createMemoryStores({ dedupeTtlMs, profileTtlMs }),
      eventLog,
      pubsub,
      catalogStore: new MemoryCatalogStore(),
      experimentStores: createMemoryExperimentStores(),
      redis: null,
      close: async () => {
        await eventLog.close();
        await pubsub.close();
      },
    };
  }
  const redis = connect(settings);
  redis.on('error', () => undefined); // reported by the failing commands; ioredis keeps reconnecting
  const eventLog = new RedisStreamEventLog(redis, {
    ...DEFAULT_STREAM_OPTIONS,
    prefix: settings.prefix,
    partitions: envInt(env, 'STREAM_PARTITIONS', DEFAULT_STREAM_OPTIONS.partitions, 1, 1024),
    retention: envInt(env, 'STREAM_RETENTION', DEFAULT_STREAM_OPTIONS.retention, 1000),
    batchSize: envInt(env, 'STREAM_BATCH', DEFAULT_STREAM_OPTIONS.batchSize, 1, 10_000),
    inFlightBatches: envInt(env, 'STREAM_IN_FLIGHT', DEFAULT_STREAM_OPTIONS.inFlightBatches, 1, 64),
    reclaimIdleMs: envDuration(env, 'CONSUMER_RECLAIM_IDLE', '30s'),
    deadAfterMs: envDuration(env, 'CONSUMER_DEAD_AFTER', '2s'),
    dedupeTtlMs,
    // Accepted events are never trimmed before the profile updater group applied them.
    protectedGroup: PROFILE_UPDATER_GROUP,
    onError,
  });
  const pubsub = new RedisPubSub(redis, settings.prefix);
  return {
    kind: settings.clusterNodes?.length ? 'redis-cluster' : 'redis',
    ingestMode: 'stream',
    profileStores: createRedisProfileStores(redis, {
      prefix: settings.prefix,
      profileTtlMs,
      dedupeTtlMs,
      writeCache: envInt(env, 'PROFILE_WRITE_CACHE', 2000, 0, 1_000_000),
    }),
    eventLog,
    pubsub,
    catalogStore: new RedisCatalogStore(redis, settings.prefix),
    experimentStores: createRedisExperimentStores(redis, settings.prefix),
    redis,
    close: async () => {
      await eventLog.close();
      await pubsub.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
