/** Who may call what on the profile subgraph (see lib/auth.ts for the roles). */
import { requireIdentity, requireSelfOrService, requireService } from '../../../../lib/auth.js';
import type { Rule } from '../../../../lib/auth.js';
import type { ProfileContext } from './context.js';

const service = (what: string): Rule<ProfileContext> => (ctx) => void requireService(ctx.identity, what);

export const PROFILE_RULES: Record<string, Rule<ProfileContext>> = {
  'Query.user': (ctx, args) => void requireSelfOrService(ctx.identity, String(args['id'])),
  'Query.me': (ctx) => void requireIdentity(ctx.identity),
  'User.__resolveReference': (ctx, ref) => void requireSelfOrService(ctx.identity, String(ref['id'])),
  'Subscription.profileUpdated': (ctx, args) => void requireSelfOrService(ctx.identity, String(args['userId'])),
  'Mutation.ingestEvents': service('ingesting events'),
  'Mutation.identify': service('identify'),
  'Mutation.alias': service('alias'),
  'Mutation.deleteUser': service('deleteUser'),
  'Mutation.runBatchSnapshot': service('runBatchSnapshot'),
};
