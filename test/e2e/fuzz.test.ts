/**
 * Fuzzing the public entry points with fast-check (fixed seed, so every run sends the same
 * traffic): malformed events to POST /v1/events and to Mutation.ingestEvents through the gateway,
 * and malformed GraphQL requests to the gateway, interleaved with a known sequence of valid events
 * for a few control users. Every malformed item must be answered with a 4xx or a GraphQL error
 * carrying extensions.code (per rejected event in a batch, while the valid events next to it are
 * accepted), nothing may answer 5xx, the services stay up, and the control users' profiles must
 * equal those of a reference platform that received only the valid events. Malformed requests
 * that carry otherwise valid "poison" events for the control users (a batch over the limit, a
 * wrong content type, a user token, ...) must be refused whole: if any of those events were
 * applied, the profiles would differ from the reference.
 *
 * Runs with authentication on (a service token) and the ingest and request rate limits off.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform, tokenFor } from '../helpers/platform.js';
import { DEFAULT_GATEWAY_BODY_LIMIT } from '../../gateway/src/config.js';
import type { TestPlatform } from '../helpers/platform.js';

const SEED = 20_261_125;
const ENV = { AUTH_DISABLED: '0', INGEST_RATE_LIMIT: '0', GATEWAY_RATE_LIMIT: '0' };
const CONCURRENCY = 6;
/** Control events happen at T0 + i minutes (fixed for both runs). */
const T0 = Date.now() - 3 * 86_400_000;
const EVENT_TYPES = ['VIEW', 'PLAY', 'COMPLETE', 'CLICK', 'ADD_TO_CART', 'REMOVE_FROM_CART', 'PURCHASE', 'RATE', 'LIKE', 'DISLIKE', 'SKIP', 'SEARCH', 'IDENTIFY'];

type Json = Record<string, unknown>;
const CONTROL_USERS = ['fz-ctl-a', 'fz-ctl-b', 'fz-ctl-c', 'fz-ctl-d'];

// --- the valid traffic ---------------------------------------------------------------------

const MOVIES = [
  { id: 'fz-m-1', kind: 'MOVIE', title: 'Harbor Lights', genres: ['Crime', 'Drama'], metadata: { director: 'Ada Lind', year: 2019 } },
  { id: 'fz-m-2', kind: 'MOVIE', title: 'Laugh Lines', genres: ['Comedy'], metadata: { director: 'Bo Berg' } },
  { id: 'fz-m-3', kind: 'MOVIE', title: 'Red Planet', genres: ['Sci-Fi', 'Action'], metadata: { cast: ['Cy', 'Di'] } },
];
const PRODUCT = { id: 'fz-p-1', kind: 'PRODUCT', title: 'Headphones', category: 'Electronics/Audio', sku: 'FZ-HP-1', metadata: { brand: 'Aurora' } };

/** 96 valid events, 24 per control user, of every shape the reducer folds. */
function controlEvents(): Json[] {
  return Array.from({ length: 96 }, (_, i) => {
    const userId = CONTROL_USERS[i % CONTROL_USERS.length]!;
    const at = T0 + i * 60_000;
    const base = { eventId: `fz-ctl-${i}`, userId, occurredAt: i % 2 ? new Date(at).toISOString() : at };
    const movie = MOVIES[i % MOVIES.length]!;
    switch (Math.floor(i / 4) % 8) {
      case 0: return { ...base, type: 'PLAY', item: movie };
      case 1: return { ...base, type: 'VIEW', item: PRODUCT };
      case 2: return { ...base, type: 'PURCHASE', item: PRODUCT, properties: { quantity: 1 + (i % 3) } };
      case 3: return { ...base, type: 'RATE', item: movie, properties: { rating: 0.5 + (i % 10) / 2 } };
      case 4: return { ...base, type: 'COMPLETE', item: { id: `fz-ep-${i}`, kind: 'EPISODE', title: `Episode ${i}`, genres: ['Drama'], seriesId: 'fz-series', episode: 1 + (i % 7) } };
      case 5: return { ...base, type: 'LIKE', item: movie };
      case 6: return { ...base, type: 'SKIP', item: movie };
      default: return { ...base, type: 'IDENTIFY', traits: { plan: i % 3 ? 'gold' : 'free', seen: i } };
    }
  });
}

/** A valid event for a control user that must never be applied (it rides in refused requests). */
let poisonCount = 0;
const poison = (): Json => ({
  eventId: `fz-poison-${poisonCount++}`,
  userId: CONTROL_USERS[poisonCount % CONTROL_USERS.length],
  type: 'PLAY',
  occurredAt: T0,
  item: { id: 'fz-m-poison', kind: 'MOVIE', title: 'Poison', genres: ['Horror'] },
});

// --- malformed events ----------------------------------------------------------------------

/**
 * One defect applied to an otherwise valid event, with the rejection code it must get. `gql` says
 * what the same defect does through GraphQL: `event` (rejected alone, same code), `request` (the
 * whole request fails the gateway's variable coercion: BAD_USER_INPUT), `subgraph` (a value of
 * the custom DateTime scalar that only the profile subgraph's coercion refuses) or `none` (coerced
 * into a valid value, for example an Int eventId becomes an ID: not sent through GraphQL).
 */
interface Defect {
  name: string;
  apply: (e: Json) => unknown;
  code: string;
  gql: 'event' | 'request' | 'subgraph' | 'none';
}

const set = (path: string, value: unknown) => (e: Json) => {
  const copy = structuredClone(e);
  const keys = path.split('.');
  let target: any = copy;
  for (const k of keys.slice(0, -1)) target = target[k] ??= {};
  if (value === undefined) delete target[keys.at(-1)!];
  else target[keys.at(-1)!] = value;
  return copy;
};
/**
 * JSON text placed as is into a request body: nesting too deep for JSON.stringify (this process
 * cannot serialize it either) is written by hand.
 */
