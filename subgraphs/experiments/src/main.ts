/** Starts the experiments subgraph alone (`npm run start:experiments`). */
import { onShutdown } from '../../../lib/shutdown.js';
import { createInfrastructure } from '../../../lib/infrastructure.js';
import { loadExperimentsConfig } from './config.js';
import { startExperimentsServer } from './server.js';
import { selectExperimentPubSub, selectExperimentStores } from './store/select.js';
import { startTracing, stopTracing } from '../../../lib/tracing.js';

// Before the servers are built: they trace their requests only when tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT).
startTracing(process.env, { service: 'experiments' });

const infrastructure = createInfrastructure(process.env);
const server = await startExperimentsServer(loadExperimentsConfig(), { stores: selectExperimentStores(infrastructure.redis), pubsub: selectExperimentPubSub(infrastructure.redis) });
console.log(`experiments subgraph ready at ${server.url}/graphql (stores: ${infrastructure.kind})`);
onShutdown(async () => {
  await server.close();
  await infrastructure.close();
  await stopTracing();
});
