/**
 * Every service's stores on one shared infrastructure, for the services of one process
 * (`npm start`, the tests, the benchmarks): embedded in-memory by default, Redis (or Redis
 * Cluster) when REDIS_URL (or REDIS_CLUSTER_NODES) is set. Each service chooses its own stores
 * (`store/select.ts`); this only puts them side by side.
 */
import { createInfrastructure } from '../lib/infrastructure.js';
import type { EventLog } from '../lib/eventlog/port.js';
import type { ProfilePubSub } from '../lib/pubsub/port.js';
import type { RedisClient } from '../lib/redis/connection.js';
import type { ExperimentStores } from '../subgraphs/experiments/src/store/ports.js';
import { selectExperimentStores } from '../subgraphs/experiments/src/store/select.js';
import { PROFILE_UPDATER_GROUP } from '../subgraphs/profile/src/app/profile-service.js';
import { loadProfileConfig } from '../subgraphs/profile/src/config.js';
import type { ProfileStores } from '../subgraphs/profile/src/store/ports.js';
import { ingestModeFor, selectProfileStores } from '../subgraphs/profile/src/store/select.js';
import type { CatalogStore } from '../subgraphs/recommendations/src/store/ports.js';
import { selectCatalogStore } from '../subgraphs/recommendations/src/store/select.js';

export interface Backends {
  kind: 'memory' | 'redis' | 'redis-cluster';
  /** inline: profiles change during the request; stream: the profile updater group applies them. */
  ingestMode: 'inline' | 'stream';
  profileStores: ProfileStores;
  eventLog: EventLog;
  pubsub: ProfilePubSub;
  catalogStore: CatalogStore;
  experimentStores: ExperimentStores;
  redis: RedisClient | null;
  close(): Promise<void>;
}

export function createBackends(env: NodeJS.ProcessEnv = process.env, onError: (err: unknown) => void = (e) => console.error(e)): Backends {
  // Accepted events are never trimmed before the profile updater group applied them.
  const infrastructure = createInfrastructure(env, { protectedGroup: PROFILE_UPDATER_GROUP, onError });
  const { redis } = infrastructure;
  return {
    kind: infrastructure.kind,
    ingestMode: ingestModeFor(infrastructure),
    profileStores: selectProfileStores(loadProfileConfig(env), redis),
    eventLog: infrastructure.eventLog,
    pubsub: infrastructure.pubsub,
    catalogStore: selectCatalogStore(redis),
    experimentStores: selectExperimentStores(redis),
    redis: redis?.client ?? null,
    close: () => infrastructure.close(),
  };
}