class RawJson {
  static readonly texts: string[] = [];
  readonly key: string;
  constructor(text: string) {
    this.key = `@@raw-json-${RawJson.texts.push(text) - 1}@@`;
  }
  toJSON() {
    return this.key;
  }
}
/** JSON.stringify, with RawJson values spliced in. */
const serialize = (value: unknown) => JSON.stringify(value).replace(/"@@raw-json-(\d+)@@"/g, (_, i: string) => RawJson.texts[Number(i)]!);
const deepJsonText = (levels: number) => `${'['.repeat(levels)}1${']'.repeat(levels)}`;

const nested = (levels: number): unknown => {
  let v: unknown = 'leaf';
  for (let i = 0; i < levels; i++) v = i % 2 ? { n: v } : [v];
  return v;
};
const notAString = fc.oneof(fc.double({ noNaN: true }).filter((n) => !Number.isInteger(n)), fc.boolean(), fc.constant(null), fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }), fc.array(fc.string(), { maxLength: 3 }));
const junkText = fc.string({ maxLength: 40, unit: 'binary' });
const hugeString = fc.integer({ min: 600, max: 20_000 }).map((n) => 'x'.repeat(n));
const controlChar = fc.tuple(fc.string({ maxLength: 10 }), fc.integer({ min: 0, max: 31 }), fc.string({ maxLength: 10 })).map(([a, c, b]) => `${a}${String.fromCharCode(c)}${b}`);
const blank = fc.constantFrom('', ' ', '   ', '\t');

function idDefects(field: 'eventId' | 'userId', code: string): fc.Arbitrary<Defect>[] {
  return [
    fc.constant<Defect>({ name: `${field} missing`, apply: set(field, undefined), code, gql: 'request' }),
    blank.map((v) => ({ name: `${field} blank`, apply: set(field, v), code, gql: 'event' as const })),
    fc.integer({ min: 129, max: 5000 }).map((n) => ({ name: `${field} of ${n} chars`, apply: set(field, 'i'.repeat(n)), code, gql: 'event' as const })),
    controlChar.map((v) => ({ name: `${field} with a control character`, apply: set(field, v), code, gql: 'event' as const })),
    fc.integer().map((v) => ({ name: `${field} an integer`, apply: set(field, v), code, gql: 'none' as const })),
    notAString.map((v) => ({ name: `${field} ${JSON.stringify(v)}`, apply: set(field, v), code, gql: 'request' as const })),
  ];
}

