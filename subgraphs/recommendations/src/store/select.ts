/** The catalog store on the shared infrastructure: in memory, or on its Redis connection. */
import type { Infrastructure } from '../../../../lib/infrastructure.js';
import { MemoryCatalogStore } from './memory.js';
import type { CatalogStore } from './ports.js';
import { RedisCatalogStore } from './redis.js';

export const selectCatalogStore = (redis: Infrastructure['redis']): CatalogStore =>
  redis ? new RedisCatalogStore(redis.client, redis.prefix) : new MemoryCatalogStore();
