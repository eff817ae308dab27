/**
 * Event log on Redis Streams, partitioned by user (`{ev:<p>}` hash tags keep each partition and
 * its dedupe keys in one slot). An append claims the events' ids and adds the entry in one Lua
 * script per partition. A consumer reads every partition with one blocking XREADGROUP on a
 * dedicated connection (one per partition on a cluster), handles a few batches at a time while it
 * reads on, acknowledges each batch after the handler succeeds (a batch that keeps failing is left
 * pending without holding up the others), keeps a heartbeat key alive, and takes over the pending
 * entries of consumers whose heartbeat has lapsed (dead, not merely slow); XAUTOCLAIM after
 * reclaimIdleMs is the backstop for batches a live consumer gave up on. Delivery is at least once;
 * the profile store's ledger of applied event ids makes the effect exactly once.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Result } from 'ioredis';
import type { ProfileEvent } from '../contracts/event.js';
import { PROFILE_EVENT_KEYS } from '../contracts/event.js';
import { duplicate, isCluster } from '../redis/connection.js';
import type { RedisClient } from '../redis/connection.js';
import { PartialAppendError } from './port.js';
import type { AppendReceipt, AppendResult, EntryKeys, EventBatchHandler, EventConsumer, EventLog, GroupInfo, KeysOption, PartitionInfo } from './port.js';
import { currentTraceparent } from '../tracing.js';

const APPEND_LUA = readFileSync(new URL('./lua/append-events.lua', import.meta.url), 'utf8');
const FORGET_CONSUMER_LUA = readFileSync(new URL('./lua/forget-consumer.lua', import.meta.url), 'utf8');

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** append-events.lua: numberOfKeys, stream, dedupe keys..., retention, dedupe TTL, protected group, traceparent, events... */
    appendEvents(numberOfKeys: number, ...args: string[]): Result<[string, string], Context>;
    forgetConsumer(stream: string, group: string, consumer: string): Result<number, Context>;
  }
}

/** What the log needs to know of an entry (`keys`, profile events' by default), and its settings. */
export type StreamOptions<E = ProfileEvent> = KeysOption<E> & StreamSettings;

export interface StreamSettings {
  prefix: string;
  partitions: number;
  /** Approximate number of entries kept per partition (see protectedGroup for the exception). */
  retention: number;
  /** Entries read per XREADGROUP (an entry holds one ingest request's events for the partition). */
  batchSize: number;
  /**
   * Batches a consumer handles at the same time, per partition it reads (a limit over all of them
   * together): the next read goes out while earlier batches are still being applied, so a new
   * entry does not wait behind them.
   */
  inFlightBatches: number;
  blockMs: number;
  /** A pending entry idle this long is reclaimed by XAUTOCLAIM whoever holds it (the backstop). */
  reclaimIdleMs: number;
  reclaimEveryMs: number;
  /**
   * A consumer whose heartbeat is this old is dead: its pending entries are taken over. Live
   * consumers renew theirs every quarter of it, whatever their batches are doing.
   */
  deadAfterMs: number;
  /**
   * false: a dead consumer's pending entries wait for XAUTOCLAIM (reclaimIdleMs) instead of being
   * taken over when its heartbeat lapses (bench:takeover's peer, the rescue before heartbeats).
   */
  takeOverDead?: boolean;
  /** How long an accepted dedupe key makes a later entry a duplicate (0: no deduplication). */
  dedupeTtlMs: number;
  /**
   * A consumer group whose unprocessed entries are never trimmed, however far behind it is (the
   * profile updater: an accepted event must reach its profile). Other groups may lose entries
   * older than the retention.
   */
  protectedGroup?: string;
  onError: (err: unknown) => void;
}

export const DEFAULT_STREAM_OPTIONS: Omit<StreamOptions, 'prefix' | 'onError'> = {
  partitions: 8,
  retention: 1_000_000,
  batchSize: 500,
  inFlightBatches: 4,
  blockMs: 1000,
  reclaimIdleMs: 30_000,
  reclaimEveryMs: 5_000,
  deadAfterMs: 2_000,
  dedupeTtlMs: 7 * 86_400_000,
};

/** FNV-1a, for a stable order key (user) → partition mapping. */
export function partitionOf(userId: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < userId.length; i++) {
    h ^= userId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % partitions;
}

type StreamEntry = [id: string, fields: string[]];

