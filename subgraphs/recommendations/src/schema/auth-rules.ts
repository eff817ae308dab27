/** Who may call what on the recommendations subgraph (see lib/auth.ts for the roles). */
import { requireIdentity, requireSelfOrService, requireService } from '../../../../lib/auth.js';
import type { Rule } from '../../../../lib/auth.js';
import type { RecommendationsContext } from './context.js';

export const RECOMMENDATIONS_RULES: Record<string, Rule<RecommendationsContext>> = {
  // The catalog is readable with any token; changing it takes a service token.
  'Query.item': (ctx) => void requireIdentity(ctx.identity),
  'Query.items': (ctx) => void requireIdentity(ctx.identity),
  'Item.__resolveReference': (ctx) => void requireIdentity(ctx.identity),
  'Mutation.upsertItems': (ctx) => void requireService(ctx.identity, 'changing the catalog'),
  'User.__resolveReference': (ctx, ref) => void requireSelfOrService(ctx.identity, String(ref['id'])),
};
