/**
 * The audiences subgraph as a process of its own (`npm run start:audiences`, and the benchmarks
 * that run it apart): embedded stores, or Redis with REDIS_URL.
 */
import { createInfrastructure, PROFILE_CHANGE_KEYS, PROFILE_CHANGES_LOG } from '../../../lib/infrastructure.js';
import type { AudiencesConfig } from './config.js';
import { AUDIENCE_CHANGE_KEYS, AUDIENCE_CHANGES_LOG, startAudiencesServer } from './server.js';
import { selectAudiencePubSub, selectAudienceStores } from './store/select.js';

export async function startAudiencesProcess(config: AudiencesConfig, env: NodeJS.ProcessEnv = process.env) {
  const infrastructure = createInfrastructure(env);
  const { redis } = infrastructure;
  const server = await startAudiencesServer(config, {
    stores: selectAudienceStores(redis),
    profileChanges: infrastructure.log(PROFILE_CHANGES_LOG, PROFILE_CHANGE_KEYS),
    changes: infrastructure.log(AUDIENCE_CHANGES_LOG, AUDIENCE_CHANGE_KEYS),
    pubsub: selectAudiencePubSub(redis),
  });
  return {
    server,
    kind: infrastructure.kind,
    close: async () => {
      await server.close();
      await infrastructure.close();
    },
  };
}
