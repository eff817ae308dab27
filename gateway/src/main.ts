/** Starts the gateway alone (`npm run start:gateway`). */
import { onShutdown } from '../../lib/shutdown.js';
import { loadGatewayConfig } from './config.js';
import { startGateway } from './gateway.js';
import { startTracing, stopTracing } from '../../lib/tracing.js';

// Before the servers are built: they trace their requests only when tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT).
startTracing(process.env, { service: 'gateway' });

const server = await startGateway(loadGatewayConfig());
console.log(`gateway ready at ${server.url}/graphql`);
onShutdown(async () => {
  await server.close();
  await stopTracing();
});
