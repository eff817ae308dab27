/** Starts real services on ephemeral loopback ports for end-to-end tests. */
import { loadGatewayConfig } from '../../gateway/src/config.js';
import { startGateway } from '../../gateway/src/gateway.js';
import type { GatewayServer } from '../../gateway/src/gateway.js';
import { loadProfileConfig } from '../../subgraphs/profile/src/config.js';
import type { ProfileConfig } from '../../subgraphs/profile/src/config.js';
import { startProfileServer } from '../../subgraphs/profile/src/server.js';
import type { ProfileServer } from '../../subgraphs/profile/src/server.js';
import type { ProfileStores } from '../../subgraphs/profile/src/store/ports.js';
import { MemoryEventLog } from '../../lib/eventlog/memory.js';
import type { EventLog } from '../../lib/eventlog/port.js';
import type { Backends } from '../../platform/backends.js';
import { loadRecommendationsConfig } from '../../subgraphs/recommendations/src/config.js';
import { startRecommendationsServer } from '../../subgraphs/recommendations/src/server.js';
import type { RecommendationsServer } from '../../subgraphs/recommendations/src/server.js';
import { loadExperimentsConfig } from '../../subgraphs/experiments/src/config.js';
import { startExperimentsServer } from '../../subgraphs/experiments/src/server.js';
import type { ExperimentsServer } from '../../subgraphs/experiments/src/server.js';

export interface GraphQLResponse<T = any> {
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string } & Record<string, unknown>; path?: unknown[] }>;
}

export async function graphql<T = any>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<T>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GraphQLResponse<T>;
}

export const TEST_ENV = { HOST: '127.0.0.1', GATEWAY_PORT: '0', LOG_LEVEL: 'silent' };

export function testProfileConfig(overrides: Partial<ProfileConfig> = {}): ProfileConfig {
  return { ...loadProfileConfig({ ...TEST_ENV, PROFILE_PORT: '0' }), ...overrides };
}

export interface TestPlatform {
  profile: ProfileServer;
  recommendations: RecommendationsServer;
  experiments: ExperimentsServer;
  eventLog: EventLog;
  gateway: GatewayServer;
  gatewayUrl: string;
  query<T = any>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GraphQLResponse<T>>;
  close(): Promise<void>;
}

export async function startTestPlatform(
  options: {
    profileConfig?: Partial<ProfileConfig>;
    stores?: ProfileStores;
    env?: Record<string, string>;
    profileUrl?: (url: string) => string;
    /** Run every service on these stores (for example Redis) instead of fresh in-memory ones. */
    backends?: Backends;
  } = {},
): Promise<TestPlatform> {
  const b = options.backends;
  const eventLog = b?.eventLog ?? new MemoryEventLog();
  const recommendations = await startRecommendationsServer(
    loadRecommendationsConfig({ ...TEST_ENV, RECOMMENDATIONS_PORT: '0', ...options.env }),
    { eventLog, ...(b ? { catalogStore: b.catalogStore } : {}) },
  );
  const experiments = await startExperimentsServer(
    loadExperimentsConfig({ ...TEST_ENV, EXPERIMENTS_PORT: '0', ...options.env }),
    b ? { stores: b.experimentStores } : {},
  );
  const profile = await startProfileServer(testProfileConfig(options.profileConfig), {
    eventLog,
    ...(options.stores ? { stores: options.stores } : {}),
    ...(b ? { stores: b.profileStores, pubsub: b.pubsub, mode: b.ingestMode } : {}),
  });
  const profileGraphql = `${profile.url}/graphql`;
  const gateway = await startGateway({
    ...loadGatewayConfig({ ...TEST_ENV, ...options.env }),
    subgraphUrls: {
      profile: options.profileUrl ? options.profileUrl(profileGraphql) : profileGraphql,
      recommendations: `${recommendations.url}/graphql`,
      experiments: `${experiments.url}/graphql`,
    },
  });
  const gatewayUrl = `${gateway.url}/graphql`;
  return {
    profile,
    recommendations,
    experiments,
    eventLog,
    gateway,
    gatewayUrl,
    query: (q, v, h) => graphql(gatewayUrl, q, v, h),
    close: async () => {
      await gateway.close();
      await profile.close();
      await recommendations.close();
      await experiments.close();
      if (!b) await eventLog.close();
    },
  };
}
