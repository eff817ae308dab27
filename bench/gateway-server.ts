/**
 * Child processes of bench:gateway. `subgraphs`: profile, recommendations and experiments in one
 * process on the embedded stores (they share the in-memory event log); `gateway`: our gateway in a
 * process of its own, on the subgraph URLs in BENCH_SUBGRAPH_URLS. Each prints one JSON line with
 * its URLs when it serves. (Hive Gateway, the peer, runs from bench/hive/start.mjs.)
 */
import { loadGatewayConfig } from '../gateway/src/config.js';
import { startGateway } from '../gateway/src/gateway.js';
import { startSubgraphs } from '../platform/platform.js';

// Loopback only, ephemeral ports, quiet logs; NODE_ENV comes from the parent (production).
const env = { ...process.env, HOST: '127.0.0.1', GATEWAY_PORT: '0', PROFILE_PORT: '0', RECOMMENDATIONS_PORT: '0', EXPERIMENTS_PORT: '0', LOG_LEVEL: 'error' };
if (process.argv[2] === 'gateway') {
  const gateway = await startGateway({ ...loadGatewayConfig(env), subgraphUrls: JSON.parse(process.env['BENCH_SUBGRAPH_URLS']!) });
  process.stdout.write(`${JSON.stringify({ url: `${gateway.url}/graphql` })}\n`);
  process.on('SIGTERM', () => void gateway.close().then(() => process.exit(0)));
} else {
  const subgraphs = await startSubgraphs({ env });
  process.stdout.write(`${JSON.stringify({ subgraphUrls: subgraphs.subgraphUrls, profile: subgraphs.profile.url, stores: subgraphs.backends.kind })}\n`);
  process.on('SIGTERM', () => void subgraphs.close().then(() => process.exit(0)));
}
