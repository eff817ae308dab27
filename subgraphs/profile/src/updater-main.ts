/**
 * A profile updater process without the HTTP service (`npm run start:profile-updater`): one more
 * member of the consumer group, for throughput. Requires REDIS_URL or REDIS_CLUSTER_NODES.
 */
import { onShutdown } from '../../../lib/shutdown.js';
import { createBackends } from '../../../platform/backends.js';
import { ProfileService, startProfileUpdater } from './app/profile-service.js';
import { publishChanges } from './app/publish.js';
import { loadProfileConfig } from './config.js';

const backends = createBackends(process.env);
if (backends.kind === 'memory') {
  console.error('start:profile-updater needs REDIS_URL or REDIS_CLUSTER_NODES (the embedded stores have no shared stream)');
  process.exit(2);
}
const config = loadProfileConfig();
const service = new ProfileService(backends.profileStores, { reducer: config.reducer, validation: config.validation, eventLog: backends.eventLog, mode: 'stream' });
publishChanges(service, backends.pubsub, (err) => console.error('ProfileUpdated publish failed', err));
const updater = startProfileUpdater(service, backends.eventLog);
console.log(`profile updater consuming (${backends.kind})`);
onShutdown(async () => {
  await updater.stop();
  await backends.close();
});
