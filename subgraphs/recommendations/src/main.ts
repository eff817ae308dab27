/** Starts the recommendations subgraph alone (`npm run start:recommendations`). */
import { onShutdown } from '../../../lib/shutdown.js';
import { loadRecommendationsConfig } from './config.js';
import { startRecommendationsServer } from './server.js';

const server = await startRecommendationsServer(loadRecommendationsConfig());
console.log(`recommendations subgraph ready at ${server.url}/graphql (${server.service.catalog.size} catalog items)`);
onShutdown(() => server.close());
