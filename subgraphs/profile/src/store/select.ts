/** The profile's stores on the shared infrastructure: in memory, or on its Redis connection. */
import type { Infrastructure } from '../../../../lib/infrastructure.js';
import type { ProfileConfig } from '../config.js';
import { createMemoryStores } from './memory.js';
import type { ProfileStores } from './ports.js';
import { createRedisProfileStores } from './redis.js';

export function selectProfileStores(config: Pick<ProfileConfig, 'dedupeTtlMs' | 'profileTtlMs' | 'writeCache'> & Partial<Pick<ProfileConfig, 'cacheBytes' | 'compactEvery'>>, redis: Infrastructure['redis']): ProfileStores {
  const { dedupeTtlMs, profileTtlMs, writeCache, cacheBytes, compactEvery } = config;
  if (!redis) return createMemoryStores({ dedupeTtlMs, profileTtlMs });
  return createRedisProfileStores(redis.client, { prefix: redis.prefix, profileTtlMs, dedupeTtlMs, writeCache, ...(cacheBytes === undefined ? {} : { cacheBytes }), ...(compactEvery === undefined ? {} : { compactEvery }) });
}

/** Inline on the embedded stores (one process applies what it accepts); the updater group's stream on Redis. */
export const ingestModeFor = (infrastructure: Pick<Infrastructure, 'kind'>): 'inline' | 'stream' => (infrastructure.kind === 'memory' ? 'inline' : 'stream');
