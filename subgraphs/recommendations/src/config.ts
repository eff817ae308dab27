/** Recommendations service configuration from environment variables (documented in README). */
import { loadAuthConfig } from '../../../lib/auth.js';
import type { AuthConfig } from '../../../lib/auth.js';
import { ConfigError, envDuration, envString, serviceBasics } from '../../../lib/env.js';
import type { ServiceBasics } from '../../../lib/env.js';
import { impressionSecret } from '../../../lib/contracts/impression.js';
import { profileFacets } from '../../../lib/contracts/ranking-features.js';
import type { RecommendationConfig, ServedModel } from './app/recommendation-service.js';

export interface RecommendationsServerConfig extends ServiceBasics {
  auth: AuthConfig;
  /** `demo` (default), `none`, or a MovieLens directory (ml-latest or ml-100k layout). */
  catalogSource: string;
  service: RecommendationConfig;
}

/** `control=BASELINE,treatment=REALTIME` → { control: 'BASELINE', treatment: 'REALTIME' }. */
export function parseVariantModels(text: string): Record<string, ServedModel> {
  const out: Record<string, ServedModel> = {};
  for (const pair of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [variant, model] = pair.split('=').map((s) => s.trim());
    if (!variant || (model !== 'BASELINE' && model !== 'REALTIME')) {
      throw new ConfigError(`RANKING_VARIANTS must look like control=BASELINE,treatment=REALTIME; got "${text}"`);
    }
    out[variant] = model;
  }
  return out;
}

export function loadRecommendationsConfig(env: NodeJS.ProcessEnv = process.env): RecommendationsServerConfig {
  const model = envString(env, 'RANKING_MODEL', 'REALTIME').toUpperCase();
  if (model !== 'REALTIME' && model !== 'BASELINE') throw new ConfigError(`RANKING_MODEL must be REALTIME or BASELINE; got "${model}"`);
  return {
    ...serviceBasics(env, 'RECOMMENDATIONS_PORT', 4002),
    auth: loadAuthConfig(env),
    catalogSource: envString(env, 'CATALOG_SOURCE', 'demo'),
    service: {
      defaultModel: model as ServedModel,
      impressionSecret: impressionSecret(env),
      trendingHalfLifeMs: envDuration(env, 'TRENDING_HALF_LIFE', '6h'),
      facets: profileFacets(env),
      orderingRefreshMs: envDuration(env, 'TRENDING_REFRESH', '1s'),
      rankingExperiment: envString(env, 'RANKING_EXPERIMENT', 'realtime-ranking'),
      variantModels: parseVariantModels(envString(env, 'RANKING_VARIANTS', 'control=BASELINE,treatment=REALTIME')),
    },
  };
}
