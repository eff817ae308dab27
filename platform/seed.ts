/**
 * What the platform seeds into its services (the services themselves start empty): the demo
 * catalog when CATALOG_SOURCE is `demo` (the default) and the catalog is empty, and the platform's
 * own experiment, real-time vs batch ranking, unless SEED_RANKING_EXPERIMENT=false. The
 * experiment's key is the one recommendations reads its variant from (RANKING_EXPERIMENT).
 */
import { DEMO_CATALOG } from '../demo/catalog.js';
import { envBool } from '../lib/env.js';
import type { ExperimentService } from '../subgraphs/experiments/src/app/experiment-service.js';
import type { RecommendationService } from '../subgraphs/recommendations/src/app/recommendation-service.js';
import type { RecommendationsServerConfig } from '../subgraphs/recommendations/src/config.js';

export async function seedRankingExperiment(service: ExperimentService, key: string): Promise<void> {
  if (await service.get(key)) return;
  await service.create({
    key,
    name: 'Real-time vs batch profile ranking',
    description: 'control ranks on the nightly batch snapshot (BASELINE); treatment on the live profile (REALTIME).',
    variants: [
      { key: 'control', name: 'Batch profile (BASELINE)', weight: 0.5 },
      { key: 'treatment', name: 'Real-time profile (REALTIME)', weight: 0.5 },
    ],
  });
  await service.start(key);
}

export async function seedServices(
  env: NodeJS.ProcessEnv,
  recommendations: { config: RecommendationsServerConfig; service: RecommendationService },
  experiments: ExperimentService,
): Promise<void> {
  if (recommendations.config.catalogSource === 'demo' && recommendations.service.catalog.size === 0) {
    await recommendations.service.importCatalog(DEMO_CATALOG);
  }
  if (envBool(env, 'SEED_RANKING_EXPERIMENT', true)) await seedRankingExperiment(experiments, recommendations.config.service.rankingExperiment);
}
