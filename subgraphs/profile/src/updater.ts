/**
 * The profile updater as a process of its own (`npm run start:profile-updater`): one more member
 * of the updater consumer group on the shared stream, with the operator endpoints on
 * PROFILE_UPDATER_PORT (/health, /ready, /metrics: apply latency, ingestion counters, stream
 * length / pending / lag, Redis errors, Node runtime).
 */
import { PROFILE_CHANGE_KEYS, PROFILE_CHANGES_LOG, PROFILE_EVENTS_LOG } from '../../../lib/infrastructure.js';
import type { Infrastructure } from '../../../lib/infrastructure.js';
import { startOpsServer } from '../../../lib/http/ops-server.js';
import { consumerGroupReady } from '../../../lib/eventlog/ready.js';
import { ServiceMetrics } from '../../../lib/metrics.js';
import { profileObserver } from './app/metrics.js';
import { PROFILE_UPDATER_GROUP, ProfileService, startProfileUpdater } from './app/profile-service.js';
import { publishChanges } from './app/publish.js';
import type { ProfileConfig } from './config.js';
import { selectProfileStores } from './store/select.js';

export interface UpdaterProcess {
  /** Where /health, /ready and /metrics are served. */
  url: string;
  close(): Promise<void>;
}

export async function startUpdaterProcess(config: ProfileConfig, infrastructure: Infrastructure, ops: { port: number; host: string }): Promise<UpdaterProcess> {
  const stores = selectProfileStores(config, infrastructure.redis);
  const metrics = new ServiceMetrics('profile-updater');
  const changes = infrastructure.log(PROFILE_CHANGES_LOG, PROFILE_CHANGE_KEYS);
  metrics.eventLogs({ [PROFILE_EVENTS_LOG]: infrastructure.eventLog, [PROFILE_CHANGES_LOG]: changes });
  const service = new ProfileService(stores, { reducer: config.reducer, validation: config.validation, eventLog: infrastructure.eventLog, mode: 'stream', observe: profileObserver(metrics) });
  // The endpoints first: when their port cannot be had, nothing has started consuming yet.
  const server = await startOpsServer(
    {
      name: 'profile-updater',
      metrics,
      logLevel: config.logLevel,
      health: () => ({ stores: infrastructure.kind }),
      ready: {
        profileStore: () => stores.profiles.getMany(['\u0000ready']),
        // Every partition has the updater group (created by this consumer when it starts reading).
        consumerGroup: consumerGroupReady(infrastructure.eventLog, PROFILE_UPDATER_GROUP),
      },
    },
    ops.port,
    ops.host,
  );
  publishChanges(service, infrastructure.pubsub, (err) => console.error('ProfileUpdated publish failed', err), changes);
  const updater = startProfileUpdater(service, infrastructure.eventLog);
  return {
    url: server.url,
    close: async () => {
      await server.close();
      await updater.stop();
    },
  };
}
