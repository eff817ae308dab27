/**
 * Abuse at the gateway (security issue 14): graphql-ws sockets that never authenticate, too many
 * sockets or subscriptions for one caller, identical subscriptions that each cost a re-ranking per
 * event, timers of long-lived tokens, list sizes the cost estimate ignored, role refusals and
 * rate limits that must happen before a subgraph sees the request, and body limits the gateway
 * and the subgraphs disagreed on. Each test failed on the code before its fix. Small limits are
 * configured so that the tests are fast.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { demoItemRef } from '../../demo/catalog.js';
import { startTestPlatform, tokenFor } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';
import { collect, listeners, subscribed, unsubscribed } from '../helpers/subscriptions.js';
import { until } from '../helpers/wait.js';
import { HOME_QUERY as HOME } from '../../bench/lib/queries.js';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const INGEST = `mutation ($events: [EventInput!]!) { ingestEvents(events: $events, wait: true) { accepted rejected { code } } }`;
const codes = (res: { errors?: Array<{ extensions?: { code?: string } }> }) => (res.errors ?? []).map((e) => e.extensions?.code);
let n = 0;
const play = (userId: string, extra: Record<string, unknown> = {}) => ({
  eventId: `abuse-${++n}`,
  userId,
  type: 'PLAY',
  occurredAt: new Date().toISOString(),
  item: demoItemRef('m-laugh-track'),
  ...extra,
});
/** No internal address in anything a caller is told. */
const INTERNAL = /https?:\/\/|127\.0\.0\.1|localhost/;

interface RawSocket {
  socket: WebSocket;
  messages: Array<{ type: string; payload?: unknown }>;
  closed: () => { code: number; reason: string } | undefined;
}

/** A bare graphql-transport-ws socket; `init` (if given) is sent as connection_init once open. */
function rawSocket(url: string, init?: Record<string, unknown>): RawSocket {
  const socket = new WebSocket(url.replace('http', 'ws'), 'graphql-transport-ws');
  const messages: RawSocket['messages'] = [];
  let closed: { code: number; reason: string } | undefined;
  socket.on('message', (data) => void messages.push(JSON.parse(String(data))));
  socket.on('close', (code, reason) => void (closed = { code, reason: String(reason) }));
  socket.on('error', () => undefined);
  if (init) socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: init })));
  return { socket, messages, closed: () => closed };
}
const acked = (s: RawSocket) => s.messages.some((m) => m.type === 'connection_ack');
/** Resolves once the gateway acknowledged the socket or closed it. */
const settled = (s: RawSocket) => until(() => acked(s) || s.closed() !== undefined, 5000, 'an answer to connection_init');

const ENV = {
  AUTH_DISABLED: '0',
  INGEST_RATE_LIMIT: '0',
  GATEWAY_WS_INIT_TIMEOUT_MS: '200',
  GATEWAY_WS_CONNECTIONS_PER_CALLER: '3',
  GATEWAY_SUBSCRIPTIONS_PER_CALLER: '4',
  // One request per second refills the bucket: the bursts below empty it for good.
  GATEWAY_RATE_LIMIT: '1',
  GATEWAY_RATE_BURST: '40',
};

