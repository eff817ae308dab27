/**
 * Who may call what on the recommendations subgraph (see lib/auth.ts for the roles).
 * Fails closed: every root field and entity of schema/recommendations.graphql needs a rule here
 * (publicField for a public one). The map is typed against the generated resolvers (a missing,
 * misspelt or removed field does not compile) and the subgraph refuses to start without one.
 */
import { anyIdentity, selfOrService, serviceOnly } from '../../../../lib/auth.js';
import type { RuleMap } from '../../../../lib/auth.js';
import type { Resolvers } from '../__generated__/resolvers-types.js';
import type { RecommendationsContext } from './context.js';

export const RECOMMENDATIONS_RULES: RuleMap<Resolvers, RecommendationsContext> = {
  // The catalog is readable with any token; changing it takes a service token.
  'Query.item': anyIdentity,
  'Query.items': anyIdentity,
  'Item.__resolveReference': anyIdentity,
  'Mutation.upsertItems': serviceOnly('changing the catalog'),
  'User.__resolveReference': selfOrService('id'),
};