const defectArb: fc.Arbitrary<Defect> = fc.oneof(
  ...idDefects('eventId', 'EVENT_ID_INVALID'),
  ...idDefects('userId', 'USER_ID_INVALID'),
  fc.oneof(fc.string({ maxLength: 20 }).filter((s) => !EVENT_TYPES.includes(s)), fc.constantFrom('play', 'Purchase', 'VIEW ')).map((t) => ({ name: `type ${JSON.stringify(t)}`, apply: set('type', t), code: 'TYPE_INVALID', gql: 'request' as const })),
  fc.anything().filter((t) => typeof t !== 'string').map((t) => ({ name: 'type junk', apply: set('type', t), code: 'TYPE_INVALID', gql: 'none' as const })),
  junkText.map((s) => ({ name: 'occurredAt junk text', apply: set('occurredAt', `x${s}`), code: 'OCCURRED_AT_INVALID', gql: 'event' as const })),
  fc.constantFrom('2025-01-01T10:00:00', '2025-13-45T10:00:00Z', '2025-06-01 10:00:00Z', '1999-12-31T23:59:59Z', 'yesterday', '').map((s) => ({ name: `occurredAt ${s}`, apply: set('occurredAt', s), code: 'OCCURRED_AT_INVALID', gql: 'event' as const })),
  fc.integer({ min: 1, max: 1_900_000_000 }).map((n) => ({ name: `occurredAt ${n} (seconds?)`, apply: set('occurredAt', n), code: 'OCCURRED_AT_INVALID', gql: 'event' as const })),
  fc.oneof(fc.double({ min: 8.7e15, max: 1e308, noNaN: true }), fc.double({ min: -1e308, max: -1, noNaN: true })).map((n) => ({ name: `occurredAt ${n}`, apply: set('occurredAt', n), code: 'OCCURRED_AT_INVALID', gql: 'event' as const })),
  fc.integer({ min: 3_600_000, max: 100 * 365 * 86_400_000 }).map((ahead) => ({ name: 'occurredAt in the future', apply: set('occurredAt', new Date(Date.now() + ahead).toISOString()), code: 'OCCURRED_AT_IN_FUTURE', gql: 'event' as const })),
  fc.constant<Defect>({ name: 'occurredAt null', apply: set('occurredAt', null), code: 'OCCURRED_AT_INVALID', gql: 'request' }),
  // DateTime is a custom scalar: the gateway passes any value on, the profile subgraph refuses it.
  fc.oneof(fc.boolean(), fc.dictionary(fc.string(), fc.integer(), { maxKeys: 2 })).map((v) => ({ name: `occurredAt ${JSON.stringify(v)}`, apply: set('occurredAt', v), code: 'OCCURRED_AT_INVALID', gql: 'subgraph' as const })),
  fc.constantFrom(undefined, null).map((v) => ({ name: `item ${v}`, apply: set('item', v), code: 'ITEM_REQUIRED', gql: 'event' as const })),
  fc.oneof(fc.string(), fc.integer(), fc.array(fc.integer())).map((v) => ({ name: 'item not an object', apply: set('item', v), code: 'ITEM_INVALID', gql: 'request' as const })),
  blank.map((v) => ({ name: 'item.id blank', apply: set('item.id', v), code: 'ITEM_INVALID', gql: 'event' as const })),
  fc.string({ maxLength: 12 }).filter((k) => !['MOVIE', 'SERIES', 'EPISODE', 'PRODUCT', 'ARTICLE', 'MUSIC', 'LIVE'].includes(k)).map((k) => ({ name: `item.kind ${k}`, apply: set('item.kind', k), code: 'ITEM_INVALID', gql: 'request' as const })),
  fc.array(fc.oneof(fc.integer(), fc.boolean(), fc.constant(null)), { minLength: 1, maxLength: 3 }).map((g) => ({ name: 'item.genres not strings', apply: set('item.genres', ['Drama', ...g]), code: 'ITEM_INVALID', gql: 'request' as const })),
  fc.constant<Defect>({ name: 'item.genres a string', apply: set('item.genres', 'Drama'), code: 'ITEM_INVALID', gql: 'none' }),
  blank.map((g) => ({ name: 'item.genres with a blank genre', apply: set('item.genres', ['Drama', g]), code: 'ITEM_INVALID', gql: 'event' as const })),
  fc.integer({ min: 21, max: 200 }).map((n) => ({ name: `${n} genres`, apply: set('item.genres', Array.from({ length: n }, (_, i) => `g${i}`)), code: 'ITEM_INVALID', gql: 'event' as const })),
  hugeString.map((s) => ({ name: `item.title of ${s.length} chars`, apply: set('item.title', s), code: 'ITEM_INVALID', gql: 'event' as const })),
  fc.integer({ min: 65, max: 400 }).map((n) => ({ name: 'a genre over 64 chars', apply: set('item.genres', ['g'.repeat(n)]), code: 'ITEM_INVALID', gql: 'event' as const })),
  fc.constant<Defect>({ name: 'EPISODE without series', apply: set('item', { id: 'fz-ep', kind: 'EPISODE', episode: 2 }), code: 'ITEM_INVALID', gql: 'event' }),
  fc.oneof(fc.integer({ max: -1 }), fc.integer({ min: 100_001 })).map((n) => ({ name: `episode ${n}`, apply: set('item', { id: 'fz-ep', kind: 'EPISODE', seriesId: 's', episode: n }), code: 'ITEM_INVALID', gql: 'event' as const })),
  fc.double({ min: 0.1, max: 50, noNaN: true }).filter((n) => !Number.isInteger(n)).map((n) => ({ name: `episode ${n}`, apply: set('item', { id: 'fz-ep', kind: 'EPISODE', seriesId: 's', episode: n }), code: 'ITEM_INVALID', gql: 'request' as const })),
  fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.dictionary(fc.string(), fc.integer(), { minKeys: 1, maxKeys: 2 }), { minKeys: 1, maxKeys: 3 }).map((m) => ({ name: 'item.metadata nested', apply: set('item.metadata', m), code: 'METADATA_INVALID', gql: 'event' as const })),
  fc.oneof(fc.array(fc.string()), fc.string(), fc.integer()).map((m) => ({ name: 'item.metadata not an object', apply: set('item.metadata', m), code: 'METADATA_INVALID', gql: 'event' as const })),
  fc.integer({ min: 4100, max: 30_000 }).map((n) => ({ name: 'item.metadata over 4 KB', apply: set('item.metadata', { blob: 'm'.repeat(n) }), code: 'METADATA_TOO_LARGE', gql: 'event' as const })),
  fc.oneof(fc.array(fc.jsonValue()), fc.string(), fc.integer(), fc.boolean()).map((v) => ({ name: 'properties not an object', apply: set('properties', v), code: 'PROPERTIES_INVALID', gql: 'event' as const })),
  fc.integer({ min: 4100, max: 30_000 }).map((n) => ({ name: 'properties over 4 KB', apply: set('properties', { blob: 'p'.repeat(n) }), code: 'PROPERTIES_INVALID', gql: 'event' as const })),
  // Deeper than the 32 levels allowed, still shallow enough for GraphQL variables (64 levels).
  fc.integer({ min: 33, max: 55 }).map((n) => ({ name: `properties nested ${n} levels`, apply: set('properties', { deep: nested(n) }), code: 'PROPERTIES_INVALID', gql: 'event' as const })),
  // Deeper than JSON.stringify can go (this was a 500 for the whole batch).
  fc.integer({ min: 5000, max: 20_000 }).map((n) => ({ name: `traits nested ${n} levels`, apply: (e: Json) => ({ ...e, type: 'IDENTIFY', traits: { deep: new RawJson(deepJsonText(n)) } }), code: 'TRAITS_INVALID', gql: 'request' as const })),
  fc.oneof(fc.constant(undefined), fc.constant({}), fc.array(fc.string()), fc.string()).map((t) => ({ name: `IDENTIFY traits ${JSON.stringify(t)}`, apply: (e: Json) => ({ ...e, type: 'IDENTIFY', traits: t }), code: 'TRAITS_INVALID', gql: 'event' as const })),
  fc.integer({ min: 8300, max: 30_000 }).map((n) => ({ name: 'traits over 8 KB', apply: (e: Json) => ({ ...e, type: 'IDENTIFY', traits: { blob: 't'.repeat(n) } }), code: 'TRAITS_INVALID', gql: 'event' as const })),
  fc.oneof(fc.constant(undefined), fc.double({ min: 5.01, max: 1e6, noNaN: true }), fc.double({ min: -1e6, max: 0.49, noNaN: true }), fc.constant('5')).map((r) => ({ name: `RATE rating ${r}`, apply: (e: Json) => ({ ...e, type: 'RATE', properties: r === undefined ? {} : { rating: r } }), code: 'RATING_INVALID', gql: 'event' as const })),
  fc.oneof(fc.integer({ min: -100, max: 0 }), fc.constant(1.5), fc.constant('2')).map((q) => ({ name: `PURCHASE quantity ${q}`, apply: (e: Json) => ({ ...e, type: 'PURCHASE', properties: { quantity: q } }), code: 'PROPERTIES_INVALID', gql: 'event' as const })),
  fc.oneof(fc.integer(), fc.string(), fc.boolean(), fc.constant(null), fc.array(fc.jsonValue(), { maxLength: 3 })).map((v) => ({ name: `event ${JSON.stringify(v).slice(0, 30)}`, apply: () => v, code: 'EVENT_INVALID', gql: 'request' as const })),
);

interface MalformedEvent {
  event: unknown;
  defect: Defect;
}

