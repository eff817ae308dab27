/** Audiences service configuration from environment variables (documented in README). */
import { loadAuthConfig } from '../../../lib/auth.js';
import type { AuthConfig } from '../../../lib/auth.js';
import { envBool, envDuration, envInt, envString, serviceBasics } from '../../../lib/env.js';
import type { ServiceBasics } from '../../../lib/env.js';
import type { AudienceServiceOptions } from './app/audience-service.js';

export interface AudiencesConfig extends ServiceBasics {
  auth: AuthConfig;
  /** The profile subgraph's GraphQL URL: where profiles are read (AUDIENCES_PROFILE_URL). */
  profileUrl: string;
  service: AudienceServiceOptions;
  /** Webhook destinations: changes per request, request timeout, first and longest retry wait. */
  destinations: { batchSize: number; requestTimeoutMs: number; initialBackoffMs: number; maxBackoffMs: number; allowPrivateNetworks: boolean };
}

export function loadAudiencesConfig(env: NodeJS.ProcessEnv = process.env): AudiencesConfig {
  const basics = serviceBasics(env, 'AUDIENCES_PORT', 4004);
  return {
    ...basics,
    auth: loadAuthConfig(env),
    profileUrl: envString(env, 'AUDIENCES_PROFILE_URL', `http://127.0.0.1:${envInt(env, 'PROFILE_PORT', 4001, 0, 65535)}/graphql`),
    service: {
      pageSize: envInt(env, 'AUDIENCES_PAGE_SIZE', 500, 1, 1000),
      duePollMs: envDuration(env, 'AUDIENCES_DUE_POLL', '250ms'),
      leaseMs: envDuration(env, 'AUDIENCES_LEASE', '30s'),
      refreshMs: envDuration(env, 'AUDIENCES_REFRESH', '1s'),
      maxAudiences: envInt(env, 'AUDIENCES_MAX', 1000, 1, 100_000),
      coalesceMs: envInt(env, 'AUDIENCES_COALESCE_MS', 5, 0, 1000),
      evaluationConcurrency: envInt(env, 'AUDIENCES_EVALUATION_CONCURRENCY', 16, 1, 256),
    },
    destinations: {
      batchSize: envInt(env, 'AUDIENCE_DESTINATION_BATCH', 100, 1, 10_000),
      requestTimeoutMs: envDuration(env, 'AUDIENCE_DESTINATION_TIMEOUT', '5s'),
      initialBackoffMs: envDuration(env, 'AUDIENCE_DESTINATION_BACKOFF', '200ms'),
      maxBackoffMs: envDuration(env, 'AUDIENCE_DESTINATION_MAX_BACKOFF', '30s'),
      // Webhooks on this machine are for development; in production a destination on a private
      // address would be a way into the platform's network (destination-network.ts).
      allowPrivateNetworks: envBool(env, 'AUDIENCE_DESTINATION_PRIVATE_NETWORKS', !basics.production),
    },
  };
}
