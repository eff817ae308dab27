/** The experiments' stores on the shared infrastructure: in memory, or on its Redis connection. */
import type { Infrastructure } from '../../../../lib/infrastructure.js';
import { createMemoryExperimentStores } from './memory.js';
import type { ExperimentStores } from './ports.js';
import { createRedisExperimentStores } from './redis.js';

export const selectExperimentStores = (redis: Infrastructure['redis']): ExperimentStores =>
  redis ? createRedisExperimentStores(redis.client, redis.prefix) : createMemoryExperimentStores();
