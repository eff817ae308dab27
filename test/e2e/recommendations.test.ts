/** Recommendations through the gateway: the row is ranked on the live profile read via @requires. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoItemRef, episodeId } from '../../demo/catalog.js';
import { demoHistory } from '../../demo/history.js';
import { verifyImpression, DEV_IMPRESSION_SECRET } from '../../lib/contracts/impression.js';
import { startTestPlatform } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';

const ROW = /* GraphQL */ `
  query ($id: ID!, $unit: String, $limit: Int) {
    user(id: $id) {
      profile { version }
      recommendedFor(unitId: $unit, limit: $limit) {
        unitId impressionId model profileVersion generatedAt
        items { position score reasons item { id kind title genres seriesId episode trendingScore } }
      }
    }
  }
`;

const INGEST = /* GraphQL */ `
  mutation ($events: [EventInput!]!) { ingestEvents(events: $events) { accepted rejected { code message } } }
`;

let counter = 0;
const play = (userId: string, itemId: string, minutesAgo = 0) => {
  const item = demoItemRef(itemId);
  return { eventId: `rec-e2e-${++counter}`, userId, type: 'PLAY', occurredAt: new Date(Date.now() - minutesAgo * 60_000).toISOString(), item };
};

type Row = { items: Array<{ position: number; reasons: string[]; item: { id: string; genres: string[]; kind: string } }> };
const genreWeight = (row: Row, genre: string) =>
  row.items.reduce((sum, x) => sum + (x.item.genres.includes(genre) ? row.items.length - x.position + 1 : 0), 0);

