/**
 * Who may call what on the profile subgraph (see lib/auth.ts for the roles).
 * Fails closed: every root field and entity of schema/profile.graphql needs a rule here
 * (publicField for a public one). The map is typed against the generated resolvers (a missing,
 * misspelt or removed field does not compile) and the subgraph refuses to start without one.
 */
import { anyIdentity, selfOrService, serviceOnly } from '../../../../lib/auth.js';
import type { Rule, RuleMap } from '../../../../lib/auth.js';
import type { Resolvers } from '../__generated__/resolvers-types.js';
import type { ProfileContext } from './context.js';

export const PROFILE_RULES: RuleMap<Resolvers, ProfileContext> & Record<string, Rule<ProfileContext>> = {
  'Query.user': selfOrService('id'),
  'Query.me': anyIdentity,
  'Query.users': serviceOnly('listing users'),
  'Profile.ruleDocument': serviceOnly('ruleDocument'),
  'Query.computedTraitDefinitions': serviceOnly('computedTraitDefinitions'),
  'Mutation.defineComputedTrait': serviceOnly('defineComputedTrait'),
  'Mutation.deleteComputedTrait': serviceOnly('deleteComputedTrait'),
  'User.__resolveReference': selfOrService('id'),
  // A stub of the catalog's entity (resolvable: false): nothing fetches it here.
  'Item.__resolveReference': serviceOnly('Item references'),
  'Subscription.profileUpdated': selfOrService('userId'),
  'Mutation.ingestEvents': serviceOnly('ingesting events'),
  'Mutation.identify': serviceOnly('identify'),
  'Mutation.alias': serviceOnly('alias'),
  'Mutation.deleteUser': serviceOnly('deleteUser'),
  'Mutation.runBatchSnapshot': serviceOnly('runBatchSnapshot'),
};
