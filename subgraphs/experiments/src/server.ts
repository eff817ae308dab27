/** Wires the experiments subgraph: stores, service, GraphQL schema. */
import { EXPERIMENTS_RULES } from './schema/auth-rules.js';
import type { FastifyInstance } from 'fastify';
import { RateLimiter } from '../../../lib/rate-limit.js';
import { startSubgraphService } from '../../../lib/subgraph-service.js';
import type { SubgraphResolvers } from '../../../lib/subgraph-service.js';
import { ExperimentService } from './app/experiment-service.js';
import type { ExperimentsConfig } from './config.js';
import { createContext } from './schema/context.js';
import type { ExperimentsContext } from './schema/context.js';
import { resolvers } from './schema/resolvers.js';
import { createMemoryExperimentStores } from './store/memory.js';
import type { ExperimentStores } from './store/ports.js';

export const EXPERIMENTS_SCHEMA_PATH = new URL('../../../schema/experiments.graphql', import.meta.url);

export interface ExperimentsServer {
  url: string;
  app: FastifyInstance;
  service: ExperimentService;
  close(): Promise<void>;
}

export async function startExperimentsServer(config: ExperimentsConfig, deps: { stores?: ExperimentStores } = {}): Promise<ExperimentsServer> {
  const stores = deps.stores ?? createMemoryExperimentStores();
  const service = new ExperimentService(stores, config.impressionSecret, Date.now, config.definitionsCacheMs, config.unitEvents);
  const unitEventLimiter = new RateLimiter(config.unitEventRateLimit, config.unitEventBurst, undefined, { name: 'trackUnitEvents', unit: 'unit events' });
  const server = await startSubgraphService<ExperimentsContext>({
    name: 'experiments',
    config,
    schemaFile: EXPERIMENTS_SCHEMA_PATH,
    resolvers: resolvers as SubgraphResolvers,
    rules: EXPERIMENTS_RULES,
    context: (identity) => createContext(service, identity, unitEventLimiter),
    bodyLimit: 2 * 1024 * 1024,
  });
  return {
    url: server.url,
    app: server.app,
    service,
    close: async () => {
      await server.close();
      if (!deps.stores) await stores.close();
    },
  };
}
