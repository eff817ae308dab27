/** Starts the gateway alone (`npm run start:gateway`). */
import { onShutdown } from '../../lib/shutdown.js';
import { loadGatewayConfig } from './config.js';
import { startGateway } from './gateway.js';

const server = await startGateway(loadGatewayConfig());
console.log(`gateway ready at ${server.url}/graphql`);
onShutdown(() => server.close());
