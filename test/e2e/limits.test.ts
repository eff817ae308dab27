/**
 * Limits at the gateway: depth, cost, aliases, tokens (HTTP and graphql-ws), request body size,
 * batched requests, batch sizes of the mutations, and automatic persisted queries.
 */
import { createHash } from 'node:crypto';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPlatform } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';
import { collect } from '../helpers/subscriptions.js';
import { HOME_QUERY as HOME } from '../../bench/lib/queries.js';
import { loadAuthConfig, mintToken } from '../../lib/auth.js';

const LIMITS = { GRAPHQL_MAX_DEPTH: '5', GRAPHQL_MAX_ALIASES: '3', GRAPHQL_MAX_COST: '1500', GRAPHQL_MAX_TOKENS: '400', GATEWAY_BODY_LIMIT: '200000' };

async function post(url: string, body: unknown, contentType = 'application/json') {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}
const messages = (body: any): string => JSON.stringify(body.errors ?? body.error ?? body);

describe('query limits at the gateway', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startTestPlatform({ env: LIMITS });
  });
  afterAll(async () => {
    await p.close();
  });

  it('the home-page query is within every limit', async () => {
    const res = await p.query(HOME, { id: 'u1' });
    expect(res.errors).toBeUndefined();
    expect(res.data.user.recommendedFor.items.length).toBeGreaterThan(0);
  });

  it('refuses operations that are too deep, too costly, with too many aliases or tokens (400, naming the limit)', async () => {
    const cases: Array<[string, RegExp]> = [
      ['{ experiment(key: "realtime-ranking") { results { comparisons { metrics { absoluteLift { low } } } } } }', /depth/i],
      ['{ a: me { id } b: me { id } c: me { id } d: me { id } }', /alias/i],
      [`{ me { id ${'__typename '.repeat(400)} } }`, /token/i],
      ['{ items(first: 100) { edges { node { id title kind genres seriesId episode metadata trendingScore popularity } } } }', /cost/i],
    ];
    for (const [query, pattern] of cases) {
      const res = await post(p.gatewayUrl, { query });
      expect(res.status, query.slice(0, 80)).toBe(400);
      expect(messages(res.body), query.slice(0, 80)).toMatch(pattern);
      expect(['GRAPHQL_VALIDATION_FAILED', 'GRAPHQL_PARSE_FAILED']).toContain(res.body.errors[0].extensions.code);
    }
  });

  it('applies the same limits to subscriptions over graphql-ws', async () => {
    const client = createClient({ url: p.gatewayUrl.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
    try {
      const sub = collect(client, `subscription { profileUpdated(userId: "u1") { a: version b: version c: version d: version } }`, {});
      await sub.until(() => sub.error() !== undefined || sub.messages.length > 0 || sub.completed());
      expect(JSON.stringify(sub.error() ?? sub.messages)).toMatch(/alias/i);
      const tokens = collect(client, `subscription { profileUpdated(userId: "u1") { version ${'__typename '.repeat(400)} } }`, {});
      await tokens.until(() => tokens.error() !== undefined || tokens.messages.length > 0 || tokens.completed());
      expect(JSON.stringify(tokens.error() ?? tokens.messages)).toMatch(/token/i);
    } finally {
      await client.dispose();
    }
  });

  it('closes a graphql-ws connection whose message is over GATEWAY_BODY_LIMIT (1009)', async () => {
    let closedWith = 0;
    const client = createClient({
      url: p.gatewayUrl.replace('http', 'ws'),
      webSocketImpl: WebSocket,
      lazy: true,
      retryAttempts: 0,
      on: { closed: (e) => void (closedWith = (e as { code: number }).code) },
    });
    try {
      const sub = collect(client, 'subscription ($id: ID!) { profileUpdated(userId: $id) { version } }', { id: 'u1', pad: 'x'.repeat(300_000) });
      await sub.until(() => closedWith !== 0);
      expect(closedWith).toBe(1009);
    } finally {
      await client.dispose();
    }
  });

  it('refuses bodies over GATEWAY_BODY_LIMIT (413), batched requests (400) and non-JSON bodies (415/400)', async () => {
    const big = await post(p.gatewayUrl, { query: '{ me { id } }', variables: { pad: 'x'.repeat(300_000) } });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    const batched = await post(p.gatewayUrl, [{ query: '{ me { id } }' }, { query: '{ me { id } }' }]);
    expect(batched.status).toBe(400);
    expect(messages(batched.body)).toMatch(/batch/i);
    const junk = await fetch(p.gatewayUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": ' });
    expect(junk.status).toBe(400);
  });

  it('refuses event and unit-event batches over 1,000 items with BATCH_TOO_LARGE', async () => {
    const events = Array.from({ length: 1001 }, (_, i) => ({ eventId: `big-${i}`, userId: 'u1', type: 'PLAY', occurredAt: Date.now(), item: { id: 'x', kind: 'MOVIE' } }));
    expect(JSON.stringify(events).length).toBeLessThan(200_000);
    const ingest = await p.query('mutation ($events: [EventInput!]!) { ingestEvents(events: $events) { accepted } }', { events });
    expect(ingest.errors?.[0]?.extensions?.code).toBe('BATCH_TOO_LARGE');
    const unit = Array.from({ length: 1001 }, (_, i) => ({ eventId: `u-${i}`, impressionId: 'x', type: 'IMPRESSION' }));
    const track = await p.query('mutation ($events: [UnitEventInput!]!) { trackUnitEvents(events: $events) { accepted } }', { events: unit });
    expect(track.errors?.[0]?.extensions?.code).toBe('BATCH_TOO_LARGE');
  });

  it('serves automatic persisted queries: hash only → PERSISTED_QUERY_NOT_FOUND, then registered, then by hash', async () => {
    const query = '{ me { id } }';
    const sha256Hash = createHash('sha256').update(query).digest('hex');
    const extensions = { persistedQuery: { version: 1, sha256Hash } };
    const miss = await post(p.gatewayUrl, { extensions });
    expect(miss.body.errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    const register = await post(p.gatewayUrl, { query, extensions });
    expect(register.body.data.me.id).toBeDefined();
    const hit = await post(p.gatewayUrl, { extensions });
    expect(hit.body).toEqual(register.body);
    const mismatch = await post(p.gatewayUrl, { query: '{ me { id profile { version } } }', extensions });
    expect(mismatch.status).toBe(400);
  });
});

describe('production gateway over graphql-ws', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startTestPlatform({
      env: { NODE_ENV: 'production', AUTH_DISABLED: '0', JWT_SECRET: 'j'.repeat(40), INTERNAL_AUTH_SECRET: 'i'.repeat(40), IMPRESSION_SECRET: 's'.repeat(40) },
    });
  });
  afterAll(async () => {
    await p.close();
  });

  it('refuses introspection and hides field suggestions, as over HTTP', async () => {
    const token = await mintToken(loadAuthConfig({ JWT_SECRET: 'j'.repeat(40) }), { sub: 'u1', role: 'user' });
    const client = createClient({ url: p.gatewayUrl.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0, connectionParams: { authorization: `Bearer ${token}` } });
    try {
      const introspection = collect(client, '{ __schema { queryType { name } } }', {});
      await introspection.until(() => introspection.error() !== undefined || introspection.messages.length > 0 || introspection.completed());
      expect(JSON.stringify(introspection.error() ?? introspection.messages)).toMatch(/introspection/i);
      const typo = collect(client, '{ user(id: "u1") { profil { version } } }', {});
      await typo.until(() => typo.error() !== undefined || typo.messages.length > 0 || typo.completed());
      const text = JSON.stringify(typo.error() ?? typo.messages);
      expect(text).toMatch(/Cannot query field \\"profil\\"/);
      expect(text).not.toMatch(/Did you mean/);
    } finally {
      await client.dispose();
    }
  });
});
