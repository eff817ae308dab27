/**
 * A profile updater process without the HTTP service (`npm run start:profile-updater`): one more
 * member of the consumer group, for throughput. Requires REDIS_URL or REDIS_CLUSTER_NODES.
 */
import { onShutdown } from '../../../lib/shutdown.js';
import { createInfrastructure, PROFILE_CHANGE_KEYS, PROFILE_CHANGES_LOG } from '../../../lib/infrastructure.js';
import { PROFILE_UPDATER_GROUP, ProfileService, startProfileUpdater } from './app/profile-service.js';
import { publishChanges } from './app/publish.js';
import { loadProfileConfig } from './config.js';
import { selectProfileStores } from './store/select.js';

const config = loadProfileConfig();
const infrastructure = createInfrastructure(process.env, { protectedGroup: PROFILE_UPDATER_GROUP });
if (infrastructure.kind === 'memory') {
  console.error('start:profile-updater needs REDIS_URL or REDIS_CLUSTER_NODES (the embedded stores have no shared stream)');
  process.exit(2);
}
const stores = selectProfileStores(config, infrastructure.redis);
const service = new ProfileService(stores, { reducer: config.reducer, validation: config.validation, eventLog: infrastructure.eventLog, mode: 'stream' });
publishChanges(service, infrastructure.pubsub, (err) => console.error('ProfileUpdated publish failed', err), infrastructure.log(PROFILE_CHANGES_LOG, PROFILE_CHANGE_KEYS));
const updater = startProfileUpdater(service, infrastructure.eventLog);
console.log(`profile updater consuming (${infrastructure.kind})`);
onShutdown(async () => {
  await updater.stop();
  await infrastructure.close();
});
