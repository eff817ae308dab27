/**
 * GraphiQL at /graphiql works with no internet: the bundle (GraphiQL, React, Monaco and its
 * workers) is built by the gateway from node_modules, and Debian's Chromium loads the page with
 * every request that leaves the loopback interface aborted. The token typed in the Headers editor
 * authenticates the HTTP query and the graphql-ws subscription, whose pushed event is seen.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoItemRef } from '../../demo/catalog.js';
import { graphiqlBundle } from '../../gateway/src/graphiql.js';
import { startTestPlatform, tokenFor } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';
import { CHROMIUM, chromiumAvailable, launchChromium } from '../helpers/chromium.js';
import { CI } from '../helpers/redis.js';

const haveChromium = existsSync(CHROMIUM);

const INGEST = `mutation Ingest($events: [EventInput!]!) { ingestEvents(events: $events, wait: true) { accepted } }`;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

describe('GraphiQL bundle', () => {
  it('is built from node_modules, then read back from its cache folder', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'graphiql-cache-'));
    try {
      const built = await graphiqlBundle({ cacheDir });
      expect(built.source).toBe('build');
      console.info(`GraphiQL bundle: built in ${Math.round(built.ms)} ms (${[...built.files.values()].reduce((n, b) => n + b.length, 0)} bytes)`);
      for (const name of ['graphiql.js', 'graphiql.css', 'page.css', 'editor.worker.js', 'json.worker.js', 'graphql.worker.js']) expect(built.files.has(name), name).toBe(true);
      // No CDN: nothing in the bundle loads a script or a worker from another host.
      expect(built.files.get('graphiql.js')!.toString()).not.toMatch(/https:\/\/esm\.sh|unpkg\.com|cdn\.jsdelivr/);
      const cached = await graphiqlBundle({ cacheDir });
      expect(cached.source).toBe('cache');
      expect(cached.key).toBe(built.key);
      console.info(`GraphiQL bundle: read from the cache in ${Math.round(cached.ms)} ms`);
      for (const [name, body] of built.files) expect(cached.files.get(name)?.equals(body), name).toBe(true);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  }, 60_000);
});

// Under CI a missing browser fails the run (in beforeAll) instead of skipping the browser test.
describe.skipIf(!haveChromium && !CI)('GraphiQL at /graphiql in Chromium, offline', () => {
  let p: TestPlatform;
  let browser: Browser;
  let origin: string;
  beforeAll(async () => {
    chromiumAvailable(); // throws when missing: here only under CI=true
    p = await startTestPlatform({ env: { AUTH_DISABLED: '0' } });
    origin = new URL(p.gatewayUrl).origin;
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await p?.close();
  });

  /** Replaces the text of one of GraphiQL's Monaco editors (by its model's file name: operation, headers, …). */
  async function setEditor(page: Page, model: 'operation' | 'headers', text: string): Promise<void> {
    const editor = page.locator(`.monaco-editor[data-uri*="-${model}."]`);
    await editor.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    // insertText types it as one input: no auto-closed brackets or quotes to fight.
    await page.keyboard.insertText(text);
  }
  /** Sets the operation and waits until GraphiQL has read its name (it does so 100 ms after an edit). */
  async function setOperation(page: Page, name: string, text: string): Promise<void> {
    await setEditor(page, 'operation', text);
    await page.locator('#graphiql-session-tab-0', { hasText: new RegExp(`^${name}$`) }).waitFor();
  }
  const responseText = (page: Page) => page.locator('.monaco-editor[data-uri*="-response."] .view-lines').textContent().then((t) => (t ?? '').replace(/\u00a0/g, ' '));

  it('runs a query and a subscription with the token from the Headers editor, nothing fetched off the machine', async () => {
    const context = await browser.newContext();
    const offMachine: string[] = [];
    const requested: string[] = [];
    // Every request of the page and its workers: loopback continues, anything else is aborted.
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      requested.push(url.pathname);
      if (LOOPBACK.has(url.hostname)) return route.continue();
      offMachine.push(url.href);
      return route.abort('internetdisconnected');
    });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    try {
      const user = 'gq-user';
      const token = await tokenFor(user, 'user');
      const response = await page.goto(`${origin}/graphiql`);
      expect(response?.status()).toBe(200);
      expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
      await page.locator('.graphiql-query-editor .monaco-editor').waitFor();

      // The Headers editor, as a user would fill it in.
      await setEditor(page, 'headers', JSON.stringify({ Authorization: `Bearer ${token}` }));
      await setOperation(page, 'Me', 'query Me { me { id } }');
      await page.locator('.graphiql-execute-button').click();
      await expect.poll(() => responseText(page), { timeout: 15_000 }).toContain(`"id": "${user}"`);

      // A subscription over ws://…/graphql: the same header is its connectionParams.
      await setOperation(page, 'Live', `subscription Live { profileUpdated(userId: "${user}") { version changed } }`);
      await page.locator('.graphiql-execute-button').click();
      const service = await tokenFor('gq-backend', 'service');
      let n = 0;
      // The subscription is open once an event reaches it: keep ingesting until one shows.
      await expect
        .poll(
          async () => {
            await p.query(INGEST, { events: [{ eventId: `gq-${++n}`, userId: user, type: 'PLAY', occurredAt: new Date().toISOString(), item: demoItemRef('m-dead-drop') }] }, { authorization: `Bearer ${service}` });
            return responseText(page);
          },
          { timeout: 15_000, interval: 250 },
        )
        .toMatch(/"profileUpdated": \{\s*"version": \d+/);
      // Monaco's workers came from the bundle (not the main-thread fallback, not a CDN).
      expect(requested).toEqual(expect.arrayContaining(['/graphiql/assets/editor.worker.js', '/graphiql/assets/graphql.worker.js', '/graphiql/assets/json.worker.js']));
      expect(offMachine).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 90_000);

  it('is served with a strict Content-Security-Policy and ETags', async () => {
    const page = await fetch(`${origin}/graphiql`);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    const html = await page.text();
    expect(html).not.toMatch(/<script>(?!<\/script>)|<script(?![^>]*\bsrc=)/);
    const js = await fetch(`${origin}/graphiql/assets/graphiql.js`);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    const etag = js.headers.get('etag')!;
    await js.arrayBuffer();
    const again = await fetch(`${origin}/graphiql/assets/graphiql.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect((await fetch(`${origin}/graphiql/assets/nope.js`)).status).toBe(404);
  });
});

describe('GraphiQL in production', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startTestPlatform({ env: { NODE_ENV: 'production', AUTH_DISABLED: '0', JWT_SECRET: 'j'.repeat(40), INTERNAL_AUTH_SECRET: 'i'.repeat(40), IMPRESSION_SECRET: 's'.repeat(40) } });
  });
  afterAll(async () => {
    await p?.close();
  });

  it('is not served, as Sandbox and introspection are not', async () => {
    const origin = new URL(p.gatewayUrl).origin;
    for (const path of ['/graphiql', '/graphiql/assets/graphiql.js']) {
      const res = await fetch(`${origin}${path}`);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    }
    const landing = await fetch(p.gatewayUrl, { headers: { accept: 'text/html' } });
    expect(await landing.text()).not.toMatch(/sandbox/i);
  });
});
