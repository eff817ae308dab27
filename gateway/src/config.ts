/** Gateway configuration from environment variables (documented in README). */
import { loadAuthConfig } from '../../lib/auth.js';
import type { AuthConfig } from '../../lib/auth.js';
import { envBool, envInt, envString, serviceBasics } from '../../lib/env.js';
import type { ServiceBasics } from '../../lib/env.js';
import { loadCallerLimits } from './caller-limits.js';
import type { CallerLimitsConfig } from './caller-limits.js';
import { loadQueryLimits } from './limits.js';
import type { QueryLimits } from './limits.js';
import { SUBGRAPHS } from './subgraphs.js';

/**
 * The largest body the gateway accepts by default: what the profile subgraph accepts for GraphQL
 * (an `ingestEvents` batch of at most 1 MiB plus 64 KiB for the document), so an oversize batch is
 * refused here, before it is forwarded. Experiments (2 MiB) and recommendations (4 MiB) accept
 * more; raise GATEWAY_BODY_LIMIT for larger trackUnitEvents / upsertItems bodies (a subgraph's
 * 413 is still PAYLOAD_TOO_LARGE).
 */
export const DEFAULT_GATEWAY_BODY_LIMIT = 1024 * 1024 + 64 * 1024;

export interface GatewayConfig extends ServiceBasics {
  auth: AuthConfig;
  supergraphPath: string;
  /** Subgraph name → GraphQL URL, overriding the URLs recorded in the supergraph. */
  subgraphUrls: Record<string, string>;
  bodyLimit: number;
  /** Depth, cost, alias, directive and token limits per operation. */
  limits: QueryLimits;
  /** Requests per second, graphql-ws sockets and subscriptions per caller. */
  callers: CallerLimitsConfig;
  /** A graphql-ws socket that has not sent connection_init by then is closed (4408). */
  wsInitTimeoutMs: number;
  /** Most concurrent keep-alive connections from the gateway to each subgraph. */
  subgraphConnections: number;
  /** A subgraph fetch fails after this many milliseconds without an answer. */
  subgraphTimeoutMs: number;
  /** Apollo's anonymous gateway telemetry: off unless APOLLO_TELEMETRY_ENABLED=true. */
  apolloTelemetry: boolean;
}

export function subgraphUrlsFromEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const urls: Record<string, string> = {};
  for (const s of SUBGRAPHS) {
    const port = envInt(env, s.portEnv, s.defaultPort, 0, 65535);
    urls[s.name] = envString(env, s.urlEnv, `http://127.0.0.1:${port}/graphql`);
  }
  return urls;
}

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return {
    ...serviceBasics(env, 'GATEWAY_PORT', 4000),
    auth: loadAuthConfig(env),
    supergraphPath: envString(env, 'SUPERGRAPH_PATH', new URL('../../schema/supergraph.graphql', import.meta.url).pathname),
    subgraphUrls: subgraphUrlsFromEnv(env),
    bodyLimit: envInt(env, 'GATEWAY_BODY_LIMIT', DEFAULT_GATEWAY_BODY_LIMIT, 1024),
    limits: loadQueryLimits(env),
    callers: loadCallerLimits(env),
    wsInitTimeoutMs: envInt(env, 'GATEWAY_WS_INIT_TIMEOUT_MS', 3000, 100, 60_000),
    subgraphConnections: envInt(env, 'SUBGRAPH_CONNECTIONS', 64, 1),
    subgraphTimeoutMs: envInt(env, 'SUBGRAPH_TIMEOUT_MS', 10_000, 100),
    apolloTelemetry: envBool(env, 'APOLLO_TELEMETRY_ENABLED', false),
  };
}