describe('graphql-ws and request abuse at the gateway', () => {
  let p: TestPlatform;
  let service: string;
  const clients: Client[] = [];
  const sockets: RawSocket[] = [];

  const ws = (token: string, onClosed?: (code: number) => void) => {
    const c = createClient({
      url: p.gatewayUrl.replace('http', 'ws'),
      webSocketImpl: WebSocket,
      lazy: true,
      retryAttempts: 0,
      connectionParams: bearer(token),
      ...(onClosed ? { on: { closed: (e) => onClosed((e as { code: number }).code) } } : {}),
    });
    clients.push(c);
    return c;
  };
  const raw = (init?: Record<string, unknown>) => {
    const s = rawSocket(p.gatewayUrl, init);
    sockets.push(s);
    return s;
  };

  beforeAll(async () => {
    p = await startTestPlatform({ env: ENV });
    service = await tokenFor('abuse-backend', 'service');
  });
  afterAll(async () => {
    for (const s of sockets) s.socket.terminate();
    await Promise.all(clients.map((c) => c.dispose()));
    await p.close();
  });

  describe('finding 1: sockets must authenticate in time, and one caller holds a bounded number', () => {
    it('closes a socket that sends no connection_init within GATEWAY_WS_INIT_TIMEOUT_MS (4408)', async () => {
      const silent = raw();
      // Configured to 200 ms; graphql-ws alone would wait 3 s.
      await until(() => silent.closed() !== undefined, 2000, 'the silent socket to be closed');
      expect(silent.closed()?.code).toBe(4408);
    });

    it('refuses a connection_init without a token (4403), as one with a bad token', async () => {
      const anonymous = raw({});
      await settled(anonymous);
      expect(acked(anonymous)).toBe(false);
      expect(anonymous.closed()?.code).toBe(4403);
      const bad = raw(bearer('not-a-jwt'));
      await settled(bad);
      expect(bad.closed()?.code).toBe(4403);
    });

    it('holds at most GATEWAY_WS_CONNECTIONS_PER_CALLER sockets per caller (4429); others are unaffected', async () => {
      const token = await tokenFor('conn-cap', 'user');
      const first = [raw(bearer(token)), raw(bearer(token)), raw(bearer(token))];
      await until(() => first.every(acked), 5000, 'three acknowledged sockets');
      const extra = raw(bearer(token));
      await settled(extra);
      expect(acked(extra)).toBe(false);
      expect(extra.closed()?.code).toBe(4429);
      expect(extra.closed()?.reason).toMatch(/connections/);
      // Another caller is not affected.
      const other = raw(bearer(await tokenFor('conn-cap-other', 'user')));
      await settled(other);
      expect(acked(other)).toBe(true);
      // A closed socket frees its place.
      first[0]!.socket.close();
      await until(() => first[0]!.closed() !== undefined, 5000, 'the close');
      await until(
        async () => {
          const again = raw(bearer(token));
          await settled(again);
          return acked(again);
        },
        5000,
        'a place to be free again',
      );
    });
  });

  describe('finding 2: subscriptions per caller are capped and identical ones are shared', () => {
    const distinct = (i: number) => `subscription S${i}($id: ID!) { profileUpdated(userId: $id) { version } }`;

    it('caps subscriptions per caller across its connections (TOO_MANY_SUBSCRIPTIONS)', async () => {
      const user = 'subs-cap';
      const token = await tokenFor(user, 'user');
      const [a, b] = [ws(token), ws(token)];
      const subs = [collect(a, distinct(1), { id: user }), collect(a, distinct(2), { id: user }), collect(b, distinct(3), { id: user }), collect(b, distinct(4), { id: user })];
      await until(() => listeners(p.profile.pubsub, user).receiving === 4, 10_000, 'four live subscriptions');
      const fifth = collect(b, distinct(5), { id: user });
      await fifth.until(() => fifth.error() !== undefined || fifth.messages.length > 0 || fifth.completed());
      expect(JSON.stringify(fifth.error() ?? fifth.messages)).toContain('TOO_MANY_SUBSCRIPTIONS');
      // Ending one frees a place.
      subs[0]!.unsubscribe();
      await until(() => listeners(p.profile.pubsub, user).attached === 3, 10_000, 'the first subscription to end upstream');
      const sixth = collect(a, distinct(6), { id: user });
      await until(() => listeners(p.profile.pubsub, user).receiving === 4 || sixth.error() !== undefined, 10_000, 'the sixth subscription');
      expect(sixth.error()).toBeUndefined();
      for (const s of [...subs, sixth]) s.unsubscribe();
      await unsubscribed(p, user);
    });

    it('identical subscriptions of one caller cost one execution per event, fanned out; each ends on its own', async () => {
      const user = 'shared-row';
      const token = await tokenFor(user, 'user');
      const LIVE = `subscription ($id: ID!) { profileUpdated(userId: $id) { version user { recommendedFor(limit: 3) { items { item { id } } } } } }`;
      const [a, b] = [ws(token), ws(token)];
      const subs = [collect(a, LIVE, { id: user }), collect(a, LIVE, { id: user }), collect(b, LIVE, { id: user }), collect(b, LIVE, { id: user })];
      await until(() => p.gateway.subscriptionsOf(user) === 4, 10_000, 'four subscriptions at the gateway');
      // One upstream subscription for all four.
      await subscribed(p, user);
      const rankings = vi.spyOn(p.recommendations.service, 'recommend');
      const forUser = () => rankings.mock.calls.filter(([req]) => (req as { userId?: string }).userId === user).length;
      try {
        expect((await p.query(INGEST, { events: [play(user)] }, bearer(service))).data?.ingestEvents.accepted).toBe(1);
        for (const s of subs) await s.until(() => s.messages.some((m) => m.data?.profileUpdated?.version === 1));
        for (const s of subs) expect(s.messages.at(-1).data.profileUpdated.user.recommendedFor.items.length).toBeGreaterThan(0);
        expect(forUser()).toBe(1);
        expect(listeners(p.profile.pubsub, user).attached).toBe(1);

        // Two leave (one per connection) while their next() is pending; the others go on.
        subs[0]!.unsubscribe();
        subs[2]!.unsubscribe();
        await until(() => p.gateway.subscriptionsOf(user) === 2, 10_000, 'two subscriptions to end');
        expect((await p.query(INGEST, { events: [play(user)] }, bearer(service))).data?.ingestEvents.accepted).toBe(1);
        for (const s of [subs[1]!, subs[3]!]) await s.until(() => s.messages.some((m) => m.data?.profileUpdated?.version === 2));
        expect(forUser()).toBe(2);
        expect(subs[0]!.messages.map((m) => m.data.profileUpdated.version)).toEqual([1]);
        expect(listeners(p.profile.pubsub, user).attached).toBe(1);
      } finally {
        rankings.mockRestore();
      }
      // The last one to leave closes the upstream subscription.
      subs[1]!.unsubscribe();
      subs[3]!.unsubscribe();
      await unsubscribed(p, user);
    });
  });

  describe('finding 3: long-lived tokens', () => {
    it('keeps the socket of a token that expires in more than 24.8 days (no timer overflow)', async () => {
      const user = 'long-lived';
      let closedWith = 0;
      const client = ws(await tokenFor(user, 'user', '30d'), (code) => (closedWith = code));
      const sub = collect(client, `subscription ($id: ID!) { profileUpdated(userId: $id) { version } }`, { id: user });
      await subscribed(p, user);
      await p.query(INGEST, { events: [play(user)] }, bearer(service));
      await sub.until(() => sub.messages.length > 0 || closedWith !== 0);
      expect(closedWith).toBe(0);
      expect(sub.messages[0].data.profileUpdated.version).toBe(1);
      sub.unsubscribe();
    });
  });

  describe('finding 4: the cost estimate counts list sizes', () => {
    const rows = (limit: string, count = 15) =>
      Array.from({ length: count }, (_, i) => `r${i}: recommendedFor(limit: ${limit}) { items { item { id } } }`).join(' ');

    it('refuses recommendedFor(limit: 100) under 15 aliases (literal or variable), over HTTP and graphql-ws', async () => {
      const token = await tokenFor('cost-user', 'user');
      for (const [query, variables] of [
        [`{ me { ${rows('100')} } }`, {}],
        [`query ($n: Int!) { me { ${rows('$n')} } }`, { n: 100 }],
      ] as const) {
        const res = await fetch(p.gatewayUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(token) }, body: JSON.stringify({ query, variables }) });
        expect(res.status, query.slice(0, 60)).toBe(400);
        const body = (await res.json()) as { errors: Array<{ message: string; extensions: { code: string } }> };
        expect(body.errors[0]!.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
        expect(body.errors[0]!.message).toMatch(/cost/i);
      }
      const sub = collect(ws(token), `subscription { profileUpdated(userId: "cost-user") { user { ${rows('100')} } } }`, {});
      await sub.until(() => sub.error() !== undefined || sub.messages.length > 0 || sub.completed());
      expect(JSON.stringify(sub.error() ?? sub.messages)).toMatch(/cost/i);
    });

    it('still accepts one row of 100 and the home query', async () => {
      const token = await tokenFor('cost-user', 'user');
      const one = await p.query(`{ me { ${rows('100', 1)} profile { genreAffinities(limit: 20) { key } } } }`, {}, bearer(token));
      expect(one.errors).toBeUndefined();
      const home = await p.query(HOME, { id: 'cost-user' }, bearer(token));
      expect(home.errors).toBeUndefined();
    });
  });

  describe('finding 5: per-caller request rate limit', () => {
    it('answers 429 RATE_LIMITED with retryAfterMs past GATEWAY_RATE_BURST; other callers are unaffected', async () => {
      const token = await tokenFor('greedy-user', 'user');
      const send = (headers: Record<string, string>) =>
        fetch(p.gatewayUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query: '{ me { id } }' }) });
      const answers = await Promise.all(Array.from({ length: 60 }, () => send(bearer(token))));
      const limited = answers.filter((r) => r.status === 429);
      expect(limited.length).toBeGreaterThanOrEqual(15);
      expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThan(0);
      const body = (await limited[0]!.json()) as { errors: Array<{ extensions: { code: string; retryAfterMs: number } }> };
      expect(body.errors[0]!.extensions.code).toBe('RATE_LIMITED');
      expect(body.errors[0]!.extensions.retryAfterMs).toBeGreaterThan(0);
      // Over graphql-ws the same bucket applies (one request may have been refilled meanwhile).
      const client = ws(token);
      let overWs = '';
      for (let i = 0; i < 3 && !overWs.includes('RATE_LIMITED'); i++) {
        const op = collect(client, '{ me { id } }', {});
        await op.until(() => op.error() !== undefined || op.messages.length > 0 || op.completed());
        overWs = JSON.stringify(op.error() ?? op.messages);
      }
      expect(overWs).toContain('RATE_LIMITED');
      // Another token has its own budget.
      expect((await send(bearer(await tokenFor('patient-user', 'user')))).status).toBe(200);
    });

    it('limits requests without a token by client address', async () => {
      const answers = await Promise.all(
        Array.from({ length: 60 }, () => fetch(p.gatewayUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ me { id } }' }) })),
      );
      expect(answers.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(15);
      expect(answers.filter((r) => r.status === 401).length).toBeGreaterThan(0);
    });
  });
});

