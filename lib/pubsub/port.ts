/** The pub/sub port: messages by topic (ProfileUpdated per user by default; see lib/contracts/profile-updated.ts). */
import type { ProfileUpdated } from '../contracts/profile-updated.js';

export type { ProfileUpdated };

export type Unsubscribe = () => Promise<void>;

/**
 * Messages by topic: each message belongs to one topic (its `topicOf`), and a subscriber gets the
 * messages of the topic it names. Generic over its messages; ProfileUpdated by user id by default.
 */
export interface PubSub<M = ProfileUpdated> {
  publish(message: M): Promise<void>;
  /**
   * Publishes the messages in their order. Those of one topic may travel together (on Redis, one
   * PUBLISH per channel carries them all): for many messages at once, a command per topic rather
   * than per message. Subscribers get each message on its own, as from `publish`.
   */
  publishMany(messages: readonly M[]): Promise<void>;
  /** Calls `listener` for every message of `topic` until unsubscribed. */
  subscribe(topic: string, listener: (message: M) => void): Promise<Unsubscribe>;
  close(): Promise<void>;
}

export type ProfilePubSub = PubSub<ProfileUpdated>;

/** ProfileUpdated messages have a topic per user. */
export const profileUpdatedTopic = (message: ProfileUpdated): string => message.userId;
