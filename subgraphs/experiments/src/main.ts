/** Starts the experiments subgraph alone (`npm run start:experiments`). */
import { onShutdown } from '../../../lib/shutdown.js';
import { createBackends } from '../../../platform/backends.js';
import { loadExperimentsConfig } from './config.js';
import { startExperimentsServer } from './server.js';

const backends = createBackends(process.env);
const server = await startExperimentsServer(loadExperimentsConfig(), { stores: backends.experimentStores });
console.log(`experiments subgraph ready at ${server.url}/graphql (stores: ${backends.kind})`);
onShutdown(async () => {
  await server.close();
  await backends.close();
});