/** A proxy in front of the profile subgraph that records what reaches it. */
async function recordingProxy() {
  const seen: Array<{ bytes: number; body: string }> = [];
  let target = '';
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ bytes: body.length, body: body.subarray(0, 400).toString() });
      const upstream = http.request(target, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    seen,
    url: (real: string) => {
      target = real;
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** `count` events for `userId` whose JSON takes about `bytes` bytes in all. */
function padded(count: number, bytes: number, userId = 'big-batch') {
  const pad = Math.ceil(bytes / count) - JSON.stringify(play(userId, { properties: { pad: '' } })).length;
  return Array.from({ length: count }, () => play(userId, { properties: { pad: 'x'.repeat(pad) } }));
}
async function postJson(url: string, body: unknown, headers: Record<string, string>) {
  const text = JSON.stringify(body);
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: text });
  return { status: res.status, sent: text.length, text: await res.text() };
}

describe('findings 5 and 6: refused at the gateway before a subgraph sees it; body limits agree', () => {
  let p: TestPlatform;
  let proxy: Awaited<ReturnType<typeof recordingProxy>>;
  let service: string;
  const ingestsSeen = () => proxy.seen.filter((s) => s.body.includes('ingestEvents'));

  beforeAll(async () => {
    proxy = await recordingProxy();
    p = await startTestPlatform({ env: { AUTH_DISABLED: '0', INGEST_RATE_LIMIT: '0' }, profileUrl: proxy.url });
    service = await tokenFor('body-backend', 'service');
  });
  afterAll(async () => {
    await p?.close();
    await proxy?.close();
  });

  it('refuses service-only fields for a user token at the gateway (403 FORBIDDEN, nothing forwarded)', async () => {
    const user = await tokenFor('big-batch', 'user');
    const before = ingestsSeen().length;
    const res = await postJson(p.gatewayUrl, { query: INGEST, variables: { events: padded(900, 950_000) } }, bearer(user));
    expect(res.sent).toBeGreaterThan(800_000);
    expect(res.status).toBe(403);
    const body = JSON.parse(res.text) as { errors: Array<{ message: string; extensions: { code: string } }> };
    expect(body.errors.map((e) => e.extensions.code)).toEqual(['FORBIDDEN']);
    expect(body.errors[0]!.message).toMatch(/ingestEvents.*service/);
    expect(ingestsSeen().length).toBe(before);
    // Other service-only fields, in other subgraphs, the same way.
    for (const query of ['{ experiments { key } }', 'mutation { upsertItems(items: [{ id: "x1", kind: MOVIE }]) { upserted } }']) {
      const other = await postJson(p.gatewayUrl, { query }, bearer(user));
      expect(other.status, query).toBe(403);
      expect(other.text).toContain('FORBIDDEN');
    }
    // A service token still ingests.
    const ok = await postJson(p.gatewayUrl, { query: INGEST, variables: { events: [play('big-batch')] } }, bearer(service));
    expect(JSON.parse(ok.text).data.ingestEvents.accepted).toBe(1);
  });

  it('refuses a service-only mutation of a user token over graphql-ws too', async () => {
    const client = createClient({ url: p.gatewayUrl.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0, connectionParams: bearer(await tokenFor('big-batch', 'user')) });
    try {
      const before = ingestsSeen().length;
      const sub = collect(client, INGEST, { events: [play('big-batch')] });
      await sub.until(() => sub.error() !== undefined || sub.messages.length > 0 || sub.completed());
      expect(JSON.stringify(sub.error() ?? sub.messages)).toContain('FORBIDDEN');
      expect(ingestsSeen().length).toBe(before);
    } finally {
      await client.dispose();
    }
  });

  it('refuses a body over what the subgraphs accept at the gateway (413 PAYLOAD_TOO_LARGE, nothing forwarded)', async () => {
    const before = proxy.seen.length;
    const res = await postJson(p.gatewayUrl, { query: INGEST, variables: { events: padded(1000, 1_600_000) } }, bearer(service));
    expect(res.sent).toBeGreaterThan(1_300_000);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.text).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(res.text).not.toMatch(INTERNAL);
    expect(proxy.seen.length).toBe(before);
  });

  it('passes the profile subgraph BATCH_TOO_LARGE through for a batch over 1 MB within the body limit', async () => {
    const res = await postJson(p.gatewayUrl, { query: INGEST, variables: { events: padded(1000, 1_090_000) } }, bearer(service));
    expect(res.sent).toBeGreaterThan(1_048_576);
    const body = JSON.parse(res.text) as { errors?: Array<{ extensions: { code: string } }> };
    expect(codes(body)).toEqual(['BATCH_TOO_LARGE']);
    expect(res.text).not.toMatch(INTERNAL);
  });
});

