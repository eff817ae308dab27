/**
 * Vitest global setup of the `integration` project: starts a throwaway 3-master Redis Cluster on
 * loopback (redis-server in cluster mode, no persistence) for the contract suites, and stops it
 * afterwards. Its address reaches the tests through `provide('redisClusterNodes')` (read with
 * `inject` in test/helpers/redis.ts).
 *
 * Ports are the kernel's: each node's port comes from binding port 0, and its cluster bus port
 * (port + 10000) is checked free the same way. The probes are released just before redis-server
 * starts, so another process may take a port in between: then that node fails to bind and exits,
 * and the setup starts over on new ports. It only ever stops the servers it started itself (by
 * their process), so several runs on one machine do not disturb each other.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    redisClusterNodes: string;
    redisClusterError: string;
  }
}

const NODES = 3;
const BUS_OFFSET = 10_000;
const ATTEMPTS = 5;
const START_TIMEOUT_MS = 15_000;

/** Listens on 127.0.0.1:`port` (0: the kernel picks); null when that port is taken. */
function probe(port: number): Promise<Server | null> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(null) : reject(err)));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(server));
  });
}

const release = (servers: Server[]) => Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));

/** `count` kernel-assigned loopback ports whose cluster bus port (+10000) is free as well. */
async function freePorts(count: number): Promise<number[]> {
  const held: Server[] = [];
  const ports: number[] = [];
  try {
    for (let tries = 0; ports.length < count; tries++) {
      if (tries > 200) throw new Error('found no free port pairs (port, port + 10000) on 127.0.0.1');
      const server = await probe(0);
      if (!server) continue;
      held.push(server); // held until every pair is found, so the kernel hands out each port once
      const port = (server.address() as { port: number }).port;
      if (port + BUS_OFFSET > 65_535) continue;
      const bus = await probe(port + BUS_OFFSET);
      if (!bus) continue;
      held.push(bus);
      ports.push(port);
    }
    return ports;
  } finally {
    await release(held);
  }
}

/** A started redis-server: resolves `ready` once it accepts connections, `exited` when it ends. */
interface Node {
  port: number;
  child: ChildProcess;
  ready: Promise<void>;
  exited: Promise<void>;
  output: () => string;
}

function startNode(port: number, dir: string): Node {
  const child = spawn(
    'redis-server',
    [
      '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
      '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir,
      '--save', '', '--appendonly', 'no', '--cluster-node-timeout', '2000',
      // "Ready to accept connections" (notice level) is the readiness signal.
      '--loglevel', 'notice',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve()); // never started
  });
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8_000);
      if (/Ready to accept connections/.test(output)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', reject);
    void exited.then(() => reject(new Error(`redis-server on ${port} exited (${child.exitCode ?? child.signalCode}): ${output.trim().split('\n').slice(-3).join(' | ')}`)));
  });
  ready.catch(() => {}); // observed by the caller; never an unhandled rejection
  return { port, child, ready, exited, output: () => output };
}

/** Stops nodes this setup started (by their process) and waits until they are gone. */
async function stopNodes(nodes: Node[]): Promise<void> {
  await Promise.all(
    nodes.map(async (node) => {
      if (node.child.exitCode !== null || node.child.signalCode !== null) return;
      node.child.kill('SIGTERM');
      const timer = setTimeout(() => node.child.kill('SIGKILL'), 5_000);
      await node.exited;
      clearTimeout(timer);
    }),
  );
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function redisCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('redis-cli', args, { encoding: 'utf8', timeout: START_TIMEOUT_MS }, (err, stdout, stderr) =>
      err ? reject(new Error(`redis-cli ${args.slice(0, 2).join(' ')} failed: ${stdout}${stderr}${err.message}`)) : resolve(stdout),
    ),
  );
}

/** Resolves once every node reports the full slot map naming every node (polled every 20 ms). */
async function clusterAgrees(ports: number[]): Promise<void> {
  const clients = ports.map((port) => new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null }));
  try {
    await Promise.all(clients.map((c) => c.connect()));
    const agrees = async () =>
      (
        await Promise.all(
          clients.map(async (c) => {
            const info = String(await c.call('CLUSTER', 'INFO'));
            const slots = JSON.stringify(await c.call('CLUSTER', 'SLOTS'));
            return info.includes('cluster_state:ok') && info.includes('cluster_slots_ok:16384') && ports.every((p) => slots.includes(String(p)));
          }),
        )
      ).every(Boolean);
    const end = Date.now() + START_TIMEOUT_MS;
    while (!(await agrees())) {
      if (Date.now() > end) throw new Error('timed out waiting for every node to agree on the cluster slots');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    for (const c of clients) c.disconnect();
  }
}

/** Starts NODES redis-servers on free ports; a node that cannot bind its ports means a new try. */
async function startNodes(dir: string): Promise<Node[]> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const nodes = (await freePorts(NODES)).map((port) => startNode(port, dir));
    try {
      await withTimeout(Promise.all(nodes.map((n) => n.ready)), START_TIMEOUT_MS, 'redis-server to accept connections');
      return nodes;
    } catch (err) {
      lastError = err;
      await stopNodes(nodes);
    }
  }
  throw new Error(`could not start ${NODES} redis-servers after ${ATTEMPTS} attempts: ${(lastError as Error).message}`);
}

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'rtp-cluster-'));
  let nodes: Node[] = [];
  // Should this process end without the teardown (a crash, Ctrl-C), its servers go with it.
  const killOwn = () => {
    for (const node of nodes) if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill('SIGKILL');
  };
  process.once('exit', killOwn);
  try {
    if (spawnSync('redis-server', ['--version']).status !== 0) throw new Error('redis-server is not installed');
    nodes = await startNodes(dir);
    const ports = nodes.map((n) => n.port);
    await redisCli(['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    // Every node must agree on the slot map before clients connect, or they meet MOVED replies.
    await clusterAgrees(ports);
    project.provide('redisClusterNodes', ports.map((p) => `127.0.0.1:${p}`).join(','));
    project.provide('redisClusterError', '');
  } catch (err) {
    project.provide('redisClusterNodes', '');
    project.provide('redisClusterError', (err as Error).message);
  }
  return async () => {
    await stopNodes(nodes);
    process.removeListener('exit', killOwn);
    rmSync(dir, { recursive: true, force: true });
  };
}
