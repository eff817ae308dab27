/** Who may call what on the recommendations subgraph (see lib/auth.ts for the roles). */
import { anyIdentity, selfOrService, serviceOnly } from '../../../../lib/auth.js';
import type { Rule } from '../../../../lib/auth.js';
import type { RecommendationsContext } from './context.js';

export const RECOMMENDATIONS_RULES: Record<string, Rule<RecommendationsContext>> = {
  // The catalog is readable with any token; changing it takes a service token.
  'Query.item': anyIdentity,
  'Query.items': anyIdentity,
  'Item.__resolveReference': anyIdentity,
  'Mutation.upsertItems': serviceOnly('changing the catalog'),
  'User.__resolveReference': selfOrService('id'),
};
