/** Starts the audiences subgraph alone (`npm run start:audiences`): embedded stores, or Redis with REDIS_URL. */
import { onShutdown } from '../../../lib/shutdown.js';
import { loadAudiencesConfig } from './config.js';
import { startAudiencesProcess } from './process.js';
import { startTracing, stopTracing } from '../../../lib/tracing.js';

// Before the servers are built: they trace their requests only when tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT).
startTracing(process.env, { service: 'audiences' });

const config = loadAudiencesConfig();
const audiences = await startAudiencesProcess(config);
console.log(`audiences subgraph ready at ${audiences.server.url}/graphql (profile at ${config.profileUrl}; stores: ${audiences.kind})`);
onShutdown(async () => {
  await audiences.close();
  await stopTracing();
});
