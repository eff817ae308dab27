import type { Audience } from '../domain/audience.js';

/** A User as this subgraph knows it: its key. */
export interface UserRef {
  id: string;
}

export interface MembershipModel {
  audience: Audience;
  since: number;
}

export interface MemberEdge {
  cursor: string;
  userId: string;
  since: number;
}

export interface MemberConnection {
  audienceId: string;
  edges: MemberEdge[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}