/** Retries of a failed batch before it is left pending for a later pass. */
const HANDLE_RETRIES = 4;

/** Orders stream ids `ms-seq`. */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am - bm || as - bs;
}

/** The events of stream entries (field `e`: a JSON list). */
function eventsOf<E>(entries: readonly StreamEntry[]): E[] {
  const events: E[] = [];
  for (const [, fields] of entries) {
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === 'e') events.push(...(JSON.parse(fields[i + 1]!) as E[]));
    }
  }
  return events;
}

/** The distinct trace contexts of stream entries (optional field `tp`: a W3C traceparent). */
function traceparentsOf(entries: readonly StreamEntry[]): string[] {
  const found = new Set<string>();
  for (const [, fields] of entries) {
    for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'tp') found.add(fields[i + 1]!);
  }
  return [...found];
}

/** An XINFO reply row (name, value, name, value, ...) as a map. */
function fieldsOf(row: readonly unknown[]): Map<string, unknown> {
  const info = new Map<string, unknown>();
  for (let i = 0; i + 1 < row.length; i += 2) info.set(String(row[i]), row[i + 1]);
  return info;
}

export class RedisStreamEventLog<E = ProfileEvent> implements EventLog<E> {
  private readonly consumers = new Set<StreamConsumer<E>>();
  private readonly keys: EntryKeys<E>;

  constructor(
    private readonly redis: RedisClient,
    readonly options: StreamOptions<E>,
  ) {
    this.keys = options.keys ?? (PROFILE_EVENT_KEYS as unknown as EntryKeys<E>);
    redis.defineCommand('appendEvents', { lua: APPEND_LUA });
    redis.defineCommand('forgetConsumer', { numberOfKeys: 1, lua: FORGET_CONSUMER_LUA });
  }

  streamKey(partition: number): string {
    return `${this.options.prefix}{ev:${partition}}:stream`;
  }

  /** Claim of an accepted event id; in its partition's slot, so the append script can write both. */
  private dedupeKeyOf(partition: number, event: E): string {
    return `${this.options.prefix}{ev:${partition}}:seen:${this.keys.dedupeKey(event)}`;
  }

  /** The heartbeat of a consumer of a group (a key of its own: any slot). */
  heartbeatKey(group: string, consumer: string): string {
    return `${this.options.prefix}consumer:${group}:${consumer}`;
  }

  /** The names of a group's consumers (a set; those whose heartbeat lapsed are removed by the others). */
  membersKey(group: string): string {
    return `${this.options.prefix}consumers:${group}`;
  }

  async append(events: readonly E[]): Promise<AppendResult<E>> {
    const byPartition = new Map<number, E[]>();
    for (const e of events) {
      const p = partitionOf(this.keys.orderKey(e), this.options.partitions);
      (byPartition.get(p) ?? byPartition.set(p, []).get(p)!).push(e);
    }
    const partitions = [...byPartition];
    const { retention, dedupeTtlMs, protectedGroup } = this.options;
    const traceparent = currentTraceparent() ?? '';
    const results = await Promise.allSettled(
      partitions.map(([p, list]) =>
        this.redis.appendEvents(
          list.length + 1,
          this.streamKey(p),
          ...list.map((e) => this.dedupeKeyOf(p, e)),
          String(retention),
          String(dedupeTtlMs),
          protectedGroup ?? '',
          traceparent,
          ...list.map((e) => JSON.stringify(e)),
        ),
      ),
    );
    const receipt = new Map<number, string>();
    const failed: E[] = [];
    const duplicates: E[] = [];
    let cause: unknown;
    results.forEach((r, i) => {
      const [p, list] = partitions[i]!;
      if (r.status === 'rejected') {
        failed.push(...list);
        cause ??= r.reason;
        return;
      }
      const [id, flags] = r.value;
      if (id) receipt.set(p, id);
      list.forEach((e, k) => flags[k] === '0' && duplicates.push(e));
    });
    if (failed.length > 0 && failed.length === events.length) throw cause;
    if (failed.length > 0) throw new PartialAppendError(receipt, failed, duplicates, cause);
    return { receipt, duplicates };
  }

