import { GraphQLError } from 'graphql';
import { DateTimeScalar, JSONScalar } from '../../../../lib/scalars.js';
import type { Resolvers } from '../__generated__/resolvers-types.js';
import { ExperimentError } from '../domain/experiment.js';
import type { Interval } from '../domain/stats.js';
import { traitsOf } from './context.js';
import { isService, requireIdentity } from '../../../../lib/auth.js';
import { checkUnitEventBatch } from '../app/experiment-service.js';

async function withErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ExperimentError) throw new GraphQLError(err.message, { extensions: { code: err.code } });
    throw err;
  }
}

const interval = (i: Interval | null) => i;

export const resolvers: Resolvers = {
  JSON: JSONScalar,
  DateTime: DateTimeScalar,

  Query: {
    experiment: (_root, { key }, ctx) => ctx.service.get(key),
    experiments: (_root, { status }, ctx) => ctx.service.list(status),
  },

  Mutation: {
    createExperiment: (_root, { input }, ctx) => withErrors(() => ctx.service.create(input)),
    startExperiment: (_root, { key }, ctx) => withErrors(() => ctx.service.start(key)),
    stopExperiment: (_root, { key }, ctx) => withErrors(() => ctx.service.stop(key)),
    reweightExperiment: (_root, { key, weights, coverage }, ctx) => withErrors(() => ctx.service.reweight(key, weights, coverage)),
    trackUnitEvents: (_root, { events }, ctx) =>
      withErrors(async () => {
        checkUnitEventBatch(events.length);
        const identity = requireIdentity(ctx.identity);
        const limited = ctx.unitEventLimiter.refuse(identity.sub, events.length);
        if (limited) throw limited;
        return ctx.service.track(events as unknown as Record<string, unknown>[], isService(identity) ? undefined : identity.sub);
      }),
  },

  Experiment: {
    __resolveReference: (ref, ctx) => ctx.service.get(ref.key),
    units: (e, _args, ctx) => ctx.service.units(e.key),
    results: (e, { unitId }, ctx) => withErrors(() => ctx.service.results(e.key, unitId ?? null)),
  },

  User: {
    __resolveReference: (ref) => ref,
    assignments: (user, _args, ctx) => ctx.assignments.load(user),
    assignment: async (user, { experimentKey }, ctx) => {
      const [row] = await ctx.service.assignMany([{ userId: user.id, traits: traitsOf(user) }], [experimentKey]);
      return row?.[0] ?? null;
    },
  },

  MetricComparison: {
    absoluteLift: (m) => interval(m.absolute),
    relativeLift: (m) => interval(m.relative),
  },
};
