/**
 * Redis targets for contract suites: a single Redis (REDIS_URL, default redis://127.0.0.1:6379)
 * and the Redis Cluster started by test/setup/redis-cluster.ts. Each test gets a fresh key prefix
 * and its keys are removed afterwards. Without Redis the suites are skipped locally, but fail when
 * CI=true.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, beforeAll, inject } from 'vitest';
import { connect, deleteByPrefix, scanTargets } from '../../lib/redis/connection.js';
import type { RedisClient } from '../../lib/redis/connection.js';

export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
export const CI = process.env['CI'] === 'true';

async function reachable(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

export interface RedisTarget {
  name: string;
  /** A connected client, or null when the target is unavailable (locally: skip). */
  available: () => Promise<string | null>;
  connect: () => RedisClient;
  /** A connection as an ACL user (fault-injection tests restrict what it may run). */
  connectAs: (username: string, password: string) => RedisClient;
}

export const redisTargets = (): RedisTarget[] => [
  {
    name: 'redis',
    available: async () => ((await reachable(REDIS_URL)) ? null : `no Redis at ${REDIS_URL}`),
    connect: () => connect({ url: REDIS_URL, prefix: '' }),
    connectAs: (username, password) => connect({ url: REDIS_URL, prefix: '', username, password }),
  },
  {
    name: 'redis-cluster',
    available: async () => (inject('redisClusterNodes') ? null : `no Redis Cluster: ${inject('redisClusterError')}`),
    connect: () => connect({ clusterNodes: inject('redisClusterNodes').split(','), prefix: '' }),
    connectAs: (username, password) => connect({ clusterNodes: inject('redisClusterNodes').split(','), prefix: '', username, password }),
  },
];

/** Fails under CI, skips otherwise, when a Redis target is missing. */
export async function requireTarget(target: RedisTarget, skip: (note: string) => void): Promise<boolean> {
  const problem = await target.available();
  if (!problem) return true;
  if (CI) throw new Error(`${target.name} is required when CI=true: ${problem}`);
  skip(problem);
  return false;
}

/**
 * A throwaway ACL user that may run everything but `denied` (on every master of a cluster: ACLs are
 * per node), for injecting a fault at an exact step: the commands a step needs fail with NOPERM,
 * deterministically, while every other client is unaffected. `allow` lifts the restriction.
 */
export async function restrictedUser(target: RedisTarget, admin: RedisClient, denied: readonly string[]) {
  const username = `fault-${randomUUID().slice(0, 8)}`;
  const password = randomUUID();
  await admin.ping(); // a cluster client knows its masters once it is connected
  const nodes = scanTargets(admin);
  const setUser = (...rules: string[]) => Promise.all(nodes.map((n) => n.call('ACL', 'SETUSER', username, ...rules)));
  await setUser('reset', 'on', `>${password}`, '~*', '&*', '+@all', ...denied.map((c) => `-${c}`));
  const client = target.connectAs(username, password);
  return {
    client,
    allow: async () => void (await setUser(...denied.map((c) => `+${c}`))),
    drop: async () => {
      client.disconnect();
      await Promise.all(nodes.map((n) => n.call('ACL', 'DELUSER', username)));
    },
  };
}

export const freshPrefix = () => `test:${randomUUID().slice(0, 8)}:`;

export { deleteByPrefix };

/**
 * Per-test Redis bookkeeping inside a describe for `target` (null: the memory adapters, nothing
 * to do): whether the target is there (a failure under CI), the connections a test opened and its
 * key prefix, removed after each test.
 */
export function perTestRedis(target: RedisTarget | null) {
  let available = true;
  let note = '';
  const clients: RedisClient[] = [];
  const state = {
    prefix: '',
    /** Skips (or, under CI, has already failed) the test when the target is missing. */
    require: (skip: (note: string) => void) => {
      if (!available) skip(note);
    },
    /** A new connection (the target's, or one `open` makes), closed after the test. */
    connect: (open: () => RedisClient = () => target!.connect()): RedisClient => {
      const client = open();
      clients.push(client);
      return client;
    },
    /** Starts a fresh key prefix for the test and returns it. */
    freshPrefix: () => (state.prefix = freshPrefix()),
  };
  beforeAll(async () => {
    available = target ? await requireTarget(target, (n) => (note = n)) : true;
  });
  afterEach(async () => {
    if (clients[0]) await deleteByPrefix(clients[0], state.prefix);
    await Promise.all(clients.splice(0).map((c) => c.quit()));
  });
  return state;
}

export type PerTestRedis = ReturnType<typeof perTestRedis>;
