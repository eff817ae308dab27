/** `POST /v1/events`: the ingestion endpoint for producers that do not speak GraphQL. */
import type { FastifyInstance } from 'fastify';
import { errorBody } from '../../../../lib/http/server.js';
import { CodedError } from '../../../../lib/contracts/errors.js';
import type { ProfileService } from '../app/profile-service.js';
import { requireService } from '../../../../lib/auth.js';
import type { Identity, TokenVerifier } from '../../../../lib/auth.js';
import type { RateLimiter } from '../../../../lib/rate-limit.js';
import type { GraphQLError } from 'graphql';

export interface EventsRouteAuth {
  /** Verifies the caller's JWT (the route is called directly, not through the gateway). */
  verifier: TokenVerifier;
  /** Events per second per token. */
  limiter: RateLimiter;
}

export function registerEventsRoute(app: FastifyInstance, service: ProfileService, maxBatchBytes: number, auth: EventsRouteAuth): void {
  app.post(
    '/v1/events',
    // Room for the `{"events": ...}` envelope around the largest accepted batch.
    { bodyLimit: maxBatchBytes + 1024 },
    async (req, reply) => {
      let caller: Identity;
      try {
        // Ingestion takes a service token.
        caller = requireService(await auth.verifier.verify(req.headers.authorization), 'ingesting events');
      } catch (err) {
        const code = (err as GraphQLError).extensions?.['code'] === 'FORBIDDEN' ? 'FORBIDDEN' : 'UNAUTHENTICATED';
        return reply.code(code === 'FORBIDDEN' ? 403 : 401).send(errorBody(code, (err as Error).message));
      }
      if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
        return reply.code(415).send(errorBody('UNSUPPORTED_MEDIA_TYPE', 'send the batch as application/json'));
      }
      const body = req.body as { events?: unknown } | null;
      if (typeof body !== 'object' || body === null || Array.isArray(body) || !('events' in body)) {
        return reply.code(400).send(errorBody('BATCH_INVALID', 'body must be a JSON object: { "events": [ ... ] }'));
      }
      const wait = (req.query as { wait?: string }).wait;
      if (wait !== undefined && wait !== 'applied') {
        return reply.code(400).send(errorBody('BAD_REQUEST', 'wait must be "applied" (or absent)'));
      }
      const count = Array.isArray(body.events) ? body.events.length : 1;
      const decision = auth.limiter.take(caller.sub, count);
      if (!decision.ok) {
        return reply
          .code(429)
          .header('retry-after', String(Math.ceil(decision.retryAfterMs / 1000)))
          .send(errorBody('RATE_LIMITED', auth.limiter.refusal(count, decision.retryAfterMs), { retryable: true, retryAfterMs: decision.retryAfterMs }));
      }
      try {
        const length = Number(req.headers['content-length']);
        const result = await service.ingest(body.events, {
          ...(Number.isFinite(length) ? { bytes: length } : {}),
          waitApplied: wait === 'applied',
        });
        const nothingAccepted = result.accepted === 0 && result.duplicates === 0 && result.rejected.length > 0;
        return reply.code(nothingAccepted ? 400 : 200).send(result);
      } catch (err) {
        if (!(err instanceof CodedError)) throw err;
        if (err.retryable) return reply.code(503).header('retry-after', '1').send(errorBody(err.code, err.message, { retryable: true }));
        return reply.code(err.code === 'BATCH_TOO_LARGE' ? 413 : 400).send(errorBody(err.code, err.message));
      }
    },
  );
}
