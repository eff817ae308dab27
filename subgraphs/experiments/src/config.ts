/** Experiments service configuration from environment variables (documented in README). */
import { loadAuthConfig } from '../../../lib/auth.js';
import type { AuthConfig } from '../../../lib/auth.js';
import { envBool, envInt, envString, serviceBasics } from '../../../lib/env.js';
import type { ServiceBasics } from '../../../lib/env.js';
import { impressionSecret } from '../../../lib/impression.js';

export interface ExperimentsConfig extends ServiceBasics {
  auth: AuthConfig;
  impressionSecret: string;
  /** Create and start the `realtime-ranking` experiment when it does not exist. */
  seedRankingExperiment: boolean;
  rankingExperimentKey: string;
  /** How long a replica reuses the experiment definitions it read for assignments (0: read every time). */
  definitionsCacheMs: number;
}

export function loadExperimentsConfig(env: NodeJS.ProcessEnv = process.env): ExperimentsConfig {
  return {
    ...serviceBasics(env, 'EXPERIMENTS_PORT', 4003),
    auth: loadAuthConfig(env),
    impressionSecret: impressionSecret(env),
    seedRankingExperiment: envBool(env, 'SEED_RANKING_EXPERIMENT', true),
    rankingExperimentKey: envString(env, 'RANKING_EXPERIMENT', 'realtime-ranking'),
    definitionsCacheMs: envInt(env, 'EXPERIMENTS_CACHE_MS', 1000, 0, 60_000),
  };
}