  /** Where the newest entry of each partition is: waitApplied of it waits for everything appended so far. */
  async tail(): Promise<AppendReceipt> {
    const newest = await Promise.all(
      Array.from({ length: this.options.partitions }, (_, p) => this.redis.xrevrange(this.streamKey(p), '+', '-', 'COUNT', 1) as Promise<[string, string[]][]>),
    );
    const receipt = new Map<number, string>();
    newest.forEach(([entry], p) => entry && receipt.set(p, entry[0]));
    return receipt;
  }

  /**
   * An entry is processed when the group has delivered it (last-delivered-id >= id) and no
   * consumer still holds it pending. Polls until then or the timeout.
   */
  async waitApplied(receipt: AppendReceipt, group: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let delay = 1;
    const remaining = new Map(receipt);
    while (remaining.size > 0) {
      const delivered = await this.lastDelivered(group, [...remaining.keys()]);
      await Promise.all(
        [...remaining].map(async ([p, id]) => {
          const last = delivered.get(p);
          if (!last || compareIds(last, id) < 0) return;
          const pending = (await this.redis.xpending(this.streamKey(p), group, id, id, 1)) as unknown[];
          if (pending.length === 0) remaining.delete(p);
        }),
      );
      if (remaining.size === 0) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 4);
    }
    return true;
  }

  consume(group: string, handler: EventBatchHandler<E>, consumerName = `${hostname()}-${process.pid}-${randomUUID().slice(0, 6)}`): StreamConsumer<E> {
    const consumer = new StreamConsumer(this, this.redis, group, consumerName, handler);
    this.consumers.add(consumer);
    consumer.start();
    return consumer;
  }

  /**
   * Entries the group delivered and acknowledged. Entries still pending are left out: they will be
   * handed to a consumer again (reclaimed), and must not count twice.
   */
  async *processedHistory(group: string): AsyncIterable<E[]> {
    const until = await this.lastDelivered(group);
    const pending = new Set<string>();
    for (const p of until.keys()) {
      const rows = (await this.redis.xpending(this.streamKey(p), group, '-', '+', 100_000)) as Array<[string, ...unknown[]]>;
      for (const [id] of rows) pending.add(id);
    }
    yield* this.history(until, pending);
  }

  /** Every retained event up to (and including) `untilId` on each partition, in order. */
  async *history(untilIds: Map<number, string>, skip: ReadonlySet<string> = new Set()): AsyncIterable<E[]> {
    for (let p = 0; p < this.options.partitions; p++) {
      const until = untilIds.get(p);
      if (!until || until === '0-0') continue;
      let start = '-';
      for (;;) {
        const entries = (await this.redis.xrange(this.streamKey(p), start, until, 'COUNT', 1000)) as StreamEntry[];
        if (entries.length === 0) break;
        yield eventsOf<E>(entries.filter(([id]) => !skip.has(id)));
        start = `(${entries[entries.length - 1]![0]}`;
      }
    }
  }

  /** The group's last delivered entry id on each partition. */
  async lastDelivered(group: string, partitions?: readonly number[]): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    // One XINFO per partition, sent together (auto-pipelined), not one round trip after another.
    await Promise.all(
      (partitions ?? Array.from({ length: this.options.partitions }, (_, i) => i)).map(async (p) => {
        try {
          const groups = (await this.redis.xinfo('GROUPS', this.streamKey(p))) as unknown[][];
          for (const g of groups) {
            const info = fieldsOf(g);
            if (info.get('name') === group) out.set(p, String(info.get('last-delivered-id')));
          }
        } catch {
          // no stream yet
        }
      }),
    );
    return out;
  }

  /**
   * XLEN and XINFO GROUPS of every partition, sent together (auto-pipelined). A partition with no
   * stream yet has length 0 and no groups. `lag` is Redis's (7.0 and later); it is null where
   * Redis cannot tell (an older Redis, or entries deleted from the middle of the stream).
   */
  async info(): Promise<PartitionInfo[]> {
    return Promise.all(
      Array.from({ length: this.options.partitions }, async (_, partition): Promise<PartitionInfo> => {
        const key = this.streamKey(partition);
        const [length, rows] = await Promise.all([
          this.redis.xlen(key),
          // A partition nothing was appended to has no stream yet: no groups (one round trip, no EXISTS first).
          (this.redis.xinfo('GROUPS', key) as Promise<unknown[][]>).catch((err: Error) => {
            if (/no such key/i.test(err.message)) return [];
            throw err;
          }),
        ]);
        const groups: GroupInfo[] = rows.map((row) => {
          const info = fieldsOf(row);
          const lag = info.get('lag');
          return { group: String(info.get('name')), pending: Number(info.get('pending') ?? 0), lag: lag === null || lag === undefined ? null : Number(lag) };
        });
        return { partition, length, groups };
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.stop()));
  }

  /** @internal */
  forget(consumer: StreamConsumer<E>): void {
    this.consumers.delete(consumer);
  }
}

