/** Experiments service configuration from environment variables (documented in README). */
import { corsOrigins, envBool, envInt, envString, isProduction } from '../../../lib/env.js';
import { impressionSecret } from '../../recommendations/src/config.js';

export interface ExperimentsConfig {
  port: number;
  host: string;
  production: boolean;
  logLevel: string;
  corsOrigins: true | string[];
  impressionSecret: string;
  /** Create and start the `realtime-ranking` experiment when it does not exist. */
  seedRankingExperiment: boolean;
  rankingExperimentKey: string;
}

export function loadExperimentsConfig(env: NodeJS.ProcessEnv = process.env): ExperimentsConfig {
  return {
    port: envInt(env, 'EXPERIMENTS_PORT', 4003, 0, 65535),
    host: envString(env, 'HOST', '127.0.0.1'),
    production: isProduction(env),
    logLevel: envString(env, 'LOG_LEVEL', 'warn'),
    corsOrigins: corsOrigins(env),
    impressionSecret: impressionSecret(env),
    seedRankingExperiment: envBool(env, 'SEED_RANKING_EXPERIMENT', true),
    rankingExperimentKey: envString(env, 'RANKING_EXPERIMENT', 'realtime-ranking'),
  };
}
