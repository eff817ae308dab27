/** Starts the profile subgraph alone (`npm run start:profile`): embedded stores, or Redis with REDIS_URL. */
import { onShutdown } from '../../../lib/shutdown.js';
import { createBackends } from '../../../platform/backends.js';
import { envBool } from '../../../lib/env.js';
import { loadProfileConfig } from './config.js';
import { startProfileServer } from './server.js';

const backends = createBackends(process.env);
const server = await startProfileServer(loadProfileConfig(), {
  stores: backends.profileStores,
  eventLog: backends.eventLog,
  pubsub: backends.pubsub,
  mode: backends.ingestMode,
  runUpdater: envBool(process.env, 'PROFILE_RUN_UPDATER', true),
});
console.log(`profile subgraph ready at ${server.url}/graphql (events: POST ${server.url}/v1/events; stores: ${backends.kind})`);
onShutdown(async () => {
  await server.close();
  await backends.close();
});
