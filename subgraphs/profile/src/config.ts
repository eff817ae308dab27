/** Profile service configuration from environment variables (documented in README). */
import { profileFacets } from '../../../lib/contracts/ranking-features.js';
import { loadAuthConfig } from '../../../lib/auth.js';
import { dedupeWindowMs } from '../../../lib/infrastructure.js';
import type { AuthConfig } from '../../../lib/auth.js';
import { envDuration, envInt, serviceBasics } from '../../../lib/env.js';
import type { ServiceBasics } from '../../../lib/env.js';
import { DEFAULT_LIMITS, DEFAULT_REDUCER_CONFIG } from './domain/config.js';
import type { ReducerConfig } from './domain/config.js';
import { DEFAULT_VALIDATION_LIMITS, maxFutureSkewMs } from '../../../lib/contracts/validate.js';
import type { ValidationLimits } from '../../../lib/contracts/validate.js';
import { DEFAULT_CACHE_MB, DEFAULT_COMPACT_EVERY, DEFAULT_WRITE_CACHE } from './store/ports.js';

export interface ProfileConfig extends ServiceBasics {
  auth: AuthConfig;
  reducer: ReducerConfig;
  validation: ValidationLimits;
  snapshotIntervalMs: number;
  /** DEDUPE_TTL: the ledger window (lib/infrastructure.ts reads it for the event log too). */
  dedupeTtlMs: number;
  /** Inactive profiles (and snapshots) expire after this (PROFILE_TTL; 0: never). */
  profileTtlMs: number;
  /** Profiles a process remembers as it wrote or read them (PROFILE_WRITE_CACHE; Redis only). */
  writeCache: number;
  /** At most this many bytes of their stored documents (PROFILE_CACHE_MB). */
  cacheBytes: number;
  /** Events appended to a Redis profile before its document is rewritten (PROFILE_COMPACT_EVERY; 1: every write rewrites it). */
  compactEvery: number;
  /** Events per second one token may ingest (0: unlimited), and the burst it may send at once. */
  ingestRateLimit: number;
  ingestBurst: number;
}

export function loadProfileConfig(env: NodeJS.ProcessEnv = process.env): ProfileConfig {
  return {
    ...serviceBasics(env, 'PROFILE_PORT', 4001),
    auth: loadAuthConfig(env),
    reducer: {
      halfLifeMs: envDuration(env, 'AFFINITY_HALF_LIFE', '14d'),
      facets: profileFacets(env),
      limits: DEFAULT_LIMITS,
      computedTraits: [],
    },
    validation: {
      ...DEFAULT_VALIDATION_LIMITS,
      maxFutureSkewMs: maxFutureSkewMs(env),
    },
    snapshotIntervalMs: envDuration(env, 'SNAPSHOT_INTERVAL', '24h'),
    dedupeTtlMs: dedupeWindowMs(env),
    profileTtlMs: envDuration(env, 'PROFILE_TTL', '90d'),
    writeCache: envInt(env, 'PROFILE_WRITE_CACHE', DEFAULT_WRITE_CACHE, 0, 1_000_000),
    cacheBytes: envInt(env, 'PROFILE_CACHE_MB', DEFAULT_CACHE_MB, 1, 1_000_000) * 2 ** 20,
    compactEvery: envInt(env, 'PROFILE_COMPACT_EVERY', DEFAULT_COMPACT_EVERY, 1, 1_000),
    ingestRateLimit: envInt(env, 'INGEST_RATE_LIMIT', 20_000, 0),
    ingestBurst: envInt(env, 'INGEST_BURST', 40_000, 1000),
  };
}
