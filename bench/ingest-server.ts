/** Child process of bench:ingest: the profile service on Redis (stream mode) with its updater group. */
import { createBackends } from '../platform/backends.js';
import { envBool } from '../lib/env.js';
import { loadProfileConfig } from '../subgraphs/profile/src/config.js';
import { startProfileServer } from '../subgraphs/profile/src/server.js';

const backends = createBackends(process.env);
const server = await startProfileServer(
  { ...loadProfileConfig({ ...process.env, PROFILE_PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'error' }), snapshotIntervalMs: 86_400_000 },
  {
    stores: backends.profileStores,
    eventLog: backends.eventLog,
    pubsub: backends.pubsub,
    mode: backends.ingestMode,
    runUpdater: envBool(process.env, 'PROFILE_RUN_UPDATER', true),
  },
);
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
process.on('SIGTERM', () => void server.close().then(() => backends.close()).then(() => process.exit(0)));