/** Malformed events: a valid base (for a control user half of the time, sometimes with a control eventId) plus one defect. */
function malformedEvents(count: number, seed: number, ids: string[]): MalformedEvent[] {
  const arb = fc.record({ user: fc.nat(7), id: fc.nat(), reuseId: fc.nat(ids.length - 1), reuse: fc.boolean(), movie: fc.nat(2), defect: defectArb });
  return fc.sample(arb, { seed, numRuns: count }).map(({ user, id, reuseId, reuse, movie, defect }) => {
    const base: Json = {
      // A rejected event must not claim its id: reusing the ids of valid control events checks that.
      eventId: reuse ? ids[reuseId] : `fz-bad-${id}`,
      userId: user < 4 ? CONTROL_USERS[user] : `fz-other-${user}`,
      type: 'PLAY',
      occurredAt: new Date(T0).toISOString(),
      item: structuredClone(MOVIES[movie]),
    };
    return { event: defect.apply(base), defect };
  }).filter((m) => !/"(__proto__|constructor|prototype)"/.test(serialize(m.event) ?? ''));
}

/** The rejection the service must report for a malformed event at `index`. */
function rejection(m: MalformedEvent, index: number) {
  const e = m.event as Json | null;
  const eventId = typeof e === 'object' && e !== null && !Array.isArray(e) && typeof e['eventId'] === 'string' ? (e['eventId'] as string).slice(0, 256) : null;
  return { index, eventId, code: m.defect.code, message: expect.any(String) };
}

/** Deterministic shuffle (seeded) of valid and malformed events into one batch. */
function mix(valid: Json[], bad: MalformedEvent[], seed: number) {
  const slots: Array<{ valid: Json } | { bad: MalformedEvent }> = [...valid.map((v) => ({ valid: v })), ...bad.map((b) => ({ bad: b }))];
  const order = fc.sample(fc.shuffledSubarray(slots.map((_, i) => i), { minLength: slots.length, maxLength: slots.length }), { seed, numRuns: 1 })[0]!;
  const shuffled = order.map((i) => slots[i]!);
  return {
    events: shuffled.map((s) => ('valid' in s ? s.valid : s.bad.event)),
    rejected: shuffled.flatMap((s, i) => ('bad' in s ? [rejection(s.bad, i)] : [])),
  };
}

// --- HTTP and GraphQL plumbing -------------------------------------------------------------

interface Answer {
  status: number;
  body: any;
}

async function send(url: string, init: RequestInit): Promise<Answer> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: kept as text (and the assertions say so)
  }
  return { status: res.status, body };
}

const INGEST = 'mutation ($events: [EventInput!]!) { ingestEvents(events: $events) { accepted duplicates rejected { index eventId code message } } }';

/** Error codes in an answer: GraphQL errors' extensions.code, or the services' `{ error: { code } }`. */
function codesOf(body: any): string[] {
  if (Array.isArray(body?.errors)) return body.errors.map((e: any) => e?.extensions?.code);
  if (typeof body?.error?.code === 'string') return [body.error.code];
  return [];
}

/** A refused request: 4xx with a code, or a GraphQL answer whose every error has a code; never 5xx. */
function expectRefused(what: string, answer: Answer, codes?: string[]) {
  const context = `${what} (seed ${SEED}): ${answer.status} ${JSON.stringify(answer.body).slice(0, 400)}`;
  const found = codesOf(answer.body);
  expect(answer.status < 500, context).toBe(true);
  if (answer.status === 200) expect(answer.body?.errors?.length, context).toBeGreaterThan(0);
  else expect(answer.status >= 400, context).toBe(true);
  expect(found.length, context).toBeGreaterThan(0);
  expect(found.every((c) => typeof c === 'string' && c.length > 0), context).toBe(true);
  if (codes) expect(codes, context).toContain(found[0]);
}

async function pool<T>(items: readonly T[], concurrency: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await run(items[next++]!);
    }),
  );
}

const PROFILE = /* GraphQL */ `
  query ($id: ID!) {
    user(id: $id) {
      profile {
        version eventCount firstSeenAt lastEventAt traits
        genreAffinities(limit: 50) { key score count lastSeenAt }
        categoryAffinities(limit: 50) { key score count lastSeenAt }
        facetAffinities(limit: 30) { facet affinities { key score count lastSeenAt } }
        series(limit: 50) { seriesId title lastEpisode episodesWatched watchedCount lastWatchedAt }
        skus(limit: 100) { sku viewed addedToCart purchased lastSeenAt }
        recentItems(limit: 50) { item { itemId kind title genres category sku seriesId episode metadata } lastEventType lastEventAt interactions }
      }
    }
  }
`;

// --- the runs ------------------------------------------------------------------------------

/** Control events in slots of one or two, each sent alone or inside a mixed batch (the same slots for the reference). */
const CONTROL = controlEvents();
const SLOTS: Json[][] = [];
for (let i = 0; i < CONTROL.length; ) {
  const size = 1 + (i % 3);
  SLOTS.push(CONTROL.slice(i, i + size));
  i += size;
}
const CONTROL_IDS = CONTROL.map((e) => e['eventId'] as string);

async function controlProfiles(p: TestPlatform, auth: Record<string, string>) {
  const out: Record<string, unknown> = {};
  for (const id of CONTROL_USERS) {
    const res = await p.query(PROFILE, { id }, auth);
    expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
    out[id] = res.data.user.profile;
  }
  return out;
}

