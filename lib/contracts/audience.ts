/**
 * Audience membership changes: what the audiences subgraph emits (on its event log for other
 * consumers, webhook destinations included, and on pub/sub for subscriptions) whenever a user
 * enters or exits an audience.
 */

/** Why membership changed: a profile change, time passing, a (re)build, an edit, or a deletion. */
export const MEMBERSHIP_REASONS = ['PROFILE_CHANGED', 'TIME', 'BACKFILL', 'AUDIENCE_CHANGED', 'USER_DELETED'] as const;
export type MembershipReason = (typeof MEMBERSHIP_REASONS)[number];

export interface AudienceChange {
  /** Unique per transition: `<audienceId>:<userId>:<seq>`, the dedupe key of consumers. */
  changeId: string;
  audienceId: string;
  userId: string;
  entered: boolean;
  /** When the transition was decided (epoch ms). */
  at: number;
  reason: MembershipReason;
  /** The profile version the decision read. */
  profileVersion: number;
}

/** AudienceEntered / AudienceExited, as Segment names them. */
export const audienceChangeName = (c: Pick<AudienceChange, 'entered'>): 'AudienceEntered' | 'AudienceExited' =>
  c.entered ? 'AudienceEntered' : 'AudienceExited';
