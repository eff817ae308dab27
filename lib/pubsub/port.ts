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

export interface ProfilePubSub {
  publish(message: ProfileUpdated): Promise<void>;
  /** Calls `listener` for every message about `userId` until unsubscribed. */
  subscribe(userId: string, listener: (message: ProfileUpdated) => void): Promise<Unsubscribe>;
  close(): Promise<void>;
}
