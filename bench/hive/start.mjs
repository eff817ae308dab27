/**
 * Hive Gateway, the peer of bench:gateway, through its own CLI (`hive-gateway supergraph`) in this
 * process: `node start.mjs hive <supergraph file>` serves that supergraph on a free loopback port
 * and prints `{"url": ...}` once the gateway is ready, as bench/gateway-server.ts does for ours.
 * A .mjs file, so the root typecheck never needs bench/hive/node_modules.
 *
 * HIVE_RUNTIME=router (the default here) plans with the Hive Router query planner
 * (`--hive-router-runtime`, package @graphql-hive/router-runtime); HIVE_RUNTIME=default keeps the
 * CLI's own planner, which on this supergraph sends recommendedFor's `_entities` fetch without the
 * `assignments` it @requires (see bench/gateway.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const supergraph = process.argv[3];
if (!supergraph) throw new Error('usage: start.mjs hive <supergraph file>');
const runtime = process.env.HIVE_RUNTIME ?? 'router';
if (runtime !== 'router' && runtime !== 'default') throw new Error(`HIVE_RUNTIME must be router or default; got "${runtime}"`);

// The CLI prints the port it was given, so it gets a free one rather than 0.
const port = await new Promise((resolve, reject) => {
  const probe = createServer().once('error', reject);
  probe.listen(0, '127.0.0.1', () => {
    const { port } = probe.address();
    probe.close(() => resolve(port));
  });
});

// The CLI falls back to its own planner, with a warning only, when the router runtime is missing.
if (runtime === 'router' && !existsSync(new URL('./node_modules/@graphql-hive/router-runtime/package.json', import.meta.url))) {
  throw new Error('@graphql-hive/router-runtime is not installed: run npm ci --prefix bench/hive');
}

const pkg = new URL('./node_modules/@graphql-hive/gateway/', import.meta.url);
const { bin } = JSON.parse(readFileSync(new URL('package.json', pkg), 'utf8'));
// Otherwise the CLI's defaults: one process (no --fork), masked errors, no response cache, no
// plugins; the supergraph file is watched, not polled. LOG_LEVEL in the environment sets logging.
process.argv = [
  process.argv[0],
  'hive-gateway',
  'supergraph',
  supergraph,
  '--host',
  '127.0.0.1',
  '--port',
  String(port),
  ...(runtime === 'router' ? ['--hive-router-runtime'] : []),
];
// The CLI reads gateway.config.mjs (header propagation) from the working directory.
process.chdir(new URL('./', import.meta.url).pathname);
await import(new URL(bin['hive-gateway'], pkg).href);

// Ready once /readiness answers 200 (the supergraph is loaded).
const url = `http://127.0.0.1:${port}`;
for (let attempt = 0; ; attempt++) {
  const ok = await fetch(`${url}/readiness`).then((r) => r.ok, () => false);
  if (ok) break;
  if (attempt > 300) throw new Error('Hive Gateway did not become ready in 30 s');
  await new Promise((r) => setTimeout(r, 100));
}
process.stdout.write(`${JSON.stringify({ url: `${url}/graphql`, runtime })}\n`);
