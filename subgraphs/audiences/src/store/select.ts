/** The audiences' stores on the shared infrastructure: in memory, or on its Redis connection. */
import type { Infrastructure } from '../../../../lib/infrastructure.js';
import { createMemoryAudienceStores } from './memory.js';
import type { AudienceStores } from './ports.js';
import { createRedisAudienceStores } from './redis.js';

export const selectAudienceStores = (redis: Infrastructure['redis']): AudienceStores =>
  redis ? createRedisAudienceStores(redis.client, redis.prefix) : createMemoryAudienceStores();
