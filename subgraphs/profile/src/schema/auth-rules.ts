/** Who may call what on the profile subgraph (see lib/auth.ts for the roles). */
import { anyIdentity, selfOrService, serviceOnly } from '../../../../lib/auth.js';
import type { Rule } from '../../../../lib/auth.js';
import type { ProfileContext } from './context.js';

export const PROFILE_RULES: Record<string, Rule<ProfileContext>> = {
  'Query.user': selfOrService('id'),
  'Query.me': anyIdentity,
  'User.__resolveReference': selfOrService('id'),
  'Subscription.profileUpdated': selfOrService('userId'),
  'Mutation.ingestEvents': serviceOnly('ingesting events'),
  'Mutation.identify': serviceOnly('identify'),
  'Mutation.alias': serviceOnly('alias'),
  'Mutation.deleteUser': serviceOnly('deleteUser'),
  'Mutation.runBatchSnapshot': serviceOnly('runBatchSnapshot'),
};
