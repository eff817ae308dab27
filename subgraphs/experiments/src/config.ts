/** Experiments service configuration from environment variables (documented in README). */
import { envBool, envString, serviceBasics } from '../../../lib/env.js';
import type { ServiceBasics } from '../../../lib/env.js';
import { impressionSecret } from '../../recommendations/src/config.js';

export interface ExperimentsConfig extends ServiceBasics {
  impressionSecret: string;
  /** Create and start the `realtime-ranking` experiment when it does not exist. */
  seedRankingExperiment: boolean;
  rankingExperimentKey: string;
}

export function loadExperimentsConfig(env: NodeJS.ProcessEnv = process.env): ExperimentsConfig {
  return {
    ...serviceBasics(env, 'EXPERIMENTS_PORT', 4003),
    impressionSecret: impressionSecret(env),
    seedRankingExperiment: envBool(env, 'SEED_RANKING_EXPERIMENT', true),
    rankingExperimentKey: envString(env, 'RANKING_EXPERIMENT', 'realtime-ranking'),
  };
}
