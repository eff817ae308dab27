/** Starts the recommendations subgraph alone (`npm run start:recommendations`). */
import { onShutdown } from '../../../lib/shutdown.js';
import { createBackends } from '../../../platform/backends.js';
import { loadRecommendationsConfig } from './config.js';
import { startRecommendationsServer } from './server.js';

const backends = createBackends(process.env);
const server = await startRecommendationsServer(loadRecommendationsConfig(), {
  catalogStore: backends.catalogStore,
  // On the embedded stores a separate process has no event stream to follow.
  ...(backends.kind !== 'memory' ? { eventLog: backends.eventLog } : {}),
});
console.log(`recommendations subgraph ready at ${server.url}/graphql (${server.service.catalog.size} catalog items; stores: ${backends.kind})`);
onShutdown(async () => {
  await server.close();
  await backends.close();
});
