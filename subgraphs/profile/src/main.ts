/** Starts the profile subgraph alone (`npm run start:profile`) on the embedded stores. */
import { onShutdown } from '../../../lib/shutdown.js';
import { loadProfileConfig } from './config.js';
import { startProfileServer } from './server.js';

const server = await startProfileServer(loadProfileConfig());
console.log(`profile subgraph ready at ${server.url}/graphql (events: POST ${server.url}/v1/events)`);
onShutdown(() => server.close());
