/** ProfileUpdated messages: published after every applied change, per user. */

export interface ProfileUpdated {
  userId: string;
  version: number;
  /** What changed: events applied, an alias merged, or the profile deleted. */
  cause: 'events' | 'alias' | 'delete';
  /** Ids of the events applied by this change. */
  eventIds: string[];
  /** Profile fields the change touched. */
  changed: string[];
  /** Wall-clock time of the change. */
  at: number;
}

export type Unsubscribe = () => Promise<void>;

/**
 * Messages by topic: each message belongs to one topic (its `topicOf`), and a subscriber gets the
 * messages of the topic it names. Generic over its messages; ProfileUpdated by user id by default.
 */
export interface PubSub<M = ProfileUpdated> {
  publish(message: M): Promise<void>;
  /** Calls `listener` for every message of `topic` until unsubscribed. */
  subscribe(topic: string, listener: (message: M) => void): Promise<Unsubscribe>;
  close(): Promise<void>;
}

export type ProfilePubSub = PubSub<ProfileUpdated>;

/** ProfileUpdated messages have a topic per user. */
export const profileUpdatedTopic = (message: ProfileUpdated): string => message.userId;
