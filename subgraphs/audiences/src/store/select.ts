/** The audiences' stores on the shared infrastructure: in memory, or on its Redis connection. */
import type { Infrastructure } from '../../../../lib/infrastructure.js';
import { MemoryPubSub } from '../../../../lib/pubsub/memory.js';
import type { PubSub } from '../../../../lib/pubsub/port.js';
import { RedisPubSub } from '../../../../lib/pubsub/redis.js';
import { audienceChannel } from '../app/audience-service.js';
import type { AudienceChangeMessage } from '../app/audience-service.js';
import { createMemoryAudienceStores } from './memory.js';
import type { AudienceStores } from './ports.js';
import { createRedisAudienceStores } from './redis.js';

export const selectAudienceStores = (redis: Infrastructure['redis']): AudienceStores =>
  redis ? createRedisAudienceStores(redis.client, redis.prefix) : createMemoryAudienceStores();

/** Where membership changes go for subscriptions: in process, or Redis channels per audience and per user. */
export const selectAudiencePubSub = (redis: Infrastructure['redis']): PubSub<AudienceChangeMessage> =>
  redis ? new RedisPubSub<AudienceChangeMessage>(redis.client, redis.prefix, { topicOf: (m) => m.topic, channel: audienceChannel }) : new MemoryPubSub<AudienceChangeMessage>((m) => m.topic);
