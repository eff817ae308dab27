/** Who may call what on the experiments subgraph (see lib/auth.ts for the roles). */
import { anyIdentity, selfOrService, serviceOnly } from '../../../../lib/auth.js';
import type { Rule } from '../../../../lib/auth.js';
import type { ExperimentsContext } from './context.js';

const service = serviceOnly('managing experiments');

export const EXPERIMENTS_RULES: Record<string, Rule<ExperimentsContext>> = {
  'Query.experiment': service,
  'Query.experiments': service,
  'Experiment.__resolveReference': service,
  'Mutation.createExperiment': service,
  'Mutation.startExperiment': service,
  'Mutation.stopExperiment': service,
  'Mutation.reweightExperiment': service,
  // Any token; a user's events must be on its own rows (checked per event in the service).
  'Mutation.trackUnitEvents': anyIdentity,
  'User.__resolveReference': selfOrService('id'),
};
