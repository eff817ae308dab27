/**
 * Who may call what on the audiences subgraph (see lib/auth.ts for the roles). Fails closed:
 * every root field and entity of schema/audiences.graphql needs a rule here. A user token reads
 * its own memberships (and the audiences' names in them), nothing else.
 */
import { requireSelfOrService, selfOrService, serviceOnly } from '../../../../lib/auth.js';
import type { Rule, RuleMap } from '../../../../lib/auth.js';
import type { Resolvers } from '../__generated__/resolvers-types.js';
import type { AudiencesContext } from './context.js';

const service = serviceOnly('managing audiences');

/** A user's own changes, or any for a service; an audience's changes: a service only. */
const ownChangesOrService: Rule<AudiencesContext> = (ctx, args) => {
  if (args['userId'] == null) service(ctx, args, undefined);
  else requireSelfOrService(ctx.identity, String(args['userId']));
};

export const AUDIENCES_RULES: RuleMap<Resolvers, AudiencesContext> & Record<string, Rule<AudiencesContext>> = {
  'Query.audience': service,
  'Query.audiences': service,
  'Mutation.createAudience': service,
  'Mutation.updateAudience': service,
  'Mutation.deleteAudience': service,
  'Mutation.previewAudience': service,
  'Mutation.addAudienceDestination': service,
  'Mutation.removeAudienceDestination': service,
  'Subscription.audienceMembershipChanged': ownChangesOrService,
  'Audience.__resolveReference': service,
  'User.__resolveReference': selfOrService('id'),
  // What a member may not see of the audiences it is in.
  'Audience.rule': service,
  'Audience.size': service,
  'Audience.backfill': service,
  'Audience.members': service,
  'Audience.destinations': service,
};
