/**
 * A SIMULATION, reusable: synthetic users drive a running platform through the gateway as real
 * clients would. Each has a history and tastes that drift (model.ts); they load their rows,
 * produce impressions, clicks and consumption from a choice model, and their plays flow back
 * through ingestEvents and trackUnitEvents. Used by `npm run simulate` (main.ts) and by
 * `npm start`'s background demo traffic (demo.ts).
 */
import { setTimeout } from 'node:timers/promises';
import type { Role } from '../lib/auth.js';
import { assertLoopback, gatewayClient } from './gateway-client.js';
import { Audience } from './model.js';
import type { SimItem, SimUser } from './model.js';
import { RESULTS_QUERY } from './report.js';

export interface SimulationCounters {
  rows: number;
  impressions: number;
  clicks: number;
  plays: number;
  errors: number;
}

export type SimulationProgress =
  | { type: 'seeded'; users: number; historyEvents: number }
  | { type: 'session'; counters: Readonly<SimulationCounters> }
  | { type: 'error'; error: Error; counters: Readonly<SimulationCounters> };

export interface SimulationOptions {
  /** The gateway's GraphQL endpoint (loopback only). */
  gatewayUrl: string;
  /** Synthetic users, ids `sim<seed>-user-<n>`: never a demo user's id. */
  users: number;
  /** How long sessions are simulated after the history is seeded. */
  durationMs: number;
  /** Stop earlier, after this many sessions. */
  maxSessions?: number;
  seed: number;
  /** Sessions in flight at once (default 8). */
  concurrency?: number;
  /** Each worker's pause between two sessions (default 0): paces a run that shares the machine. */
  pauseMs?: number;
  /** When set, the run ends by reading this experiment's results (report.ts RESULTS_QUERY). */
  experimentKey?: string;
  /** Signs the tokens: a service token for the backend's calls, a user token per synthetic user. */
  mintToken: (claims: { sub: string; role: Role }) => Promise<string>;
  /**
   * The backend's token subject (default `simulator-backend`). The gateway rate-limits per
   * subject, so a subject of its own keeps the simulation from spending another caller's rate.
   */
  serviceSubject?: string;
  /** Aborting stops the run promptly: in-flight calls are cancelled and simulate() resolves. */
  signal?: AbortSignal;
  onProgress?: (progress: SimulationProgress) => void;
}

export interface SimulationSummary extends SimulationCounters {
  /** Sessions simulated (rows loaded or tried). */
  sessions: number;
  /** True when the signal stopped the run before its end. */
  aborted: boolean;
  /** The experiment's results (RESULTS_QUERY's `experiment`), when `experimentKey` was given and the run was not aborted. */
  results?: unknown;
}

const ITEM_FIELDS = 'id kind title genres seriesId episode metadata';
const INGEST = `mutation ($events: [EventInput!]!) { ingestEvents(events: $events) { accepted rejected { code message } } }`;
const TRACK = `mutation ($events: [UnitEventInput!]!) { trackUnitEvents(events: $events) { accepted rejected { code message } } }`;
const ROW = `query ($id: ID!, $unit: String!, $limit: Int!) { user(id: $id) { recommendedFor(unitId: $unit, limit: $limit) { impressionId items { position item { ${ITEM_FIELDS} } } } } }`;
const CATALOG = `query ($after: String) { items(first: 100, after: $after) { edges { node { ${ITEM_FIELDS} } } pageInfo { hasNextPage endCursor } } }`;
const UNITS = [
  { unitId: 'home', limit: 10 },
  { unitId: 'detail:more-like-this', limit: 6 },
];

/** The synthetic users' ids for a seed (so a caller can recognise or clean them up). */
export const simulatedUserId = (seed: number, n: number) => `sim${seed}-user-${n}`;

