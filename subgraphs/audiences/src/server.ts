/**
 * Wires the audiences subgraph: stores, the profile read through the graph, the consumer of the
 * profile's change notices, the timer of time-driven transitions, webhook destinations and the
 * GraphQL schema.
 */
import type { FastifyInstance } from 'fastify';
import { startSubgraphService } from '../../../lib/subgraph-service.js';
import { ServiceMetrics } from '../../../lib/metrics.js';
import { inLinkedSpan } from '../../../lib/tracing.js';
import type { SubgraphResolvers } from '../../../lib/subgraph-service.js';
import { MEMBERSHIP_REASONS } from '../../../lib/contracts/audience.js';
import type { AudienceChange } from '../../../lib/contracts/audience.js';
import type { EventLog } from '../../../lib/eventlog/port.js';
import { MemoryEventLog } from '../../../lib/eventlog/memory.js';
import type { ProfileUpdated, PubSub } from '../../../lib/pubsub/port.js';
import { AUDIENCES_GROUP, AudienceService } from './app/audience-service.js';
import { consumerGroupReady } from '../../../lib/eventlog/ready.js';
import type { AudienceChangeMessage } from './app/audience-service.js';
import { DestinationDelivery } from './app/destinations.js';
import { ProfileSource } from './app/profile-source.js';
import type { AudiencesConfig } from './config.js';
import { AUDIENCES_RULES } from './schema/auth-rules.js';
import { createContext } from './schema/context.js';
import type { AudiencesContext } from './schema/context.js';
import { resolvers } from './schema/resolvers.js';
import { createMemoryAudienceStores } from './store/memory.js';
import type { AudienceStores } from './store/ports.js';
import { selectAudiencePubSub } from './store/select.js';

export const AUDIENCES_SCHEMA_PATH = new URL('../../../schema/audiences.graphql', import.meta.url);

/** Audience changes on an event log: in order per user, deduplicated by change id. */
export const AUDIENCE_CHANGES_LOG = 'audience-changes';
export const AUDIENCE_CHANGE_KEYS = { orderKey: (c: AudienceChange) => c.userId, dedupeKey: (c: AudienceChange) => c.changeId };

export interface AudiencesServer {
  url: string;
  app: FastifyInstance;
  service: AudienceService;
  delivery: DestinationDelivery;
  close(): Promise<void>;
}

export interface AudiencesServerDeps {
  stores?: AudienceStores;
  /** The profile's change notices (lib/infrastructure PROFILE_CHANGES_LOG); none: changes are not followed. */
  profileChanges?: EventLog<ProfileUpdated>;
  /** Where AudienceEntered / AudienceExited go for other consumers (destinations included). */
  changes?: EventLog<AudienceChange>;
  pubsub?: PubSub<AudienceChangeMessage>;
}

export async function startAudiencesServer(config: AudiencesConfig, deps: AudiencesServerDeps = {}): Promise<AudiencesServer> {
  const stores = deps.stores ?? createMemoryAudienceStores();
  const changes = deps.changes ?? new MemoryEventLog<AudienceChange>({ keys: AUDIENCE_CHANGE_KEYS, dedupeTtlMs: 0 });
  const pubsub = deps.pubsub ?? selectAudiencePubSub(null);
  const source = new ProfileSource({ url: config.profileUrl, auth: config.auth });
  let log: FastifyInstance['log'] | undefined;
  const onError = (err: unknown) => (log ? log.error(err, 'audiences') : console.error(err));
  const metrics = new ServiceMetrics('audiences');
  const evaluations = metrics.counter({ name: 'audience_evaluations_total', help: 'Users evaluated, by reason (PROFILE_CHANGED, TIME, BACKFILL, ...)', labelNames: ['reason'] });
  // Every reason's series from the start (at 0), so rates and dashboards see it before its first evaluation.
  for (const reason of MEMBERSHIP_REASONS) evaluations.inc({ reason }, 0);
  const transitions = metrics.counter({ name: 'audience_membership_changes_total', help: 'Membership changes, by direction and reason', labelNames: ['direction', 'reason'] });
  // Its change log, read by one consumer group per destination (destinations are few: set by admins).
  metrics.eventLogs({ [AUDIENCE_CHANGES_LOG]: changes });
  const service = new AudienceService(stores, source, { changes, pubsub }, {
    ...config.service,
    onError,
    observe: {
      evaluated: (users, reason) => evaluations.inc({ reason }, users),
      changed: (c) => transitions.inc({ direction: c.entered ? 'entered' : 'exited', reason: c.reason }),
    },
  });
  const delivery = new DestinationDelivery({
    log: changes,
    destinations: () => stores.destinations.list(),
    status: stores.deliveryStatus,
    batchSize: config.destinations.batchSize,
    requestTimeoutMs: config.destinations.requestTimeoutMs,
    backoff: { initialMs: config.destinations.initialBackoffMs, maxMs: config.destinations.maxBackoffMs },
    allowPrivateNetworks: config.destinations.allowPrivateNetworks,
    onError: (err, id) => log?.warn({ err, destination: id }, 'audience destination delivery failed'),
  });
  const server = await startSubgraphService<AudiencesContext>({
    name: 'audiences',
    config,
    schemaFile: AUDIENCES_SCHEMA_PATH,
    resolvers: resolvers as SubgraphResolvers,
    rules: AUDIENCES_RULES,
    context: (identity) => createContext(service, pubsub, stores.destinations, delivery, identity),
    subscriptionContext: (identity) => createContext(service, pubsub, stores.destinations, delivery, identity, true),
    bodyLimit: 1024 * 1024,
    ready: {
      audienceStore: () => stores.audiences.version(),
      // Membership follows the profile's change notices through this consumer group.
      ...(deps.profileChanges ? { profileChangesGroup: consumerGroupReady(deps.profileChanges, AUDIENCES_GROUP) } : {}),
    },
    metrics,
  });
  log = server.app.log;
  await service.start();
  await delivery.sync();
  // Destinations added by other replicas are picked up on this beat.
  const resync = setInterval(() => void delivery.sync().catch(onError), 5000);
  resync.unref();
  // Each batch of change notices is evaluated in a span continuing the changes' traces (the
  // profile updater's apply, or the ingest request).
  const consumer = deps.profileChanges?.consume(AUDIENCES_GROUP, (notices, batch) =>
    inLinkedSpan('audiences', 'audiences.evaluate', batch.traceparents, { 'messaging.batch.message_count': notices.length }, () => service.handleNotices(notices)),
  );
  return {
    url: server.url,
    app: server.app,
    service,
    delivery,
    close: async () => {
      clearInterval(resync);
      await consumer?.stop();
      await service.stop();
      await delivery.stop();
      await server.close();
      await source.close();
      if (!deps.stores) await stores.close();
      if (!deps.changes) await changes.close();
      if (!deps.pubsub) await pubsub.close();
    },
  };
}