export class StreamConsumer<E = ProfileEvent> implements EventConsumer {
  private stopped = false;
  /**
   * Stop signals of untilStopped, one per call: a blocking read is raced against the consumer
   * stopping (a connection that is reconnecting when it is closed never settles the command it
   * holds). One long-lived promise raced on every read would keep a reaction per read.
   */
  private readonly stopWaiters = new Set<() => void>();
  private readonly loops: Promise<void>[] = [];
  private readonly connections: RedisClient[] = [];
  /** Background passes (heartbeat, takeover, idle reclaim), each never overlapping itself. */
  private readonly passes: Array<{ timer: NodeJS.Timeout; running: () => Promise<void> | undefined }> = [];
  /** Passes over the group looking for dead consumers (tests wait on it). */
  livenessPasses = 0;
  /** Partitions this consumer reads new entries from (assign). */
  owned = new Set<number>();
  /** Read loops that had no partition of their own to read, woken by the next assignment. */
  private readonly idleLoops = new Set<() => void>();

  constructor(
    private readonly log: RedisStreamEventLog<E>,
    private readonly redis: RedisClient,
    readonly group: string,
    readonly name: string,
    private readonly handler: EventBatchHandler<E>,
  ) {
  }

  start(): void {
    const { partitions, reclaimEveryMs, deadAfterMs } = this.log.options;
    // The heartbeat goes out before the first read, so no entry is ever delivered to a consumer
    // that looks dead. It is renewed on a timer of its own: a slow batch does not stop it.
    const beat = this.beat().then(() => this.assign());
    for (const keys of this.readGroups(partitions)) this.loops.push(beat.then(() => this.readLoop(keys)));
    // Beats and takeover passes on timers of their own: a takeover pass slowed by a busy Redis
    // must not hold up the next beat (this consumer would look dead while it is alive).
    this.every(Math.max(10, deadAfterMs / 4), () => this.beat().then(() => this.assign()));
    if (this.log.options.takeOverDead !== false) this.every(Math.max(10, deadAfterMs / 4), () => this.takeOverDead());
    this.every(reclaimEveryMs, () => this.reclaimAll());
  }

  /** Runs `pass` every `ms`, skipping a tick while the previous pass is still running. */
  private every(ms: number, pass: () => Promise<void>): void {
    let running: Promise<void> | undefined;
    const timer = setInterval(() => {
      running ??= pass().finally(() => (running = undefined));
    }, ms);
    timer.unref();
    this.passes.push({ timer, running: () => running });
  }

  /** Renews this consumer's heartbeat and its place among the group's members (failures are retried by the next beat). */
  private async beat(): Promise<void> {
    if (this.stopped) return;
    await Promise.all([
      this.redis.set(this.log.heartbeatKey(this.group, this.name), '1', 'PX', this.log.options.deadAfterMs),
      this.redis.sadd(this.log.membersKey(this.group), this.name),
    ]).catch(() => undefined);
  }

  /**
   * Which partitions this consumer reads new entries from: its share among the group's live
   * members (partitionOwners), so that one user's events, which share a partition, go to one
   * process, whose profile cache then holds its last write (two members reading every partition
   * split each user's events between them: compare-and-set conflicts, no cache hits, 2.5x the
   * cost per event in bench:scaling). Worked out again on every beat; a member that joins or
   * dies moves only its share. While two members disagree (one beat at most) both may read a
   * partition, which delivery at least once and the idempotent writes already allow. When the
   * members cannot be read, every partition.
   */
  private async assign(): Promise<void> {
    if (this.stopped) return;
    const { partitions } = this.log.options;
    try {
      const key = this.log.membersKey(this.group);
      const names = [...new Set([...(await this.redis.smembers(key)), this.name])];
      const alive = await Promise.all(names.map((n) => (n === this.name ? Promise.resolve(1) : this.redis.exists(this.log.heartbeatKey(this.group, n)))));
      const gone = names.filter((_, i) => !alive[i]);
      if (gone.length > 0) await this.redis.srem(key, ...gone);
      const owners = partitionOwners(names.filter((_, i) => alive[i]), partitions);
      this.owned = new Set(owners.flatMap((owner, p) => (owner === this.name ? [p] : [])));
    } catch {
      this.owned = new Set(Array.from({ length: partitions }, (_, p) => p));
    }
    for (const wake of this.idleLoops) wake();
    this.idleLoops.clear();
  }

