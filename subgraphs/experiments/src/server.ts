/** Wires the experiments subgraph: stores, service, GraphQL schema. */
import { EXPERIMENTS_RULES } from './schema/auth-rules.js';
import type { FastifyInstance } from 'fastify';
import { RateLimiter } from '../../../lib/rate-limit.js';
import type { Identity } from '../../../lib/auth.js';
import { startSubgraphService } from '../../../lib/subgraph-service.js';
import type { SubgraphResolvers } from '../../../lib/subgraph-service.js';
import { ExperimentService } from './app/experiment-service.js';
import type { ExperimentsConfig } from './config.js';
import { createContext } from './schema/context.js';
import type { ExperimentsContext } from './schema/context.js';
import { resolvers } from './schema/resolvers.js';
import { createMemoryExperimentStores } from './store/memory.js';
import { selectExperimentPubSub } from './store/select.js';
import { ResultsFeeds } from './app/results-feed.js';
import { ServiceMetrics } from '../../../lib/metrics.js';
import type { ExperimentResultsChanged } from './app/results-feed.js';
import type { PubSub } from '../../../lib/pubsub/port.js';
import type { ExperimentStores } from './store/ports.js';

export const EXPERIMENTS_SCHEMA_PATH = new URL('../../../schema/experiments.graphql', import.meta.url);

export interface ExperimentsServer {
  url: string;
  app: FastifyInstance;
  service: ExperimentService;
  close(): Promise<void>;
}

export interface ExperimentsServerDeps {
  stores?: ExperimentStores;
  /** Where recordings announce that results moved (other replicas' subscribers listen here). */
  pubsub?: PubSub<ExperimentResultsChanged>;
}

export async function startExperimentsServer(config: ExperimentsConfig, deps: ExperimentsServerDeps = {}): Promise<ExperimentsServer> {
  const stores = deps.stores ?? createMemoryExperimentStores();
  const pubsub = deps.pubsub ?? selectExperimentPubSub(null);
  let log: FastifyInstance['log'] | undefined;
  const metrics = new ServiceMetrics('experiments');
  const unitEvents = metrics.counter({ name: 'unit_events_total', help: 'Unit events, by outcome (accepted, duplicate, rejected) and rejection code', labelNames: ['outcome', 'code'] });
  const service = new ExperimentService(stores, config.impressionSecret, Date.now, config.definitionsCacheMs, config.unitEvents, {
    tracked: (accepted, duplicates, codes) => {
      if (accepted) unitEvents.inc({ outcome: 'accepted', code: '' }, accepted);
      if (duplicates) unitEvents.inc({ outcome: 'duplicate', code: '' }, duplicates);
      for (const code of codes) unitEvents.inc({ outcome: 'rejected', code });
    },
    recorded: (c) => void pubsub.publish(c).catch((err) => log?.warn(err, 'ExperimentResultsChanged publish failed')),
  });
  const unitEventLimiter = new RateLimiter(config.unitEventRateLimit, config.unitEventBurst, undefined, { name: 'trackUnitEvents', unit: 'unit events' });
  const feeds = new ResultsFeeds(service, pubsub, config.resultsThrottleMs, (err) => log?.warn(err, 'live experiment results failed'));
  const contextOf = (identity: Identity | null) => createContext(service, identity, unitEventLimiter, feeds);
  const server = await startSubgraphService<ExperimentsContext>({
    name: 'experiments',
    config,
    schemaFile: EXPERIMENTS_SCHEMA_PATH,
    resolvers: resolvers as SubgraphResolvers,
    rules: EXPERIMENTS_RULES,
    context: contextOf,
    subscriptionContext: contextOf,
    bodyLimit: 2 * 1024 * 1024,
    ready: { experimentStore: () => stores.experiments.get('\u0000ready') },
    metrics,
  });
  log = server.app.log;
  return {
    url: server.url,
    app: server.app,
    service,
    close: async () => {
      await server.close();
      if (!deps.stores) await stores.close();
      if (!deps.pubsub) await pubsub.close();
    },
  };
}
