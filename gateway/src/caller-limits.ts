/**
 * What one caller may send and hold at the gateway: requests per second (HTTP requests to
 * /graphql and operations over graphql-ws take from one token bucket, lib/rate-limit.ts),
 * graphql-ws sockets open at once, and subscriptions at once across all its sockets. A caller is
 * its token subject; requests without a token are counted per client address. With
 * AUTH_DISABLED every call acts as the same identity, so there are no callers to tell apart and
 * these limits are off.
 */
import type { FastifyInstance } from 'fastify';
import { GraphQLError } from 'graphql';
import type { Identity } from '../../lib/auth.js';
import { envInt } from '../../lib/env.js';
import { RateLimiter } from '../../lib/rate-limit.js';
import type { GatewayAuth } from './auth.js';

export interface CallerLimitsConfig {
  /** Requests per second per caller (0: unlimited), and the burst. */
  rate: number;
  burst: number;
  /** Most graphql-ws sockets one caller holds open (0: unlimited). */
  connections: number;
  /** Most subscriptions one caller holds across its sockets (0: unlimited). */
  subscriptions: number;
}

export function loadCallerLimits(env: NodeJS.ProcessEnv): CallerLimitsConfig {
  return {
    rate: envInt(env, 'GATEWAY_RATE_LIMIT', 100, 0),
    burst: envInt(env, 'GATEWAY_RATE_BURST', 200, 1),
    connections: envInt(env, 'GATEWAY_WS_CONNECTIONS_PER_CALLER', 8, 0),
    subscriptions: envInt(env, 'GATEWAY_SUBSCRIPTIONS_PER_CALLER', 20, 0),
  };
}

/** The caller behind a request: its token subject, or its address when it sent no token. */
export const callerKey = (identity: Identity | null, address = ''): string => (identity ? `sub:${identity.sub}` : `address:${address}`);

/** What callers hold open (sockets, subscriptions), against a cap per caller (0: none). */
export class PerCaller {
  private readonly counts = new Map<string, number>();

  constructor(readonly max: number) {}

  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** Held by every caller together. */
  get total(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }

  /** Counts one more for `key`, unless that caller already holds the most it may. */
  tryAdd(key: string): boolean {
    const held = this.count(key);
    if (this.max > 0 && held >= this.max) return false;
    this.counts.set(key, held + 1);
    return true;
  }

  remove(key: string): void {
    const held = this.count(key) - 1;
    if (held > 0) this.counts.set(key, held);
    else this.counts.delete(key);
  }
}

export class CallerLimits {
  readonly connections: PerCaller;
  readonly subscriptions: PerCaller;
  private readonly requests: RateLimiter;

  constructor(
    private readonly config: CallerLimitsConfig,
    enabled: boolean,
  ) {
    this.connections = new PerCaller(enabled ? config.connections : 0);
    this.subscriptions = new PerCaller(enabled ? config.subscriptions : 0);
    this.requests = new RateLimiter(enabled ? config.rate : 0, config.burst, undefined, { name: 'gateway requests', unit: 'requests', per: 'caller' });
  }

  /** RATE_LIMITED (with `retryAfterMs`) when the caller's next request does not fit now. */
  rateLimited(key: string): GraphQLError | undefined {
    return this.requests.refuse(key, 1);
  }

  tooManyConnections(): string {
    return `too many connections for this caller (at most ${this.connections.max})`;
  }

  tooManySubscriptions(): GraphQLError {
    return new GraphQLError(`at most ${this.subscriptions.max} subscriptions at once per caller, across its connections`, {
      extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' },
    });
  }

  /**
   * Refuses requests to /graphql over the caller's rate with 429 before their body is read
   * (graphql-ws operations are checked as they arrive, see subscriptions.ts).
   */
  limitRequests(app: FastifyInstance, auth: GatewayAuth): void {
    if (this.requests.rate <= 0) return;
    app.addHook('onRequest', async (req, reply) => {
      if (req.method === 'OPTIONS' || req.routeOptions.url !== '/graphql') return;
      // A bad token is refused later (401); until then it counts for its address.
      const caller = await auth.callerOf(req).catch(() => null);
      const refused = this.rateLimited(callerKey(caller?.identity ?? null, req.ip));
      if (!refused) return;
      const retryAfterMs = refused.extensions['retryAfterMs'] as number;
      return reply
        .code(429)
        .header('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000))))
        .send({ errors: [refused.toJSON()] });
    });
  }
}
