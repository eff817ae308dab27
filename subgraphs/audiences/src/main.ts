/** Starts the audiences subgraph alone (`npm run start:audiences`): embedded stores, or Redis with REDIS_URL. */
import { onShutdown } from '../../../lib/shutdown.js';
import { createInfrastructure, PROFILE_CHANGE_KEYS, PROFILE_CHANGES_LOG } from '../../../lib/infrastructure.js';
import { loadAudiencesConfig } from './config.js';
import { AUDIENCE_CHANGE_KEYS, AUDIENCE_CHANGES_LOG, startAudiencesServer } from './server.js';
import { selectAudiencePubSub, selectAudienceStores } from './store/select.js';
import { startTracing, stopTracing } from '../../../lib/tracing.js';

// Before the servers are built: they trace their requests only when tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT).
startTracing(process.env, { service: 'audiences' });

const config = loadAudiencesConfig();
const infrastructure = createInfrastructure(process.env);
const { redis } = infrastructure;
const server = await startAudiencesServer(config, {
  stores: selectAudienceStores(redis),
  profileChanges: infrastructure.log(PROFILE_CHANGES_LOG, PROFILE_CHANGE_KEYS),
  changes: infrastructure.log(AUDIENCE_CHANGES_LOG, AUDIENCE_CHANGE_KEYS),
  pubsub: selectAudiencePubSub(redis),
});
console.log(`audiences subgraph ready at ${server.url}/graphql (profile at ${config.profileUrl}; stores: ${infrastructure.kind})`);
onShutdown(async () => {
  await server.close();
  await infrastructure.close();
  await stopTracing();
});
