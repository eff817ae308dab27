/** Child process of bench:recs: the recommendations subgraph with the synthetic benchmark world. */
import { loadRecommendationsConfig } from '../subgraphs/recommendations/src/config.js';
import { startRecommendationsServer } from '../subgraphs/recommendations/src/server.js';
import { recsWorld } from './lib/recs-fixture.js';

const { catalog, events } = recsWorld();
const server = await startRecommendationsServer(
  loadRecommendationsConfig({ ...process.env, HOST: '127.0.0.1', RECOMMENDATIONS_PORT: '0', CATALOG_SOURCE: 'none', LOG_LEVEL: 'error' }),
);
await server.service.importCatalog(catalog);
server.service.consume(events);
process.stdout.write(`${JSON.stringify({ url: server.url, items: server.service.catalog.size })}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
