import { UNIT_ID } from '../../../../lib/contracts/impression.js';
import { GraphQLError } from 'graphql';
import { DateTimeScalar, JSONObjectScalar, JSONScalar } from '../../../../lib/scalars.js';
import type { Resolvers } from '../__generated__/resolvers-types.js';
import { withCodedErrors } from '../../../../lib/graphql/errors.js';
import { parseFeatures } from '../domain/signals.js';

export const MAX_ROW = 100;

function badInput(message: string, code = 'BAD_USER_INPUT'): GraphQLError {
  return new GraphQLError(message, { extensions: { code } });
}

const encodeCursor = (id: string) => Buffer.from(id, 'utf8').toString('base64url');
function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!id || encodeCursor(id) !== cursor) throw badInput('after is not a cursor from this connection');
  return id;
}

export const resolvers: Resolvers = {
  JSON: JSONScalar,
  DateTime: DateTimeScalar,
  RankingFeatures: JSONObjectScalar('RankingFeatures'),

  Query: {
    item: (_root, { id }, ctx) => ctx.service.catalog.get(id) ?? null,
    items: (_root, { first, after, filter }, ctx) => {
      if (!Number.isInteger(first) || first < 1 || first > 100) throw badInput('first must be between 1 and 100');
      const page = ctx.service.catalog.list(filter ?? {}, after == null ? null : decodeCursor(after), first);
      const edges = page.items.map((node) => ({ cursor: encodeCursor(node.id), node }));
      return {
        edges,
        pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges[edges.length - 1]?.cursor ?? null },
        totalCount: ctx.service.catalog.size,
      };
    },
  },

  Mutation: {
    upsertItems: (_root, { items }, ctx) => withCodedErrors(() => ctx.service.upsertItems(items)),
  },

  User: {
    __resolveReference: (ref) => ref,
    recommendedFor: (user, { unitId, limit, model }, ctx) => {
      if (!UNIT_ID.test(unitId)) {
        throw badInput('unitId must be 1 to 64 letters, digits, or . _ : - (starting with a letter or digit)');
      }
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_ROW) throw badInput(`limit must be between 1 and ${MAX_ROW}`);
      return ctx.service.recommend({
        userId: user.id,
        unitId,
        limit,
        ...(model ? { model } : {}),
        live: parseFeatures(user.profile?.rankingFeatures),
        batch: parseFeatures(user.profile?.batchSnapshot?.rankingFeatures),
        assignments: (user.assignments ?? []).flatMap((a) =>
          typeof a?.experimentKey === 'string' && typeof a.variant === 'string'
            ? [{ experimentKey: a.experimentKey, variant: a.variant, inExperiment: a.inExperiment === true }]
            : [],
        ),
      });
    },
  },

  Item: {
    __resolveReference: (ref, ctx) => ctx.service.catalog.get(ref.id) ?? null,
    trendingScore: (item, _args, ctx) => ctx.service.stats.trending(item.id, ctx.now),
    popularity: (item, _args, ctx) => ctx.service.stats.popularity(item.id),
  },
};
