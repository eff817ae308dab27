/**
 * Webhook destinations of audiences (what Segment and Amplitude call syncing an audience to a
 * destination): an audience may have destinations, each an HTTP(S) endpoint that receives the
 * audience's AudienceEntered / AudienceExited changes in signed JSON batches.
 *
 * Delivery guarantees:
 * - At least once. Each destination reads the audience change log with a consumer group of its
 *   own, `audience-destination:<destinationId>`, and the log acknowledges a batch only when the
 *   handler resolves, which it does only once every change of the destination's audience in it has
 *   been accepted by the receiver (a 2xx). A failed attempt (non-2xx, timeout, network error) is
 *   retried, same batch, with exponential backoff and jitter, until it succeeds or the delivery is
 *   stopped; stopping leaves the batch unacknowledged, so it is delivered again later. Receivers
 *   therefore see duplicates and dedupe by `changeId` (unique per transition); a batch that is
 *   retried keeps its `x-audience-delivery` id, so they may also dedupe whole batches.
 * - Order: per destination, changes are posted in the order the log hands them over, one batch
 *   after the other (handler calls of one destination are serialized and a failing batch holds
 *   back the ones after it): the log keeps append order per key (the user), so each user's
 *   entered/exited sequence arrives in order. Nothing is promised across users.
 * - Isolation: one consumer group per destination, so a failing or slow receiver only delays
 *   itself; the other destinations read on.
 * - A destination added later starts at the oldest change the log still retains (a new consumer
 *   group starts there), not at "now": it gets the retained history of its audience first.
 * - Status: after every attempt the DeliveryStatusStore records the outcome (counters, last
 *   success/failure, a short error that never contains the URL or the secret) and the backlog the
 *   delivery holds (pending changes and the oldest one's time, for the lag). The backlog covers the
 *   changes the log has handed to this delivery and that are not delivered yet; with several
 *   replicas the last one to report wins.
 *
 * Signing: `x-audience-signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with
 * `x-audience-timestamp` the attempt's time in epoch milliseconds (fresh on each retry, so
 * receivers can refuse stale replays); verifySignature does the receiver's side.
 */
import { destinationFetch, destinationUrlProblem } from './destination-network.js';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { AudienceChange } from '../../../../lib/contracts/audience.js';
import { audienceChangeName } from '../../../../lib/contracts/audience.js';
import type { EventConsumer, EventLog } from '../../../../lib/eventlog/port.js';
import type { DeliveryStatus, DeliveryStatusStore } from '../store/destination-status.js';

export type { DeliveryStatus, DeliveryStatusStore } from '../store/destination-status.js';

export interface Destination {
  id: string;
  audienceId: string;
  url: string;
  /** Signs every request; never sent, logged or stored in a status. */
  secret: string;
  createdAt: number;
}

/** One change as a destination receives it. */
export interface DestinationChange {
  type: 'AudienceEntered' | 'AudienceExited';
  changeId: string;
  audienceId: string;
  userId: string;
  /** ISO 8601. */
  at: string;
  reason: AudienceChange['reason'];
  profileVersion: number;
}

/** The JSON body of a delivery. */
export interface DestinationPayload {
  destinationId: string;
  audienceId: string;
  changes: DestinationChange[];
}

export interface BackoffOptions {
  /** Wait after the first failed attempt. */
  initialMs: number;
  /** Longest wait between attempts. */
  maxMs: number;
  factor: number;
  /** Waits a random time between half the computed wait and all of it (spreads retries out). */
  jitter: boolean;
}

export interface DestinationDeliveryOptions {
  log: EventLog<AudienceChange>;
  /** The destinations to deliver to; read by sync(). */
  destinations: () => Promise<readonly Destination[]> | readonly Destination[];
  status: DeliveryStatusStore;
  /** Most changes in one request (default 100). */
  batchSize?: number;
  backoff?: Partial<BackoffOptions>;
  /** An attempt that has no response (status line) by then fails (default 5000). */
  requestTimeoutMs?: number;
  fetch?: typeof fetch;
  /**
   * Whether destinations may be on loopback, private or link-local addresses (the default false
   * refuses them, at add and at every connection: destination-network.ts).
   */
  allowPrivateNetworks?: boolean;
  now?: () => number;
  /** For the jitter (tests). */
  random?: () => number;
  userAgent?: string;
  /** Unexpected errors (the status store failing); failed attempts go to the status instead. */
  onError?: (err: unknown, destinationId?: string) => void;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 30_000, factor: 2, jitter: true };
