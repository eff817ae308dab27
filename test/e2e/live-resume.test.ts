/**
 * Live streams over HTTP that survive what real networks do to them: SSE events carry the
 * profile version as their id, a client that reconnects with `Last-Event-ID` gets the current
 * state at once; a browser `EventSource` (which sends no headers) opens its stream with a
 * ticket and, after the connection is cut, resumes by itself; and SSE and multipart streams end
 * when the caller's token expires, as graphql-ws sockets do.
 */
import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoItemRef } from '../../demo/catalog.js';
import { startTestPlatform, tokenFor } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';
import { until } from '../helpers/wait.js';
import { chromiumAvailable, launchChromium } from '../helpers/chromium.js';

const LIVE = 'subscription Live($id: ID!) { profileUpdated(userId: $id) { version cause user { id } } }';
const INGEST = 'mutation Ingest($events: [EventInput!]!) { ingestEvents(events: $events, wait: true) { accepted } }';

interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** An SSE response read event by event (the fields EventSource reads). */
function sseReader(res: Response) {
  const events: SseEvent[] = [];
  let ended = false;
  (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event: SseEvent = { data: '' };
        for (const line of block.split('\n')) {
          const colon = line.indexOf(':');
          if (colon <= 0) continue; // comments (heartbeats) and empty lines
          const [field, value] = [line.slice(0, colon), line.slice(colon + 1).replace(/^ /, '')];
          if (field === 'id') event.id = value;
          else if (field === 'event') event.event = value;
          else if (field === 'data') event.data += value;
        }
        if (event.event) events.push(event);
      }
    }
  })()
    .catch(() => undefined)
    .finally(() => (ended = true));
  return { events, ended: () => ended };
}

/** A TCP proxy to the gateway whose connections the test can cut, as a flaky network would. */
async function cuttableProxy(target: URL): Promise<{ url: string; cut: () => void; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const to = connect(Number(target.port), target.hostname);
    for (const s of [client, to]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(to).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    cut: () => sockets.forEach((s) => s.destroy()),
    close: () => new Promise((resolve) => { sockets.forEach((s) => s.destroy()); server.close(() => resolve()); }),
  };
}

