/**
 * Child processes of the benchmarks. `subgraphs`: profile, recommendations, experiments and
 * audiences in one process (they share the embedded event log, or Redis with REDIS_URL; with
 * BENCH_AUDIENCES_APART=1 all but audiences); `audiences`: the audiences subgraph alone, on the
 * profile subgraph at AUDIENCES_PROFILE_URL (Redis only, as `npm run start:audiences`); `gateway`: our gateway in
 * a process of its own, on the subgraph URLs in BENCH_SUBGRAPH_URLS, so the two use both cores as
 * separate deployments would. Each prints one JSON line with its URLs when it serves.
 * BENCH_LOOP_DELAY=1 reports the process's event-loop delay on exit (a busy loop delays every
 * request in it). (Hive Gateway, the peer of bench:gateway, runs from bench/hive/start.mjs.)
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadGatewayConfig } from '../gateway/src/config.js';
import { startGateway } from '../gateway/src/gateway.js';
import { startSubgraphs } from '../platform/platform.js';
import { loadAudiencesConfig } from '../subgraphs/audiences/src/config.js';
import { startAudiencesProcess } from '../subgraphs/audiences/src/process.js';

const role = process.argv[2] === 'gateway' || process.argv[2] === 'audiences' ? process.argv[2] : 'subgraphs';
if (process.env['BENCH_LOOP_DELAY'] === '1') {
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  // Measured from 5 s after start, so start-up compilation does not count.
  setTimeout(() => loopDelay.enable(), 5000).unref();
  process.on('exit', () => {
    const ms = (ns: number) => (ns / 1e6).toFixed(1);
    console.error(`${role} event-loop delay: p50 ${ms(loopDelay.percentile(50))} ms, p99 ${ms(loopDelay.percentile(99))} ms, max ${ms(loopDelay.max)} ms`);
  });
}

/**
 * BENCH_HEAP_ENDPOINT=1: a loopback endpoint (its URL in the ready line as `heap`) answering the
 * process's heap after a full collection (start the child with --expose-gc), for heap-per-thing figures;
 * `?snapshot=<file>` also writes a heap snapshot to that file.
 */
async function heapEndpoint(): Promise<string | undefined> {
  if (process.env['BENCH_HEAP_ENDPOINT'] !== '1') return undefined;
  const { createServer } = await import('node:http');
  const { writeHeapSnapshot } = await import('node:v8');
  const server = createServer((req, res) => {
    (globalThis as { gc?: () => void }).gc?.();
    // ?snapshot=<file>: also write a heap snapshot there (bench:fanout's FANOUT_HEAP_SNAPSHOTS).
    const snapshot = new URL(req.url ?? '/', 'http://x').searchParams.get('snapshot');
    if (snapshot) writeHeapSnapshot(snapshot);
    const m = process.memoryUsage();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ heapUsed: m.heapUsed, rss: m.rss, collected: typeof (globalThis as { gc?: unknown }).gc === 'function' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  server.unref();
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}
const heap = await heapEndpoint();

// Loopback only, ephemeral ports, quiet logs; NODE_ENV and secrets come from the parent.
const env = { ...process.env, HOST: '127.0.0.1', GATEWAY_PORT: '0', PROFILE_PORT: '0', RECOMMENDATIONS_PORT: '0', EXPERIMENTS_PORT: '0', AUDIENCES_PORT: '0', LOG_LEVEL: 'error' };
if (role === 'gateway') {
  const gateway = await startGateway({ ...loadGatewayConfig(env), subgraphUrls: JSON.parse(process.env['BENCH_SUBGRAPH_URLS']!) });
  process.stdout.write(`${JSON.stringify({ url: `${gateway.url}/graphql`, heap })}\n`);
  process.on('SIGTERM', () => void gateway.close().then(() => process.exit(0)));
} else if (role === 'audiences') {
  const audiences = await startAudiencesProcess(loadAudiencesConfig(env), env);
  process.stdout.write(`${JSON.stringify({ url: `${audiences.server.url}/graphql` })}\n`);
  process.on('SIGTERM', () => void audiences.close().then(() => process.exit(0)));
} else {
  const subgraphs = await startSubgraphs({ env, audiences: process.env['BENCH_AUDIENCES_APART'] !== '1' });
  process.stdout.write(`${JSON.stringify({ subgraphUrls: subgraphs.subgraphUrls, profile: subgraphs.profile.url, stores: subgraphs.backends.kind, heap })}\n`);
  process.on('SIGTERM', () => void subgraphs.close().then(() => process.exit(0)));
}
