/**
 * Who may call what on the experiments subgraph (see lib/auth.ts for the roles).
 * Fails closed: every root field and entity of schema/experiments.graphql needs a rule here
 * (publicField for a public one). The map is typed against the generated resolvers (a missing,
 * misspelt or removed field does not compile) and the subgraph refuses to start without one.
 */
import { anyIdentity, selfOrService, serviceOnly } from '../../../../lib/auth.js';
import type { Rule, RuleMap } from '../../../../lib/auth.js';
import type { Resolvers } from '../__generated__/resolvers-types.js';
import type { ExperimentsContext } from './context.js';

const service = serviceOnly('managing experiments');

export const EXPERIMENTS_RULES: RuleMap<Resolvers, ExperimentsContext> & Record<string, Rule<ExperimentsContext>> = {
  'Query.experiment': service,
  'Query.experiments': service,
  'Experiment.__resolveReference': service,
  'Mutation.createExperiment': service,
  'Mutation.startExperiment': service,
  'Mutation.stopExperiment': service,
  'Mutation.reweightExperiment': service,
  'Mutation.setExperimentAnalysis': service,
  'Subscription.experimentResultsUpdated': service,
  // Any token; a user's events must be on its own rows (checked per event in the service).
  'Mutation.trackUnitEvents': anyIdentity,
  'User.__resolveReference': selfOrService('id'),
  // A stub of the audiences subgraph's entity (resolvable: false): nothing fetches it here.
  'Audience.__resolveReference': service,
};
