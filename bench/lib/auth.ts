/**
 * Credentials for benchmarks: throwaway secrets for the processes under test (so production-mode
 * children start), a service token (JWT) for the gateway and the events API, and the gateway's
 * internal identity token for requests sent to subgraphs directly. Nothing is rate limited per
 * caller here (INGEST_RATE_LIMIT=0 and the rest): the benchmarks measure throughput.
 */
import { randomBytes } from 'node:crypto';
import { IDENTITY_HEADER, InternalTokens, loadAuthConfig, mintToken } from '../../lib/auth.js';

export interface BenchAuth {
  /** Environment for every process under test. */
  env: Record<string, string>;
  /** Authorization header for the gateway and POST /v1/events. */
  caller: Record<string, string>;
  /** The identity header a gateway hands the subgraphs (for direct subgraph requests). */
  subgraph: Record<string, string>;
}

/** One token drives the whole load: the per-caller limits meant for abuse are off here. */
const UNLIMITED = {
  GATEWAY_RATE_LIMIT: '0',
  GATEWAY_WS_CONNECTIONS_PER_CALLER: '0',
  GATEWAY_SUBSCRIPTIONS_PER_CALLER: '0',
  UNIT_EVENT_RATE_LIMIT: '0',
};

export async function benchAuth(): Promise<BenchAuth> {
  const env = { JWT_SECRET: randomBytes(24).toString('hex'), INTERNAL_AUTH_SECRET: randomBytes(24).toString('hex'), INGEST_RATE_LIMIT: '0', AUTH_DISABLED: '0', ...UNLIMITED };
  const config = loadAuthConfig(env);
  const identity = { sub: 'bench-backend', roles: ['service' as const] };
  return {
    env,
    caller: { authorization: `Bearer ${await mintToken(config, { sub: identity.sub, role: 'service' })}` },
    subgraph: { [IDENTITY_HEADER]: await new InternalTokens(config).sign(identity) },
  };
}