describe('finding 6: a subgraph refusing a body is PAYLOAD_TOO_LARGE, and no error names an internal URL', () => {
  let p: TestPlatform;
  let service: string;
  beforeAll(async () => {
    // A gateway configured to accept more than the profile subgraph does.
    p = await startTestPlatform({ env: { AUTH_DISABLED: '0', INGEST_RATE_LIMIT: '0', GATEWAY_BODY_LIMIT: String(3 * 1024 * 1024) } });
    service = await tokenFor('body-backend', 'service');
  });
  afterAll(async () => {
    // The tests stop subgraphs on purpose; whatever still runs stops here.
    for (const server of [p?.gateway, p?.recommendations, p?.profile, p?.experiments]) await server?.close().catch(() => undefined);
    await p?.backends.close();
  });

  it("maps a subgraph's 413 to PAYLOAD_TOO_LARGE without its URL", async () => {
    const res = await postJson(p.gatewayUrl, { query: INGEST, variables: { events: padded(1000, 1_600_000) } }, bearer(service));
    const body = JSON.parse(res.text) as { errors?: Array<{ extensions: { code: string } }> };
    expect(codes(body)).toEqual(['PAYLOAD_TOO_LARGE']);
    expect(res.text).not.toMatch(INTERNAL);
  });

  it('names no address when a subgraph is unavailable (queries and subscriptions)', async () => {
    await p.recommendations.close();
    const down = await postJson(p.gatewayUrl, { query: '{ me { id recommendedFor(limit: 2) { unitId } } }' }, bearer(service));
    expect(down.text).toContain('SUBGRAPH_UNAVAILABLE');
    expect(down.text).not.toMatch(INTERNAL);
    await p.profile.close();
    const client = createClient({ url: p.gatewayUrl.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0, connectionParams: bearer(service) });
    try {
      const sub = collect(client, 'subscription { profileUpdated(userId: "gone") { version } }', {});
      await sub.until(() => sub.error() !== undefined || sub.messages.length > 0 || sub.completed());
      const text = JSON.stringify(sub.messages.at(-1) ?? sub.error());
      expect(text).toContain('SUBSCRIPTION_UPSTREAM_CLOSED');
      expect(text).not.toMatch(INTERNAL);
    } finally {
      await client.dispose();
    }
  });
});
