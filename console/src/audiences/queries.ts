/** The Audiences view's operations. */
import { gql } from '@apollo/client';

export const AUDIENCES_QUERY = gql`
  query ConsoleAudiences { audiences { id name description status size rule updatedAt } }
`;

export const MEMBERS_QUERY = gql`
  query ConsoleMembers($id: ID!, $after: String) {
    audience(id: $id) { id name status size backfill { scanned total finishedAt } members(first: 20, after: $after) { totalCount edges { since node { id } } pageInfo { hasNextPage endCursor } } }
  }
`;

/** Every message carries the audience's size now, which the cache then shows in the list. */
export const MEMBERSHIP_LIVE = gql`
  subscription ConsoleMembership($id: ID!) { audienceMembershipChanged(audienceId: $id) { entered reason at audience { id size } user { id } } }
`;

export const PREVIEW = gql`
  mutation ConsolePreview($rule: JSON!) { previewAudience(rule: $rule, sampleSize: 2000) { estimatedSize exact sampled matched sample { id } } }
`;

export const CREATE_AUDIENCE = gql`
  mutation ConsoleCreateAudience($input: AudienceInput!) { createAudience(input: $input) { id name status size } }
`;

export interface AudienceSummary {
  id: string;
  name: string;
  description: string | null;
  status: 'BUILDING' | 'LIVE';
  size: number;
  rule: unknown;
}

export interface MembershipChange {
  entered: boolean;
  reason: string;
  at: string;
  audience: { id: string; size: number };
  user: { id: string };
}

export interface Preview {
  estimatedSize: number | null;
  exact: boolean;
  sampled: number;
  matched: number;
  sample: Array<{ id: string }>;
}