  /**
   * Takes over the pending entries of every consumer of the group whose heartbeat has lapsed, and
   * then removes those consumers from the group. A live consumer keeps its heartbeat however long
   * its batches take, so its entries stay its own.
   */
  async takeOverDead(): Promise<void> {
    const { partitions, deadAfterMs, batchSize, onError } = this.log.options;
    try {
      // Every partition's consumers in one round trip (sent together, auto-pipelined).
      const keys = Array.from({ length: partitions }, (_, p) => this.log.streamKey(p));
      const replies = await Promise.all(keys.map((key) => (this.redis.xinfo('CONSUMERS', key, this.group) as Promise<unknown[][]>).catch(() => [] as unknown[][]))); // no stream or group yet
      const held = new Map<string, { key: string; pending: number }[]>();
      replies.forEach((consumers, p) => {
        for (const c of consumers) {
          const info = fieldsOf(c);
          const name = String(info.get('name'));
          if (name === this.name) continue;
          (held.get(name) ?? held.set(name, []).get(name)!).push({ key: keys[p]!, pending: Number(info.get('pending') ?? 0) });
        }
      });
      const names = [...held.keys()];
      const alive = await Promise.all(names.map((n) => this.redis.exists(this.log.heartbeatKey(this.group, n))));
      for (const [i, name] of names.entries()) {
        if (alive[i] || this.stopped) continue;
        for (const { key, pending } of held.get(name)!) {
          // Entries delivered to it at least half a heartbeat ago: a consumer that was alive then
          // has since renewed, so these are a dead one's (and another taker's fresh claims are not).
          for (let left = pending; left > 0 && !this.stopped; ) {
            const rows = (await this.redis.xpending(key, this.group, 'IDLE', Math.floor(deadAfterMs / 2), '-', '+', batchSize, name)) as Array<[string, ...unknown[]]>;
            if (rows.length === 0) break;
            const entries = (await this.redis.xclaim(key, this.group, this.name, Math.floor(deadAfterMs / 2), ...rows.map(([id]) => id))) as StreamEntry[];
            // Claimed from a dead consumer: delivered before.
            await this.handleWithRetries(key, entries.filter((e) => e && e[1]), true);
            left -= rows.length;
          }
          await this.redis.forgetConsumer(key, this.group, name);
        }
      }
    } catch (err) {
      if (!String((err as Error).message).includes('NOGROUP')) onError(err);
    } finally {
      this.livenessPasses++;
    }
  }

  /**
   * The partition streams one XREADGROUP covers. One Redis: every partition (one wake-up collects
   * what several partitions received). A cluster spreads partitions over slots: one each.
   */
  private readGroups(partitions: number): string[][] {
    const keys = Array.from({ length: partitions }, (_, p) => this.log.streamKey(p));
    return isCluster(this.redis) ? keys.map((key) => [key]) : [keys];
  }

  /** XREADGROUP for this consumer on `conn`; `args` from BLOCK or STREAMS on. */
  private xreadgroup(conn: RedisClient, args: (string | number)[]): Promise<Array<[string, StreamEntry[]]> | null> {
    return conn.call('XREADGROUP', 'GROUP', this.group, this.name, 'COUNT', this.log.options.batchSize, ...args) as Promise<Array<[string, StreamEntry[]]> | null>;
  }

  /**
   * Handles the entries this consumer was delivered on `keys` and never acknowledged (before a
   * restart, a read error or a stop), in order per partition, until none is left. A batch that
   * keeps failing is passed over: it stays pending for XAUTOCLAIM. A null read ends the pass.
   */
  private async drainOwnPending(keys: readonly string[], read: (args: (string | number)[]) => Promise<Array<[string, StreamEntry[]]> | null>): Promise<void> {
    // Per partition, the id after which its own pending entries are read next.
    const after = new Map(keys.map((key) => [key, '0']));
    while (after.size > 0) {
      const reply = new Map((await read(['STREAMS', ...after.keys(), ...after.values()])) ?? []);
      for (const key of [...after.keys()]) {
        const entries = reply.get(key) ?? [];
        if (entries.length === 0) after.delete(key);
        else {
          after.set(key, entries[entries.length - 1]![0]);
          // This consumer's own pending entries: delivered before.
          await this.handleWithRetries(key, entries, true);
        }
      }
    }
  }