export const DEFAULT_DESTINATION_BATCH_SIZE = 100;
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
export const DESTINATION_USER_AGENT = 'realtime-personalization-audiences/1 (+webhook destinations)';

/** The consumer group of a destination on the audience change log. */
export const destinationGroup = (destinationId: string): string => `audience-destination:${destinationId}`;

export const SIGNATURE_HEADER = 'x-audience-signature';
export const TIMESTAMP_HEADER = 'x-audience-timestamp';
export const DELIVERY_HEADER = 'x-audience-delivery';

const hmac = (secret: string, timestamp: string, body: string): string => createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');

/** `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. */
export function signBody(secret: string, timestamp: number, body: string): string {
  return `sha256=${hmac(secret, String(timestamp), body)}`;
}

/**
 * The receiver's check: the signature header matches the raw body and timestamp header (as
 * received), compared in constant time, and the timestamp (epoch ms) is within `toleranceMs` of
 * `now` (default 5 minutes; Infinity to skip).
 */
export function verifySignature(
  secret: string,
  timestamp: number | string,
  body: string,
  header: string | null | undefined,
  toleranceMs = 300_000,
  now: number = Date.now(),
): boolean {
  if (typeof header !== 'string') return false;
  const ts = Number(timestamp);
  if (String(timestamp).trim() === '' || !Number.isFinite(ts) || Math.abs(now - ts) > toleranceMs) return false;
  const expected = Buffer.from(`sha256=${hmac(secret, String(timestamp), body)}`);
  const given = Buffer.from(header.trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** What a handler of a stopped delivery rejects with: the batch stays unacknowledged (redelivered later). */
export class DeliveryStoppedError extends Error {
  constructor(destinationId: string) {
    super(`delivery to destination ${destinationId} stopped`);
    this.name = 'DeliveryStoppedError';
  }
}

/** The same batch for the same destination gets the same id, across retries and redeliveries. */
export function deliveryIdOf(destinationId: string, changes: readonly Pick<AudienceChange, 'changeId'>[]): string {
  const h = createHash('sha256').update(destinationId);
  for (const c of changes) h.update('\n').update(c.changeId);
  return `dlv_${h.digest('hex').slice(0, 32)}`;
}

export function payloadOf(destination: Pick<Destination, 'id' | 'audienceId'>, changes: readonly AudienceChange[]): DestinationPayload {
  return {
    destinationId: destination.id,
    audienceId: destination.audienceId,
    changes: changes.map((c) => ({
      type: audienceChangeName(c),
      changeId: c.changeId,
      audienceId: c.audienceId,
      userId: c.userId,
      at: new Date(c.at).toISOString(),
      reason: c.reason,
      profileVersion: c.profileVersion,
    })),
  };
}

/** Changes remembered per destination as delivered (a reclaimed batch is not posted again). */
const RECENT_DELIVERED = 10_000;
const MAX_ERROR_LENGTH = 120;

/** One handler call's changes not delivered yet. */
interface Held {
  rest: readonly AudienceChange[];
}

interface Running {
  destination: Destination;
  consumer: EventConsumer;
  stopped: boolean;
  /** Aborts the request in flight and the backoff wait. */
  abort: AbortController;
  /** Handler calls, one after the other. */
  chain: Promise<void>;
  held: Set<Held>;
  recent: Set<string>;
  backlogWrite: Promise<void> | undefined;
  backlogDirty: boolean;
}

export class DestinationDelivery {
  private readonly runs = new Map<string, Running>();
  private readonly batchSize: number;
  private readonly backoff: BackoffOptions;
  private readonly requestTimeoutMs: number;
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly userAgent: string;
  private readonly onError: (err: unknown, destinationId?: string) => void;
  private syncing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: DestinationDeliveryOptions) {
    this.batchSize = Math.max(1, Math.floor(options.batchSize ?? DEFAULT_DESTINATION_BATCH_SIZE));
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.fetch = options.fetch ?? destinationFetch(options.allowPrivateNetworks ?? false);
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.userAgent = options.userAgent ?? DESTINATION_USER_AGENT;
    this.onError = options.onError ?? ((err, id) => console.error(`audience destination ${id ?? ''} delivery failed`, err));
  }

  /**
   * (Re)reads the destinations: starts a consumer for each new one, stops the consumers of those
   * gone (and deletes their status), and picks up changed URLs and secrets on the next attempt.
   * The first call starts delivery. Calls run one after the other; nothing after stop().
   */
  sync(): Promise<void> {
    const turn = this.syncing.then(() => this.syncNow());
    this.syncing = turn.catch(() => undefined);
    return turn;
  }

  /** The ids of the destinations being delivered to. */
  destinationIds(): string[] {
    return [...this.runs.keys()];
  }

  /** Delivery status of the given destinations (default: those being delivered to). */
  statuses(destinationIds: readonly string[] = this.destinationIds()): Promise<DeliveryStatus[]> {
    return this.options.status.get(destinationIds, this.now());
  }

  /** Stops every consumer: requests in flight and backoff waits are cut short, their batches left unacknowledged. */
  async stop(): Promise<void> {
    this.closed = true;
    await this.syncing;
    const runs = [...this.runs.values()];
    this.runs.clear();
    await Promise.all(runs.map((r) => this.halt(r)));
  }

  private async syncNow(): Promise<void> {
    if (this.closed) return;
    const list = await this.options.destinations();
    if (this.closed) return;
    const wanted = new Map(list.map((d) => [d.id, d]));
    const gone = [...this.runs.values()].filter((r) => !wanted.has(r.destination.id));
    for (const run of gone) this.runs.delete(run.destination.id);
    await Promise.all(
      gone.map(async (run) => {
        await this.halt(run);
        await this.options.status.delete(run.destination.id).catch((err) => this.onError(err, run.destination.id));
      }),
    );
    for (const destination of wanted.values()) {
      const run = this.runs.get(destination.id);
      if (run) run.destination = destination;
      else this.start(destination);
    }
  }

  private start(destination: Destination): void {
    const run: Running = {
      destination,
      consumer: undefined as unknown as EventConsumer,
      stopped: false,
      abort: new AbortController(),
      chain: Promise.resolve(),
      held: new Set(),
      recent: new Set(),
      backlogWrite: undefined,
      backlogDirty: false,
    };
    this.runs.set(destination.id, run);
    // A new group starts at the oldest retained change: a destination added later gets the history.
    run.consumer = this.options.log.consume(destinationGroup(destination.id), (changes) => this.handle(run, changes));
  }

  private async halt(run: Running): Promise<void> {
    run.stopped = true;
    run.abort.abort();
    await run.consumer.stop();
    await run.chain;
    await run.backlogWrite;
  }

  /** One log batch: resolves once every change of the destination's audience in it is delivered. */
  private async handle(run: Running, changes: readonly AudienceChange[]): Promise<void> {
    const audienceId = run.destination.audienceId;
    const mine = changes.filter((c) => c.audienceId === audienceId && !run.recent.has(c.changeId));
    if (mine.length === 0) return;
    if (run.stopped) throw new DeliveryStoppedError(run.destination.id);
    const held: Held = { rest: mine };
    run.held.add(held);
    this.reportBacklog(run);
    const turn = run.chain.then(() => this.deliverAll(run, held));
    run.chain = turn.catch(() => undefined);
    await turn;
    run.held.delete(held);
    this.reportBacklog(run);
  }

  private async deliverAll(run: Running, held: Held): Promise<void> {
    // What an earlier call delivered meanwhile (the same entries handed over again) is not sent twice.
    held.rest = held.rest.filter((c) => !run.recent.has(c.changeId));
    while (held.rest.length > 0) {
      const batch = held.rest.slice(0, this.batchSize);
      await this.deliverBatch(run, batch);
      for (const c of batch) {
        run.recent.add(c.changeId);
        if (run.recent.size > RECENT_DELIVERED) run.recent.delete(run.recent.values().next().value!);
      }
      held.rest = held.rest.slice(batch.length);
      this.reportBacklog(run);
    }
  }

  /** Posts one batch until a 2xx; rejects with DeliveryStoppedError when stopped first. */
  private async deliverBatch(run: Running, batch: readonly AudienceChange[]): Promise<void> {
    const deliveryId = deliveryIdOf(run.destination.id, batch);
    for (let attempt = 1; ; attempt++) {
      if (run.stopped) throw new DeliveryStoppedError(run.destination.id);
      const destination = run.destination;
      const error = await this.attempt(run, destination, batch, deliveryId);
      const outcome = error === null ? { ok: true, delivered: batch.length, at: this.now() } : { ok: false, error, at: this.now() };
      await this.options.status.record(destination.id, outcome).catch((err) => this.onError(err, destination.id));
      if (error === null) return;
      await pause(this.delay(attempt), run.abort.signal);
    }
  }

  /** One request: null on a 2xx, else a short reason. */
  private async attempt(run: Running, destination: Destination, batch: readonly AudienceChange[], deliveryId: string): Promise<string | null> {
    const body = JSON.stringify(payloadOf(destination, batch));
    const timestamp = this.now();
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.requestTimeoutMs);
    timer.unref();
    try {
      const res = await this.fetch(destination.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [SIGNATURE_HEADER]: signBody(destination.secret, timestamp, body),
          [TIMESTAMP_HEADER]: String(timestamp),
          [DELIVERY_HEADER]: deliveryId,
          'user-agent': this.userAgent,
        },
        body,
        // A redirect is not a delivery: signed payloads go to the configured URL only.
        redirect: 'manual',
        signal: AbortSignal.any([run.abort.signal, timeout.signal]),
      });
      // The status is the answer; the body is not waited for.
      res.body?.cancel().catch(() => undefined);
      return res.status >= 200 && res.status < 300 ? null : `HTTP ${res.status}`;
    } catch (err) {
      if (run.abort.signal.aborted) throw new DeliveryStoppedError(destination.id);
      if (timeout.signal.aborted) return `timeout after ${this.requestTimeoutMs} ms`;
      return reasonOf(err, destination);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Why a destination may not have this URL (the network policy), or null. */
  urlProblem(url: URL): string | null {
    return this.options.allowPrivateNetworks ? null : destinationUrlProblem(url);
  }

  /** The wait after the `attempt`-th failure. */
  private delay(attempt: number): number {
    const { initialMs, maxMs, factor, jitter } = this.backoff;
    const base = Math.min(maxMs, initialMs * factor ** (attempt - 1));
    return jitter ? base * (0.5 + this.random() / 2) : base;
  }

  /** Writes the backlog the run holds; writes never overlap and the last state is always written. */
  private reportBacklog(run: Running): void {
    run.backlogDirty = true;
    if (run.backlogWrite) return;
    run.backlogWrite = (async () => {
      while (run.backlogDirty && !run.stopped) {
        run.backlogDirty = false;
        let pending = 0;
        let oldestAt: number | null = null;
        for (const { rest } of run.held) {
          pending += rest.length;
          for (const c of rest) if (oldestAt === null || c.at < oldestAt) oldestAt = c.at;
        }
        await this.options.status.setBacklog(run.destination.id, pending, oldestAt).catch((err) => this.onError(err, run.destination.id));
      }
    })().finally(() => (run.backlogWrite = undefined));
  }
}

/** Resolves after `ms` or as soon as `signal` aborts (the timer does not hold the process). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener('abort', done, { once: true });
  });
}

/** A network error as a short code (`ECONNREFUSED`, `ECONNRESET`, ...), never the URL or the secret. */
function reasonOf(err: unknown, destination: Destination): string {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'EPRIVATEDESTINATION') return 'refused: private address';
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code)) return code === 'UND_ERR_SOCKET' ? 'connection closed' : code;
  }
  let message = err instanceof Error ? err.message : String(err);
  for (const secret of [destination.secret, destination.url]) if (secret) message = message.split(secret).join('…');
  message = message.replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, '<url>');
  return message.length > MAX_ERROR_LENGTH ? `${message.slice(0, MAX_ERROR_LENGTH - 1)}…` : message || 'network error';
}