describe('fuzz: malformed events and GraphQL requests next to valid traffic', () => {
  let fuzzed: TestPlatform;
  let reference: TestPlatform;
  let auth: Record<string, string>;
  let userAuth: Record<string, string>;
  const counts = { malformedEvents: 0, graphqlRequests: 0, malformedGraphql: 0, eventRequests: 0 };

  beforeAll(async () => {
    auth = { authorization: `Bearer ${await tokenFor('fuzz-producer', 'service')}` };
    userAuth = { authorization: `Bearer ${await tokenFor('fz-someone', 'user')}` };
    fuzzed = await startTestPlatform({ env: ENV });
  });
  afterAll(async () => {
    await fuzzed?.close();
    await reference?.close();
  });

  it('answers every malformed item with a 4xx or a coded error, and leaves the valid traffic intact', async () => {
    const eventsUrl = `${fuzzed.profile.url}/v1/events`;
    const gatewayUrl = fuzzed.gatewayUrl;
    const postEvents = (body: string, headers: Record<string, string> = {}, query = '') =>
      send(`${eventsUrl}${query}`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth, ...headers }, body });
    const postGraphql = (body: string, headers: Record<string, string> = {}) =>
      send(gatewayUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...auth, ...headers }, body });

    // Malformed events: per-event defects over HTTP, the GraphQL-compatible ones through the gateway.
    const httpBad = malformedEvents(900, SEED + 1, CONTROL_IDS);
    const gqlPerEvent = malformedEvents(1500, SEED + 2, CONTROL_IDS).filter((m) => m.defect.gql === 'event').slice(0, 450);
    const gqlPerRequest = malformedEvents(900, SEED + 3, CONTROL_IDS).filter((m) => m.defect.gql === 'request' || m.defect.gql === 'subgraph').slice(0, 150);

    expect(httpBad.length).toBeGreaterThanOrEqual(880);
    expect(gqlPerEvent).toHaveLength(450);
    expect(gqlPerRequest).toHaveLength(150);

    // Control slots round-robin: HTTP alone, HTTP mixed, GraphQL alone, GraphQL mixed.
    const httpMixedQueue = [...httpBad.slice(0, 500)];
    const gqlMixedQueue = [...gqlPerEvent.slice(0, 250)];
    const perHttpMixed = Math.ceil(httpMixedQueue.length / SLOTS.filter((_, k) => k % 4 === 1).length);
    const perGqlMixed = Math.ceil(gqlMixedQueue.length / SLOTS.filter((_, k) => k % 4 === 3).length);
    const controlTasks = SLOTS.map((events, k) => async () => {
      const channel = k % 4;
      if (channel === 0 || channel === 1) {
        const bad = channel === 1 ? httpMixedQueue.splice(0, perHttpMixed) : [];
        const batch = mix(events, bad, SEED + 100 + k);
        const res = await postEvents(serialize({ events: batch.events }));
        counts.malformedEvents += bad.length;
        counts.eventRequests++;
        expect(res.status, JSON.stringify(res.body).slice(0, 400)).toBe(200);
        expect(res.body).toEqual({ accepted: events.length, duplicates: 0, rejected: batch.rejected, applied: true });
      } else {
        const bad = channel === 3 ? gqlMixedQueue.splice(0, perGqlMixed) : [];
        const batch = mix(events, bad, SEED + 200 + k);
        const res = await postGraphql(serialize({ query: INGEST, variables: { events: batch.events } }));
        counts.malformedEvents += bad.length;
        counts.graphqlRequests++;
        expect(res.status, JSON.stringify(res.body).slice(0, 400)).toBe(200);
        expect(res.body).toEqual({ data: { ingestEvents: { accepted: events.length, duplicates: 0, rejected: batch.rejected } } });
      }
    });

    const malformedTasks: Array<() => Promise<void>> = [];

    // HTTP batches of malformed events only: 400, every event rejected with its code.
    const httpOnlyBad = httpBad.slice(500);
    for (let i = 0; i < httpOnlyBad.length; i += 10) {
      const bad = httpOnlyBad.slice(i, i + 10);
      malformedTasks.push(async () => {
        const batch = mix([], bad, SEED + 300 + i);
        const res = await postEvents(serialize({ events: batch.events }));
        counts.malformedEvents += bad.length;
        counts.eventRequests++;
        expect(res.status, JSON.stringify(res.body).slice(0, 400)).toBe(400);
        expect(res.body).toEqual({ accepted: 0, duplicates: 0, rejected: batch.rejected, applied: true });
      });
    }

    // ingestEvents with only per-event defects: every event rejected with its code.
    const gqlOnlyBad = gqlPerEvent.slice(250);
    for (let i = 0; i < gqlOnlyBad.length; i += 8) {
      const bad = gqlOnlyBad.slice(i, i + 8);
      malformedTasks.push(async () => {
        const batch = mix([], bad, SEED + 400 + i);
        const res = await postGraphql(serialize({ query: INGEST, variables: { events: batch.events } }));
        counts.malformedEvents += bad.length;
        counts.graphqlRequests++;
        expect(res.body, `seed ${SEED}`).toEqual({ data: { ingestEvents: { accepted: 0, duplicates: 0, rejected: batch.rejected } } });
      });
    }

    // ingestEvents whose variables do not coerce: the whole request is refused, poison included.
    gqlPerRequest.forEach((m, i) => {
      malformedTasks.push(async () => {
        const res = await postGraphql(serialize({ query: INGEST, variables: { events: [poison(), m.event, poison()] } }));
        counts.malformedEvents++;
        counts.graphqlRequests++;
        const what = `ingestEvents with ${m.defect.name} (#${i})`;
        if (m.defect.gql === 'request') {
          expectRefused(what, res, ['BAD_USER_INPUT']);
          expect(res.status, what).toBe(400);
        } else {
          // Refused by the subgraph with a 400 BAD_USER_INPUT, which the gateway passes on as the
          // subgraph's own GraphQL error (refused whole, with its code).
          expectRefused(what, res);
          expect(res.status, what).toBe(200);
          expect(res.body.data, what).toBeNull();
          const inner = res.body.errors[0].extensions?.response?.body?.errors?.[0]?.extensions?.code ?? res.body.errors[0].extensions?.code;
          expect(inner, what).toBe('BAD_USER_INPUT');
        }
      });
    });

    // Requests to /v1/events refused whole (each carries valid poison events for control users).
    const batchLevel: Array<{ name: string; run: () => Promise<Answer>; status: number; code: string }> = [];
    for (const [i, text] of fc.sample(fc.string({ maxLength: 200, unit: 'binary' }), { seed: SEED + 4, numRuns: 60 }).entries()) {
      batchLevel.push({ name: `invalid JSON #${i}`, run: () => postEvents(`${text}{`), status: 400, code: 'MALFORMED_JSON' });
    }
    for (const [i, cut] of fc.sample(fc.integer({ min: 1, max: 300 }), { seed: SEED + 5, numRuns: 40 }).entries()) {
      const full = JSON.stringify({ events: [poison(), poison()] });
      batchLevel.push({ name: `truncated JSON #${i}`, run: () => postEvents(full.slice(0, Math.min(cut, full.length - 1))), status: 400, code: 'MALFORMED_JSON' });
    }
    for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', 'application/json-seq']) {
      batchLevel.push({ name: `content-type ${type}`, run: () => postEvents(JSON.stringify({ events: [poison()] }), { 'content-type': type }), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    }
    for (const body of ['[]', '{}', 'null', '42', '"events"', '{"events":"x"}', '{"events":{}}', '{"event":[]}', '{"events":null}', `[${JSON.stringify({ events: [poison()] })}]`]) {
      batchLevel.push({ name: `body ${body.slice(0, 30)}`, run: () => postEvents(body), status: 400, code: 'BATCH_INVALID' });
    }
    batchLevel.push({ name: '__proto__ in the body', run: () => postEvents(`{"events":[${JSON.stringify(poison())}],"__proto__":{"polluted":true}}`), status: 400, code: 'MALFORMED_JSON' });
    batchLevel.push({ name: 'constructor.prototype in an event', run: () => postEvents(`{"events":[{"eventId":"fz-proto","userId":"fz-ctl-a","type":"IDENTIFY","occurredAt":${T0},"traits":{"constructor":{"prototype":{"x":1}}}}]}`), status: 400, code: 'MALFORMED_JSON' });
    for (const n of [1001, 1500]) {
      batchLevel.push({ name: `${n} events`, run: () => postEvents(JSON.stringify({ events: Array.from({ length: n }, poison) })), status: 413, code: 'BATCH_TOO_LARGE' });
    }
    batchLevel.push({ name: 'a body over 1 MB', run: () => postEvents(JSON.stringify({ events: [{ ...poison(), properties: { blob: 'b'.repeat(1_100_000) } }] })), status: 413, code: 'PAYLOAD_TOO_LARGE' });
    for (const wait of ['?wait=yes', '?wait=', '?wait=applied&wait=applied']) {
      batchLevel.push({ name: `query ${wait}`, run: () => postEvents(JSON.stringify({ events: [poison()] }), {}, wait), status: 400, code: 'BAD_REQUEST' });
    }
    for (const [name, authorization, status, code] of [
      ['no token', '', 401, 'UNAUTHENTICATED'],
      ['a junk token', 'Bearer not.a.jwt', 401, 'UNAUTHENTICATED'],
      ['Basic credentials', 'Basic Zm9vOmJhcg==', 401, 'UNAUTHENTICATED'],
      ['a user token', userAuth['authorization']!, 403, 'FORBIDDEN'],
    ] as const) {
      batchLevel.push({ name, run: () => postEvents(JSON.stringify({ events: [poison()] }), { authorization }), status, code });
    }
    for (const c of batchLevel) {
      malformedTasks.push(async () => {
        const res = await c.run();
        counts.eventRequests++;
        expectRefused(`POST /v1/events: ${c.name}`, res, [c.code]);
        expect(res.status, c.name).toBe(c.status);
      });
    }

    // Malformed GraphQL requests to the gateway.
    for (const g of graphqlCases(userAuth)) {
      malformedTasks.push(async () => {
        const res = await send(`${gatewayUrl}${g.search ?? ''}`, {
          method: g.method ?? 'POST',
          headers: { ...(g.method === 'GET' ? { accept: 'application/json' } : { 'content-type': 'application/json' }), ...auth, ...g.headers },
          ...(g.body !== undefined ? { body: g.body } : {}),
        });
        counts.graphqlRequests++;
        counts.malformedGraphql++;
        expectRefused(`GraphQL: ${g.name}`, res, g.codes);
      });
    }

    // Interleave: each control slot runs alongside its share of the malformed traffic.
    const order = fc.sample(fc.shuffledSubarray(malformedTasks.map((_, i) => i), { minLength: malformedTasks.length, maxLength: malformedTasks.length }), {
      seed: SEED + 6,
      numRuns: 1,
    })[0]!;
    const perSlot = Math.ceil(order.length / controlTasks.length);
    const started = performance.now();
    for (let k = 0; k < controlTasks.length; k++) {
      const share = order.slice(k * perSlot, (k + 1) * perSlot).map((i) => malformedTasks[i]!);
      await Promise.all([controlTasks[k]!(), pool(share, CONCURRENCY, (task) => task())]);
    }
    const elapsed = performance.now() - started;

    expect(httpMixedQueue).toEqual([]);
    expect(gqlMixedQueue).toEqual([]);
    expect(counts.malformedEvents).toBeGreaterThanOrEqual(1000);
    expect(counts.malformedGraphql).toBeGreaterThanOrEqual(1000);
    console.log(`fuzz (seed ${SEED}): ${counts.malformedEvents} malformed events, ${counts.malformedGraphql} malformed GraphQL requests (${counts.graphqlRequests} GraphQL requests in all), ${counts.eventRequests} /v1/events requests in ${Math.round(elapsed)} ms`);

    // Still up and answering.
    for (const url of [`${fuzzed.gateway.url}/health`, `${fuzzed.profile.url}/health`, `${fuzzed.recommendations.url}/health`, `${fuzzed.experiments.url}/health`]) {
      expect((await fetch(url)).status, url).toBe(200);
    }

    // The control users' profiles are exactly those of a platform that only got the valid events.
    reference = await startTestPlatform({ env: ENV });
    for (const events of SLOTS) {
      const res = await send(`${reference.profile.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ events }) });
      expect(res.body).toMatchObject({ accepted: events.length, rejected: [] });
    }
    const expected = await controlProfiles(reference, auth);
    const actual = await controlProfiles(fuzzed, auth);
    for (const id of CONTROL_USERS) expect((actual[id] as { version: number }).version).toBe(24);
    expect(actual).toEqual(expected);
  }, 120_000);
});

// --- malformed GraphQL requests ------------------------------------------------------------

interface GraphqlCase {
  name: string;
  method?: 'GET' | 'POST';
  search?: string;
  headers?: Record<string, string>;
  body?: string;
  /** The first error's code must be one of these. */
  codes?: string[];
}

const PARSE = ['GRAPHQL_PARSE_FAILED'];
const INVALID = ['GRAPHQL_VALIDATION_FAILED'];
const PARSE_OR_INVALID = ['GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED'];
const VALID_DOCS = [
  '{ user(id: "fz-ctl-a") { id profile { version genreAffinities(limit: 3) { key score } } } }',
  'query Row($id: ID!) { user(id: $id) { recommendedFor(limit: 5) { items { item { title } } } } }',
  'mutation { runBatchSnapshot { startedAt } }',
  '{ items(first: 3) { edges { node { id title } } } }',
];
const gqlBody = (query: unknown, extra: Record<string, unknown> = {}) => JSON.stringify({ query, ...extra });

function graphqlCases(userAuth: Record<string, string>): GraphqlCase[] {
  const cases: GraphqlCase[] = [];
  const sample = <T>(arb: fc.Arbitrary<T>, k: number, n: number) => fc.sample(arb, { seed: SEED + 1000 + k, numRuns: n });

  // Syntax errors: random text and documents cut short, both ending in an unclosed `(`.
  for (const s of sample(fc.string({ maxLength: 80, unit: 'binary' }), 1, 200)) cases.push({ name: `junk ${JSON.stringify(s)}`, body: gqlBody(`query { ${s} (`), codes: PARSE });
  for (const [doc, cut] of sample(fc.tuple(fc.constantFrom(...VALID_DOCS), fc.nat()), 2, 120)) {
    const text = doc.slice(0, 1 + (cut % (doc.length - 1)));
    cases.push({ name: `cut short: ${text}`, body: gqlBody(`${text} (`), codes: PARSE });
  }
  // Unknown fields, arguments and types.
  const name = fc.stringMatching(/^[a-zA-Z0-9_]{1,30}$/).map((s) => `zz${s}`);
  for (const [n, where] of sample(fc.tuple(name, fc.nat(3)), 3, 140)) {
    const doc = [`{ ${n} }`, `{ user(id: "fz-ctl-a") { ${n} } }`, `{ user(id: "fz-ctl-a") { profile { version ${n} } } }`, `{ user(id: "fz-ctl-a", ${n}: 1) { id } }`][where]!;
    cases.push({ name: doc, body: gqlBody(doc), codes: INVALID });
  }
  for (const doc of ['{ user { id } }', '{ user(id: 5.5) { id } }', '{ user(id: ["a"]) { id } }', '{ user(id: "x") }', 'query ($x: Nope) { user(id: $x) { id } }', '{ user(id: $undeclared) { id } }', 'mutation { ingestEvents { accepted } }', '{ __typename @skip(if: "yes") }', '{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }', 'subscription { zzNope }']) {
    cases.push({ name: doc, body: gqlBody(doc), codes: INVALID });
  }
  // Variables of the wrong type, or missing.
  const badId = fc.oneof(fc.double({ noNaN: true }).filter((n) => !Number.isInteger(n)), fc.boolean(), fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }), fc.array(fc.string(), { minLength: 1, maxLength: 2 }), fc.constant(null));
  for (const v of sample(badId, 4, 100)) cases.push({ name: `$id = ${JSON.stringify(v)}`, body: gqlBody('query ($id: ID!) { user(id: $id) { id } }', { variables: { id: v } }), codes: ['BAD_USER_INPUT'] });
  const badInt = fc.oneof(fc.string(), fc.double({ noNaN: true }).filter((n) => !Number.isInteger(n)), fc.constantFrom(2 ** 31, 2 ** 40, Number.MAX_SAFE_INTEGER), fc.boolean(), fc.dictionary(fc.string(), fc.integer(), { maxKeys: 1 }));
  for (const v of sample(badInt, 5, 60)) {
    cases.push({ name: `$limit = ${JSON.stringify(v)}`, body: gqlBody('query ($limit: Int) { user(id: "fz-ctl-a") { profile { genreAffinities(limit: $limit) { key } } } }', { variables: { limit: v } }), codes: ['BAD_USER_INPUT'] });
  }
  cases.push({ name: 'a required variable missing', body: gqlBody('query ($id: ID!) { user(id: $id) { id } }'), codes: ['BAD_USER_INPUT'] });
  // Arguments the resolvers refuse (a GraphQL error with a code next to null data).
  for (const limit of sample(fc.oneof(fc.integer({ max: -1 }), fc.integer({ min: 101, max: 1e9 })), 6, 30)) {
    cases.push({ name: `limit ${limit}`, body: gqlBody(`{ user(id: "fz-ctl-a") { profile { genreAffinities(limit: ${limit}) { key } } } }`), codes: ['BAD_USER_INPUT'] });
  }
  for (const id of ['', ' ', 'u'.repeat(129)]) cases.push({ name: `user id ${JSON.stringify(id).slice(0, 20)}`, body: gqlBody('query ($id: ID!) { user(id: $id) { profile { version } } }', { variables: { id } }), codes: ['BAD_USER_INPUT', 'USER_ID_INVALID'] });
  // Deep nesting: of selections, of list literals, of variables.
  for (const n of sample(fc.integer({ min: 13, max: 6000 }), 7, 40)) {
    cases.push({ name: `selections nested ${n} deep`, body: gqlBody(`{ user(id: "x") { ${'zz { '.repeat(n)}id${' }'.repeat(n + 1)} }`), codes: PARSE_OR_INVALID });
    cases.push({ name: `list literal nested ${n} deep`, body: gqlBody(`{ user(id: ${'['.repeat(n)}"x"${']'.repeat(n)}) { id } }`), codes: PARSE_OR_INVALID });
  }
  for (const n of sample(fc.integer({ min: 65, max: 20_000 }), 8, 20)) {
    cases.push({ name: `variables nested ${n} deep`, body: `{"query":${JSON.stringify(INGEST)},"variables":{"events":[{"eventId":"fz-deep","userId":"fz-ctl-a","type":"IDENTIFY","occurredAt":${T0},"traits":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}]}}`, codes: ['BAD_USER_INPUT'] });
  }
  // Aliases: many, huge, conflicting.
  for (const [n, huge] of sample(fc.tuple(fc.integer({ min: 16, max: 600 }), fc.boolean()), 9, 40)) {
    const alias = huge ? 'a'.repeat(2000) : 'a';
    const body = gqlBody(`{ ${Array.from({ length: n }, (_, i) => `${alias}${i}: user(id: "u${i}") { zzUnknown }`).join(' ')} }`);
    // Over the gateway's body limit (what the subgraphs accept, about 1.06 MB) it is refused before parsing.
    cases.push({ name: `${n} aliases${huge ? ' with huge names' : ''}`, body, codes: body.length > DEFAULT_GATEWAY_BODY_LIMIT ? ['PAYLOAD_TOO_LARGE'] : PARSE_OR_INVALID });
  }
  cases.push({ name: 'conflicting aliases', body: gqlBody('{ a: user(id: "1") { id } a: user(id: "2") { id } }'), codes: INVALID });
  // Bodies that are not a GraphQL request.
  for (const s of sample(fc.string({ maxLength: 100, unit: 'binary' }), 10, 80)) cases.push({ name: `non-JSON ${JSON.stringify(s).slice(0, 40)}`, body: `${s}{`, codes: ['MALFORMED_JSON'] });
  for (const body of ['', 'null', '42', '"query"', '{}', '{"query":null}', '{"query":42}', '{"query":{"kind":"Document"}}', '{"query":["{ __typename }"]}', '{"query":"{ __typename }","variables":"{}"}', '{"query":"{ __typename }","variables":[1]}', '{"query":"{ __typename }","extensions":"x"}', '{"query":"{ __typename }","operationName":5}']) {
    cases.push({ name: `body ${body}`, body, codes: ['BAD_REQUEST', 'MALFORMED_JSON'] });
  }
  // Operations that cannot be resolved, subscriptions over HTTP (these were 500s), unknown persisted queries.
  cases.push({ name: 'unknown operationName', body: gqlBody('{ __typename }', { operationName: 'Nope' }), codes: ['OPERATION_RESOLUTION_FAILURE'] });
  cases.push({ name: 'two operations, no operationName', body: gqlBody('query A { __typename } query B { __typename }'), codes: ['OPERATION_RESOLUTION_FAILURE'] });
  cases.push({ name: 'subscription over HTTP', body: gqlBody('subscription { profileUpdated(userId: "fz-ctl-a") { version } }'), codes: ['BAD_REQUEST'] });
  cases.push({ name: 'unknown persisted query', body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } } }), codes: ['PERSISTED_QUERY_NOT_FOUND', 'PERSISTED_QUERY_NOT_SUPPORTED'] });
  // Batched arrays.
  for (const n of sample(fc.integer({ min: 1, max: 5 }), 11, 30)) cases.push({ name: `batch of ${n}`, body: JSON.stringify(Array.from({ length: n }, () => ({ query: '{ __typename }' }))), codes: ['BAD_REQUEST'] });
  // GET with junk.
  for (const s of sample(fc.string({ maxLength: 60 }), 12, 60)) {
    cases.push({ name: `GET query=${s}(`, method: 'GET', search: `?query=${encodeURIComponent(`{ ${s} (`)}`, headers: { 'apollo-require-preflight': 'true' }, codes: PARSE });
    cases.push({ name: `GET junk ${s}`, method: 'GET', search: `?zz${encodeURIComponent(s)}=${encodeURIComponent(s)}`, headers: { 'apollo-require-preflight': 'true' }, codes: ['BAD_REQUEST'] });
  }
  cases.push({ name: 'GET without a preflight header (CSRF)', method: 'GET', search: `?query=${encodeURIComponent('{ __typename }')}`, headers: {}, codes: ['BAD_REQUEST'] });
  cases.push({ name: 'GET mutation', method: 'GET', search: `?query=${encodeURIComponent('mutation { runBatchSnapshot { startedAt } }')}`, headers: { 'apollo-require-preflight': 'true' }, codes: ['BAD_REQUEST'] });
  cases.push({ name: 'GET bad variables', method: 'GET', search: `?query=${encodeURIComponent('query ($id: ID!) { user(id: $id) { id } }')}&variables=%7Bnope`, headers: { 'apollo-require-preflight': 'true' }, codes: ['BAD_REQUEST'] });
  // Wrong content types.
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']) {
    cases.push({ name: `content-type ${type}`, body: gqlBody('{ __typename }'), headers: { 'content-type': type }, codes: ['BAD_REQUEST', 'UNSUPPORTED_MEDIA_TYPE'] });
  }
  // Callers without the right: no token, junk tokens, a user token reading or writing for others.
  for (const s of sample(fc.string({ maxLength: 60 }).map((s) => s.replace(/[\r\n]/g, '')), 13, 30)) {
    cases.push({ name: `authorization ${JSON.stringify(s)}`, body: gqlBody('{ user(id: "fz-ctl-a") { id } }'), headers: { authorization: `Bearer x${s.replace(/\s/g, '')}` }, codes: ['UNAUTHENTICATED'] });
  }
  cases.push({ name: 'no token', body: gqlBody('{ user(id: "fz-ctl-a") { id } }'), headers: { authorization: '' }, codes: ['UNAUTHENTICATED'] });
  cases.push({ name: 'a user token reading another user', body: gqlBody('{ user(id: "fz-ctl-a") { profile { version } } }'), headers: userAuth, codes: ['FORBIDDEN'] });
  cases.push({ name: 'a user token ingesting (poison)', body: JSON.stringify({ query: INGEST, variables: { events: [poison()] } }), headers: userAuth, codes: ['FORBIDDEN'] });
  // Too many events through GraphQL (poison).
  cases.push({ name: '1,001 events through ingestEvents', body: JSON.stringify({ query: INGEST, variables: { events: Array.from({ length: 1001 }, poison) } }), codes: ['BATCH_TOO_LARGE'] });
  return cases;
}
