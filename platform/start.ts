/**
 * `npm start`: the whole platform in one process on the embedded in-memory stores, seeded with the
 * demo catalog and users. Each service also runs alone (`npm run start:<service>`).
 */
import { loadGatewayConfig } from '../gateway/src/config.js';
import { startGateway } from '../gateway/src/gateway.js';
import { onShutdown } from '../lib/shutdown.js';
import { DEMO_USERS, demoHistory } from '../demo/history.js';
import { loadProfileConfig } from '../subgraphs/profile/src/config.js';
import { startProfileServer } from '../subgraphs/profile/src/server.js';

const env = process.env;
const profile = await startProfileServer(loadProfileConfig(env));
const seeded = await profile.service.ingest(demoHistory(Date.now()));
if (seeded.rejected.length > 0) throw new Error(`demo seed rejected: ${JSON.stringify(seeded.rejected)}`);
const snapshot = await profile.snapshots.run();

const gateway = await startGateway({
  ...loadGatewayConfig(env),
  subgraphUrls: { profile: `${profile.url}/graphql` },
});

console.log(`
Real-time personalization platform (embedded in-memory stores)

  Gateway + Apollo Sandbox   ${gateway.url}/graphql
  Profile subgraph           ${profile.url}/graphql
  Events API                 POST ${profile.url}/v1/events

Demo data: ${seeded.accepted} events for ${DEMO_USERS.map((u) => u.id).join(', ')}; batch snapshot of ${snapshot.profiles} profiles taken.
Try:  { user(id: "u1") { id profile { version genreAffinities { key score } series { seriesId lastEpisode } } } }
Ctrl-C stops everything.
`);

onShutdown(async () => {
  await gateway.close();
  await profile.close();
});
