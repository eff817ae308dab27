import { randomUUID } from 'node:crypto';
import { DateTimeScalar, JSONScalar } from '../../../../lib/scalars.js';
import { subscribed } from '../../../../lib/streams.js';
import { withCodedErrors } from '../../../../lib/graphql/errors.js';
import { CodedError } from '../../../../lib/contracts/errors.js';
import type { AudienceChange } from '../../../../lib/contracts/audience.js';
import type { Resolvers } from '../__generated__/resolvers-types.js';
import { audienceTopic, userTopic } from '../app/audience-service.js';
import type { AudienceChangeMessage } from '../app/audience-service.js';
import { checkAudienceId } from '../domain/audience.js';
import { memberCursor } from '../store/memory.js';
import type { Audience } from '../domain/audience.js';
import type { AudiencesContext } from './context.js';

/** Changes a subscriber has not read yet; beyond this the oldest are dropped (a reader that stalled). */
const SUBSCRIBER_BUFFER = 1000;
const MAX_URL = 2048;

/** The changes of one topic as they are published, filtered. */
function changes(ctx: AudiencesContext, topic: string, keep: (m: AudienceChangeMessage) => boolean): AsyncIterableIterator<{ audienceMembershipChanged: AudienceChange }> {
  return subscribed<{ audienceMembershipChanged: AudienceChange }>(SUBSCRIBER_BUFFER, (push) =>
    ctx.pubsub.subscribe(topic, (m) => {
      if (keep(m)) push({ audienceMembershipChanged: m });
    }),
  );
}

async function audienceOf(ctx: AudiencesContext, id: string): Promise<Audience> {
  const [audience] = await ctx.service.get([id]);
  // A change can outlive its audience (deleted since): it is still described by its id.
  return audience ?? { id, name: id, description: null, rule: null, status: 'LIVE', revision: 0, backfill: { scanned: 0, total: null, cursor: null, startedAt: null, finishedAt: null }, createdAt: 0, updatedAt: 0 };
}

function checkUrl(raw: string, ctx: AudiencesContext): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CodedError('BAD_USER_INPUT', 'url must be an absolute http(s) URL');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || raw.length > MAX_URL) throw new CodedError('BAD_USER_INPUT', 'url must be an absolute http(s) URL of at most 2048 characters');
  if (url.username || url.password) throw new CodedError('BAD_USER_INPUT', 'url must not carry credentials; the secret signs each request');
  const problem = ctx.delivery.urlProblem(url);
  if (problem) throw new CodedError('BAD_USER_INPUT', `url ${problem}`);
  return url.toString();
}

export const resolvers: Resolvers = {
  JSON: JSONScalar,
  DateTime: DateTimeScalar,

  Query: {
    audience: async (_root, { id }, ctx) => (await ctx.service.get([id]))[0] ?? null,
    audiences: (_root, _args, ctx) => ctx.service.list(),
  },

  Mutation: {
    createAudience: (_root, { input }, ctx) => withCodedErrors(() => ctx.service.create(input)),
    updateAudience: (_root, { id, input }, ctx) => withCodedErrors(() => ctx.service.update(id, input)),
    deleteAudience: (_root, { id }, ctx) => withCodedErrors(() => ctx.service.delete(id)),
    previewAudience: (_root, { rule, sampleSize }, ctx) => withCodedErrors(() => ctx.service.preview(rule, sampleSize)),
    addAudienceDestination: (_root, { audienceId, url, secret }, ctx) =>
      withCodedErrors(async () => {
        const [audience] = await ctx.service.get([audienceId]);
        if (!audience) throw new CodedError('AUDIENCE_NOT_FOUND', `no audience ${audienceId}`);
        if (secret.length < 16 || secret.length > 256) throw new CodedError('BAD_USER_INPUT', 'secret must be 16 to 256 characters');
        const destination = { id: randomUUID(), audienceId, url: checkUrl(url, ctx), secret, createdAt: Date.now() };
        await ctx.destinations.put(destination);
        await ctx.delivery.sync();
        return destination;
      }),
    removeAudienceDestination: (_root, { id }, ctx) =>
      withCodedErrors(async () => {
        const removed = await ctx.destinations.delete(id);
        await ctx.delivery.sync();
        return removed !== null;
      }),
  },

  Subscription: {
    audienceMembershipChanged: {
      subscribe: (_root, { audienceId, userId }, ctx) =>
        withCodedErrors(async () => {
          if (audienceId != null) {
            checkAudienceId(audienceId);
            const [audience] = await ctx.service.get([audienceId]);
            if (!audience) throw new CodedError('AUDIENCE_NOT_FOUND', `no audience ${audienceId}`);
          }
          if (userId != null) return changes(ctx, userTopic(userId), (m) => audienceId == null || m.audienceId === audienceId);
          if (audienceId != null) return changes(ctx, audienceTopic(audienceId), () => true);
          throw new CodedError('BAD_USER_INPUT', 'give audienceId, userId or both');
        }),
      resolve: (payload: { audienceMembershipChanged: AudienceChange }) => payload.audienceMembershipChanged,
    },
  },

  Audience: {
    __resolveReference: async (ref, ctx) => (await ctx.service.get([ref.id]))[0] ?? null,
    size: (a, _args, ctx) => ctx.sizes.load(a.id),
    backfill: (a) => a.backfill,
    members: (a, { first, after }, ctx) =>
      withCodedErrors(async () => {
        const page = await ctx.service.members(a.id, first, after ?? null);
        return {
          audienceId: a.id,
          edges: page.members.map((m) => ({ cursor: memberCursor(m.since, m.userId), userId: m.userId, since: m.since })),
          pageInfo: { hasNextPage: page.cursor !== null, endCursor: page.cursor },
        };
      }),
    destinations: async (a, _args, ctx) => (await ctx.destinations.list()).filter((d) => d.audienceId === a.id),
  },

  AudienceMemberConnection: {
    totalCount: (c, _args, ctx) => ctx.sizes.load(c.audienceId),
  },

  AudienceMemberEdge: {
    node: (e) => ({ id: e.userId }),
  },

  AudienceDestination: {
    status: async (d, _args, ctx) => (await ctx.delivery.statuses([d.id]))[0]!,
  },

  User: {
    __resolveReference: (ref) => ({ id: ref.id }),
    audiences: (u, _args, ctx) => ctx.memberships.load(u.id),
  },

  AudienceMembershipChange: {
    audience: (c, _args, ctx) => audienceOf(ctx, c.audienceId),
    user: (c) => ({ id: c.userId }),
  },
};
