/**
 * A profile updater process without the HTTP service (`npm run start:profile-updater`): one more
 * member of the consumer group, for throughput. Requires REDIS_URL or REDIS_CLUSTER_NODES. Its
 * /health, /ready and /metrics are on PROFILE_UPDATER_PORT (default 4006; 0 picks a free port).
 * Unset and 4006 taken (more updaters on one host), a free port is used instead and printed.
 */
import { envInt } from '../../../lib/env.js';
import { onShutdown } from '../../../lib/shutdown.js';
import { createInfrastructure } from '../../../lib/infrastructure.js';
import { startTracing, stopTracing } from '../../../lib/tracing.js';
import { PROFILE_UPDATER_GROUP } from './app/profile-service.js';
import { loadProfileConfig } from './config.js';
import { startUpdaterProcess } from './updater.js';

startTracing(process.env, { service: 'profile-updater' });
const config = loadProfileConfig();
const infrastructure = createInfrastructure(process.env, { protectedGroup: PROFILE_UPDATER_GROUP });
if (infrastructure.kind === 'memory') {
  console.error('start:profile-updater needs REDIS_URL or REDIS_CLUSTER_NODES (the embedded stores have no shared stream)');
  process.exit(2);
}
const explicitPort = process.env['PROFILE_UPDATER_PORT'] !== undefined && process.env['PROFILE_UPDATER_PORT'] !== '';
const port = envInt(process.env, 'PROFILE_UPDATER_PORT', 4006, 0, 65535);
const updater = await startUpdaterProcess(config, infrastructure, { port, host: config.host }).catch(async (err: NodeJS.ErrnoException) => {
  if (explicitPort || err.code !== 'EADDRINUSE') throw err;
  console.warn(`port ${port} is taken (another updater on this host?): serving /health, /ready and /metrics on a free port; set PROFILE_UPDATER_PORT to choose one`);
  return startUpdaterProcess(config, infrastructure, { port: 0, host: config.host });
});
console.log(`profile updater consuming (${infrastructure.kind}); /health, /ready, /metrics at ${updater.url}`);
onShutdown(async () => {
  await updater.close();
  await infrastructure.close();
  await stopTracing();
});