describe('recommendations through the gateway', () => {
  let p: TestPlatform;

  beforeAll(async () => {
    // No ranking experiment here, so RANKING_MODEL (REALTIME) serves every row; experiments.test.ts covers assignment.
    p = await startTestPlatform({ env: { SEED_RANKING_EXPERIMENT: 'false' } });
    await p.profile.service.ingest(demoHistory(Date.now()));
    await p.profile.snapshots.run();
  });
  afterAll(() => p?.close());

  it('continues a crime binge with episode 4, ranks crime high, then lets comedy rise', async () => {
    const user = 'binger';
    const binge = [1, 2, 3].map((n, i) => play(user, episodeId('harbor-files', n), 30 - i * 10));
    expect((await p.query(INGEST, { events: binge })).data.ingestEvents.accepted).toBe(3);

    const first = await p.query(ROW, { id: user, limit: 10 });
    expect(first.errors).toBeUndefined();
    const row = first.data.user.recommendedFor;
    expect(row.model).toBe('REALTIME');
    expect(row.profileVersion).toBe(3);
    expect(row.items[0].item.id).toBe(episodeId('harbor-files', 4));
    expect(row.items[0].reasons.join(' ')).toMatch(/watched 3 episodes of The Harbor Files/);
    const ids = row.items.map((x: { item: { id: string } }) => x.item.id);
    for (const n of [1, 2, 3]) expect(ids).not.toContain(episodeId('harbor-files', n));
    expect(row.items.slice(0, 5).filter((x: Row['items'][number]) => x.item.genres.includes('Crime')).length).toBeGreaterThanOrEqual(3);
    for (const x of row.items) expect(x.reasons.length).toBeGreaterThan(0);

    const comedyBefore = genreWeight(row, 'Comedy');
    await p.query(INGEST, { events: [play(user, 'm-laugh-track'), play(user, 'm-stand-up-tonight')] });
    const after = (await p.query(ROW, { id: user, limit: 10 })).data.user.recommendedFor;
    expect(after.profileVersion).toBe(5);
    expect(genreWeight(after, 'Comedy')).toBeGreaterThan(comedyBefore);
    const afterIds = after.items.map((x: { item: { id: string } }) => x.item.id);
    expect(afterIds).not.toContain('m-laugh-track');
  });

  it('BASELINE reads the batch snapshot, REALTIME the live profile', async () => {
    const user = 'switcher';
    await p.query(INGEST, { events: [play(user, 'm-red-horizon', 120), play(user, 'm-glass-city', 110)] });
    await p.query(`mutation { runBatchSnapshot { profiles } }`);
    await p.query(INGEST, { events: [1, 2, 3].map((n, i) => play(user, episodeId('flatmates', n), 30 - i * 10)) });

    const realtime = p.recommendations.service.recommend({
      userId: user,
      unitId: 'home',
      limit: 5,
      ...(await features(p, user)),
      model: 'REALTIME',
    });
    const baseline = p.recommendations.service.recommend({ userId: user, unitId: 'home', limit: 5, ...(await features(p, user)), model: 'BASELINE' });
    expect(realtime.profileVersion).toBe(5);
    expect(baseline.profileVersion).toBe(2);
    expect(realtime.items[0]!.item.id).toBe(episodeId('flatmates', 4));
    expect(baseline.items.map((x) => x.item.id)).not.toContain(episodeId('flatmates', 4));
  });

  it('signs the row: the impression id binds user, unit, model and items', async () => {
    const res = await p.query(ROW, { id: 'u2', unit: 'home:row-2', limit: 4 });
    const row = res.data.user.recommendedFor;
    const claims = verifyImpression(row.impressionId, DEV_IMPRESSION_SECRET);
    expect(claims).toMatchObject({ userId: 'u2', unitId: 'home:row-2', model: 'REALTIME' });
    expect(claims!.itemIds).toEqual(row.items.map((x: { item: { id: string } }) => x.item.id));
    expect(verifyImpression(row.impressionId, 'another-secret-of-16+')).toBeNull();
  });

  it('learns trending from the event stream', async () => {
    await p.query(INGEST, { events: ['t1', 't2', 't3'].map((u) => play(`trend-${u}`, 'm-iron-tide')) });
    // Recommendations reads the event stream on its own: poll until it has counted the three plays.
    const item = async () => (await p.query(`{ item(id: "m-iron-tide") { trendingScore popularity } }`)).data.item;
    await expect.poll(async () => (await item()).popularity, { timeout: 10_000, interval: 10 }).toBeGreaterThanOrEqual(3);
    expect((await item()).trendingScore).toBeGreaterThan(0);
  });

  it('rejects bad arguments with clear errors', async () => {
    for (const [vars, pattern] of [
      [{ limit: 0 }, /limit/],
      [{ limit: 101 }, /limit/],
      [{ unit: 'bad unit id!' }, /unitId/],
      [{ unit: '' }, /unitId/],
    ] as const) {
      const res = await p.query(ROW, { id: 'u1', ...vars });
      expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(res.errors?.[0]?.message).toMatch(pattern);
    }
  });

  it('pages through the catalog and upserts items, reporting invalid ones', async () => {
    const page1 = await p.query(`{ items(first: 5, filter: { genre: "Crime" }) { totalCount edges { cursor node { id genres } } pageInfo { hasNextPage endCursor } } }`);
    const conn = page1.data.items;
    expect(conn.edges).toHaveLength(5);
    expect(conn.pageInfo.hasNextPage).toBe(true);
    const page2 = await p.query(`query ($after: String) { items(first: 5, after: $after, filter: { genre: "Crime" }) { edges { node { id } } } }`, {
      after: conn.pageInfo.endCursor,
    });
    const firstIds = conn.edges.map((e: { node: { id: string } }) => e.node.id);
    for (const e of page2.data.items.edges) expect(firstIds).not.toContain(e.node.id);

    const upsert = await p.query(`mutation ($items: [ItemUpsertInput!]!) { upsertItems(items: $items) { upserted rejected { index code message } } }`, {
      items: [
        { id: 'new-doc', kind: 'MOVIE', title: 'New Doc', genres: ['Documentary'], releaseYear: 2026, metadata: { director: 'Ana Sousa' } },
        { id: '', kind: 'MOVIE' },
        { id: 'bad-ep', kind: 'EPISODE' },
      ],
    });
    expect(upsert.data.upsertItems.upserted).toBe(1);
    expect(upsert.data.upsertItems.rejected.map((r: { index: number }) => r.index)).toEqual([1, 2]);
    const item = await p.query(`{ item(id: "new-doc") { title releaseYear metadata } }`);
    expect(item.data.item).toEqual({ title: 'New Doc', releaseYear: 2026, metadata: { director: 'Ana Sousa' } });
  });
});

/** Live and batch features as the gateway would deliver them through @requires. */
async function features(p: TestPlatform, userId: string) {
  const res = await p.query(`query ($id: ID!) { user(id: $id) { profile { rankingFeatures batchSnapshot { rankingFeatures } } } }`, { id: userId });
  const profile = res.data.user.profile;
  return { live: profile.rankingFeatures, batch: profile.batchSnapshot?.rankingFeatures ?? null };
}
