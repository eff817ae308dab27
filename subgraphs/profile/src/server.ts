/** Wires the profile subgraph: stores, use cases, GraphQL schema and HTTP routes. */
import { TokenVerifier } from '../../../lib/auth.js';
import { ServiceMetrics } from '../../../lib/metrics.js';
import { consumerGroupReady } from '../../../lib/eventlog/ready.js';
import { RateLimiter } from '../../../lib/rate-limit.js';
import { PROFILE_RULES } from './schema/auth-rules.js';
import type { FastifyInstance } from 'fastify';
import { startSubgraphService } from '../../../lib/subgraph-service.js';
import type { SubgraphResolvers } from '../../../lib/subgraph-service.js';
import { PROFILE_UPDATER_GROUP, ProfileService, startProfileUpdater } from './app/profile-service.js';
import type { ProfilePubSub, ProfileUpdated } from '../../../lib/pubsub/port.js';
import { MemoryPubSub } from '../../../lib/pubsub/memory.js';
import { publishChanges } from './app/publish.js';
import { profileObserver } from './app/metrics.js';
import { PROFILE_CHANGES_LOG, PROFILE_EVENTS_LOG } from '../../../lib/infrastructure.js';
import { SnapshotJob } from './app/snapshot-job.js';
import type { ProfileConfig } from './config.js';
import { registerEventsRoute } from './http/events-route.js';
import { createContext } from './schema/context.js';
import type { ProfileContext } from './schema/context.js';
import { resolvers } from './schema/resolvers.js';
import { createMemoryStores } from './store/memory.js';
import type { ProfileStores } from './store/ports.js';
import type { EventLog } from '../../../lib/eventlog/port.js';
import { MemoryEventLog } from '../../../lib/eventlog/memory.js';

export const PROFILE_SCHEMA_PATH = new URL('../../../schema/profile.graphql', import.meta.url);

export interface ProfileServer {
  url: string;
  /** Where this service publishes ProfileUpdated (subscriptions listen here). */
  pubsub: ProfilePubSub;
  app: FastifyInstance;
  service: ProfileService;
  snapshots: SnapshotJob;
  close(): Promise<void>;
}


export interface ProfileServerDeps {
  stores?: ProfileStores;
  eventLog?: EventLog;
  /** inline (default) or stream: see ProfileService. Stream mode runs the profile updater here. */
  mode?: 'inline' | 'stream';
  /** Where ProfileUpdated messages go. */
  pubsub?: ProfilePubSub;
  /** Run the profile updater consumer in this process (stream mode; default true). */
  runUpdater?: boolean;
  /** Where change notices go for consumers that must see every change (the audiences subgraph). */
  changes?: EventLog<ProfileUpdated>;
}

export async function startProfileServer(config: ProfileConfig, deps: ProfileServerDeps = {}): Promise<ProfileServer> {
  const { stores } = deps;
  // Alone and without a log, the service keeps one in process (accepted events and their ids).
  const eventLog = deps.eventLog ?? new MemoryEventLog({ dedupeTtlMs: config.dedupeTtlMs });
  // Changes are always published: subscriptions read them (in process on the embedded stores).
  const pubsub = deps.pubsub ?? new MemoryPubSub();
  const mode = deps.mode ?? 'inline';
  const ownedStores = stores ?? createMemoryStores({ dedupeTtlMs: config.dedupeTtlMs });
  const metrics = new ServiceMetrics('profile');
  // The accepted events' log (every consumer group on it) and the change notices' log.
  metrics.eventLogs({ [PROFILE_EVENTS_LOG]: eventLog, ...(deps.changes ? { [PROFILE_CHANGES_LOG]: deps.changes } : {}) });
  const service = new ProfileService(ownedStores, {
    observe: profileObserver(metrics),
    reducer: config.reducer,
    validation: config.validation,
    eventLog,
    mode,
  });
  const snapshots = new SnapshotJob(ownedStores, config.reducer, undefined, service.foldEvents);
  const ingestLimiter = new RateLimiter(config.ingestRateLimit, config.ingestBurst, undefined, { name: 'ingestion', unit: 'events' });
  const runsUpdater = mode === 'stream' && deps.runUpdater !== false;
  const server = await startSubgraphService<ProfileContext>({
    name: 'profile',
    config,
    schemaFile: PROFILE_SCHEMA_PATH,
    resolvers: resolvers as SubgraphResolvers,
    rules: PROFILE_RULES,
    context: (identity) => createContext(service, snapshots, pubsub, identity, ingestLimiter),
    subscriptionContext: (identity) => createContext(service, snapshots, pubsub, identity, ingestLimiter, true),
    // GraphQL carries event batches of up to maxBatchBytes, plus the document around them.
    bodyLimit: config.validation.maxBatchBytes + 64 * 1024,
    health: () => ({ mode, lastSnapshot: snapshots.lastRun ?? null }),
    // A read of the profile store (one Redis command on Redis).
    ready: {
      profileStore: () => ownedStores.profiles.getMany(['\u0000ready']),
      // The updater running in this process has joined its consumer group.
      ...(runsUpdater ? { updaterGroup: consumerGroupReady(eventLog, PROFILE_UPDATER_GROUP) } : {}),
    },
    metrics,
    routes: (a) => registerEventsRoute(a, service, config.validation.maxBatchBytes, { verifier: new TokenVerifier(config.auth), limiter: ingestLimiter }),
  });
  const { url, app } = server;
  snapshots.schedule(config.snapshotIntervalMs, (err) => app.log.error(err, 'batch snapshot failed'));
  publishChanges(service, pubsub, (err) => app.log.warn(err, 'ProfileUpdated publish failed'), deps.changes);
  const updater = runsUpdater ? startProfileUpdater(service, eventLog) : undefined;

  return {
    url,
    pubsub,
    app,
    service,
    snapshots,
    close: async () => {
      await snapshots.stop();
      await server.close();
      await updater?.stop();
      if (!stores) await ownedStores.close();
      if (!deps.eventLog) await eventLog.close();
    },
  };
}
