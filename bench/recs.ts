/**
 * npm run bench:recs — latency of User.recommendedFor at the recommendations subgraph with a
 * 10,000-item catalog: the federated `_entities` fetch the gateway sends (with the @requires
 * features), under autocannon load, against the in-process ranking call as the peer figure.
 */
import autocannon from 'autocannon';
import { loadRecommendationsConfig } from '../subgraphs/recommendations/src/config.js';
import { RecommendationService } from '../subgraphs/recommendations/src/app/recommendation-service.js';
import type { ServedModel } from '../subgraphs/recommendations/src/app/recommendation-service.js';
import { MemoryCatalogStore } from '../subgraphs/recommendations/src/store/memory.js';
import { benchUsers, recsWorld } from './lib/recs-fixture.js';
import { startChild } from './lib/child.js';
import { benchAuth } from './lib/auth.js';
import { percentiles } from './lib/synthetic.js';
import { saveReport } from './lib/report.js';

const DURATION_S = Number(process.env['BENCH_DURATION'] ?? 10);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 8);
const json = process.argv.includes('--json');
const log = (msg: string) => {
  if (!json) console.error(msg);
};

const ENTITIES = `query ($representations: [_Any!]!) { _entities(representations: $representations) { ... on User { recommendedFor(unitId: "home", limit: 10) { impressionId model profileVersion items { position score reasons item { id } } } } } }`;

async function inProcess(world: ReturnType<typeof recsWorld>, users: ReturnType<typeof benchUsers>, model: ServedModel) {
  const { catalog, events, now } = world;
  const service = new RecommendationService(
    new MemoryCatalogStore(),
    { ...loadRecommendationsConfig({}).service, defaultModel: model },
    () => now,
  );
  await service.importCatalog(catalog);
  service.consume(events);
  const samples: number[] = [];
  for (let round = 0; round < 4; round++) {
    for (const u of users) {
      const t = performance.now();
      service.recommend({ userId: u.id, unitId: 'home', limit: 10, live: u.live, batch: u.batch });
      if (round > 0) samples.push(performance.now() - t); // round 0 warms the JIT
    }
  }
  return percentiles(samples);
}

async function main() {
  const world = recsWorld();
  log(`built the synthetic world (${world.catalog.length.toLocaleString('en-US')} items, ${world.events.length.toLocaleString('en-US')} events)`);
  const users = benchUsers(world.events);
  const realtime = await inProcess(world, users, 'REALTIME');
  const baseline = await inProcess(world, users, 'BASELINE');

  log('starting the recommendations subgraph...');
  const auth = await benchAuth();
  const server = await startChild<{ url: string; items: number }>(new URL('./recs-server.ts', import.meta.url), { ready: true, env: { ...process.env, ...auth.env } });
  const { url, items } = server.info;
  const bodies = users.map((u) =>
    JSON.stringify({
      query: ENTITIES,
      variables: { representations: [{ __typename: 'User', id: u.id, profile: { rankingFeatures: u.live, batchSnapshot: { rankingFeatures: u.batch } } }] },
    }),
  );
  let next = 0;
  const run = (duration: number, connections = CONNECTIONS) =>
    autocannon({
      url: `${url}/graphql`,
      connections,
      duration,
      requests: [
        {
          method: 'POST',
          // As the gateway sends it: with the identity token of the (service) caller.
          headers: { 'content-type': 'application/json', ...auth.subgraph },
          setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length]! }),
        },
      ],
    });
  log(`warming up, then ${DURATION_S} s at 1 connection and ${DURATION_S} s at ${CONNECTIONS} connections...`);
  await run(2);
  const single = await run(DURATION_S, 1);
  const http = await run(DURATION_S);
  await server.stop();
  for (const r of [single, http]) {
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`${r.non2xx} non-2xx responses, ${r.errors} errors`);
  }

  const result = {
    catalogItems: items,
    users: users.length,
    inProcess: { REALTIME: realtime, BASELINE: baseline },
    subgraphHttpSingle: { p50: single.latency.p50, p99: single.latency.p99, requestsPerSecond: single.requests.average },
    subgraphHttp: {
      connections: CONNECTIONS,
      durationS: DURATION_S,
      requestsPerSecond: http.requests.average,
      p50: http.latency.p50,
      p99: http.latency.p99,
      requests: http.requests.total,
    },
  };
  saveReport(result);
  if (json) {
    console.log(JSON.stringify(result));
    return;
  }
  const f = (n: number) => n.toFixed(2);
  console.log(`recommendedFor with a ${items.toLocaleString('en-US')}-item catalog, ${users.length} users with history`);
  console.log('');
  console.log('| path | p50 ms | p99 ms | throughput |');
  console.log('|---|---|---|---|');
  console.log(`| rank in process, REALTIME | ${f(realtime.p50)} | ${f(realtime.p99)} | ${Math.round(1000 / realtime.mean)} rows/s on one core |`);
  console.log(`| rank in process, BASELINE | ${f(baseline.p50)} | ${f(baseline.p99)} | ${Math.round(1000 / baseline.mean)} rows/s on one core |`);
  console.log(`| subgraph over HTTP (_entities with @requires features), 1 connection | ${f(single.latency.p50)} | ${f(single.latency.p99)} | ${Math.round(single.requests.average)} req/s |`);
  console.log(`| subgraph over HTTP, ${CONNECTIONS} connections (saturated: latency is queueing) | ${f(http.latency.p50)} | ${f(http.latency.p99)} | ${Math.round(http.requests.average)} req/s |`);
  console.log('');
  console.log(`HTTP + GraphQL cost over the in-process ranker at 1 connection: ${(single.latency.p50 / realtime.p50).toFixed(1)}x at p50`);
}

await main();
