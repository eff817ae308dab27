/** Experiments service configuration from environment variables (documented in README). */
import { loadAuthConfig } from '../../../lib/auth.js';
import type { AuthConfig } from '../../../lib/auth.js';
import { envDuration, envInt, serviceBasics } from '../../../lib/env.js';
import type { ServiceBasics } from '../../../lib/env.js';
import { impressionSecret } from '../../../lib/contracts/impression.js';
import { maxFutureSkewMs } from '../../../lib/contracts/validate.js';
import type { UnitEventLimits } from './domain/unit-events.js';

export interface ExperimentsConfig extends ServiceBasics {
  auth: AuthConfig;
  impressionSecret: string;
  /** How long a replica reuses the experiment definitions it read for assignments (0: read every time). */
  definitionsCacheMs: number;
  /** Impression lifetime, occurredAt window and value bounds of unit events. */
  unitEvents: UnitEventLimits;
  /** Unit events per second one token may record (0: unlimited), and the burst. */
  unitEventRateLimit: number;
  unitEventBurst: number;
  /** Live results are computed at most this often per experiment and unit (EXPERIMENT_RESULTS_THROTTLE). */
  resultsThrottleMs: number;
}

export function loadExperimentsConfig(env: NodeJS.ProcessEnv = process.env): ExperimentsConfig {
  return {
    ...serviceBasics(env, 'EXPERIMENTS_PORT', 4003),
    auth: loadAuthConfig(env),
    impressionSecret: impressionSecret(env),
    definitionsCacheMs: envInt(env, 'EXPERIMENTS_CACHE_MS', 1000, 0, 60_000),
    unitEvents: {
      impressionTtlMs: envDuration(env, 'IMPRESSION_TTL', '24h'),
      maxSkewMs: maxFutureSkewMs(env),
      maxConsumeSeconds: envDuration(env, 'UNIT_EVENT_MAX_CONSUME', '24h') / 1000,
      maxUserPurchase: envInt(env, 'UNIT_EVENT_USER_MAX_PURCHASE', 1000, 0, 1e9),
    },
    unitEventRateLimit: envInt(env, 'UNIT_EVENT_RATE_LIMIT', 1000, 0),
    unitEventBurst: envInt(env, 'UNIT_EVENT_BURST', 2000, 1),
    resultsThrottleMs: envDuration(env, 'EXPERIMENT_RESULTS_THROTTLE', '250ms'),
  };
}
