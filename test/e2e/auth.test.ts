/**
 * Authentication and authorization end to end: JWTs at the gateway (HS256 and a JWKS with RS256 /
 * ES256), the roles' rules in every subgraph, subscriptions through connectionParams, the
 * subgraphs refusing callers the gateway did not vouch for, the events API and its per-token rate
 * limit, and AUTH_DISABLED refused in production.
 */
import http from 'node:http';
import type { webcrypto } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoItemRef } from '../../demo/catalog.js';
import { IDENTITY_HEADER, InternalTokens, loadAuthConfig } from '../../lib/auth.js';
import { ConfigError } from '../../lib/env.js';
import { DEV_AUTH, graphql, startTestPlatform, tokenFor } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';
import { collect, subscribed, unsubscribed } from '../helpers/subscriptions.js';

const AUTH_ON = { AUTH_DISABLED: '0', INGEST_RATE_LIMIT: '200', INGEST_BURST: '1000', INTERNAL_TOKEN_TTL: '2' };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const ROW = `query ($id: ID!) { user(id: $id) { id profile { version } recommendedFor(limit: 3) { impressionId items { position item { id } } } assignment(experimentKey: "realtime-ranking") { variant } } }`;
const INGEST = `mutation ($events: [EventInput!]!) { ingestEvents(events: $events, wait: true) { accepted rejected { code } } }`;
let n = 0;
const play = (userId: string) => {
  const item = demoItemRef('m-laugh-track');
  return { eventId: `auth-${++n}`, userId, type: 'PLAY', occurredAt: new Date().toISOString(), item };
};
const codes = (res: { errors?: Array<{ extensions?: { code?: string } }> }) => (res.errors ?? []).map((e) => e.extensions?.code);