  private async ensureGroup(key: string): Promise<void> {
    try {
      // From the start of the retained stream, so a new group sees history.
      await this.redis.xgroup('CREATE', key, this.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
  }

  private async handle(key: string, entries: readonly StreamEntry[], redelivered: boolean): Promise<void> {
    if (entries.length === 0) return;
    // Entries trimmed away while pending come back as [id, null]: nothing to apply, but acknowledge.
    const present = entries.filter(([, fields]) => Array.isArray(fields));
    if (present.length < entries.length) {
      this.log.options.onError(new Error(`${entries.length - present.length} pending entries of ${key} were trimmed before they were applied`));
    }
    const events = eventsOf<E>(present);
    if (events.length > 0) await this.handler(events, { traceparents: traceparentsOf(present), redelivered });
    await this.redis.xack(key, this.group, ...entries.map(([id]) => id));
  }

  /**
   * `handle` with a few retries (100 ms, then doubling). A batch that still fails is reported and
   * left pending: the next pass over this consumer's own pending entries (after a read error) or
   * XAUTOCLAIM (after reclaimIdleMs) delivers it again. It does not hold up other batches.
   */
  private async handleWithRetries(key: string, entries: readonly StreamEntry[], redelivered: boolean): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.handle(key, entries, redelivered || attempt > 0);
        return;
      } catch (err) {
        if (attempt >= HANDLE_RETRIES || this.stopped) {
          this.log.options.onError(err);
          return;
        }
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }
  }

