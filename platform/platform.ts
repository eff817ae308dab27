/**
 * The whole platform in one process: every subgraph and the gateway on one set of backends
 * (embedded by default, Redis with REDIS_URL). Used by `npm start`, the tests and the benchmarks.
 */
import { loadGatewayConfig } from '../gateway/src/config.js';
import { startGateway } from '../gateway/src/gateway.js';
import type { GatewayServer } from '../gateway/src/gateway.js';
import { loadExperimentsConfig } from '../subgraphs/experiments/src/config.js';
import { startExperimentsServer } from '../subgraphs/experiments/src/server.js';
import type { ExperimentsServer } from '../subgraphs/experiments/src/server.js';
import { loadProfileConfig } from '../subgraphs/profile/src/config.js';
import type { ProfileConfig } from '../subgraphs/profile/src/config.js';
import { startProfileServer } from '../subgraphs/profile/src/server.js';
import type { ProfileServer } from '../subgraphs/profile/src/server.js';
import type { ProfileStores } from '../subgraphs/profile/src/store/ports.js';
import { loadRecommendationsConfig } from '../subgraphs/recommendations/src/config.js';
import { startRecommendationsServer } from '../subgraphs/recommendations/src/server.js';
import type { RecommendationsServer } from '../subgraphs/recommendations/src/server.js';
import { loadAudiencesConfig } from '../subgraphs/audiences/src/config.js';
import { startAudiencesServer } from '../subgraphs/audiences/src/server.js';
import type { AudiencesServer } from '../subgraphs/audiences/src/server.js';
import { createBackends } from './backends.js';
import { seedServices } from './seed.js';
import { envBool } from '../lib/env.js';
import type { AuthConfig } from '../lib/auth.js';
import type { Backends } from './backends.js';
import { startTracing, stopTracing, tracingActive } from '../lib/tracing.js';

export interface Platform {
  backends: Backends;
  profile: ProfileServer;
  recommendations: RecommendationsServer;
  experiments: ExperimentsServer;
  audiences: AudiencesServer;
  gateway: GatewayServer;
  gatewayUrl: string;
  /** Stops the services; the backends too when the platform created them. */
  close(): Promise<void>;
}

export interface PlatformOptions {
  env?: NodeJS.ProcessEnv;
  /** Use these stores instead of creating them from env (they are then not closed here). */
  backends?: Backends;
  /** Overrides of the profile service configuration (tests). */
  profileConfig?: Partial<ProfileConfig>;
  /** Overrides the profile stores only (tests that watch store calls). */
  profileStores?: ProfileStores;
  /** Rewrites the profile subgraph URL the gateway uses (tests that put a proxy in between). */
  profileUrl?: (url: string) => string;
  /** The clock every service signs and checks tokens with (tests move it instead of waiting). */
  authClock?: () => number;
  /** false: no audiences subgraph here (it runs in a process of its own; benchmarks). */
  audiences?: boolean;
}

/** A service configuration with the platform's auth clock, when one is given. */
function clocked<T extends { auth: AuthConfig }>(config: T, options: PlatformOptions): T {
  return options.authClock ? { ...config, auth: { ...config.auth, clock: options.authClock } } : config;
}

/** The subgraphs only, on shared backends (the gateway runs elsewhere). */
export async function startSubgraphs(options: PlatformOptions = {}) {
  const env = options.env ?? process.env;
  const backends = options.backends ?? createBackends(env);
  const { eventLog, pubsub } = backends;
  const recommendationsConfig = clocked(loadRecommendationsConfig(env), options);
  const recommendations = await startRecommendationsServer(recommendationsConfig, {
    eventLog,
    catalogStore: backends.catalogStore,
  });
  const experiments = await startExperimentsServer(clocked(loadExperimentsConfig(env), options), { stores: backends.experimentStores, pubsub: backends.experimentPubsub });
  try {
    await seedServices(env, { config: recommendationsConfig, service: recommendations.service }, experiments.service);
  } catch (err) {
    // Nothing stays running when the platform does not start.
    await Promise.allSettled([recommendations.close(), experiments.close()]);
    if (!options.backends) await backends.close();
    throw err;
  }
  const profile = await startProfileServer(
    clocked({ ...loadProfileConfig(env), ...options.profileConfig }, options),
    {
      eventLog,
      pubsub,
      stores: options.profileStores ?? backends.profileStores,
      mode: backends.ingestMode,
      // PROFILE_RUN_UPDATER=false: the updater group runs only in `npm run start:profile-updater` processes.
      runUpdater: envBool(env, 'PROFILE_RUN_UPDATER', true),
      changes: backends.profileChanges,
    },
  );
  const audiences =
    options.audiences === false
      ? null
      : await startAudiencesServer(clocked({ ...loadAudiencesConfig(env), profileUrl: `${profile.url}/graphql` }, options), {
          stores: backends.audienceStores,
          profileChanges: backends.profileChanges,
          changes: backends.audienceChanges,
          pubsub: backends.audiencePubsub,
        });
  return {
    backends,
    profile,
    recommendations,
    experiments,
    audiences,
    subgraphUrls: {
      profile: `${profile.url}/graphql`,
      recommendations: `${recommendations.url}/graphql`,
      experiments: `${experiments.url}/graphql`,
      ...(audiences ? { audiences: `${audiences.url}/graphql` } : {}),
    },
    close: async () => {
      await audiences?.close();
      await profile.close();
      await recommendations.close();
      await experiments.close();
      if (!options.backends) await backends.close();
    },
  };
}

export async function startPlatform(options: PlatformOptions = {}): Promise<Platform> {
  const env = options.env ?? process.env;
  // Tracing (OTEL_EXPORTER_OTLP_ENDPOINT) before any server is built; each service traces under
  // its own name, @apollo/gateway's spans under the gateway's. Stopped (flushed) by close() when
  // started here (a test that installed its own keeps it).
  const ownTracing = !tracingActive() && startTracing(env, { service: 'gateway' });
  const subgraphs = await startSubgraphs({ ...options, audiences: true });
  const { audiences } = subgraphs;
  if (!audiences) throw new Error('the platform runs every subgraph');
  const urls = subgraphs.subgraphUrls;
  const gateway = await startGateway({
    ...clocked(loadGatewayConfig(env), options),
    subgraphUrls: { ...urls, profile: options.profileUrl ? options.profileUrl(urls.profile) : urls.profile },
  });
  return {
    ...subgraphs,
    audiences,
    gateway,
    gatewayUrl: `${gateway.url}/graphql`,
    close: async () => {
      await gateway.close();
      await subgraphs.close();
      if (ownTracing) await stopTracing();
    },
  };
}