describe('authentication and authorization through the gateway', () => {
  let p: TestPlatform;
  let service: string;
  let alice: string;

  beforeAll(async () => {
    p = await startTestPlatform({ env: AUTH_ON });
    service = await tokenFor('backend', 'service');
    alice = await tokenFor('alice', 'user');
    const seeded = await p.query(INGEST, { events: [play('alice'), play('bob')] }, bearer(service));
    expect(seeded.data?.ingestEvents.accepted).toBe(2);
  });
  afterAll(async () => {
    await p.close();
  });

  it('refuses operations without a token (401 UNAUTHENTICATED); introspection stays open in development', async () => {
    const res = await fetch(p.gatewayUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ user(id: "alice") { id } }' }) });
    expect(res.status).toBe(401);
    expect(codes((await res.json()) as never)).toEqual(['UNAUTHENTICATED']);
    const introspection = await graphql(p.gatewayUrl, '{ __schema { queryType { name } } }');
    expect(introspection.data?.__schema.queryType.name).toBe('Query');
  });

  it('refuses bad, expired, wrongly signed and role-less tokens', async () => {
    const expired = await tokenFor('alice', 'user', '-1m');
    const forged = await new SignJWT({ role: 'service' }).setProtectedHeader({ alg: 'HS256' }).setSubject('x').setExpirationTime('1h').sign(new TextEncoder().encode('x'.repeat(40)));
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"x","role":"service"}').toString('base64url')}.`;
    for (const [token, pattern] of [
      [expired, /expired/],
      [forged, /signature/],
      [unsigned, /invalid token/],
      ['not-a-jwt', /invalid token/],
    ] as const) {
      const res = await p.query('{ me { id } }', {}, bearer(token));
      expect(codes(res), token).toEqual(['UNAUTHENTICATED']);
      expect(res.errors?.[0]?.message).toMatch(pattern);
    }
    const noExp = await new SignJWT({ role: 'service' }).setProtectedHeader({ alg: 'HS256' }).setSubject('x').sign(DEV_AUTH.jwtSecret!);
    const neverExpires = await p.query('{ me { id } }', {}, bearer(noExp));
    expect(codes(neverExpires)).toEqual(['UNAUTHENTICATED']);
    expect(neverExpires.errors?.[0]?.message).toMatch(/no exp claim/);
    const basic = await p.query('{ me { id } }', {}, { authorization: 'Basic abc' });
    expect(codes(basic)).toEqual(['UNAUTHENTICATED']);
    const noRole = await p.query('{ me { id } }', {}, bearer(await tokenFor('alice', [] as never)));
    expect(codes(noRole)).toEqual(['FORBIDDEN']);
  });

  it('a user reads itself (me, user(id) with its own id) across every subgraph, and nobody else', async () => {
    const me = await p.query('{ me { id profile { version } assignments { experimentKey } } }', {}, bearer(alice));
    expect(me.errors).toBeUndefined();
    expect(me.data?.me).toMatchObject({ id: 'alice', profile: { version: 1 } });
    const own = await p.query(ROW, { id: 'alice' }, bearer(alice));
    expect(own.errors).toBeUndefined();
    expect(own.data?.user.recommendedFor.items.length).toBeGreaterThan(0);
    expect(own.data?.user.assignment.variant).toMatch(/control|treatment/);

    const other = await p.query(ROW, { id: 'bob' }, bearer(alice));
    expect(other.data?.user ?? null).toBeNull();
    expect(codes(other)).toContain('FORBIDDEN');
    expect(JSON.stringify(other.data ?? {})).not.toContain('"version"');
    // In one operation with allowed fields: those are answered, the forbidden one is null with an error.
    const mixed = await p.query('{ me { id profile { version } } other: user(id: "bob") { id profile { version } } }', {}, bearer(alice));
    expect(mixed.data?.me).toMatchObject({ id: 'alice', profile: { version: expect.any(Number) } });
    expect(mixed.data?.other).toBeNull();
    expect(mixed.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([[['other'], 'FORBIDDEN']]);
  });

  it("an anonymous id merged into a known user does not read that user's profile with its own token", async () => {
    await p.query('mutation { identify(userId: "victim", traits: { email: "v@example.com" }) { accepted } }', {}, bearer(service));
    await p.query('mutation { alias(anonymousId: "anon-1", userId: "victim") { userId } }', {}, bearer(service));
    const res = await p.query('{ me { id profile { traits } } }', {}, bearer(await tokenFor('anon-1', 'user')));
    expect(codes(res)).toContain('FORBIDDEN');
    expect(JSON.stringify(res.data ?? {})).not.toContain('v@example.com');
    const own = await p.query('{ me { profile { traits } } }', {}, bearer(await tokenFor('victim', 'user')));
    expect(JSON.stringify(own.data)).toContain('v@example.com');
  });

  it('a user may not ingest, identify, delete, run snapshots, change the catalog or manage experiments', async () => {
    const attempts = [
      [INGEST, { events: [play('alice')] }],
      ['mutation { identify(userId: "alice", traits: { plan: "pro" }) { accepted } }', {}],
      ['mutation { deleteUser(id: "bob") { deleted } }', {}],
      ['mutation { runBatchSnapshot { profiles } }', {}],
      ['mutation { upsertItems(items: [{ id: "x1", kind: MOVIE, title: "X" }]) { upserted } }', {}],
      ['{ experiments { key } }', {}],
      ['mutation { stopExperiment(key: "realtime-ranking") { status } }', {}],
    ] as const;
    for (const [query, variables] of attempts) {
      const res = await p.query(query, variables, bearer(alice));
      expect(codes(res), query).toContain('FORBIDDEN');
    }
    // The catalog is readable with a user token.
    const items = await p.query('{ items(first: 2) { edges { node { id } } } }', {}, bearer(alice));
    expect(items.errors).toBeUndefined();
  });

  it("the profile's rule document is for services only, and holds what the typed fields show", async () => {
    await p.query(INGEST, { events: [play('alice')] }, bearer(service));
    const own = await p.query('{ me { profile { ruleDocument } } }', {}, bearer(alice));
    expect(codes(own)).toContain('FORBIDDEN');
    expect(JSON.stringify(own.data ?? {})).not.toContain('genres');
    const res = await p.query<{ user: { profile: { version: number; lastEventAt: string; genreAffinities: { key: string }[]; ruleDocument: { version: number; lastEventAt: number; features: { genres: { key: string }[] } } } } }>(
      '{ user(id: "alice") { profile { version lastEventAt genreAffinities(limit: 100) { key } ruleDocument } } }',
      {},
      bearer(service),
    );
    expect(res.errors).toBeUndefined();
    const profile = res.data!.user.profile;
    expect(profile.ruleDocument.version).toBe(profile.version);
    expect(profile.ruleDocument.lastEventAt).toBe(Date.parse(profile.lastEventAt));
    expect(profile.ruleDocument.features.genres.map((g) => g.key)).toEqual(profile.genreAffinities.map((g) => g.key));
  });

  it('a service reads any user and manages experiments', async () => {
    const bob = await p.query(ROW, { id: 'bob' }, bearer(service));
    expect(bob.errors).toBeUndefined();
    expect(bob.data?.user.profile.version).toBe(1);
    const experiments = await p.query('{ experiments { key status } }', {}, bearer(service));
    expect(experiments.data?.experiments).toEqual(expect.arrayContaining([expect.objectContaining({ key: 'realtime-ranking' })]));
  });

  it('a user records unit events only on its own rows', async () => {
    const own = (await p.query(ROW, { id: 'alice' }, bearer(alice))).data!.user.recommendedFor;
    const bobs = (await p.query(ROW, { id: 'bob' }, bearer(service))).data!.user.recommendedFor;
    const TRACK = `mutation ($events: [UnitEventInput!]!) { trackUnitEvents(events: $events) { accepted rejected { index code } } }`;
    const res = await p.query(
      TRACK,
      {
        events: [
          { eventId: 'auth-imp-1', impressionId: own.impressionId, type: 'IMPRESSION' },
          { eventId: 'auth-imp-2', impressionId: bobs.impressionId, type: 'IMPRESSION' },
        ],
      },
      bearer(alice),
    );
    expect(res.errors).toBeUndefined();
    expect(res.data?.trackUnitEvents.rejected).toEqual([{ index: 1, code: 'FORBIDDEN' }]);
    const byService = await p.query(TRACK, { events: [{ eventId: 'auth-imp-3', impressionId: bobs.impressionId, type: 'IMPRESSION' }] }, bearer(service));
    expect(byService.data?.trackUnitEvents.rejected).toEqual([]);
  });

  describe('subscriptions (connectionParams)', () => {
    const clients: Client[] = [];
    const ws = (connectionParams: Record<string, unknown>, onClose?: (code: number) => void) => {
      const c = createClient({
        url: p.gatewayUrl.replace('http', 'ws'),
        webSocketImpl: WebSocket,
        lazy: true,
        retryAttempts: 0,
        connectionParams,
        ...(onClose ? { on: { closed: (e) => onClose((e as { code: number }).code) } } : {}),
      });
      clients.push(c);
      return c;
    };
    const LIVE = `subscription ($id: ID!) { profileUpdated(userId: $id) { version user { recommendedFor(limit: 2) { items { item { id } } } } } }`;
    afterAll(async () => {
      await Promise.all(clients.map((c) => c.dispose()));
    });

    it('a user follows its own profile, with fields from other subgraphs fetched as that user', async () => {
      const sub = collect(ws(bearer(alice)), LIVE, { id: 'alice' });
      await subscribed(p, 'alice');
      await p.query(INGEST, { events: [play('alice')] }, bearer(service));
      await sub.until(() => sub.messages.length > 0);
      expect(sub.messages[0].errors).toBeUndefined();
      expect(sub.messages[0].data.profileUpdated.user.recommendedFor.items.length).toBeGreaterThan(0);
      sub.unsubscribe();
      // The next test follows alice too: its readiness must not be this subscription's.
      await unsubscribed(p, 'alice');
    });

    it('keeps delivering rows after the gateway identity tokens it started with expired (INTERNAL_TOKEN_TTL=2)', async () => {
      // A platform of its own, whose auth clock the test moves instead of waiting for expiry.
      let ahead = 0;
      const authClock = () => Date.now() + ahead;
      const own = await startTestPlatform({ env: AUTH_ON, authClock });
      const client = createClient({ url: own.gatewayUrl.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0, connectionParams: bearer(alice) });
      try {
        const sub = collect(client, LIVE, { id: 'alice' });
        await subscribed(own, 'alice');
        // Every identity token signed for alice so far is refused by the subgraphs' verifier once
        // the clock is past their lifetime and the allowed skew.
        const config = { ...loadAuthConfig(AUTH_ON), clock: authClock };
        const started = await new InternalTokens(config).sign({ sub: 'alice', roles: ['user'] });
        ahead = 10_000;
        await expect(new InternalTokens(config).verify(started)).rejects.toThrow(/expired/);
        await own.query(INGEST, { events: [play('alice')] }, bearer(service));
        await sub.until(() => sub.messages.length > 0);
        expect(sub.messages[0].errors).toBeUndefined();
        expect(sub.messages[0].data.profileUpdated.user.recommendedFor.items.length).toBeGreaterThan(0);
      } finally {
        await client.dispose();
        await own.close();
      }
    });

    it("a user cannot follow another user's profile (FORBIDDEN)", async () => {
      const sub = collect(ws(bearer(alice)), LIVE, { id: 'bob' });
      await sub.until(() => sub.error() !== undefined || sub.messages.length > 0 || sub.completed());
      expect(JSON.stringify(sub.error() ?? sub.messages)).toContain('FORBIDDEN');
    });

    it('the connection closes (4401) when the caller token expires', async () => {
      let closedWith = 0;
      const shortLived = await tokenFor('alice', 'user', '2s');
      const sub = collect(ws(bearer(shortLived), (code) => (closedWith = code)), LIVE, { id: 'alice' });
      await sub.until(() => closedWith !== 0, 6000);
      expect(closedWith).toBe(4401);
    });

    it('a subgraph refuses graphql-ws connections that do not carry the gateway identity (4403)', async () => {
      let closedWith = 0;
      const direct = createClient({
        url: p.profile.url.replace('http', 'ws') + '/graphql',
        webSocketImpl: WebSocket,
        lazy: true,
        retryAttempts: 0,
        connectionParams: bearer(service),
        on: { closed: (e) => void (closedWith = (e as { code: number }).code) },
      });
      clients.push(direct);
      const sub = collect(direct, LIVE, { id: 'alice' });
      await sub.until(() => closedWith !== 0 || sub.error() !== undefined);
      expect(closedWith).toBe(4403);
    });

    it('no token or a bad token: the socket closes with 4403', async () => {
      let anonymousClosedWith = 0;
      const anonymous = collect(ws({}, (code) => (anonymousClosedWith = code)), LIVE, { id: 'alice' });
      await anonymous.until(() => anonymousClosedWith !== 0 || anonymous.messages.length > 0);
      expect(anonymousClosedWith).toBe(4403);

      let closedWith = 0;
      const bad = collect(ws(bearer('garbage'), (code) => (closedWith = code)), LIVE, { id: 'alice' });
      await bad.until(() => closedWith !== 0 || bad.error() !== undefined);
      expect(closedWith).toBe(4403);
    });
  });

  describe('subgraphs trust only the gateway', () => {
    it('a direct call without the gateway identity, or with a forged one, is UNAUTHENTICATED', async () => {
      const direct = await graphql(p.profile.url + '/graphql', '{ user(id: "alice") { profile { version } } }', {}, bearer(service));
      expect(codes(direct)).toContain('UNAUTHENTICATED');
      const forger = new InternalTokens({ ...DEV_AUTH, internalSecret: new TextEncoder().encode('y'.repeat(40)) });
      const forged = await forger.sign({ sub: 'backend', roles: ['service'] });
      const res = await fetch(p.profile.url + '/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', [IDENTITY_HEADER]: forged },
        body: JSON.stringify({ query: '{ user(id: "alice") { id } }' }),
      });
      expect(res.status).toBe(401);
      const genuine = await new InternalTokens(loadAuthConfig(AUTH_ON)).sign({ sub: 'backend', roles: ['service'] });
      const ok = await graphql(p.recommendations.url + '/graphql', '{ items(first: 1) { edges { node { id } } } }', {}, { [IDENTITY_HEADER]: genuine });
      expect(ok.errors).toBeUndefined();
    });
  });

  describe('events API', () => {
    const post = (body: unknown, headers: Record<string, string>) =>
      fetch(`${p.profile.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

    it('takes a service token: none → 401, a user token → 403', async () => {
      expect((await post({ events: [play('carol')] }, {})).status).toBe(401);
      const user = await post({ events: [play('alice')] }, bearer(alice));
      expect(user.status).toBe(403);
      expect(((await user.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN');
      expect((await post({ events: [play('carol')] }, bearer(service))).status).toBe(200);
    });

    it('limits events per second per token (429 RATE_LIMITED with Retry-After; other tokens unaffected)', async () => {
      const greedy = await tokenFor('greedy-backend', 'service');
      const batch = () => ({ events: Array.from({ length: 600 }, (_, i) => play(`rl-${i}`)) });
      expect((await post(batch(), bearer(greedy))).status).toBe(200);
      const limited = await post(batch(), bearer(greedy));
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await limited.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
      // Through GraphQL the same bucket applies.
      const viaGateway = await p.query(INGEST, { events: batch().events }, bearer(greedy));
      expect(codes(viaGateway)).toContain('RATE_LIMITED');
      // Another token has its own budget.
      expect((await post({ events: [play('rl-x')] }, bearer(await tokenFor('other-backend', 'service')))).status).toBe(200);
    });
  });
});

describe('JWKS (RS256 / ES256)', () => {
  let jwks: http.Server;
  let p: TestPlatform;
  let rsa: webcrypto.CryptoKey;
  let ec: webcrypto.CryptoKey;

  beforeAll(async () => {
    const r = await generateKeyPair('RS256');
    const e = await generateKeyPair('ES256');
    rsa = r.privateKey as webcrypto.CryptoKey;
    ec = e.privateKey as webcrypto.CryptoKey;
    const keys = [
      { ...(await exportJWK(r.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(e.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
    ];
    jwks = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys })));
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    p = await startTestPlatform({ env: { AUTH_DISABLED: '0', JWKS_URL: url, JWT_ISSUER: 'https://issuer.test' } });
  });
  afterAll(async () => {
    await p.close();
    await new Promise((r) => jwks.close(r));
  });

  const sign = (key: webcrypto.CryptoKey, alg: string, kid: string, issuer = 'https://issuer.test') =>
    new SignJWT({ role: 'user' }).setProtectedHeader({ alg, kid }).setSubject('dana').setIssuer(issuer).setExpirationTime('5m').sign(key);

  it('accepts RS256 and ES256 tokens from the key set, and refuses HS256 or another issuer', async () => {
    for (const token of [await sign(rsa, 'RS256', 'rsa-1'), await sign(ec, 'ES256', 'ec-1')]) {
      const res = await p.query('{ me { id } }', {}, bearer(token));
      expect(res.errors).toBeUndefined();
      expect(res.data?.me.id).toBe('dana');
    }
    expect(codes(await p.query('{ me { id } }', {}, bearer(await tokenFor('dana', 'user'))))).toEqual(['UNAUTHENTICATED']);
    expect(codes(await p.query('{ me { id } }', {}, bearer(await sign(rsa, 'RS256', 'rsa-1', 'https://other.test'))))).toEqual(['UNAUTHENTICATED']);
  });
});

describe('configuration', () => {
  it('AUTH_DISABLED is refused in production, and production needs real secrets', () => {
    expect(() => loadAuthConfig({ AUTH_DISABLED: '1', NODE_ENV: 'production' })).toThrow(ConfigError);
    expect(() => loadAuthConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET or JWKS_URL/);
    expect(() => loadAuthConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40) })).toThrow(/INTERNAL_AUTH_SECRET/);
    expect(() => loadAuthConfig({ JWT_SECRET: 'short' })).toThrow(/at least 32/);
    expect(loadAuthConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40), INTERNAL_AUTH_SECRET: 'y'.repeat(40) }).disabled).toBe(false);
  });
});
