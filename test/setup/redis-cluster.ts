/**
 * Vitest global setup: starts a throwaway 3-master Redis Cluster on loopback ports (redis-server
 * in cluster mode, no persistence) for the contract suites, and stops it afterwards.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    redisClusterNodes: string;
    redisClusterError: string;
  }
}

const BASE_PORT = Number(process.env['REDIS_CLUSTER_TEST_PORT'] ?? 7301);

function ping(port: number): boolean {
  return spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG';
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export default async function setup(project: TestProject) {
  const ports = [BASE_PORT, BASE_PORT + 1, BASE_PORT + 2];
  const dir = mkdtempSync(join(tmpdir(), 'rtp-cluster-'));
  const children: ReturnType<typeof spawn>[] = [];
  try {
    if (spawnSync('redis-server', ['--version']).status !== 0) throw new Error('redis-server is not installed');
    for (const port of ports) {
      if (ping(port)) spawnSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave']);
      const child = spawn(
        'redis-server',
        [
          '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
          '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir,
          '--save', '', '--appendonly', 'no', '--cluster-node-timeout', '2000', '--loglevel', 'warning',
        ],
        { stdio: 'ignore' },
      );
      children.push(child);
    }
    for (const port of ports) await waitFor(() => ping(port), `redis-server on ${port}`);
    const create = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
      { encoding: 'utf8' },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    // Every node must agree on the slot map before clients connect, or they meet MOVED replies.
    const clusterReady = () =>
      ports.every((port) => {
        const info = spawnSync('redis-cli', ['-p', String(port), 'cluster', 'info'], { encoding: 'utf8' }).stdout;
        const slots = spawnSync('redis-cli', ['-p', String(port), 'cluster', 'slots'], { encoding: 'utf8' }).stdout;
        return info.includes('cluster_state:ok') && info.includes('cluster_slots_ok:16384') && ports.every((p) => slots.includes(String(p)));
      });
    await waitFor(clusterReady, 'every node to agree on the cluster slots');
    project.provide('redisClusterNodes', ports.map((p) => `127.0.0.1:${p}`).join(','));
    project.provide('redisClusterError', '');
  } catch (err) {
    project.provide('redisClusterNodes', '');
    project.provide('redisClusterError', (err as Error).message);
  }
  return async () => {
    for (const child of children) child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    rmSync(dir, { recursive: true, force: true });
  };
}
