/** Starts the profile subgraph alone (`npm run start:profile`): embedded stores, or Redis with REDIS_URL. */
import { onShutdown } from '../../../lib/shutdown.js';
import { envBool } from '../../../lib/env.js';
import { createInfrastructure, PROFILE_CHANGE_KEYS, PROFILE_CHANGES_LOG } from '../../../lib/infrastructure.js';
import { PROFILE_UPDATER_GROUP } from './app/profile-service.js';
import { loadProfileConfig } from './config.js';
import { startProfileServer } from './server.js';
import { ingestModeFor, selectProfileStores } from './store/select.js';
import { startTracing, stopTracing } from '../../../lib/tracing.js';

// Before the servers are built: they trace their requests only when tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT).
startTracing(process.env, { service: 'profile' });

const config = loadProfileConfig();
const infrastructure = createInfrastructure(process.env, { protectedGroup: PROFILE_UPDATER_GROUP });
const server = await startProfileServer(config, {
  stores: selectProfileStores(config, infrastructure.redis),
  eventLog: infrastructure.eventLog,
  pubsub: infrastructure.pubsub,
  mode: ingestModeFor(infrastructure),
  runUpdater: envBool(process.env, 'PROFILE_RUN_UPDATER', true),
  changes: infrastructure.log(PROFILE_CHANGES_LOG, PROFILE_CHANGE_KEYS),
});
console.log(`profile subgraph ready at ${server.url}/graphql (events: POST ${server.url}/v1/events; stores: ${infrastructure.kind})`);
onShutdown(async () => {
  await server.close();
  await infrastructure.close();
  await stopTracing();
});
