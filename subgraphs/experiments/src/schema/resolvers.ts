import { DateTimeScalar, JSONScalar } from '../../../../lib/scalars.js';
import type { Resolvers } from '../__generated__/resolvers-types.js';
import { withCodedErrors } from '../../../../lib/graphql/errors.js';
import type { Interval } from '../domain/stats.js';
import { userTraitsOf } from './context.js';
import { isService, requireIdentity } from '../../../../lib/auth.js';
import { checkUnitEventBatch } from '../app/experiment-service.js';
import type { ExperimentResults } from '../app/experiment-service.js';
import { mapEach } from '../../../../lib/streams.js';


const interval = (i: Interval | null) => i;

export const resolvers: Resolvers = {
  JSON: JSONScalar,
  DateTime: DateTimeScalar,

  Query: {
    experiment: (_root, { key }, ctx) => ctx.service.get(key),
    experiments: (_root, { status }, ctx) => ctx.service.list(status),
  },

  Mutation: {
    createExperiment: (_root, { input }, ctx) => withCodedErrors(() => ctx.service.create(input)),
    startExperiment: (_root, { key }, ctx) => withCodedErrors(() => ctx.service.start(key)),
    stopExperiment: (_root, { key }, ctx) => withCodedErrors(() => ctx.service.stop(key)),
    reweightExperiment: (_root, { key, weights, coverage }, ctx) => withCodedErrors(() => ctx.service.reweight(key, weights, coverage)),
    setExperimentAnalysis: (_root, { key, analysis }, ctx) => withCodedErrors(() => ctx.service.setAnalysis(key, analysis)),
    trackUnitEvents: (_root, { events }, ctx) =>
      withCodedErrors(async () => {
        checkUnitEventBatch(events.length);
        const identity = requireIdentity(ctx.identity);
        const limited = ctx.unitEventLimiter.refuse(identity.sub, events.length);
        if (limited) throw limited;
        return ctx.service.track(events as unknown as Record<string, unknown>[], isService(identity) ? undefined : identity.sub);
      }),
  },

  Subscription: {
    experimentResultsUpdated: {
      subscribe: (_root, { key, unitId }, ctx) =>
        withCodedErrors(async () => {
          await ctx.service.resultsTarget(key, unitId ?? null); // an unknown experiment or unit id is refused here
          // mapEach: a client's return() closes the feed at once, also while it waits for a change.
          return mapEach(ctx.feeds.subscribe(key, unitId ?? null), (r) => ({ experimentResultsUpdated: r }));
        }),
      resolve: (payload: { experimentResultsUpdated: ExperimentResults }) => payload.experimentResultsUpdated,
    },
  },

  Experiment: {
    __resolveReference: (ref, ctx) => ctx.service.get(ref.key),
    units: (e, _args, ctx) => ctx.service.units(e.key),
    results: (e, { unitId, audienceId, targetEffect }, ctx) => withCodedErrors(() => ctx.service.results(e.key, unitId ?? null, audienceId ?? null, { targetEffect })),
  },

  User: {
    __resolveReference: (ref) => ref,
    assignments: (user, _args, ctx) => ctx.assignments.load(user),
    assignment: async (user, { experimentKey }, ctx) => {
      const [row] = await ctx.service.assignMany([userTraitsOf(user)], [experimentKey]);
      return row?.[0] ?? null;
    },
  },

  MetricComparison: {
    absoluteLift: (m) => interval(m.absolute),
    relativeLift: (m) => interval(m.relative),
  },
};
