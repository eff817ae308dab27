/** Starts the experiments subgraph alone (`npm run start:experiments`). */
import { onShutdown } from '../../../lib/shutdown.js';
import { loadExperimentsConfig } from './config.js';
import { startExperimentsServer } from './server.js';

const server = await startExperimentsServer(loadExperimentsConfig());
console.log(`experiments subgraph ready at ${server.url}/graphql`);
onShutdown(() => server.close());
