/** Starts the recommendations subgraph alone (`npm run start:recommendations`). */
import { onShutdown } from '../../../lib/shutdown.js';
import { createInfrastructure } from '../../../lib/infrastructure.js';
import { loadRecommendationsConfig } from './config.js';
import { startRecommendationsServer } from './server.js';
import { selectCatalogStore } from './store/select.js';
import { startTracing, stopTracing } from '../../../lib/tracing.js';

// Before the servers are built: they trace their requests only when tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT).
startTracing(process.env, { service: 'recommendations' });

const infrastructure = createInfrastructure(process.env);
const config = loadRecommendationsConfig();
const server = await startRecommendationsServer(config, {
  catalogStore: selectCatalogStore(infrastructure.redis),
  // On the embedded stores a separate process has no event stream to follow.
  ...(infrastructure.kind !== 'memory' ? { eventLog: infrastructure.eventLog } : {}),
});
if (server.service.catalog.size === 0 && config.catalogSource === 'demo') {
  console.warn('the catalog is empty: the demo catalog (CATALOG_SOURCE=demo) is seeded by `npm start` (platform/seed.ts), not by this service alone; set CATALOG_SOURCE to a MovieLens directory or upsert items');
}
console.log(`recommendations subgraph ready at ${server.url}/graphql (${server.service.catalog.size} catalog items; stores: ${infrastructure.kind})`);
onShutdown(async () => {
  await server.close();
  await infrastructure.close();
  await stopTracing();
});
