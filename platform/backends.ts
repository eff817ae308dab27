/**
 * Every service's stores on one shared infrastructure, for the services of one process
 * (`npm start`, the tests, the benchmarks): embedded in-memory by default, Redis (or Redis
 * Cluster) when REDIS_URL (or REDIS_CLUSTER_NODES) is set. Each service chooses its own stores
 * (`store/select.ts`); this only puts them side by side.
 */
import { createInfrastructure, PROFILE_CHANGE_KEYS, PROFILE_CHANGES_LOG } from '../lib/infrastructure.js';
import type { AudienceChange } from '../lib/contracts/audience.js';
import type { ProfileUpdated, PubSub } from '../lib/pubsub/port.js';
import type { AudienceChangeMessage } from '../subgraphs/audiences/src/app/audience-service.js';
import { AUDIENCE_CHANGE_KEYS, AUDIENCE_CHANGES_LOG } from '../subgraphs/audiences/src/server.js';
import type { AudienceStores } from '../subgraphs/audiences/src/store/ports.js';
import { selectAudiencePubSub, selectAudienceStores } from '../subgraphs/audiences/src/store/select.js';
import type { EventLog } from '../lib/eventlog/port.js';
import type { ProfilePubSub } from '../lib/pubsub/port.js';
import { duplicate } from '../lib/redis/connection.js';
import type { RedisClient } from '../lib/redis/connection.js';
import type { ExperimentStores } from '../subgraphs/experiments/src/store/ports.js';
import { selectExperimentPubSub, selectExperimentStores } from '../subgraphs/experiments/src/store/select.js';
import type { ExperimentResultsChanged } from '../subgraphs/experiments/src/app/results-feed.js';
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
  audienceStores: AudienceStores;
  /** The profile's change notices (read by the audiences subgraph's consumer group). */
  profileChanges: EventLog<ProfileUpdated>;
  /** AudienceEntered / AudienceExited for other consumers (webhook destinations included). */
  audienceChanges: EventLog<AudienceChange>;
  audiencePubsub: PubSub<AudienceChangeMessage>;
  /** Unit events recorded: live experiment results recompute (any replica's subscribers). */
  experimentPubsub: PubSub<ExperimentResultsChanged>;
  redis: RedisClient | null;
  close(): Promise<void>;
}

export function createBackends(env: NodeJS.ProcessEnv = process.env, onError: (err: unknown) => void = (e) => console.error(e)): Backends {
  // Accepted events are never trimmed before the profile updater group applied them.
  const infrastructure = createInfrastructure(env, { protectedGroup: PROFILE_UPDATER_GROUP, onError });
  const { redis } = infrastructure;
  // The audiences' writes on a connection of their own, as when the subgraph runs in its own
  // process: a burst of membership writes does not queue the profile updater's commands behind it.
  const audienceRedis = redis && { ...redis, client: duplicate(redis.client) };
  const audiencePubsub = selectAudiencePubSub(audienceRedis);
  const experimentPubsub = selectExperimentPubSub(redis);
  return {
    kind: infrastructure.kind,
    ingestMode: ingestModeFor(infrastructure),
    profileStores: selectProfileStores(loadProfileConfig(env), redis),
    eventLog: infrastructure.eventLog,
    pubsub: infrastructure.pubsub,
    catalogStore: selectCatalogStore(redis),
    experimentStores: selectExperimentStores(redis),
    audienceStores: selectAudienceStores(audienceRedis),
    profileChanges: infrastructure.log(PROFILE_CHANGES_LOG, PROFILE_CHANGE_KEYS),
    audienceChanges: infrastructure.log(AUDIENCE_CHANGES_LOG, AUDIENCE_CHANGE_KEYS),
    audiencePubsub,
    experimentPubsub,
    redis: redis?.client ?? null,
    close: async () => {
      await audiencePubsub.close();
      await experimentPubsub.close();
      await infrastructure.close();
      await audienceRedis?.client.quit().catch(() => audienceRedis.client.disconnect());
    },
  };
}
