import { DateTimeScalar, JSONObjectScalar, JSONScalar } from '../../../../lib/scalars.js';
import type { ComputedTraitInput, Resolvers } from '../__generated__/resolvers-types.js';
import { parseWindow } from '../../../../lib/contracts/computed-traits.js';
import type { ComputedTraitDefinition } from '../../../../lib/contracts/computed-traits.js';
import { computedTraitValues } from '../domain/computed-traits.js';
import { rankAffinities } from '../domain/features.js';
import { toRankingFeatures, toRuleDocument } from '../domain/features.js';
import type { Profile } from '../domain/profile.js';
import { badInput } from './errors.js';
import { codedGraphQLError, withCodedErrors } from '../../../../lib/graphql/errors.js';
import { CodedError } from '../../../../lib/contracts/errors.js';
import { DEFAULT_VALIDATION_LIMITS, validateId } from '../../../../lib/contracts/validate.js';
import type { ProfileContext } from './context.js';
import type { ProfileUpdate } from './models.js';
import { latestUpdates } from '../../../../lib/pubsub/latest.js';
import type { ProfileUpdated } from '../../../../lib/pubsub/port.js';
import { selectsField } from '../../../../lib/selection.js';
import { requireIdentity } from '../../../../lib/auth.js';
import { noteLiveTrace } from '../../../../lib/tracing.js';

const MAX_LIST = 100;

/** The GraphQL input → the contract's definition (checked by definitionProblems when defined). */
function traitDefinitionOf(input: ComputedTraitInput): ComputedTraitDefinition {
  const windowMs = input.window == null ? null : parseWindow(input.window);
  if (input.window != null && windowMs === null) throw badInput('window must be a duration such as 30m, 24h or 7d');
  const f = input.filter ?? {};
  return {
    name: input.name,
    kind: input.kind,
    eventTypes: input.eventTypes,
    filter: {
      ...(f.genre != null ? { genre: f.genre } : {}),
      ...(f.category != null ? { category: f.category } : {}),
      ...(f.kind != null ? { kind: f.kind } : {}),
      ...(f.seriesId != null ? { seriesId: f.seriesId } : {}),
      ...(f.sku != null ? { sku: f.sku } : {}),
      ...(f.facet != null ? { facet: { name: f.facet.name, value: f.facet.value } } : {}),
    },
    windowMs,
    ...(input.property != null ? { property: input.property } : {}),
    ...(input.of != null ? { of: input.of } : {}),
    ...(input.facetName != null ? { facetName: input.facetName } : {}),
  };
}

/** The shared id rule (lib/contracts/validate.ts), as the events API applies it. */
function checkUserId(id: string): string {
  try {
    return validateId(id, 'id', 'USER_ID_INVALID', DEFAULT_VALIDATION_LIMITS);
  } catch (err) {
    throw err instanceof CodedError ? codedGraphQLError(err) : err;
  }
}

/**
 * Updates for one user: each ProfileUpdated message (the newest one when several queue up) is
 * answered with the profile as it is now, and only when its version moved forward (or the profile
 * was deleted, which restarts versions at 0).
 */
function profileUpdates(ctx: ProfileContext, userId: string, sinceVersion: number | null): AsyncIterableIterator<{ profileUpdated: ProfileUpdate }> {
  let lastVersion = sinceVersion ?? -1;
  // A resuming client (the last version it saw) gets the current state at once when it is newer.
  const resume: ProfileUpdated | undefined = sinceVersion === null ? undefined : { userId, version: -1, cause: 'events', eventIds: [], changed: [], at: Date.now() };
  // One message at a time, when graphql-ws asks; an error (a FORBIDDEN one too) ends the
  // subscription after the listener is released (graphql-ws does not call return() then).
  return latestUpdates(ctx.pubsub, userId, async (m) => {
    // Through the loader that checks ownership: the id may have been aliased to another user
    // since the subscription started (a FORBIDDEN error ends it).
    const profile = await ctx.profiles.load(userId);
    // A deletion starts the user over at version 0: announce it, then count up again.
    const deleted = m.cause === 'delete';
    if (!deleted && profile.version <= lastVersion) return undefined;
    lastVersion = deleted ? profile.version : Math.max(lastVersion, profile.version);
    const resumed = m === resume;
    // The change's trace goes on to the gateway with this result (lib/subgraph-service.ts onNext).
    noteLiveTrace(ctx, m.traceparent);
    return {
      profileUpdated: { userId, version: profile.version, cause: resumed ? 'RESUME' : m.cause.toUpperCase(), changed: resumed ? [] : m.changed, at: m.at, user: { id: userId, loadedProfile: profile } },
    };
  }, resume ? { first: resume } : {});
}

function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 0 || limit > MAX_LIST) {
    throw badInput(`limit must be between 0 and ${MAX_LIST}`);
  }
  return limit;
}

/** The computed traits named (all defined ones for null) as of the request. */
async function namedComputedTraits(p: Profile, names: readonly string[] | null, ctx: ProfileContext) {
  // A process that has not written yet may not have loaded the definitions.
  await ctx.service.traits.fresh();
  const defs = ctx.service.reducerConfig.computedTraits;
  const wanted = names ? new Set(names) : null;
  return computedTraitValues(p, wanted ? defs.filter((d) => wanted.has(d.name)) : defs, ctx.now);
}

function affinities(p: Profile, map: Profile['genres'], limit: number, halfLifeMs: number) {
  return rankAffinities(map, p.lastEventAt ?? 0, halfLifeMs, checkLimit(limit));
}

