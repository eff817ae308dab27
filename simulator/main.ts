/**
 * npm run simulate -- --users N --minutes M [--gateway URL] [--seed S] [--concurrency C]
 *
 * A SIMULATION: synthetic users drive a running platform through the gateway as real clients
 * would. Each has a history and tastes that drift; they load their home row, produce impressions,
 * clicks and consumption from a choice model, and their plays flow back through ingestEvents and
 * trackUnitEvents. It ends by printing the realtime-ranking experiment's results.
 */
import { loadAuthConfig, mintToken } from '../lib/auth.js';
import { setTimeout } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Audience } from './model.js';
import type { SimItem, SimUser } from './model.js';
import { formatResults, RESULTS_QUERY } from './report.js';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '200' },
    minutes: { type: 'string', default: '1' },
    // GATEWAY_URL, else the gateway `npm start` runs on this machine (GATEWAY_PORT, default 4000).
    gateway: { type: 'string', default: process.env['GATEWAY_URL'] ?? `http://127.0.0.1:${process.env['GATEWAY_PORT'] ?? '4000'}/graphql` },
    seed: { type: 'string', default: String(Date.now() % 100_000) },
    concurrency: { type: 'string', default: '8' },
    experiment: { type: 'string', default: 'realtime-ranking' },
  },
});
const USERS = Number(values.users);
const MINUTES = Number(values.minutes);
const CONCURRENCY = Number(values.concurrency);
const SEED = Number(values.seed);
if (!(USERS > 0 && USERS <= 100_000) || !(MINUTES > 0 && MINUTES <= 24 * 60) || !(CONCURRENCY > 0 && CONCURRENCY <= 256)) {
  console.error('simulate: --users 1..100000, --minutes > 0, --concurrency 1..256');
  process.exit(2);
}
const gateway = values.gateway;
const url = new URL(gateway);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
  console.error('simulate: only loopback gateways are allowed');
  process.exit(2);
}

// Tokens as the platform expects them, signed with its JWT_SECRET (the development default unless
// set): the backend ingests and reads results with a service token; each simulated user reads its
// row and records unit events with its own user token, as a real client would.
const auth = loadAuthConfig(process.env);
const serviceToken = await mintToken(auth, { sub: 'simulator-backend', role: 'service' });
const userTokens = new Map<string, Promise<string>>();
const userToken = (id: string) => userTokens.get(id) ?? userTokens.set(id, mintToken(auth, { sub: id, role: 'user' })).get(id)!;

/** How often a call refused by the gateway's per-caller rate limit is tried again. */
const RATE_LIMIT_RETRIES = 50;

async function gql<T = any>(query: string, variables: Record<string, unknown> = {}, token: string = serviceToken): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(gateway, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T; errors?: Array<{ message: string; extensions?: { code?: string; retryAfterMs?: number } }> };
    // The backend's one service token drives every simulated backend call: as a real client
    // would, it waits as long as the gateway says (RATE_LIMITED, retryAfterMs) and tries again.
    const limited = body.errors?.find((e) => e.extensions?.code === 'RATE_LIMITED');
    if (limited && attempt < RATE_LIMIT_RETRIES) {
      await setTimeout(Math.max(1, limited.extensions?.retryAfterMs ?? 10));
      continue;
    }
    if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join('; '));
    return body.data as T;
  }
}

const ITEM_FIELDS = 'id kind title genres seriesId episode metadata';

async function loadCatalog(): Promise<SimItem[]> {
  const items: SimItem[] = [];
  let after: string | null = null;
  for (;;) {
    const data: any = await gql(`query ($after: String) { items(first: 100, after: $after) { edges { node { ${ITEM_FIELDS} } } pageInfo { hasNextPage endCursor } } }`, { after });
    items.push(...data.items.edges.map((e: { node: SimItem }) => e.node));
    if (!data.items.pageInfo.hasNextPage) return items;
    after = data.items.pageInfo.endCursor;
  }
}

const run = `sim${SEED}`;
let eventCounter = 0;
const nextId = (kind: string) => `${run}-${kind}-${++eventCounter}`;
const counters = { rows: 0, impressions: 0, clicks: 0, plays: 0, errors: 0 };

function playEvent(user: SimUser, item: SimItem, type: 'PLAY' | 'COMPLETE', at = Date.now()) {
  return {
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
  };
}

const INGEST = `mutation ($events: [EventInput!]!) { ingestEvents(events: $events) { accepted rejected { code message } } }`;
const TRACK = `mutation ($events: [UnitEventInput!]!) { trackUnitEvents(events: $events) { accepted rejected { code message } } }`;
const ROW = `query ($id: ID!, $unit: String!, $limit: Int!) { user(id: $id) { recommendedFor(unitId: $unit, limit: $limit) { impressionId items { position item { ${ITEM_FIELDS} } } } } }`;
const UNITS = [
  { unitId: 'home', limit: 10 },
  { unitId: 'detail:more-like-this', limit: 6 },
];

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
  await Promise.all([gql(TRACK, { events: unitEvents }, await userToken(user.id)), events.length > 0 ? gql(INGEST, { events }) : null]);
}

async function main(): Promise<void> {
  console.log(`SIMULATION: ${USERS} synthetic users for ${MINUTES} min against ${gateway} (seed ${SEED}). Not real user data.`);
  const catalog = await loadCatalog();
  if (catalog.length === 0) throw new Error('the catalog is empty');
  const audience = new Audience(catalog, SEED);
  const users = Array.from({ length: USERS }, (_, i) => audience.newUser(`${run}-user-${i}`));

  // Yesterday: some history per user, then the nightly batch snapshot (the BASELINE's view).
  const history = users.flatMap((u) => Array.from({ length: 5 }, (_, k) => playEvent(u, audience.organic(u), 'PLAY', Date.now() - (6 - k) * 3_600_000)));
  for (let i = 0; i < history.length; i += 500) await gql(INGEST, { events: history.slice(i, i + 500) });
  await gql(`mutation { runBatchSnapshot { profiles } }`);
  console.log(`seeded ${history.length} history events and ran the batch snapshot; simulating sessions...`);

  const deadline = Date.now() + MINUTES * 60_000;
  let nextUser = 0;
  const worker = async () => {
    while (Date.now() < deadline) {
      const user = users[nextUser++ % users.length]!;
      try {
        await session(audience, user);
      } catch (err) {
        counters.errors++;
        if (counters.errors <= 3) console.error(`session failed: ${(err as Error).message}`);
      }
    }
  };
  const progress = setInterval(() => {
    if (process.stdout.isTTY) process.stdout.write(`\r${counters.rows} rows, ${counters.clicks} clicks, ${counters.plays} plays, ${counters.errors} errors`);
  }, 500);
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  clearInterval(progress);
  if (process.stdout.isTTY) process.stdout.write('\n');
  console.log(`done: ${counters.rows} rows served, ${counters.impressions} impressions, ${counters.clicks} clicks, ${counters.plays} play events, ${counters.errors} errors`);

  const results: any = await gql(RESULTS_QUERY, { key: values.experiment });
  console.log(formatResults(results.experiment));
}

await main();