export async function simulate(options: SimulationOptions): Promise<SimulationSummary> {
  const { gatewayUrl, users: userCount, durationMs, seed, signal, onProgress } = options;
  const concurrency = options.concurrency ?? 8;
  const pauseMs = options.pauseMs ?? 0;
  const maxSessions = options.maxSessions ?? Infinity;
  assertLoopback(gatewayUrl);
  if (!(userCount > 0) || !(concurrency > 0) || !(durationMs >= 0)) throw new Error('simulate: users and concurrency must be > 0, durationMs >= 0');

  const gql = gatewayClient(gatewayUrl, signal);
  const serviceToken = options.mintToken({ sub: options.serviceSubject ?? 'simulator-backend', role: 'service' });
  const userTokens = new Map<string, Promise<string>>();
  const userToken = (id: string) => userTokens.get(id) ?? userTokens.set(id, options.mintToken({ sub: id, role: 'user' })).get(id)!;
  const asBackend = async <T = any>(query: string, variables: Record<string, unknown> = {}) => gql<T>(query, variables, await serviceToken);

  // Event ids are unique per run: a second run with the same seed (same users, on a store that
  // remembers ids, such as Redis) is new behaviour, not duplicates.
  const run = `sim${seed}`;
  const nonce = Date.now().toString(36);
  let eventCounter = 0;
  const nextId = (kind: string) => `${run}-${nonce}-${kind}-${++eventCounter}`;
  const counters: SimulationCounters = { rows: 0, impressions: 0, clicks: 0, plays: 0, errors: 0 };
  let sessions = 0;
  const aborted = () => signal?.aborted === true;
  const summary = (): SimulationSummary => ({ ...counters, sessions, aborted: aborted() });

  const playEvent = (user: SimUser, item: SimItem, type: 'PLAY' | 'COMPLETE', at = Date.now()) => ({
    eventId: nextId('ev'),
    userId: user.id,
    type,
    occurredAt: new Date(at).toISOString(),
    item: {
      id: item.id,
      kind: item.kind,
      ...(item.title ? { title: item.title } : {}),
      genres: item.genres,
      ...(item.seriesId ? { seriesId: item.seriesId } : {}),
      ...(item.episode !== null ? { episode: item.episode } : {}),
      ...(item.metadata ? { metadata: item.metadata } : {}),
    },
  });

  async function loadCatalog(): Promise<SimItem[]> {
    const items: SimItem[] = [];
    let after: string | null = null;
    for (;;) {
      const data: any = await asBackend(CATALOG, { after });
      items.push(...data.items.edges.map((e: { node: SimItem }) => e.node));
      if (!data.items.pageInfo.hasNextPage) return items;
      after = data.items.pageInfo.endCursor;
    }
  }

  async function session(audience: Audience, user: SimUser): Promise<void> {
    audience.drift(user);
    const unit = UNITS[Math.floor(audience.random() * UNITS.length)]!;
    const data: any = await gql(ROW, { id: user.id, unit: unit.unitId, limit: unit.limit }, await userToken(user.id));
    const row = data.user.recommendedFor as { impressionId: string; items: Array<{ position: number; item: SimItem }> };
    counters.rows++;
    const unitEvents: Record<string, unknown>[] = [{ eventId: nextId('imp'), impressionId: row.impressionId, type: 'IMPRESSION' }];
    counters.impressions++;
    const events: Record<string, unknown>[] = [];
    const position = audience.choose(user, row.items.map((x) => x.item));
    if (position !== null) {
      const item = row.items[position - 1]!.item;
      const { seconds, completed } = audience.consume(user, item);
      counters.clicks++;
      unitEvents.push({ eventId: nextId('clk'), impressionId: row.impressionId, type: 'CLICK', position, itemId: item.id });
      unitEvents.push({ eventId: nextId('con'), impressionId: row.impressionId, type: 'CONSUME', position, itemId: item.id, value: seconds, completed });
      events.push(playEvent(user, item, 'PLAY'));
      if (completed) events.push(playEvent(user, item, 'COMPLETE'));
      audience.advance(user, item);
    } else if (audience.random() < 0.5) {
      // Nothing in the row appealed: the user finds something on their own.
      const item = audience.organic(user);
      events.push(playEvent(user, item, 'PLAY'));
      audience.advance(user, item);
    }
    counters.plays += events.length;
    await Promise.all([gql(TRACK, { events: unitEvents }, await userToken(user.id)), events.length > 0 ? asBackend(INGEST, { events }) : null]);
  }

  try {
    const catalog = await loadCatalog();
    if (catalog.length === 0) throw new Error('the catalog is empty');
    const audience = new Audience(catalog, seed);
    const users = Array.from({ length: userCount }, (_, i) => audience.newUser(simulatedUserId(seed, i)));

    // Yesterday: some history per user, then the nightly batch snapshot (the BASELINE's view).
    const history = users.flatMap((u) => Array.from({ length: 5 }, (_, k) => playEvent(u, audience.organic(u), 'PLAY', Date.now() - (6 - k) * 3_600_000)));
    for (let i = 0; i < history.length; i += 500) await asBackend(INGEST, { events: history.slice(i, i + 500) });
    await asBackend(`mutation { runBatchSnapshot { profiles } }`);
    onProgress?.({ type: 'seeded', users: users.length, historyEvents: history.length });

    const deadline = Date.now() + durationMs;
    let nextUser = 0;
    const worker = async () => {
      while (!aborted() && Date.now() < deadline && sessions < maxSessions) {
        const user = users[nextUser++ % users.length]!;
        sessions++;
        try {
          await session(audience, user);
          onProgress?.({ type: 'session', counters });
        } catch (err) {
          if (aborted()) return;
          counters.errors++;
          onProgress?.({ type: 'error', error: err as Error, counters });
        }
        if (pauseMs > 0 && !aborted()) await setTimeout(pauseMs, undefined, { signal }).catch(() => undefined);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    if (aborted() || !options.experimentKey) return summary();
    const results: any = await asBackend(RESULTS_QUERY, { key: options.experimentKey });
    return { ...summary(), results: results.experiment };
  } catch (err) {
    // Aborting cancels the calls in flight: that is the end of the run, not a failure.
    if (aborted()) return summary();
    throw err;
  }
}