export const resolvers: Resolvers = {
  JSON: JSONScalar,
  DateTime: DateTimeScalar,
  RankingFeatures: JSONObjectScalar('RankingFeatures'),
  ProfileRuleDocument: JSONObjectScalar('ProfileRuleDocument'),

  Query: {
    user: (_root, { id }) => ({ id: checkUserId(id) }),
    me: (_root, _args, ctx) => ({ id: checkUserId(requireIdentity(ctx.identity).sub) }),
    users: (_root, { first, after }, ctx) => withCodedErrors(() => ctx.service.listUsers(after ?? null, first)),
    computedTraitDefinitions: (_root, _args, ctx) => withCodedErrors(async () => {
      await ctx.service.traits.fresh();
      return [...ctx.service.traits.list()];
    }),
  },

  Mutation: {
    ingestEvents: (_root, { events, wait }, ctx) => {
      const limited = ctx.ingestLimiter.refuse(requireIdentity(ctx.identity).sub, events.length);
      if (limited) throw limited;
      return withCodedErrors(() => ctx.service.ingest(events, { waitApplied: wait }));
    },
    identify: (_root, args, ctx) =>
      withCodedErrors(() => ctx.service.identify(args.userId, args.traits, args.eventId, args.occurredAt)),
    alias: (_root, { anonymousId, userId }, ctx) => withCodedErrors(() => ctx.service.alias(anonymousId, userId)),
    deleteUser: (_root, { id }, ctx) => withCodedErrors(() => ctx.service.deleteUser(id)),
    defineComputedTrait: (_root, { input }, ctx) => withCodedErrors(() => ctx.service.traits.define(traitDefinitionOf(input))),
    deleteComputedTrait: (_root, { name }, ctx) => withCodedErrors(() => ctx.service.traits.remove(name)),
    runBatchSnapshot: (_root, _args, ctx) => ctx.snapshots.run(),
  },

  Subscription: {
    profileUpdated: {
      subscribe: async (_root, { userId, sinceVersion }, ctx) => {
        if (sinceVersion != null && (!Number.isInteger(sinceVersion) || sinceVersion < 0)) throw badInput('sinceVersion must be a version (an integer from 0)');
        return profileUpdates(ctx, checkUserId(userId), sinceVersion ?? null);
      },
      resolve: (payload: { profileUpdated: ProfileUpdate }) => payload.profileUpdated,
    },
  },

  User: {
    __resolveReference: (ref) => ({ id: ref.id }),
    profile: (user, _args, ctx, info) => {
      // A subscription's update carries the profile it loaded, through the same checked loader.
      if (user.loadedProfile) return user.loadedProfile;
      // Rows ask for the batch snapshot next to the profile (@requires): read both at once.
      if (selectsField(info.fieldNodes, 'batchSnapshot')) void ctx.batchSnapshots.load(user.id).catch(() => undefined);
      return withCodedErrors(() => ctx.profiles.load(user.id));
    },
  },

  Profile: {
    firstSeenAt: (p) => p.firstSeenAt,
    lastEventAt: (p) => p.lastEventAt,
    updatedAt: (p) => p.updatedAt,
    freshnessMs: (p, _args, ctx) => (p.updatedAt === null ? null : Math.max(0, ctx.now - p.updatedAt)),
    traits: (p) => Object.fromEntries(Object.entries(p.traits).map(([k, t]) => [k, t.value])),
    affinityHalfLifeMs: (_p, _args, ctx) => ctx.service.reducerConfig.halfLifeMs,
    genreAffinities: (p, { limit }, ctx) => affinities(p, p.genres, limit, ctx.service.reducerConfig.halfLifeMs),
    categoryAffinities: (p, { limit }, ctx) => affinities(p, p.categories, limit, ctx.service.reducerConfig.halfLifeMs),
    facetAffinities: (p, { facet, limit }, ctx) =>
      Object.entries(p.facets)
        .filter(([name]) => facet == null || name === facet)
        .map(([name, map]) => ({ facet: name, affinities: affinities(p, map, limit, ctx.service.reducerConfig.halfLifeMs) })),
    recentItems: (p, { limit }) =>
      Object.values(p.recentItems)
        .sort((a, b) => b.lastEventAt - a.lastEventAt)
        .slice(0, checkLimit(limit)),
    skus: (p, { limit }) =>
      Object.entries(p.skus)
        .sort(([, a], [, b]) => b.lastSeenAt - a.lastSeenAt)
        .slice(0, checkLimit(limit))
        .map(([sku, s]) => ({ sku, ...s })),
    series: (p, { limit }) =>
      Object.entries(p.series)
        .sort(([, a], [, b]) => b.lastWatchedAt - a.lastWatchedAt)
        .slice(0, checkLimit(limit))
        .map(([seriesId, s]) => ({
          seriesId,
          title: s.title ?? null,
          lastEpisode: s.episodes[s.episodes.length - 1] ?? 0,
          episodesWatched: s.episodes,
          watchedCount: s.episodes.length,
          lastWatchedAt: s.lastWatchedAt,
        })),
    computedTraits: (p, { names }, ctx) => namedComputedTraits(p, names ?? null, ctx),
    rankingFeatures: (p, _args, ctx) => toRankingFeatures(p, ctx.service.reducerConfig),
    ruleDocument: async (p, { traits }, ctx) => toRuleDocument(p, ctx.service.reducerConfig, await namedComputedTraits(p, traits ?? null, ctx)),
    batchSnapshot: (p, _args, ctx) => withCodedErrors(() => ctx.batchSnapshots.load(p.userId)),
  },

  ProfileItem: {
    itemId: (item) => item.id,
    catalogItem: (item) => ({ id: item.id }),
  },

  ProfileSnapshot: {
    rankingFeatures: (s) => s.features,
  },
};
