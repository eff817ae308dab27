/** ProfileUpdated: published after every applied change of a profile, per user (lib/pubsub carries it). */
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
  /** The W3C trace context the change was made under, when tracing is on (lib/tracing.ts). */
  traceparent?: string;
}
