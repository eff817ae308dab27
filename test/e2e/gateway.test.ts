/** End to end through the gateway: real servers on ephemeral ports, as a client would use them. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoHistory } from '../../demo/history.js';
import { DEV_AUTH, startTestPlatform, tokenFor } from '../helpers/platform.js';
import { IDENTITY_HEADER, InternalTokens } from '../../lib/auth.js';
import type { TestPlatform } from '../helpers/platform.js';

const PROFILE_QUERY = /* GraphQL */ `
  query ($id: ID!) {
    user(id: $id) {
      id
      profile {
        version
        eventCount
        genreAffinities { key score count }
        series { seriesId lastEpisode episodesWatched }
      }
    }
  }
`;

const INGEST = /* GraphQL */ `
  mutation ($events: [EventInput!]!) {
    ingestEvents(events: $events) { accepted duplicates rejected { index eventId code message } }
  }
`;

const crimePlay = (userId: string, eventId: string, occurredAt = new Date().toISOString()) => ({
  eventId,
  userId,
  type: 'PLAY',
  occurredAt,
  item: { id: 'm-dead-drop', kind: 'MOVIE', title: 'Dead Drop', genres: ['Crime', 'Action'], metadata: { director: 'Jonas Berg' } },
});

describe('gateway end to end (embedded stores)', () => {
  let p: TestPlatform;
  const seenHeaders: http.IncomingHttpHeaders[] = [];
  let proxy: http.Server;

  beforeAll(async () => {
    // A recording proxy between gateway and profile subgraph shows which headers are forwarded.
    let target = '';
    proxy = http.createServer((req, res) => {
      seenHeaders.push(req.headers);
      const upstream = http.request(target, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/graphql`;
    p = await startTestPlatform({
      profileUrl: (url) => {
        target = url;
        return proxyUrl;
      },
    });
    const seeded = await p.profile.service.ingest(demoHistory(Date.now()));
    expect(seeded.rejected).toEqual([]);
  });

  afterAll(async () => {
    await p?.close();
    proxy?.closeAllConnections();
    await new Promise((resolve) => proxy?.close(resolve));
  });

  it('answers a demo user profile query', async () => {
    const res = await p.query(PROFILE_QUERY, { id: 'u1' });
    expect(res.errors).toBeUndefined();
    const profile = res.data.user.profile;
    expect(profile.version).toBeGreaterThan(5);
    expect(profile.genreAffinities[0].key).toBe('Crime');
    expect(profile.series[0]).toMatchObject({ seriesId: 'series-harbor-files', lastEpisode: 2, episodesWatched: [1, 2] });
  });

  it('applies a crime PLAY for a new user, then reports the same event as a duplicate', async () => {
    const event = crimePlay('e2e-new-user', 'e2e-evt-1');
    const first = await p.query(INGEST, { events: [event] });
    expect(first.data.ingestEvents).toEqual({ accepted: 1, duplicates: 0, rejected: [] });

    const after = await p.query(PROFILE_QUERY, { id: 'e2e-new-user' });
    expect(after.data.user.profile.version).toBe(1);
    const crime = after.data.user.profile.genreAffinities.find((a: { key: string }) => a.key === 'Crime');
    expect(crime.score).toBeGreaterThan(0);

    const again = await p.query(INGEST, { events: [event] });
    expect(again.data.ingestEvents).toEqual({ accepted: 0, duplicates: 1, rejected: [] });
    const still = await p.query(PROFILE_QUERY, { id: 'e2e-new-user' });
    expect(still.data.user.profile.version).toBe(1);
    // The user's view of the item (itemId, not id: client caches must not merge it across users)
    // and the catalog's entity, resolved by the recommendations subgraph.
    const items = await p.query(`query ($id: ID!) { user(id: $id) { profile { recentItems { item { itemId title catalogItem { id title } } } } } }`, { id: 'e2e-new-user' });
    expect(items.errors).toBeUndefined();
    expect(items.data.user.profile.recentItems[0].item).toEqual({ itemId: 'm-dead-drop', title: 'Dead Drop', catalogItem: { id: 'm-dead-drop', title: 'Dead Drop' } });
  });

  it('accepts the good events of a batch and explains each bad one', async () => {
    const future = new Date(Date.now() + 24 * 3_600_000).toISOString();
    const res = await p.query(INGEST, {
      events: [
        crimePlay('', 'e2e-bad-user'),
        crimePlay('e2e-batch-user', 'e2e-good'),
        crimePlay('e2e-batch-user', 'e2e-future', future),
      ],
    });
    expect(res.errors).toBeUndefined();
    const result = res.data.ingestEvents;
    expect(result.accepted).toBe(1);
    expect(result.rejected).toEqual([
      { index: 0, eventId: 'e2e-bad-user', code: 'USER_ID_INVALID', message: expect.stringContaining('userId') },
      { index: 2, eventId: 'e2e-future', code: 'OCCURRED_AT_IN_FUTURE', message: expect.stringContaining('future') },
    ]);
    const after = await p.query(PROFILE_QUERY, { id: 'e2e-batch-user' });
    expect(after.data.user.profile.version).toBe(1);
  });

  it('rejects a batch over 1,000 events with BATCH_TOO_LARGE', async () => {
    const events = Array.from({ length: 1001 }, (_, i) => crimePlay('e2e-big', `e2e-big-${i}`));
    const res = await p.query(INGEST, { events });
    expect(res.errors?.[0]?.extensions?.code).toBe('BATCH_TOO_LARGE');
  });

  it('identify, alias and deleteUser work through the gateway', async () => {
    const identify = await p.query(`mutation { identify(userId: "e2e-known", traits: { plan: "gold" }) { accepted } }`);
    expect(identify.data.identify.accepted).toBe(1);
    await p.query(INGEST, { events: [crimePlay('anon-123', 'e2e-anon-1'), crimePlay('anon-123', 'e2e-anon-2')] });

    const alias = await p.query(
      `mutation { alias(anonymousId: "anon-123", userId: "e2e-known") { merged eventsMerged profile { version eventCount traits } } }`,
    );
    expect(alias.errors).toBeUndefined();
    expect(alias.data.alias).toEqual({ merged: true, eventsMerged: 2, profile: { version: 3, eventCount: 3, traits: { plan: 'gold' } } });

    const again = await p.query(`mutation { alias(anonymousId: "anon-123", userId: "e2e-known") { merged profile { eventCount } } }`);
    expect(again.data.alias).toEqual({ merged: false, profile: { eventCount: 3 } });

    // Later events for the anonymous id land on the known user.
    await p.query(INGEST, { events: [crimePlay('anon-123', 'e2e-anon-3')] });
    const known = await p.query(PROFILE_QUERY, { id: 'e2e-known' });
    expect(known.data.user.profile.eventCount).toBe(4);

    const conflict = await p.query(`mutation { alias(anonymousId: "anon-123", userId: "someone-else") { merged } }`);
    expect(conflict.errors?.[0]?.extensions?.code).toBe('ALIAS_CONFLICT');

    const del = await p.query(`mutation { deleteUser(id: "e2e-known") { userId deleted } }`);
    expect(del.data.deleteUser).toEqual({ userId: 'e2e-known', deleted: true });
    const gone = await p.query(PROFILE_QUERY, { id: 'e2e-known' });
    expect(gone.data.user.profile).toMatchObject({ version: 0, eventCount: 0, genreAffinities: [] });
    const anonGone = await p.query(PROFILE_QUERY, { id: 'anon-123' });
    expect(anonGone.data.user.profile.version).toBe(0);
  });

  it('serves live and batch ranking features; the snapshot moves only when the job runs', async () => {
    await p.query(INGEST, { events: [crimePlay('e2e-snap', 'e2e-snap-1')] });
    const run = await p.query(`mutation { runBatchSnapshot { profiles startedAt finishedAt } }`);
    expect(run.data.runBatchSnapshot.profiles).toBeGreaterThan(0);
    await p.query(INGEST, { events: [crimePlay('e2e-snap', 'e2e-snap-2')] });
    const res = await p.query(`{ user(id: "e2e-snap") { profile { version rankingFeatures batchSnapshot { version rankingFeatures } } } }`);
    const profile = res.data.user.profile;
    expect(profile.version).toBe(2);
    expect(profile.rankingFeatures).toMatchObject({ v: 1, version: 2, genres: expect.any(Array) });
    expect(profile.batchSnapshot.version).toBe(1);
    expect(profile.batchSnapshot.rankingFeatures.version).toBe(1);
  });

  it('forwards the verified caller (as the gateway identity token) and x-request-id to the subgraph, not the raw token', async () => {
    seenHeaders.length = 0;
    await p.query(PROFILE_QUERY, { id: 'u2' }, { authorization: `Bearer ${await tokenFor('svc', 'service')}`, 'x-request-id': 'req-e2e-42' });
    expect(seenHeaders.length).toBeGreaterThan(0);
    expect(seenHeaders[0]!['authorization']).toBeUndefined();
    expect(await new InternalTokens(DEV_AUTH).verify(seenHeaders[0]![IDENTITY_HEADER] as string)).toEqual({ sub: 'auth-disabled', roles: ['service'] });
    expect(seenHeaders[0]!['x-request-id']).toBe('req-e2e-42');
  });

  it('serves the Apollo Sandbox landing page and /health', async () => {
    const page = await fetch(p.gatewayUrl, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/sandbox/i);
    const health = await fetch(new URL('/health', p.gatewayUrl));
    expect(await health.json()).toMatchObject({ status: 'ok', service: 'gateway' });
  });
});
