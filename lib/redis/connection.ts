/**
 * Redis connections for every store: one Redis (`REDIS_URL=redis://host:port/db`) or a Redis
 * Cluster (`REDIS_CLUSTER_NODES=host:port,host:port`). Keys carry hash tags so that every
 * multi-key operation stays in one slot. Commands issued in the same tick are pipelined.
 */
import { Cluster, Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';

export type RedisClient = Redis | Cluster;

/**
 * Redis errors of this process, by kind: `connection` (the connection reported an error: refused,
 * reset, failed over), `command` (a command got no answer: the connection was down past its retry
 * or closed under it) and `reply` (Redis answered with an error: NOPERM, OOM, READONLY, ...).
 * Replies the code expects and handles on purpose (BUSYGROUP on creating an existing group,
 * NOSCRIPT before a script is loaded, `no such key` from XINFO on a partition with no stream yet) and commands cut short by our own disconnect() do not count.
 * Every service's /metrics reads these (redis_command_errors_total; lib/metrics.ts): services
 * that share a process share its connections, so they show the same counts.
 */
export const redisErrorCounts = { connection: 0, command: 0, reply: 0 };

const EXPECTED_REPLY = /^(BUSYGROUP|NOSCRIPT)|^ERR no such key/;
const instrumented = new WeakSet<object>();

/** What countErrors sees of an ioredis Command. */
interface SentCommand {
  name: string;
  args: unknown[];
  reject: (err: Error) => void;
}

/** Counts the client's errors (redisErrorCounts); each client once. */
function countErrors<C extends RedisClient>(client: C): C {
  if (instrumented.has(client)) return client;
  instrumented.add(client);
  client.on('error', () => void redisErrorCounts.connection++);
  const send = client.sendCommand.bind(client) as (command: SentCommand, ...rest: unknown[]) => unknown;
  // A command can be sent more than once (a cluster's redirection, the offline queue): counted once.
  const seen = new WeakSet<object>();
  (client as unknown as { sendCommand: typeof send }).sendCommand = (command, ...rest) => {
    // CLIENT SETINFO, which ioredis sends on connecting, is refused by Redis before 7.2 (and ignored).
    if (!seen.has(command) && !(command.name === 'client' && /^setinfo$/i.test(String(command.args[0])))) {
      seen.add(command);
      // Wrapping the command's reject (rather than a catch on its promise) costs nothing when it succeeds.
      const reject = command.reject;
      command.reject = (err) => {
        if (client.status !== 'end') {
          if (err?.name === 'ReplyError') {
            if (!EXPECTED_REPLY.test(err.message)) redisErrorCounts.reply++;
          } else redisErrorCounts.command++;
        }
        reject(err);
      };
    }
    return send(command, ...rest);
  };
  return client;
}

/**
 * A key (or channel) of one user's data: `<prefix>{u:<user id>}:<name>`. The user id is the hash
 * tag, so everything of one user (profile, ledger, snapshot, alias, its ProfileUpdated channel)
 * shares a cluster slot and one Lua script may touch it all. Built here only.
 */
export const userKey = (prefix: string, userId: string, name: string): string => `${prefix}{u:${userId}}:${name}`;

export interface RedisSettings {
  url?: string | undefined;
  clusterNodes?: string[] | undefined;
  /** Prepended to every key (tests use a fresh one each). */
  prefix: string;
  /** ACL user and password (a cluster has no URL to carry them; for one Redis they override the URL's). */
  username?: string | undefined;
  password?: string | undefined;
}

export function redisSettingsFromEnv(env: NodeJS.ProcessEnv): RedisSettings | null {
  const clusterNodes = env['REDIS_CLUSTER_NODES']?.split(',').map((s) => s.trim()).filter(Boolean);
  const url = env['REDIS_URL'];
  if (!url && !clusterNodes?.length) return null;
  return { url, clusterNodes, prefix: env['REDIS_PREFIX'] ?? 'rtp:', username: env['REDIS_USERNAME'] || undefined, password: env['REDIS_PASSWORD'] || undefined };
}

const common: RedisOptions = {
  enableAutoPipelining: true,
  // Fail commands quickly while Redis is away (callers turn that into retryable errors) and keep
  // reconnecting in the background, so everything recovers on its own.
  maxRetriesPerRequest: 1,
  enableOfflineQueue: true,
  retryStrategy: (attempt) => Math.min(50 * attempt, 2000),
  lazyConnect: false,
};

export function connect(settings: RedisSettings): RedisClient {
  const credentials: RedisOptions = {
    ...(settings.username ? { username: settings.username } : {}),
    ...(settings.password ? { password: settings.password } : {}),
  };
  if (settings.clusterNodes?.length) {
    return countErrors(new Cluster(
      settings.clusterNodes.map((n) => {
        const [host, port] = n.split(':');
        return { host: host!, port: Number(port) };
      }),
      {
        // ioredis does not follow MOVED redirections inside auto-pipelines, which a cluster can
        // answer while its slot map settles: commands go one by one (still in flight together).
        enableAutoPipelining: false,
        // Sharded pub/sub (SSUBSCRIBE) needs a subscriber per shard, which ioredis manages.
        shardedSubscribers: true,
        redisOptions: { ...common, ...credentials, enableAutoPipelining: false },
        clusterRetryStrategy: (attempt) => Math.min(100 * attempt, 2000),
      },
    ));
  }
  return countErrors(new Redis(settings.url!, { ...common, ...credentials }));
}

/**
 * A second connection (blocking reads and subscriptions need their own). Connection errors are
 * reported by the commands that fail; ioredis keeps reconnecting.
 */
export function duplicate(client: RedisClient): RedisClient {
  const copy = countErrors(client.duplicate() as RedisClient);
  copy.on('error', () => undefined);
  return copy;
}

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/** Masters to run a SCAN on (a cluster spreads keys over several). */
export function scanTargets(client: RedisClient): Redis[] {
  return isCluster(client) ? client.nodes('master') : [client];
}

/** Every key matching `pattern`, page by page. */
export async function* scanKeys(client: RedisClient, pattern: string, count = 500): AsyncIterable<string[]> {
  // A cluster client learns its masters once connected: before that it would list none.
  if (isCluster(client) && client.status !== 'ready') await client.ping();
  for (const node of scanTargets(client)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }
}

/** Removes every key under `prefix` (a test's or a benchmark run's keys). */
export async function deleteByPrefix(client: RedisClient, prefix: string): Promise<void> {
  for await (const keys of scanKeys(client, `${prefix}*`, 1000)) await Promise.all(keys.map((k) => client.del(k)));
}
