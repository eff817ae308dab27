/**
 * Delivery status of audience webhook destinations: counters and the last outcome per
 * destination, written by DestinationDelivery after every attempt, read by whoever shows it.
 * Adapters: memory (the embedded platform) and Redis (one hash per destination, so every update
 * is atomic on one key and a cluster keeps it in one slot).
 */
import type { RedisClient } from '../../../../lib/redis/connection.js';

export interface DeliveryStatus {
  destinationId: string;
  /** Changes delivered (acknowledged by a 2xx), duplicates of redeliveries included. */
  delivered: number;
  /** Consecutive failed attempts (0 after a success). */
  failures: number;
  /** Failed attempts ever. */
  totalFailures: number;
  lastSuccessAt: number | null;
  lastFailureAt: number | null;
  /** The last failure's short reason (`HTTP 500`, `timeout after 5000 ms`, `ECONNREFUSED`); kept after a success. */
  lastError: string | null;
  /** now − the oldest undelivered change's `at`; 0 when caught up. */
  lagMs: number;
  /** Changes handed to the delivery and not delivered yet. */
  pending: number;
}

/** What one delivery attempt did. */
export interface DeliveryOutcome {
  ok: boolean;
  /** Changes the attempt delivered (success only). */
  delivered?: number;
  /** Why it failed (failure only): short, never a secret. */
  error?: string;
  /** When the attempt ended (epoch ms). */
  at: number;
}

export interface DeliveryStatusStore {
  /** Counts an attempt: a success adds to delivered and resets the consecutive failures. Atomic per destination. */
  record(destinationId: string, outcome: DeliveryOutcome): Promise<void>;
  /** What the delivery holds undelivered: how many changes and the oldest one's `at` (null: none). */
  setBacklog(destinationId: string, pending: number, oldestAt: number | null): Promise<void>;
  /** The status of each destination, in the order asked (zeros for one never written). */
  get(destinationIds: readonly string[], now: number): Promise<DeliveryStatus[]>;
  delete(destinationId: string): Promise<void>;
}

interface Row {
  delivered: number;
  failures: number;
  totalFailures: number;
  lastSuccessAt: number | null;
  lastFailureAt: number | null;
  lastError: string | null;
  pending: number;
  oldestAt: number | null;
}

const emptyRow = (): Row => ({ delivered: 0, failures: 0, totalFailures: 0, lastSuccessAt: null, lastFailureAt: null, lastError: null, pending: 0, oldestAt: null });

function statusOf(destinationId: string, row: Row, now: number): DeliveryStatus {
  const { oldestAt, ...rest } = row;
  return { destinationId, ...rest, lagMs: oldestAt === null ? 0 : Math.max(0, now - oldestAt) };
}

export class MemoryDeliveryStatusStore implements DeliveryStatusStore {
  private readonly rows = new Map<string, Row>();

  private row(id: string): Row {
    return this.rows.get(id) ?? this.rows.set(id, emptyRow()).get(id)!;
  }

  async record(destinationId: string, outcome: DeliveryOutcome): Promise<void> {
    const row = this.row(destinationId);
    if (outcome.ok) {
      row.delivered += outcome.delivered ?? 0;
      row.failures = 0;
      row.lastSuccessAt = outcome.at;
    } else {
      row.failures++;
      row.totalFailures++;
      row.lastFailureAt = outcome.at;
      row.lastError = outcome.error ?? 'failed';
    }
  }

  async setBacklog(destinationId: string, pending: number, oldestAt: number | null): Promise<void> {
    const row = this.row(destinationId);
    row.pending = pending;
    row.oldestAt = oldestAt;
  }

  async get(destinationIds: readonly string[], now: number): Promise<DeliveryStatus[]> {
    return destinationIds.map((id) => statusOf(id, { ...(this.rows.get(id) ?? emptyRow()) }, now));
  }

  async delete(destinationId: string): Promise<void> {
    this.rows.delete(destinationId);
  }
}

/**
 * One hash per destination, `<prefix>aud:{dest:<id>}:status`, fields as in DeliveryStatus (with
 * `oldestAt` for the lag); counters move with HINCRBY, and an attempt's fields change together
 * in one MULTI on that one key (atomic, and in one slot on a cluster).
 */
export class RedisDeliveryStatusStore implements DeliveryStatusStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  key(destinationId: string): string {
    return `${this.prefix}aud:{dest:${destinationId}}:status`;
  }

  async record(destinationId: string, outcome: DeliveryOutcome): Promise<void> {
    const key = this.key(destinationId);
    const tx = this.redis.multi();
    if (outcome.ok) {
      tx.hincrby(key, 'delivered', Math.max(0, Math.floor(outcome.delivered ?? 0)));
      tx.hset(key, 'failures', 0, 'lastSuccessAt', outcome.at);
    } else {
      tx.hincrby(key, 'failures', 1);
      tx.hincrby(key, 'totalFailures', 1);
      tx.hset(key, 'lastFailureAt', outcome.at, 'lastError', outcome.error ?? 'failed');
    }
    await exec(tx);
  }

  async setBacklog(destinationId: string, pending: number, oldestAt: number | null): Promise<void> {
    await this.redis.hset(this.key(destinationId), 'pending', pending, 'oldestAt', oldestAt === null ? '' : oldestAt);
  }

  async get(destinationIds: readonly string[], now: number): Promise<DeliveryStatus[]> {
    const hashes = await Promise.all(destinationIds.map((id) => this.redis.hgetall(this.key(id))));
    return hashes.map((h, i) => statusOf(destinationIds[i]!, rowOf(h), now));
  }

  async delete(destinationId: string): Promise<void> {
    await this.redis.del(this.key(destinationId));
  }
}

const num = (v: string | undefined): number => (v ? Number(v) || 0 : 0);
const numOrNull = (v: string | undefined): number | null => (v === undefined || v === '' ? null : Number(v));

function rowOf(h: Record<string, string>): Row {
  return {
    delivered: num(h['delivered']),
    failures: num(h['failures']),
    totalFailures: num(h['totalFailures']),
    lastSuccessAt: numOrNull(h['lastSuccessAt']),
    lastFailureAt: numOrNull(h['lastFailureAt']),
    lastError: h['lastError'] || null,
    pending: num(h['pending']),
    oldestAt: numOrNull(h['oldestAt']),
  };
}

/** Runs a MULTI and rethrows the first command error (exec resolves with them). */
async function exec(tx: ReturnType<RedisClient['multi']>): Promise<void> {
  const results = await tx.exec();
  if (!results) throw new Error('transaction aborted');
  for (const [err] of results) if (err) throw err;
}