describe('resumable, expiring live streams over HTTP', () => {
  let p: TestPlatform;
  let service: string;
  let seq = 0;
  beforeAll(async () => {
    p = await startTestPlatform({ env: { AUTH_DISABLED: '0' } });
    service = await tokenFor('resume-backend', 'service');
  });
  afterAll(async () => {
    await p?.close();
  });
  const stream = () => p.gatewayUrl.replace(/\/graphql$/, '/graphql/stream');
  const play = (userId: string) =>
    p.query(INGEST, { events: [{ eventId: `resume-${++seq}`, userId, type: 'PLAY', occurredAt: new Date().toISOString(), item: demoItemRef('m-dead-drop') }] }, { authorization: `Bearer ${service}` });
  /** Streams opened by a test, closed after it. */
  const opened: AbortController[] = [];
  afterEach(() => opened.splice(0).forEach((c) => c.abort()));
  const open = (userId: string, token: string, headers: Record<string, string> = {}) => {
    const controller = new AbortController();
    opened.push(controller);
    return fetch(`${stream()}?${new URLSearchParams({ query: LIVE, variables: JSON.stringify({ id: userId }) })}`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${token}`, ...headers },
      signal: controller.signal,
    });
  };

  it('SSE events carry the version as id; Last-Event-ID resumes at once with the current state', async () => {
    const user = 'resume-sse';
    const token = await tokenFor(user, 'user');
    const first = await open(user, token);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toContain('text/event-stream');
    const a = sseReader(first);
    await until(async () => {
      await play(user);
      return a.events.length > 0;
    }, 10_000, 'a first SSE event');
    const seen = a.events[0]!;
    expect(seen.event).toBe('next');
    const version = JSON.parse(seen.data).data.profileUpdated.version as number;
    expect(seen.id).toBe(String(version));
    opened[0]!.abort();

    // Two changes while the client is away, then it reconnects with what it saw last.
    await play(user);
    await play(user);
    const again = sseReader(await open(user, token, { 'last-event-id': seen.id! }));
    await until(() => again.events.length > 0, 10_000, 'the resumed state');
    const resumed = JSON.parse(again.events[0]!.data).data.profileUpdated;
    expect(resumed.cause).toBe('RESUME');
    expect(resumed.version).toBeGreaterThanOrEqual(version + 2);
    expect(again.events[0]!.id).toBe(String(resumed.version));
  });

  it('a stream ticket opens only its own operation, only on the stream, and is no token', async () => {
    const user = 'resume-ticket';
    const token = await tokenFor(user, 'user');
    const issue = (body: unknown, auth = `Bearer ${token}`) =>
      fetch(`${stream()}/ticket`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: JSON.stringify(body) });
    expect((await issue({ query: LIVE, variables: { id: user } }, '')).status).toBe(401);
    const invalid = await issue({ query: 'subscription { nope }' });
    expect(invalid.status).toBe(400);
    expect(JSON.stringify(await invalid.json())).toContain('nope');
    const res = await issue({ query: LIVE, operationName: 'Live', variables: { id: user } });
    expect(res.status).toBe(201);
    const { ticket, url, expiresAt } = (await res.json()) as { ticket: string; url: string; expiresAt: string };
    expect(Date.parse(expiresAt)).toBeGreaterThan(Date.now());
    const base = new URL(p.gatewayUrl).origin;
    const ok = await fetch(`${base}${url}`, { headers: { accept: 'text/event-stream' } });
    expect(ok.status).toBe(200);
    await ok.body!.cancel();
    // The same ticket for another user's stream: refused.
    const other = new URL(`${base}${url}`);
    other.searchParams.set('variables', JSON.stringify({ id: 'someone-else' }));
    const refused = await fetch(other, { headers: { accept: 'text/event-stream' } });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
    // Not a caller token anywhere else.
    const asToken = await p.query('{ me { id } }', {}, { authorization: `Bearer ${ticket}` });
    expect(asToken.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('SSE and multipart streams end with UNAUTHENTICATED when the token expires', async () => {
    const user = 'resume-expiry';
    const short = await tokenFor(user, 'user', '2s');
    const sse = sseReader(await open(user, short));
    const multipart = await fetch(p.gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'multipart/mixed;subscriptionSpec="1.0",application/json', authorization: `Bearer ${short}` },
      body: JSON.stringify({ query: LIVE, variables: { id: user } }),
    });
    expect(multipart.status).toBe(200);
    const body = multipart.text();
    await until(() => sse.ended(), 10_000, 'the SSE stream to end at the token expiry');
    expect(sse.events.at(-2)!.data).toContain('UNAUTHENTICATED');
    expect(sse.events.at(-1)!.event).toBe('complete');
    const text = await body;
    expect(text).toContain('"payload":null');
    expect(text).toContain('UNAUTHENTICATED');
    expect(text.endsWith('\r\n--graphql--\r\n')).toBe(true);
  });

  it('a multipart part arrives complete (with its closing boundary), not held until the next one', async () => {
    const user = 'resume-multipart';
    const controller = new AbortController();
    opened.push(controller);
    const res = await fetch(p.gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'multipart/mixed;subscriptionSpec="1.0",application/json', authorization: `Bearer ${await tokenFor(user, 'user')}` },
      body: JSON.stringify({ query: LIVE, variables: { id: user } }),
      signal: controller.signal,
    });
    let buffer = '';
    /** Whether the bytes that brought the first payload also closed its part. */
    let completeOnArrival: boolean | undefined;
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        if (completeOnArrival === undefined && buffer.includes('"payload"')) completeOnArrival = /"payload":\{[\s\S]*\}\r\n--graphql/.test(buffer);
      }
    })().catch(() => undefined);
    await until(async () => {
      await play(user);
      return completeOnArrival !== undefined;
    }, 10_000, 'a multipart payload');
    expect(completeOnArrival).toBe(true);
  });

  describe('a browser EventSource', () => {
    let browser: Browser | undefined;
    beforeAll(async () => {
      // Missing: the test skips locally; under CI=true this hook fails.
      if (!chromiumAvailable()) return;
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
    });

    it('opens its stream with a ticket and resumes by itself after the connection is cut', async (ctx) => {
      if (!browser) return ctx.skip();
      const user = 'resume-browser';
      const token = await tokenFor(user, 'user');
      const proxy = await cuttableProxy(new URL(p.gatewayUrl));
      const page = await browser.newPage();
      try {
        // A page of the gateway's own origin (through the proxy), as a browser app would be.
        await page.goto(`${proxy.url}/health`);
        await page.evaluate(
          async ({ query, user, token }) => {
            const res = await fetch('/graphql/stream/ticket', {
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
              body: JSON.stringify({ query, variables: { id: user } }),
            });
            const { url } = (await res.json()) as { url: string };
            const w = globalThis as unknown as { seen: { id: string; version: number; cause: string }[]; opens: number };
            w.seen = [];
            w.opens = 0;
            const source = new EventSource(url);
            source.addEventListener('open', () => w.opens++);
            source.addEventListener('next', (e) => {
              const m = e as unknown as { data: string; lastEventId: string };
              const update = JSON.parse(m.data).data.profileUpdated;
              w.seen.push({ id: m.lastEventId, version: update.version, cause: update.cause });
            });
          },
          { query: LIVE, user, token },
        );
        const seen = () => page.evaluate(() => (globalThis as unknown as { seen: { id: string; version: number; cause: string }[] }).seen);
        await until(async () => {
          await play(user);
          return (await seen()).length > 0;
        }, 15_000, 'an event in the browser');
        const first = (await seen())[0]!;
        expect(first.id).toBe(String(first.version));

        // The network drops the stream; changes happen meanwhile; EventSource reconnects by itself.
        const before = (await seen()).length;
        proxy.cut();
        await play(user);
        await play(user);
        await until(async () => (await seen()).some((s) => s.cause === 'RESUME'), 15_000, 'the browser to resume');
        const resumed = (await seen()).slice(before).find((s) => s.cause === 'RESUME')!;
        expect(resumed.version).toBeGreaterThan(first.version);
        expect(await page.evaluate(() => (globalThis as unknown as { opens: number }).opens)).toBeGreaterThanOrEqual(2);
      } finally {
        await page.close();
        await proxy.close();
      }
    });
  });
});
