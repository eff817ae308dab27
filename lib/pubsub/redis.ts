/**
 * Messages over Redis pub/sub, one channel per topic (for ProfileUpdated: per user, in the user's
 * hash-tag slot). On a cluster it uses sharded pub/sub (SPUBLISH / SSUBSCRIBE), so messages stay
 * on the shard that owns the channel's slot.
 */
import type { RedisClient } from '../redis/connection.js';
import { duplicate, isCluster, userKey } from '../redis/connection.js';
import { profileUpdatedTopic } from './port.js';
import type { ProfileUpdated, PubSub, Unsubscribe } from './port.js';

export interface RedisPubSubOptions<M> {
  /** The topic of a message (a user's, for ProfileUpdated). */
  topicOf: (message: M) => string;
  /** The channel of a topic; a hash tag in it keeps it on one shard of a cluster. */
  channel: (prefix: string, topic: string) => string;
}

const PROFILE_UPDATED_CHANNELS: RedisPubSubOptions<ProfileUpdated> = {
  topicOf: profileUpdatedTopic,
  channel: (prefix, userId) => userKey(prefix, userId, 'updated'),
};

export class RedisPubSub<M = ProfileUpdated> implements PubSub<M> {
  private subscriber: RedisClient | undefined;
  /** Resolves once the subscriber connection is ready (its handshake and ready check done). */
  private subscriberReady: Promise<void> | undefined;
  private readonly listeners = new Map<string, Set<(message: M) => void>>();
  /** SUBSCRIBE in flight (or done) per channel: every subscriber waits for it. */
  private readonly subscribed = new Map<string, Promise<unknown>>();
  /** Channels whose SUBSCRIBE Redis has answered (see receivingCount). */
  private readonly receiving = new Set<string>();
  private readonly sharded: boolean;
  private readonly options: RedisPubSubOptions<M>;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    /** May be left out only for ProfileUpdated messages (a channel per user). */
    ...[options]: [M] extends [ProfileUpdated] ? [options?: RedisPubSubOptions<M>] : [options: RedisPubSubOptions<M>]
  ) {
    this.options = options ?? (PROFILE_UPDATED_CHANNELS as unknown as RedisPubSubOptions<M>);
    this.sharded = isCluster(redis);
  }

  private channel(topic: string): string {
    return this.options.channel(this.prefix, topic);
  }

  async publish(message: M): Promise<void> {
    await this.send(this.channel(this.options.topicOf(message)), JSON.stringify(message));
  }

  /** A channel's messages in one payload: a JSON array of them (a single message stays an object). */
  async publishMany(messages: readonly M[]): Promise<void> {
    const byChannel = new Map<string, M[]>();
    for (const m of messages) {
      const channel = this.channel(this.options.topicOf(m));
      const list = byChannel.get(channel);
      if (list) list.push(m);
      else byChannel.set(channel, [m]);
    }
    await Promise.all([...byChannel].map(([channel, list]) => this.send(channel, JSON.stringify(list.length === 1 ? list[0] : list))));
  }

  private async send(channel: string, payload: string): Promise<void> {
    if (this.sharded) await this.redis.spublish(channel, payload);
    else await this.redis.publish(channel, payload);
  }

  private connection(): RedisClient {
    if (this.subscriber) return this.subscriber;
    const sub = duplicate(this.redis);
    const deliver = (channel: string, payload: string) => {
      const set = this.listeners.get(channel);
      if (!set) return;
      // Messages are objects: an array is several of them (publishMany).
      const parsed = JSON.parse(payload) as M | M[];
      if (!Array.isArray(parsed)) {
        for (const listener of set) listener(parsed);
        return;
      }
      for (const message of parsed) for (const listener of set) listener(message);
    };
    sub.on(this.sharded ? 'smessage' : 'message', deliver);
    this.subscriber = sub;
    return sub;
  }

  /** The subscriber connection's readiness, waited for once; a failed wait does not stick. */
  private ready(sub: RedisClient): Promise<void> {
    return (this.subscriberReady ??= whenReady(sub).catch((err: unknown) => {
      this.subscriberReady = undefined;
      throw err;
    }));
  }

  async subscribe(topic: string, listener: (message: M) => void): Promise<Unsubscribe> {
    const channel = this.channel(topic);
    let set = this.listeners.get(channel);
    if (!set) this.listeners.set(channel, (set = new Set()));
    set.add(listener);
    let pending = this.subscribed.get(channel);
    if (!pending) {
      const sub = this.connection();
      // Not before the connection is ready: ioredis writes SUBSCRIBE during its handshake, and the
      // ready check that follows (INFO) is then refused in subscriber mode and the connection reset.
      const request = this.ready(sub).then(() => (this.sharded ? sub.ssubscribe(channel) : sub.subscribe(channel))).then(() => {
        // Not if every listener left (and a later SUBSCRIBE took over) while this one was on its way.
        if (this.subscribed.get(channel) === request) this.receiving.add(channel);
      });
      pending = request;
      this.subscribed.set(channel, pending);
    }
    const unsubscribe = async () => {
      const current = this.listeners.get(channel);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(channel);
      this.subscribed.delete(channel);
      this.receiving.delete(channel);
      const sub = this.subscriber;
      if (sub) await (this.sharded ? sub.sunsubscribe(channel) : sub.unsubscribe(channel));
    };
    try {
      await pending;
    } catch (err) {
      // A failed SUBSCRIBE must not stick: the next subscriber tries again.
      if (this.subscribed.get(channel) === pending) this.subscribed.delete(channel);
      await unsubscribe();
      throw err;
    }
    return unsubscribe;
  }

  /** Listeners attached, including those whose SUBSCRIBE is still on its way (tests check nothing leaks). */
  listenerCount(topic: string): number {
    return this.listeners.get(this.channel(topic))?.size ?? 0;
  }

  /**
   * Listeners Redis already delivers to (the channel's SUBSCRIBE answered): a message published
   * from now on reaches them. Tests wait on it instead of sleeping until a subscription is live.
   */
  receivingCount(topic: string): number {
    const channel = this.channel(topic);
    return this.receiving.has(channel) ? this.listenerCount(topic) : 0;
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.subscribed.clear();
    this.receiving.clear();
    this.subscriber?.disconnect();
    this.subscriber = undefined;
    this.subscriberReady = undefined;
  }
}

/** How long a subscription waits for its connection to be ready before it fails (Redis down). */
const READY_TIMEOUT_MS = 10_000;

function whenReady(client: RedisClient): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`the Redis subscriber connection was not ready within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    timer.unref();
    const onReady = () => done();
    const onEnd = () => done(new Error('the Redis subscriber connection closed'));
    function done(err?: Error) {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('end', onEnd);
      if (err) reject(err);
      else resolve();
    }
    client.once('ready', onReady);
    client.once('end', onEnd);
  });
}
