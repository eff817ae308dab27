/** Wires the recommendations subgraph: catalog, event-stream consumer, GraphQL schema. */
import { RECOMMENDATIONS_RULES } from './schema/auth-rules.js';
import type { FastifyInstance } from 'fastify';
import type { EventConsumer, EventLog } from '../../../lib/eventlog/port.js';
import { startSubgraphService } from '../../../lib/subgraph-service.js';
import { ServiceMetrics } from '../../../lib/metrics.js';
import { consumerGroupReady } from '../../../lib/eventlog/ready.js';
import type { SubgraphResolvers } from '../../../lib/subgraph-service.js';
import { RecommendationService } from './app/recommendation-service.js';
import { readMovies } from './catalog/movielens.js';
import type { RecommendationsServerConfig } from './config.js';
import type { RecommendationsContext } from './schema/context.js';
import { resolvers } from './schema/resolvers.js';
import { MemoryCatalogStore } from './store/memory.js';
import type { CatalogStore } from './store/ports.js';

export const RECOMMENDATIONS_SCHEMA_PATH = new URL('../../../schema/recommendations.graphql', import.meta.url);
export const TRENDING_CONSUMER_GROUP = 'recommendations-trending';

export interface RecommendationsServer {
  url: string;
  app: FastifyInstance;
  service: RecommendationService;
  close(): Promise<void>;
}

export interface RecommendationsDeps {
  catalogStore?: CatalogStore;
  /** The event stream to learn popularity, trending and co-occurrence from. */
  eventLog?: EventLog;
}

/** A MovieLens directory as CATALOG_SOURCE fills an empty catalog ('demo' is the platform's to seed). */
async function seedCatalog(service: RecommendationService, source: string): Promise<void> {
  if (source === 'none' || source === 'demo' || service.catalog.size > 0) return;
  await service.importCatalog(readMovies(source));
}

export async function startRecommendationsServer(
  config: RecommendationsServerConfig,
  deps: RecommendationsDeps = {},
): Promise<RecommendationsServer> {
  const store = deps.catalogStore ?? new MemoryCatalogStore();
  const service = new RecommendationService(store, config.service);
  await service.init();
  await seedCatalog(service, config.catalogSource);
  if (deps.eventLog) {
    // Popularity, trending and co-occurrence live in memory: rebuild them from what this consumer
    // group already processed (a no-op for the in-process log), then follow the stream.
    for await (const events of deps.eventLog.processedHistory(TRENDING_CONSUMER_GROUP)) service.consume(events);
  }
  const consumer: EventConsumer | undefined = deps.eventLog?.consume(TRENDING_CONSUMER_GROUP, (events) =>
    service.consume(events),
  );

  const server = await startSubgraphService<RecommendationsContext>({
    name: 'recommendations',
    config,
    schemaFile: RECOMMENDATIONS_SCHEMA_PATH,
    resolvers: resolvers as SubgraphResolvers,
    rules: RECOMMENDATIONS_RULES,
    context: (identity) => ({ identity, service, now: Date.now() }),
    bodyLimit: 4 * 1024 * 1024,
    health: () => ({ catalogItems: service.catalog.size, model: config.service.defaultModel }),
    // Trending and co-occurrence follow the events through this consumer group.
    ...(deps.eventLog ? { ready: { trendingGroup: consumerGroupReady(deps.eventLog, TRENDING_CONSUMER_GROUP) } } : {}),
    metrics: new ServiceMetrics('recommendations'),
  });
  return {
    url: server.url,
    app: server.app,
    service,
    close: async () => {
      await consumer?.stop();
      await server.close();
      if (!deps.catalogStore) await store.close();
    },
  };
}
