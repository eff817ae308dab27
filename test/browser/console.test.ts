/**
 * The console in a real browser (Debian's chromium through playwright-core) against the platform
 * with the demo data `npm start` seeds: sign in, watch a treatment user's row follow three plays,
 * read an experiment's lift chart, create an audience and see its size move after an event.
 * Without chromium the file is skipped locally and fails when CI=true.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureConsoleBuilt } from '../../console/build.js';
import { startConsoleServer } from '../../console/server.js';
import type { ConsoleServer } from '../../console/server.js';
import { demoItemRef } from '../../demo/catalog.js';
import { mintDemoTokens, seedDemoData } from '../../platform/demo.js';
import { evaluate } from '../../subgraphs/experiments/src/domain/assign.js';
import { DEV_AUTH, startTestPlatform } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';
import { chromiumAvailable, launchChromium } from '../helpers/chromium.js';

const OUTPUT = join(process.cwd(), 'test-output', 'browser');
// Missing: skipped locally; under CI=true the file fails here.
const available = chromiumAvailable();

describe.skipIf(!available)('the console in Chromium', () => {
  let p: TestPlatform;
  let consoleServer: ConsoleServer;
  let browser: Browser;
  let page: Page;
  let service: string;
  const asService = (query: string, variables: Record<string, unknown> = {}) => p.query(query, variables, { authorization: `Bearer ${service}` });

  beforeAll(async () => {
    p = await startTestPlatform({ env: { AUTH_DISABLED: '0' } });
    await seedDemoData(p);
    const tokens = await mintDemoTokens(DEV_AUTH, p);
    service = tokens.service;
    await ensureConsoleBuilt();
    consoleServer = await startConsoleServer({
      host: '127.0.0.1',
      port: 0,
      gatewayUrl: p.gateway.url,
      production: false,
      demoTokens: [{ label: 'service: every view', role: 'service', token: tokens.service }],
      metricsUrls: { gateway: `${p.gateway.url}/metrics`, profile: `${p.profile.url}/metrics` },
    });
    await mkdir(OUTPUT, { recursive: true });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(consoleServer.url);
    await page.getByRole('button', { name: 'Sign in as service: every view' }).click();
    await page.getByRole('navigation', { name: 'Views' }).waitFor();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await consoleServer?.close();
    await p?.close();
  });

  it('shows a treatment user\'s live row re-ranked after three episodes, episode 4 first', async () => {
    const experiment = (await p.experiments.service.get('realtime-ranking'))!;
    const user = Array.from({ length: 100 }, (_, i) => `console-viewer-${i}`).find((id) => {
      const a = evaluate(experiment, id, {});
      return a.inExperiment && a.variant === 'treatment';
    })!;
    await page.goto(`${consoleServer.url}/#/user/${user}`);
    const version = page.getByTestId('profile-version');
    await expect.poll(() => version.textContent()).toBe('0');
    await page.getByRole('region', { name: 'Recommended For You (live)' }).getByText('REALTIME').waitFor();
    for (const n of [1, 2, 3]) {
      const title = demoItemRef(`ep-harbor-files-${n}`).title!;
      await page.getByRole('button', { name: `PLAY ${title}`, exact: true }).last().click();
      await expect.poll(() => version.textContent()).toBe(String(n));
    }
    const liveRow = page.getByRole('list', { name: 'Recommended For You (live)' });
    await expect.poll(() => liveRow.locator('li').first().getAttribute('data-item-id')).toBe('ep-harbor-files-4');
    await expect.poll(() => page.getByTestId('rerank-time').textContent()).toMatch(/re-ranked row on screen: \d+ ms/);
    await page.evaluate(() => (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, 0));
    await page.screenshot({ path: join(OUTPUT, 'user.png') });
    // The README's picture (the row that followed the user beside the batch ranking), taken
    // again only when asked: a test run leaves the committed file alone.
    if (process.env['UPDATE_SCREENSHOTS'] === '1') await page.screenshot({ path: join(process.cwd(), 'docs', 'console.png') });
  });

  it('draws an experiment\'s lifts with their intervals', async () => {
    const ROW = `query ($id: ID!) { user(id: $id) { recommendedFor(unitId: "home", limit: 3) { impressionId items { item { id } } } } }`;
    const TRACK = `mutation ($events: [UnitEventInput!]!) { trackUnitEvents(events: $events) { accepted } }`;
    // Forty users with varied outcomes, so both arms have a variance and the lifts an interval.
    for (let i = 0; i < 40; i++) {
      const row = (await asService(ROW, { id: `console-exp-${i}` })).data.user.recommendedFor;
      const events = [{ eventId: `ce-${i}-imp`, impressionId: row.impressionId, type: 'IMPRESSION' }];
      if (i % 3 !== 0) events.push({ eventId: `ce-${i}-clk`, impressionId: row.impressionId, type: 'CLICK', position: 1 + (i % 2), itemId: row.items[i % 2].item.id } as never);
      if (i % 4 === 1) events.push({ eventId: `ce-${i}-con`, impressionId: row.impressionId, type: 'CONSUME', position: 1 + (i % 2), itemId: row.items[i % 2].item.id, value: 60 * (i % 7 + 1) } as never);
      expect((await asService(TRACK, { events })).data.trackUnitEvents.accepted).toBe(events.length);
    }
    await page.goto(`${consoleServer.url}/#/experiments/realtime-ranking`);
    const plot = page.getByTestId('forest-plot').first();
    // An interval is a horizontal line: a zero-height box, never "visible" to playwright.
    await plot.locator('svg g[aria-label="link"] path').first().waitFor({ state: 'attached' });
    const intervals = await plot.locator('svg g[aria-label="link"] path').count();
    expect(intervals).toBeGreaterThan(0);
    expect(await plot.locator('svg g[aria-label="dot"] circle').count()).toBe(intervals);
    await expect.poll(() => page.getByText('SRM').count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(OUTPUT, 'experiment.png'), fullPage: true });
  });

  it('shows the stream backlog per consumer group and the live subscriptions on the Health view', async () => {
    await page.goto(`${consoleServer.url}/#/health`);
    const backlog = page.getByRole('region', { name: 'Stream backlog per consumer group' });
    // The profile reports its logs' consumer groups: trending reads the events, audiences the change notices.
    await expect.poll(() => backlog.locator('tbody').textContent(), { timeout: 10_000 }).toMatch(/stream_lag.*trending/s);
    await expect.poll(() => backlog.locator('tbody').textContent()).toMatch(/audiences/);
    await expect.poll(() => page.getByTestId('live-subscriptions').textContent()).toMatch(/^\d+$/);
    await page.screenshot({ path: join(OUTPUT, 'health.png') });
  });

  it('creates an audience from the editor, with errors at the node, and its size follows an event', async () => {
    await page.goto(`${consoleServer.url}/#/audiences`);
    await page.getByTestId('size-crime-bingers').waitFor();
    const rule = page.getByLabel('Rule (JSON, see README: the rule language)');
    await rule.fill(JSON.stringify({ all: [{ affinity: { dimension: 'mood', key: 'Dark', gte: 1 } }] }));
    await page.getByRole('button', { name: 'Check and preview' }).click();
    const problem = page.locator('li.node[data-path="$.all[0].affinity.dimension"] .problems');
    await expect.poll(() => problem.textContent()).toMatch(/dimension must be one of/);
    await rule.fill(JSON.stringify({ events: { types: ['PLAY'], genre: 'Documentary', within: '1d', gte: 1 } }));
    await page.getByLabel('Id').fill('console-docs');
    await page.getByLabel('Name').fill('Documentary viewers today');
    await page.getByRole('button', { name: 'Check and preview' }).click();
    await page.getByTestId('preview').waitFor();
    await page.getByRole('button', { name: 'Create audience' }).click();
    await page.waitForURL(/#\/audiences\/console-docs$/);
    const size = page.getByTestId('size-console-docs');
    await expect.poll(() => size.textContent()).toBe('0');
    const INGEST = `mutation ($events: [EventInput!]!) { ingestEvents(events: $events) { accepted } }`;
    const item = demoItemRef('ep-deep-blue-atlas-3');
    await asService(INGEST, { events: [{ eventId: 'console-docs-1', userId: 'console-doc-fan', type: 'PLAY', occurredAt: new Date().toISOString(), item }] });
    await expect.poll(() => size.textContent(), { timeout: 10_000 }).toBe('1');
    await page.getByText('console-doc-fan').first().waitFor();
    await page.screenshot({ path: join(OUTPUT, 'audiences.png'), fullPage: true });
  });
});
