/**
 * Child processes of bench:live. `subgraphs`: profile, recommendations and experiments in one
 * process (they share the embedded event log, or Redis with REDIS_URL); `gateway`: the gateway in
 * a process of its own, so the two use both cores as separate deployments would.
 */
import { loadGatewayConfig } from '../gateway/src/config.js';
import { startGateway } from '../gateway/src/gateway.js';
import { startSubgraphs } from '../platform/platform.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';

// Event-loop delay of this process, reported on exit (a busy loop delays every request in it).
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
// Measured from 5 s after start, so start-up compilation does not count.
setTimeout(() => loopDelay.enable(), 5000).unref();
process.on('exit', () => {
  const ms = (ns: number) => (ns / 1e6).toFixed(1);
  console.error(`${process.argv[2] ?? 'subgraphs'} event-loop delay: p50 ${ms(loopDelay.percentile(50))} ms, p99 ${ms(loopDelay.percentile(99))} ms, max ${ms(loopDelay.max)} ms`);
});

const env = { ...process.env, HOST: '127.0.0.1', GATEWAY_PORT: '0', PROFILE_PORT: '0', RECOMMENDATIONS_PORT: '0', EXPERIMENTS_PORT: '0', LOG_LEVEL: 'error' };
if (process.argv[2] === 'gateway') {
  const gateway = await startGateway({ ...loadGatewayConfig(env), subgraphUrls: JSON.parse(process.env['BENCH_SUBGRAPH_URLS']!) });
  process.stdout.write(`${JSON.stringify({ gateway: `${gateway.url}/graphql` })}\n`);
  process.on('SIGTERM', () => void gateway.close().then(() => process.exit(0)));
} else {
  const subgraphs = await startSubgraphs({ env });
  process.stdout.write(`${JSON.stringify({ subgraphUrls: subgraphs.subgraphUrls, profile: subgraphs.profile.url, stores: subgraphs.backends.kind })}\n`);
  process.on('SIGTERM', () => void subgraphs.close().then(() => process.exit(0)));
}
