/** Profile service configuration from environment variables (documented in README). */
import { corsOrigins, envDuration, envInt, envList, envString, isProduction } from '../../../lib/env.js';
import { DEFAULT_LIMITS, DEFAULT_REDUCER_CONFIG } from './domain/config.js';
import type { ReducerConfig } from './domain/config.js';
import { DEFAULT_VALIDATION_LIMITS } from './domain/validate.js';
import type { ValidationLimits } from './domain/validate.js';

export interface ProfileConfig {
  port: number;
  host: string;
  production: boolean;
  logLevel: string;
  corsOrigins: true | string[];
  reducer: ReducerConfig;
  validation: ValidationLimits;
  snapshotIntervalMs: number;
  dedupeTtlMs: number;
}

export function loadProfileConfig(env: NodeJS.ProcessEnv = process.env): ProfileConfig {
  return {
    port: envInt(env, 'PROFILE_PORT', 4001, 0, 65535),
    host: envString(env, 'HOST', '127.0.0.1'),
    production: isProduction(env),
    logLevel: envString(env, 'LOG_LEVEL', 'warn'),
    corsOrigins: corsOrigins(env),
    reducer: {
      halfLifeMs: envDuration(env, 'AFFINITY_HALF_LIFE', '14d'),
      facets: envList(env, 'PROFILE_FACETS', DEFAULT_REDUCER_CONFIG.facets),
      limits: DEFAULT_LIMITS,
    },
    validation: {
      ...DEFAULT_VALIDATION_LIMITS,
      maxFutureSkewMs: envDuration(env, 'MAX_FUTURE_SKEW', '5m'),
    },
    snapshotIntervalMs: envDuration(env, 'SNAPSHOT_INTERVAL', '24h'),
    dedupeTtlMs: envDuration(env, 'DEDUPE_TTL', '7d'),
  };
}
