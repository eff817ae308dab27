/** The experiments' stores on the shared infrastructure: in memory, or on its Redis connection. */
import type { Infrastructure } from '../../../../lib/infrastructure.js';
import type { PubSub } from '../../../../lib/pubsub/port.js';
import { MemoryPubSub } from '../../../../lib/pubsub/memory.js';
import { RedisPubSub } from '../../../../lib/pubsub/redis.js';
import type { ExperimentResultsChanged } from '../app/results-feed.js';
import { createMemoryExperimentStores } from './memory.js';
import type { ExperimentStores } from './ports.js';
import { createRedisExperimentStores } from './redis.js';

export const selectExperimentStores = (redis: Infrastructure['redis']): ExperimentStores =>
  redis ? createRedisExperimentStores(redis.client, redis.prefix) : createMemoryExperimentStores();

/** Where recordings announce moved results: in process, or a Redis channel per experiment. */
export const selectExperimentPubSub = (redis: Infrastructure['redis']): PubSub<ExperimentResultsChanged> =>
  redis
    ? new RedisPubSub<ExperimentResultsChanged>(redis.client, redis.prefix, { topicOf: (m) => m.experimentKey, channel: (prefix, key) => `${prefix}exp:{x:${key}}:results` })
    : new MemoryPubSub<ExperimentResultsChanged>((m) => m.experimentKey);
