/**
 * `npm start`: the whole platform in one process on the embedded in-memory stores, seeded with the
 * demo catalog and users. Each service also runs alone (`npm run start:<service>`).
 */
import { onShutdown } from '../lib/shutdown.js';
import { DEMO_USERS, demoHistory } from '../demo/history.js';
import { startPlatform } from './platform.js';

const env = process.env;
// Embedded stores by default (one process: the subgraphs share an in-memory event log);
// Redis or Redis Cluster when REDIS_URL / REDIS_CLUSTER_NODES is set.
const platform = await startPlatform({ env });
const { backends, gateway, profile, recommendations, experiments } = platform;
// Demo events have fixed ids, so seeding again after a restart on Redis changes nothing.
const seeded = await profile.service.ingest(demoHistory(Date.now()), { waitApplied: true });
if (seeded.rejected.length > 0) throw new Error(`demo seed rejected: ${JSON.stringify(seeded.rejected)}`);
const snapshot = await profile.snapshots.run();

console.log(`
Real-time personalization platform (${backends.kind === 'memory' ? 'embedded in-memory stores' : `${backends.kind} at ${env['REDIS_URL'] ?? env['REDIS_CLUSTER_NODES']}`})

  Gateway + Apollo Sandbox   ${gateway.url}/graphql
  Profile subgraph           ${profile.url}/graphql
  Recommendations subgraph   ${recommendations.url}/graphql  (${recommendations.service.catalog.size} catalog items, model ${recommendations.service.config.defaultModel})
  Experiments subgraph       ${experiments.url}/graphql  (running: ${(await experiments.service.list('RUNNING')).map((e) => e.key).join(', ') || 'none'})
  Events API                 POST ${profile.url}/v1/events

Demo data: ${seeded.accepted} new events (${seeded.duplicates} already there) for ${DEMO_USERS.map((u) => u.id).join(', ')}; batch snapshot of ${snapshot.profiles} profiles taken.
Try:  { user(id: "u1") { profile { version genreAffinities { key score } } assignments { experimentKey variant } recommendedFor(limit: 5) { model variant items { position reasons item { title } } } } }
Ctrl-C stops everything.
`);

onShutdown(() => platform.close());