  /** Reads the given partitions' streams and hands each partition's entries to `handle`. */
  private async readLoop(keys: readonly string[]): Promise<void> {
    const { blockMs, onError, inFlightBatches, partitions } = this.log.options;
    const partitionOfKey = new Map(Array.from({ length: partitions }, (_, p) => [this.log.streamKey(p), p]));
    // A blocking read holds its connection, so each loop gets one of its own.
    const conn = duplicate(this.redis);
    this.connections.push(conn);
    const read = (args: (string | number)[]) => {
      const reply = this.xreadgroup(conn, args);
      reply.catch(() => undefined); // when stopping wins the race
      return this.untilStopped(reply);
    };
    let ready = false;
    let backlog = true; // first the entries this consumer name left pending
    // Batches being handled while the loop reads on: inFlightBatches per partition read, in all.
    const inFlight = new Set<Promise<void>>();
    const maxInFlight = inFlightBatches * keys.length;
    while (!this.stopped) {
      try {
        if (!ready) {
          await Promise.all(keys.map((key) => this.ensureGroup(key)));
          ready = true;
        }
        if (backlog) {
          await this.drainOwnPending(keys, read);
          backlog = false;
          continue;
        }
        if (inFlight.size >= maxInFlight) {
          await Promise.race(inFlight);
          continue;
        }
        const mine = keys.filter((key) => this.owned.has(partitionOfKey.get(key)!));
        if (mine.length === 0) {
          // Every partition of this loop is another member's: wait for the next assignment.
          let wake!: () => void;
          const moved = new Promise<void>((r) => this.idleLoops.add((wake = r)));
          const timer = setTimeout(wake, blockMs);
          await this.untilStopped(moved);
          clearTimeout(timer);
          this.idleLoops.delete(wake);
          continue;
        }
        const reply = (await read(['BLOCK', blockMs, 'STREAMS', ...mine, ...mine.map(() => '>')])) ?? [];
        if (this.stopped) break;
        for (const [key, entries] of reply) {
          if (entries.length === 0) continue;
          // New entries (`>`): their first delivery.
          const handling: Promise<void> = this.handleWithRetries(key, entries, false).finally(() => inFlight.delete(handling));
          inFlight.add(handling);
        }
      } catch (err) {
        // A read failed (Redis away, or back without the group): let the batches in flight finish,
        // then go over this consumer's own pending entries again before reading new ones.
        await Promise.all(inFlight);
        if (this.stopped) break;
        // A Redis that came back empty has lost the group: create it again.
        if (String((err as Error).message).includes('NOGROUP')) ready = false;
        else onError(err);
        backlog = true;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    await Promise.all(inFlight);
  }

  /** Takes over entries another consumer left pending for longer than reclaimIdleMs. */
  async reclaimAll(): Promise<void> {
    const { partitions, reclaimIdleMs, batchSize, onError } = this.log.options;
    for (let p = 0; p < partitions && !this.stopped; p++) {
      const key = this.log.streamKey(p);
      let cursor = '0-0';
      try {
        do {
          const [next, entries, deleted] = (await this.redis.xautoclaim(key, this.group, this.name, reclaimIdleMs, cursor, 'COUNT', batchSize)) as [
            string,
            StreamEntry[],
            string[] | undefined,
          ];
          cursor = next;
          if (deleted?.length) onError(new Error(`${deleted.length} pending entries of ${key} were trimmed before they were applied`));
          // Reclaimed: delivered to a consumer before, which never acknowledged them.
          await this.handle(key, entries.filter((e) => e && e[1]), true);
        } while (cursor !== '0-0' && !this.stopped);
      } catch (err) {
        if (!String((err as Error).message).includes('NOGROUP')) onError(err);
      }
    }
  }

  /** `p`, or null as soon as the consumer stops, whichever is first; leaves nothing behind once settled. */
  private untilStopped<T>(p: Promise<T>): Promise<T | null> {
    if (this.stopped) return Promise.resolve(null);
    let wake!: () => void;
    const stopped = new Promise<null>((resolve) => this.stopWaiters.add((wake = () => resolve(null))));
    return Promise.race([p, stopped]).finally(() => this.stopWaiters.delete(wake));
  }

  /** Stops reading, reclaiming and beating. */
  private halt(): void {
    this.stopped = true;
    for (const wake of this.stopWaiters) wake();
    this.stopWaiters.clear();
    for (const { timer } of this.passes) clearInterval(timer);
  }

  /** Stops reading; entries being handled finish (and are acknowledged) first. */
  async stop(): Promise<void> {
    this.halt();
    // Out of the members first, so the others take this share at their next beat; the heartbeat
    // stays until the entries it holds are handled (they are not taken over meanwhile).
    await this.redis.srem(this.log.membersKey(this.group), this.name).catch(() => undefined);
    await Promise.all(this.passes.map((p) => p.running()));
    for (const c of this.connections) c.disconnect();
    await Promise.allSettled(this.loops);
    await this.handleOwnPending();
    // Gone: whatever it still holds (Redis was away) is taken over without waiting for the beat to lapse.
    await this.redis.del(this.log.heartbeatKey(this.group, this.name)).catch(() => undefined);
    this.log.forget(this);
  }

  /**
   * Disconnecting under a blocking XREADGROUP can lose a reply whose entries Redis had already
   * delivered to this consumer (and a loop that stops right after a read skips what it read):
   * those entries would wait, pending, until another consumer reclaims them after reclaimIdleMs.
   * On a graceful stop they are handled (and acknowledged) here instead, on the shared connection.
   */
  private async handleOwnPending(): Promise<void> {
    for (const keys of this.readGroups(this.log.options.partitions)) {
      try {
        await this.drainOwnPending(keys, (args) => this.xreadgroup(this.redis, args));
      } catch (err) {
        if (String((err as Error).message).includes('NOGROUP')) continue;
        // Redis is away: the entries stay pending for XAUTOCLAIM.
        this.log.options.onError(err);
        return;
      }
    }
  }

  /** Test hook: dies like a killed process, without finishing or acknowledging anything. */
  kill(): void {
    this.halt();
    for (const c of this.connections) c.disconnect();
    this.log.forget(this);
  }
}

/**
 * The member that reads each partition (index = partition): the live members in name order take
 * the partitions in turn, so each reads partitions ÷ members of them (rounded). Members see the
 * same list and agree without talking; a member that joins or leaves moves up to all partitions
 * once, which at-least-once delivery and the idempotent writes absorb.
 */
export function partitionOwners(members: readonly string[], partitions: number): string[] {
  const sorted = [...new Set(members)].sort();
  return Array.from({ length: partitions }, (_, p) => sorted[p % sorted.length] ?? '');
}
