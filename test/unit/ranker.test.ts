import { afterEach, describe, expect, it, vi } from 'vitest';
import { verifyImpression } from '../../lib/contracts/impression.js';
import { DAY_MS, DEFAULT_REDUCER_CONFIG } from '../../subgraphs/profile/src/domain/config.js';
import type { EventType, ItemRef, ProfileEvent } from '../../lib/contracts/event.js';
import { toRankingFeatures } from '../../subgraphs/profile/src/domain/features.js';
import type { RankingFeatures } from '../../lib/contracts/ranking-features.js';
import { emptyProfile } from '../../subgraphs/profile/src/domain/profile.js';
import { applyEvents } from '../../subgraphs/profile/src/domain/reducer.js';
import { RecommendationService } from '../../subgraphs/recommendations/src/app/recommendation-service.js';
import type { RecommendationRow, RowRequest } from '../../subgraphs/recommendations/src/app/recommendation-service.js';
import { CatalogIndex } from '../../subgraphs/recommendations/src/domain/catalog.js';
import type { CatalogItem } from '../../subgraphs/recommendations/src/domain/catalog.js';
import { CoOccurrence, DEFAULT_CO_OCCURRENCE } from '../../subgraphs/recommendations/src/domain/co-occurrence.js';
import { ItemStats } from '../../subgraphs/recommendations/src/domain/item-stats.js';
import { DEFAULT_WEIGHTS, RANKERS, rank } from '../../subgraphs/recommendations/src/domain/ranker.js';
import type { FeatureSources, RankRequest, RankedItem, RankingEnv } from '../../subgraphs/recommendations/src/domain/ranker.js';
import { parseFeatures } from '../../subgraphs/recommendations/src/domain/signals.js';
import { MemoryCatalogStore } from '../../subgraphs/recommendations/src/store/memory.js';
import { MINUTE_MS, T0, episode, event, movie, mulberry32, pick, product, randInt, shuffled } from './fixtures.js';

// The service's ranking function is a spy calling the real `rank`, so the tests can check that
// every model of RecommendationService goes through the same ranking function with different features.
const rankSpy = vi.fn(rank);

const cfg = DEFAULT_REDUCER_CONFIG;
const HOUR_MS = 60 * MINUTE_MS;
const NOW = T0 + 10 * DAY_MS;
const SERIES_ID = 'sr-heist';
const SERIES_TITLE = 'The Heist';
const GENRES = ['Crime', 'Comedy', 'Drama'] as const;

// ---------------------------------------------------------------------------------------------
// Helpers

let eventSeq = 0;

function ev(type: EventType, item: ItemRef, at: number, userId = 'user-1', properties?: Record<string, unknown>): ProfileEvent {
  return event(`ev-${++eventSeq}`, type, at, { userId, item, ...(properties ? { properties } : {}) });
}

/** Ranking features of a user after `events`, through the real reducer. */
function featuresOf(events: readonly ProfileEvent[]): RankingFeatures {
  return toRankingFeatures(applyEvents(null, events, cfg).profile, cfg);
}

const titled = (ref: ItemRef, title: string): CatalogItem => ({ ...ref, title });

/** A crime series of 6 episodes (plus its SERIES item), 10 movies per genre and 4 kitchen products. */
function baseCatalog(): CatalogItem[] {
  const items: CatalogItem[] = [{ id: SERIES_ID, kind: 'SERIES', title: SERIES_TITLE, genres: ['Crime'] }];
  for (let n = 1; n <= 6; n++) items.push(titled(episode(SERIES_ID, n, ['Crime'], SERIES_TITLE), `${SERIES_TITLE} #${n}`));
  for (const genre of GENRES) {
    for (let i = 0; i < 10; i++) items.push(titled(movie(`${genre.toLowerCase()}-${i}`, [genre]), `${genre} Movie ${i}`));
  }
  for (let i = 0; i < 4; i++) items.push(titled(product(`kitchen-${i}`, 'kitchen', `SKU-${i}`, i % 2 ? 'Acme' : 'Zed'), `Pan ${i}`));
  return items;
}

const item = (items: readonly CatalogItem[], id: string): CatalogItem => {
  const found = items.find((i) => i.id === id);
  if (!found) throw new Error(`no item ${id}`);
  return found;
};

/** PLAYs by background users (one item each, so no co-occurrence): item i gets (i % 4) + 1 plays. */
function popularityEvents(items: readonly CatalogItem[], now: number): ProfileEvent[] {
  const out: ProfileEvent[] = [];
  items.forEach((it, i) => {
    for (let k = 0; k <= i % 4; k++) out.push(ev('PLAY', it, now - ((i % 5) + 1) * HOUR_MS, `bg-${i}-${k}`));
  });
  return out;
}

function makeEnv(items: readonly CatalogItem[], refreshMs = 0) {
  const stats = new ItemStats(7 * DAY_MS);
  const catalog = new CatalogIndex(cfg.facets, stats, refreshMs);
  catalog.upsert(items);
  const coOccurrence = new CoOccurrence();
  const env: RankingEnv = { catalog, coOccurrence };
  return { stats, catalog, coOccurrence, env };
}

function rankFor(env: RankingEnv, features: RankingFeatures | null, extra: Partial<RankRequest> = {}): RankedItem[] {
  return rank(env, {
    features,
    exclude: new Set(features?.consumed ?? []),
    limit: 10,
    now: NOW,
    ...extra,
  });
}

const ids = (row: readonly { item: CatalogItem }[]) => row.map((r) => r.item.id);

/** Mean 1-based position of the `of` items in the row; a missing item counts as row length + 1. */
function meanPosition(row: readonly { item: CatalogItem }[], of: readonly string[]): number {
  const list = ids(row);
  const positions = of.map((id) => (list.includes(id) ? list.indexOf(id) + 1 : list.length + 1));
  expect(of.length).toBeGreaterThan(0);
  return positions.reduce((a, b) => a + b, 0) / positions.length;
}

function expectWellFormed(row: readonly RankedItem[], limit: number, exclude: ReadonlySet<string> = new Set()): void {
  expect(row.length).toBeLessThanOrEqual(limit);
  expect(new Set(ids(row)).size).toBe(row.length);
  // The greedy re-rank only ever lowers adjusted scores, so the reported scores never increase.
  for (let i = 1; i < row.length; i++) expect(row[i]!.score).toBeLessThanOrEqual(row[i - 1]!.score);
  for (const r of row) {
    expect(exclude.has(r.item.id)).toBe(false);
    expect(Number.isFinite(r.score)).toBe(true);
    expect(r.reasons.length).toBeGreaterThan(0);
    expect(r.reasons.length).toBeLessThanOrEqual(3);
    for (const reason of r.reasons) expect(reason.trim()).not.toBe('');
  }
}

function expectWellFormedRow(row: RecommendationRow, limit: number): void {
  expect(row.items.map((i) => i.position)).toEqual(row.items.map((_, i) => i + 1));
  expectWellFormed(row.items, limit);
}

async function makeService(items: readonly CatalogItem[], now = NOW) {
  const service = new RecommendationService(
    new MemoryCatalogStore(),
    {
      defaultModel: 'REALTIME',
      impressionSecret: 'ranker-test-secret',
      trendingHalfLifeMs: 7 * DAY_MS,
      facets: cfg.facets,
      orderingRefreshMs: 0,
      rankingExperiment: 'realtime-ranking',
      variantModels: { control: 'BASELINE', treatment: 'REALTIME' },
    },
    () => now,
    rankSpy,
  );
  const result = await service.upsertItems(items);
  expect(result).toEqual({ upserted: items.length, rejected: [] });
  service.consume(popularityEvents(items, now));
  return service;
}

function request(live: RankingFeatures | null, batch: RankingFeatures | null, extra: Partial<RowRequest> = {}): RowRequest {
  return { userId: 'user-1', unitId: 'home', limit: 10, live, batch, ...extra };
}

afterEach(() => {
  vi.restoreAllMocks();
});

// ---------------------------------------------------------------------------------------------

describe('continue the series', () => {
  const items = baseCatalog();
  const ep = (n: number) => item(items, `${SERIES_ID}-e${n}`);

  function setup() {
    const { env, stats } = makeEnv(items);
    stats.recordEvents(popularityEvents(items, NOW));
    // Make the later episodes and the SERIES item the most popular items of all.
    for (const id of [SERIES_ID, `${SERIES_ID}-e5`, `${SERIES_ID}-e6`]) stats.record(id, 50, NOW - HOUR_MS);
    return env;
  }

  it('ranks the next episode first after episodes 1-3, never later episodes or the series itself', () => {
    const env = setup();
    const features = featuresOf([1, 2, 3].map((n) => ev('PLAY', ep(n), NOW - (4 - n) * HOUR_MS)));
    expect(features.series).toEqual([
      expect.objectContaining({ seriesId: SERIES_ID, title: SERIES_TITLE, lastEpisode: 3, watched: [1, 2, 3] }),
    ]);
    for (const limit of [10, 100]) {
      const row = rankFor(env, features, { limit });
      expectWellFormed(row, limit, new Set(features.consumed));
      expect(row[0]!.item.id).toBe(`${SERIES_ID}-e4`);
      expect(row[0]!.reasons[0]).toMatch(/watched 3 episodes of/);
      expect(row[0]!.reasons[0]).toBe(`Because you watched 3 episodes of ${SERIES_TITLE}`);
      const rowIds = ids(row);
      for (const absent of [`${SERIES_ID}-e1`, `${SERIES_ID}-e2`, `${SERIES_ID}-e3`, `${SERIES_ID}-e5`, `${SERIES_ID}-e6`, SERIES_ID]) {
        expect(rowIds).not.toContain(absent);
      }
    }
  });

  it('skips episodes already watched and stops after the last episode', () => {
    const env = setup();
    // Watched 1, 2 and 4 (out of order): the next unwatched after the last watched is 5.
    const skipped = featuresOf([ev('PLAY', ep(4), NOW - 3 * HOUR_MS), ev('PLAY', ep(1), NOW - 2 * HOUR_MS), ev('PLAY', ep(2), NOW - HOUR_MS)]);
    const row = rankFor(env, skipped);
    expect(row[0]!.item.id).toBe(`${SERIES_ID}-e5`);
    expect(ids(row).filter((id) => id.startsWith(`${SERIES_ID}-`))).toEqual([`${SERIES_ID}-e5`]);

    const finished = featuresOf([1, 2, 3, 4, 5, 6].map((n) => ev('PLAY', ep(n), NOW - (7 - n) * HOUR_MS)));
    const after = rankFor(env, finished, { limit: 100 });
    expect(ids(after).filter((id) => id.startsWith(SERIES_ID))).toEqual([]);
  });

  it('names a series without a title "this series" and counts one episode in the singular', () => {
    const untitled = [1, 2].map((n) => titled(episode('sr-x', n, ['Drama']), `X ${n}`));
    const { env } = makeEnv([...items, ...untitled]);
    const row = rankFor(env, featuresOf([ev('PLAY', untitled[0]!, NOW - HOUR_MS)]));
    expect(row[0]!.item.id).toBe('sr-x-e2');
    expect(row[0]!.reasons[0]).toBe('Because you watched 1 episode of this series');
  });

  it('never recommends episodes to a user with no series in progress', () => {
    const env = setup();
    for (const features of [null, featuresOf([ev('PLAY', item(items, 'crime-1'), NOW - HOUR_MS)])]) {
      const row = rankFor(env, features, { limit: 100 });
      expect(row.filter((r) => r.item.kind === 'EPISODE')).toEqual([]);
    }
  });
});

describe('consumed items', () => {
  it('never appear in rows (PLAY, COMPLETE, PURCHASE, RATE), whatever the model', async () => {
    const items = baseCatalog();
    const service = await makeService(items);
    const consumedIds = ['crime-0', 'comedy-0', 'drama-0', 'kitchen-0'];
    // Make the consumed items (and crime-1) the most popular of the catalog.
    service.consume(
      [...consumedIds, 'crime-1'].flatMap((id, i) =>
        Array.from({ length: 30 }, (_, k) => ev('PLAY', item(items, id), NOW - (k + i) * MINUTE_MS, `fan-${k}`)),
      ),
    );
    const userEvents = [
      ev('PLAY', item(items, 'crime-0'), NOW - 5 * HOUR_MS),
      ev('COMPLETE', item(items, 'comedy-0'), NOW - 4 * HOUR_MS),
      ev('RATE', item(items, 'drama-0'), NOW - 3 * HOUR_MS, 'user-1', { rating: 2 }),
      ev('PURCHASE', item(items, 'kitchen-0'), NOW - 2 * HOUR_MS),
      ev('VIEW', item(items, 'crime-1'), NOW - HOUR_MS),
    ];
    const live = featuresOf(userEvents);
    expect([...live.consumed].sort()).toEqual([...consumedIds].sort());
    // The batch snapshot predates every consumption: exclusion still comes from the live profile.
    const batch = featuresOf(userEvents.slice(0, 1));

    for (const model of ['REALTIME', 'BASELINE'] as const) {
      for (const limit of [10, 60]) {
        const row = service.recommend(request(live, batch, { model, limit }));
        expectWellFormedRow(row, limit);
        for (const id of consumedIds) expect(ids(row.items)).not.toContain(id);
      }
    }
    // Viewing does not consume: the popular crime-1 is still recommended.
    expect(ids(service.recommend(request(live, batch, { limit: 20 })).items)).toContain('crime-1');
    // A purchased product is excluded while other products of its category are recommended.
    const products = service.recommend(request(live, batch, { limit: 60 })).items.filter((r) => r.item.kind === 'PRODUCT');
    expect(products.length).toBeGreaterThan(0);
    expect(ids(products)).not.toContain('kitchen-0');
    // Without a live profile nothing is excluded, so the popular items come back.
    const anonymous = ids(service.recommend(request(null, batch, { model: 'BASELINE', limit: 20 })).items);
    expect(anonymous).toContain('crime-0');
  });
});

describe('genre shift', () => {
  const items = baseCatalog();
  const comedies = items.filter((i) => i.kind === 'MOVIE' && i.genres.includes('Comedy')).map((i) => i.id);
  const crimePlays = [1, 2, 3].map((i) => ev('PLAY', item(items, `crime-${i}`), NOW - (10 - i) * HOUR_MS));
  const comedyPlays = [1, 2].map((i) => ev('PLAY', item(items, `comedy-${i}`), NOW - (3 - i) * HOUR_MS));
  const before = featuresOf(crimePlays);
  const after = featuresOf([...crimePlays, ...comedyPlays]);

  it('ranks comedy higher after recent comedy plays', () => {
    const { env, stats } = makeEnv(items);
    stats.recordEvents(popularityEvents(items, NOW));
    const exclude = new Set(after.consumed);
    const unseenComedies = comedies.filter((id) => !exclude.has(id));
    const rowBefore = rank(env, { features: before, exclude, limit: 40, now: NOW });
    const rowAfter = rank(env, { features: after, exclude, limit: 40, now: NOW });
    expectWellFormed(rowBefore, 40, exclude);
    expectWellFormed(rowAfter, 40, exclude);

    expect(meanPosition(rowAfter, unseenComedies)).toBeLessThan(meanPosition(rowBefore, unseenComedies));
    const comedyScore = (row: RankedItem[]) =>
      row.filter((r) => r.item.genres.includes('Comedy')).reduce((sum, r) => sum + r.score, 0);
    expect(comedyScore(rowAfter)).toBeGreaterThan(comedyScore(rowBefore));
    // A comedy makes the top 5 now, and it says why.
    const top5 = rowAfter.slice(0, 5).filter((r) => r.item.genres.includes('Comedy'));
    expect(top5.length).toBeGreaterThan(0);
    expect(top5[0]!.reasons).toContain('Because you like Comedy');
    expect(rowBefore.slice(0, 5).filter((r) => r.item.genres.includes('Comedy'))).toEqual([]);
  });

  it('BASELINE ranks like the batch profile and REALTIME like the live one, both through rank()', async () => {
    const service = await makeService(items);
    const live = after;
    const batch = before;
    rankSpy.mockClear();

    const baseline = service.recommend(request(live, batch, { model: 'BASELINE', limit: 30 }));
    const realtime = service.recommend(request(live, batch, { model: 'REALTIME', limit: 30 }));
    const byDefault = service.recommend(request(live, batch, { limit: 30 }));
    expectWellFormedRow(baseline, 30);
    expectWellFormedRow(realtime, 30);

    // One call to the same rank() per row; only the features differ.
    expect(rankSpy).toHaveBeenCalledTimes(3);
    const [bCall, rCall] = rankSpy.mock.calls;
    expect(bCall![0]).toBe(service.env);
    expect(rCall![0]).toBe(service.env);
    expect(bCall![1].features).toBe(batch);
    expect(rCall![1].features).toBe(live);
    expect([...bCall![1].exclude].sort()).toEqual([...live.consumed].sort());
    expect([...rCall![1].exclude].sort()).toEqual([...live.consumed].sort());

    const exclude = new Set(live.consumed);
    const direct = (features: RankingFeatures | null) => ids(rank(service.env, { features, exclude, limit: 30, now: NOW }));
    expect(ids(baseline.items)).toEqual(direct(batch));
    expect(ids(realtime.items)).toEqual(direct(live));
    expect(ids(byDefault.items)).toEqual(ids(realtime.items));
    expect(byDefault.model).toBe('REALTIME');

    expect(baseline.model).toBe('BASELINE');
    expect(realtime.model).toBe('REALTIME');
    expect(baseline.profileVersion).toBe(batch.version);
    expect(realtime.profileVersion).toBe(live.version);
    expect(ids(realtime.items)).not.toEqual(ids(baseline.items));
    const unseenComedies = comedies.filter((id) => !exclude.has(id));
    expect(meanPosition(realtime.items, unseenComedies)).toBeLessThan(
      meanPosition(baseline.items, unseenComedies),
    );

    // The impression binds the row that was served.
    const claims = verifyImpression(realtime.impressionId, service.config.impressionSecret);
    expect(claims).toMatchObject({ userId: 'user-1', unitId: 'home', model: 'REALTIME', itemIds: ids(realtime.items), issuedAt: NOW });
  });

  it('POPULARITY ignores features; the rankers differ only in the features they pick', async () => {
    const service = await makeService(items);
    const sources: FeatureSources = { live: after, batch: before };
    expect(RANKERS.REALTIME.features(sources)).toBe(after);
    expect(RANKERS.BASELINE.features(sources)).toBe(before);
    expect(RANKERS.POPULARITY.features(sources)).toBeNull();
    for (const r of Object.values(RANKERS)) expect(Object.keys(r).sort()).toEqual(['features', 'model']);

    const exclude = new Set(after.consumed);
    const popularity = (s: FeatureSources) =>
      rank(service.env, { features: RANKERS.POPULARITY.features(s), exclude, limit: 20, now: NOW });
    const a = popularity(sources);
    expect(a).toEqual(popularity({ live: before, batch: after }));
    expect(a).toEqual(popularity({ live: null, batch: null }));
    expect(a).toEqual(rank(service.env, { features: null, exclude, limit: 20, now: NOW }));
    expectWellFormed(a, 20, exclude);
    expect(a.some((r) => r.reasons.some((reason) => reason.startsWith('Because you')))).toBe(false);
  });
});

describe('cold start', () => {
  it('puts popular and trending items first with popularity reasons', () => {
    const items = baseCatalog();
    const { env, stats } = makeEnv(items);
    stats.recordEvents(popularityEvents(items.slice(0, 20), NOW - DAY_MS));
    const hits = { 'comedy-3': 60, 'drama-2': 40, 'crime-5': 30 } as const;
    for (const [id, n] of Object.entries(hits)) {
      for (let k = 0; k < n; k++) stats.record(id, 1, NOW - k * MINUTE_MS);
    }
    const row = rankFor(env, null, { limit: 20 });
    expectWellFormed(row, 20);
    expect(ids(row).slice(0, 3)).toEqual(['comedy-3', 'drama-2', 'crime-5']);
    expect(row[0]!.reasons[0]).toMatch(/^(Popular on the platform|Trending .+)$/);
    const allowed = /^(Popular on the platform|Trending now|Trending in .+|New in the catalog)$/;
    for (const r of row) for (const reason of r.reasons) expect(reason).toMatch(allowed);
    // Items with interactions precede items without any.
    const firstUnknown = row.findIndex((r) => stats.popularity(r.item.id) === 0);
    if (firstUnknown >= 0) {
      expect(row.slice(firstUnknown).every((r) => stats.popularity(r.item.id) === 0)).toBe(true);
      expect(row[firstUnknown]!.reasons).toEqual(['New in the catalog']);
    }
    // An empty profile (version 0) is a cold start too.
    expect(rankFor(env, toRankingFeatures(emptyProfile('nobody'), cfg), { limit: 20 })).toEqual(row);
  });

  it('falls back to "New in the catalog" with no interactions at all', () => {
    const { env } = makeEnv(baseCatalog());
    const row = rankFor(env, null);
    expect(row).toHaveLength(10);
    for (const r of row) expect(r.reasons).toEqual(['New in the catalog']);
  });
});

describe('diversity', () => {
  it('keeps the top 10 from being one genre when scores are nearly equal', () => {
    const items: CatalogItem[] = [
      ...Array.from({ length: 40 }, (_, i) => titled(movie(`dc-${String(i).padStart(2, '0')}`, ['Crime']), `Crime ${i}`)),
      ...Array.from({ length: 8 }, (_, i) => titled(movie(`dm-${i}`, ['Comedy']), `Comedy ${i}`)),
    ];
    const { env } = makeEnv(items);
    const features = featuresOf([
      ...[0, 1, 2, 3].map((i) => ev('PLAY', item(items, `dc-0${i}`), NOW - HOUR_MS - i * MINUTE_MS)),
      ...[0, 1, 2].map((i) => ev('PLAY', item(items, `dm-${i}`), NOW - HOUR_MS - i * MINUTE_MS)),
    ]);
    const plain = rankFor(env, features, { weights: { ...DEFAULT_WEIGHTS, diversity: 1 } });
    const diverse = rankFor(env, features);
    expectWellFormed(plain, 10, new Set(features.consumed));
    expectWellFormed(diverse, 10, new Set(features.consumed));
    // Without the re-rank, the slightly preferred genre takes the whole row...
    expect(new Set(plain.map((r) => r.item.genres[0]))).toEqual(new Set(['Crime']));
    // ...with it, the other genre gets in.
    const genres = diverse.map((r) => r.item.genres[0]);
    expect(genres.filter((g) => g === 'Comedy').length).toBeGreaterThan(0);
    expect(genres.filter((g) => g === 'Crime').length).toBeGreaterThan(0);
    expect(diverse[0]!.item.genres[0]).toBe('Crime');
  });
});

describe('CoOccurrence', () => {
  it('gives similarity > 0 to items seen together and 0 otherwise', () => {
    const co = new CoOccurrence();
    co.observe('u1', 'a');
    co.observe('u1', 'b');
    co.observe('u2', 'a');
    co.observe('u2', 'b');
    co.observe('u3', 'c');
    co.observe('u4', 'd');
    co.observe('u4', 'a');
    expect(co.similarity('a', 'b')).toBeGreaterThan(0);
    expect(co.similarity('a', 'b')).toBeCloseTo(co.similarity('b', 'a'), 12);
    expect(co.similarity('a', 'b')).toBeCloseTo(2 / Math.sqrt(3 * 2), 12);
    expect(co.similarity('a', 'd')).toBeGreaterThan(0);
    expect(co.similarity('a', 'c')).toBe(0);
    expect(co.similarity('b', 'd')).toBe(0);
    expect(co.similarity('c', 'never-seen')).toBe(0);
    expect(co.similarity('never-seen', 'a')).toBe(0);
    expect(co.topNeighbors('c', 5)).toEqual([]);
    expect(co.topNeighbors('never-seen', 5)).toEqual([]);
  });

  it('weighs nearer neighbours in a sequence more, and ignores repeats within the window', () => {
    const co = new CoOccurrence();
    for (const id of ['x', 'y', 'z']) co.observe('u', id);
    expect(co.topNeighbors('z', 5)).toEqual(['y', 'x']);
    expect(co.similarity('z', 'y')).toBeGreaterThan(co.similarity('z', 'x'));
    const before = co.similarity('x', 'y');
    co.observe('u', 'x');
    co.observe('u', 'y');
    expect(co.similarity('x', 'y')).toBe(before);
  });

  it('pairs each item with at most `window` previous items of the user', () => {
    const co = new CoOccurrence({ ...DEFAULT_CO_OCCURRENCE, window: 2 });
    for (const id of ['i0', 'i1', 'i2', 'i3']) co.observe('u', id);
    expect(co.similarity('i2', 'i0')).toBeGreaterThan(0);
    expect(co.similarity('i3', 'i1')).toBeGreaterThan(0);
    expect(co.similarity('i3', 'i2')).toBeGreaterThan(0);
    expect(co.similarity('i3', 'i0')).toBe(0);
  });

  it('keeps at most about maxNeighbors neighbours per item, the strongest ones', () => {
    const maxNeighbors = 4;
    const co = new CoOccurrence({ window: 10, maxNeighbors, maxUsers: 10_000 });
    // 'strong' follows the hub for five users; then 40 one-off neighbours.
    for (let u = 0; u < 5; u++) {
      co.observe(`s${u}`, 'hub');
      co.observe(`s${u}`, 'strong');
    }
    for (let u = 0; u < 40; u++) {
      co.observe(`w${u}`, 'hub');
      co.observe(`w${u}`, `weak-${u}`);
      expect(co.topNeighbors('hub', 1000).length).toBeLessThanOrEqual(Math.floor(maxNeighbors * 1.5));
    }
    expect(co.topNeighbors('hub', 1)).toEqual(['strong']);
    expect(co.similarity('hub', 'strong')).toBeGreaterThan(0);
    const kept = co.topNeighbors('hub', 1000);
    const dropped = Array.from({ length: 40 }, (_, u) => `weak-${u}`).filter((id) => !kept.includes(id));
    expect(dropped.length).toBeGreaterThan(30);
    for (const id of dropped) expect(co.similarity('hub', id)).toBe(0);
  });

  it('remembers at most maxUsers users, forgetting the least recently active first', () => {
    const small = new CoOccurrence({ window: 10, maxNeighbors: 200, maxUsers: 2 });
    small.observe('a', 'x');
    small.observe('b', 'y');
    small.observe('a', 'x2'); // a is now the most recently active
    small.observe('c', 'z'); // evicts b
    small.observe('a', 'w');
    small.observe('b', 'v');
    expect(small.similarity('x', 'w')).toBeGreaterThan(0);
    expect(small.similarity('x2', 'w')).toBeGreaterThan(0);
    expect(small.similarity('y', 'v')).toBe(0);

    const tiny = new CoOccurrence({ window: 10, maxNeighbors: 200, maxUsers: 1 });
    tiny.observe('a', 'x');
    tiny.observe('b', 'y');
    tiny.observe('a', 'w');
    expect(tiny.similarity('x', 'w')).toBe(0);

    const large = new CoOccurrence({ window: 10, maxNeighbors: 200, maxUsers: 3 });
    large.observe('a', 'x');
    large.observe('b', 'y');
    large.observe('a', 'w');
    expect(large.similarity('x', 'w')).toBeGreaterThan(0);
  });

  it("gives items that co-occur with the user's recent items a 'Because you watched <title>' reason", () => {
    const items = baseCatalog();
    const { env, stats } = makeEnv(items);
    stats.recordEvents(popularityEvents(items, NOW));
    for (let u = 0; u < 5; u++) {
      env.coOccurrence.observe(`o${u}`, 'crime-2');
      env.coOccurrence.observe(`o${u}`, 'comedy-7');
      env.coOccurrence.observe(`p${u}`, `${SERIES_ID}-e1`);
      env.coOccurrence.observe(`p${u}`, 'drama-4');
    }
    const features = featuresOf([
      ev('PLAY', item(items, `${SERIES_ID}-e1`), NOW - 2 * HOUR_MS),
      ev('PLAY', item(items, 'crime-2'), NOW - HOUR_MS),
    ]);
    expect(features.recent).toEqual(['crime-2', `${SERIES_ID}-e1`]);
    const row = rankFor(env, features, { limit: 20 });
    expectWellFormed(row, 20, new Set(features.consumed));
    const comedy = row.find((r) => r.item.id === 'comedy-7');
    const drama = row.find((r) => r.item.id === 'drama-4');
    expect(comedy?.reasons[0]).toBe('Because you watched Crime Movie 2');
    // An episode is named by its series.
    expect(drama?.reasons[0]).toBe(`Because you watched ${SERIES_TITLE}`);
    for (const r of row) {
      if (r.item.id === 'comedy-7' || r.item.id === 'drama-4') continue;
      expect(r.reasons.filter((reason) => /^Because you watched (?!\d+ episodes? of )/.test(reason))).toEqual([]);
    }
  });
});

describe('retrieval', () => {
  it('looks at far fewer items than a 5,000-item catalog holds', () => {
    const rng = mulberry32(7);
    const genres = Array.from({ length: 25 }, (_, g) => `g${g}`);
    const items: CatalogItem[] = Array.from({ length: 5000 }, (_, i) => ({
      id: `big-${String(i).padStart(4, '0')}`,
      kind: 'MOVIE',
      title: `Big ${i}`,
      genres: [genres[i % 25]!, genres[(i * 7 + 3) % 25]!],
      metadata: { director: `director-${i % 300}` },
    }));
    const { env, stats, catalog } = makeEnv(items);
    for (let n = 0; n < 4000; n++) stats.record(pick(rng, items).id, 1, NOW - randInt(rng, 0, 20 * DAY_MS));
    for (let u = 0; u < 300; u++) {
      const g = randInt(rng, 0, 24);
      for (let k = 0; k < 5; k++) env.coOccurrence.observe(`cu${u}`, items[g + 25 * randInt(rng, 0, 199)]!.id);
    }
    const history = shuffled(items, rng).slice(0, 12);
    const features = featuresOf(history.map((it, i) => ev('PLAY', it, NOW - (12 - i) * HOUR_MS)));

    const spy = vi.spyOn(catalog, 'get');
    const row = rankFor(env, features, { limit: 20 });
    expect(row).toHaveLength(20);
    expectWellFormed(row, 20, new Set(features.consumed));
    expect(spy).toHaveBeenCalled();
    expect(spy.mock.calls.length).toBeLessThan(1000);
    expect(new Set(spy.mock.calls.map(([id]) => id)).size).toBeLessThan(1000);
  });
});

describe('rows are well formed', () => {
  it('has positions 1..n, non-empty reasons and no duplicates for many users', async () => {
    const items = baseCatalog();
    const service = await makeService(items);
    const rng = mulberry32(99);
    for (let u = 0; u < 25; u++) {
      const userId = `rand-${u}`;
      const events = Array.from({ length: randInt(rng, 0, 12) }, (_, k) =>
        ev(pick(rng, ['PLAY', 'VIEW', 'CLICK', 'LIKE', 'COMPLETE', 'PURCHASE', 'SKIP'] as const), pick(rng, items), NOW - (k + 1) * HOUR_MS, userId),
      );
      service.consume(events);
      const live = events.length > 0 ? featuresOf(events) : null;
      const batch = events.length > 2 ? featuresOf(events.slice(0, 2)) : null;
      for (const model of ['REALTIME', 'BASELINE'] as const) {
        const limit = randInt(rng, 1, 40);
        const row = service.recommend(request(live, batch, { userId, model, limit }));
        expectWellFormedRow(row, limit);
        for (const id of live?.consumed ?? []) expect(ids(row.items)).not.toContain(id);
        expect(row.items.length).toBeGreaterThan(0);
      }
    }
  });
});

describe('CatalogIndex', () => {
  const listItems: CatalogItem[] = [
    titled(movie('d1', ['Crime', 'Comedy']), 'D1'),
    titled(product('c2', 'kitchen', 'SKU-C2'), 'C2'),
    titled(movie('a1', ['Crime']), 'A1'),
    titled(episode('s1', 2, ['Crime'], 'S'), 'B2'),
    titled(movie('a2', ['Comedy']), 'A2'),
    titled(product('c1', 'kitchen', 'SKU-C1'), 'C1'),
    titled(episode('s1', 1, ['Crime'], 'S'), 'B1'),
  ];
  // Episode ids come from the fixture: s1-e1, s1-e2.

  /** Every page of `list` with page size `first`. */
  function allPages(catalog: CatalogIndex, filter: Parameters<CatalogIndex['list']>[0], first: number) {
    const pages: Array<{ ids: string[]; hasNextPage: boolean }> = [];
    let after: string | null = null;
    for (;;) {
      const page = catalog.list(filter, after, first);
      pages.push({ ids: page.items.map((i) => i.id), hasNextPage: page.hasNextPage });
      if (!page.hasNextPage) return pages;
      after = page.items[page.items.length - 1]!.id;
    }
  }

  it('lists in id order after the cursor, with hasNextPage', () => {
    const { catalog } = makeEnv(listItems);
    expect(catalog.size).toBe(7);
    expect(catalog.list({}, null, 3)).toEqual({ items: ['a1', 'a2', 'c1'].map((id) => item(listItems, id)), hasNextPage: true });
    expect(allPages(catalog, {}, 3)).toEqual([
      { ids: ['a1', 'a2', 'c1'], hasNextPage: true },
      { ids: ['c2', 'd1', 's1-e1'], hasNextPage: true },
      { ids: ['s1-e2'], hasNextPage: false },
    ]);
    // An exactly full last page has no next page.
    expect(catalog.list({}, 'c2', 4)).toEqual({ items: ['d1', 's1-e1', 's1-e2'].map((id) => item(listItems, id)), hasNextPage: false });
    expect(catalog.list({}, 'a2', 5).hasNextPage).toBe(false);
    // A cursor need not be an existing id.
    expect(catalog.list({}, 'a15', 1).items.map((i) => i.id)).toEqual(['a2']);
    expect(catalog.list({}, 'zzz', 10)).toEqual({ items: [], hasNextPage: false });
    expect(catalog.list({}, null, 100).items).toHaveLength(7);
  });

  it('filters by kind, genre, category and series (null means no filter)', () => {
    const { catalog } = makeEnv(listItems);
    expect(allPages(catalog, { genre: 'Crime' }, 2)).toEqual([
      { ids: ['a1', 'd1'], hasNextPage: true },
      { ids: ['s1-e1', 's1-e2'], hasNextPage: false },
    ]);
    expect(allPages(catalog, { kind: 'PRODUCT' }, 1)).toEqual([
      { ids: ['c1'], hasNextPage: true },
      { ids: ['c2'], hasNextPage: false },
    ]);
    expect(catalog.list({ category: 'kitchen', kind: 'PRODUCT' }, null, 10).items.map((i) => i.id)).toEqual(['c1', 'c2']);
    expect(catalog.list({ seriesId: 's1' }, 's1-e1', 10).items.map((i) => i.id)).toEqual(['s1-e2']);
    expect(catalog.list({ kind: 'MOVIE', genre: 'Comedy' }, null, 10).items.map((i) => i.id)).toEqual(['a2', 'd1']);
    expect(catalog.list({ kind: null, genre: null, category: null, seriesId: null }, null, 10).items).toHaveLength(7);
    expect(catalog.list({ genre: 'Western' }, null, 10)).toEqual({ items: [], hasNextPage: false });
  });

  it('re-indexes an item that is replaced', () => {
    const { catalog, stats } = makeEnv(listItems);
    for (const it of listItems) stats.record(it.id, 1, NOW);
    expect(catalog.popularInGenre('Crime', 10, NOW)).toContain('a1');
    expect(catalog.list({}, null, 100).items.map((i) => i.id)).toContain('a1');

    catalog.upsert([titled(movie('a1', ['Drama']), 'A1 (recut)'), titled(movie('a0', ['Drama']), 'A0')]);
    expect(catalog.size).toBe(8);
    expect(catalog.get('a1')?.title).toBe('A1 (recut)');
    expect(catalog.list({ genre: 'Crime' }, null, 10).items.map((i) => i.id)).not.toContain('a1');
    expect(catalog.list({ genre: 'Drama' }, null, 10).items.map((i) => i.id)).toEqual(['a0', 'a1']);
    expect(catalog.list({}, null, 2).items.map((i) => i.id)).toEqual(['a0', 'a1']);
    expect(catalog.popularInGenre('Crime', 10, NOW)).not.toContain('a1');
    expect(catalog.popularInGenre('Drama', 10, NOW)).toContain('a1');

    // An episode renumbered moves in the series index.
    catalog.upsert([titled(episode('s1', 2, ['Crime'], 'S'), 'B2'), { ...titled(episode('s1', 2, ['Crime'], 'S'), 'B2'), episode: 3 }]);
    expect(catalog.episodeNumbers('s1')).toEqual([1, 3]);
    expect(catalog.episode('s1', 2)).toBeUndefined();
    expect(catalog.episode('s1', 3)?.id).toBe('s1-e2');
  });

  it('rebuilds popularity orderings at most every refreshMs', () => {
    const { catalog, stats } = makeEnv(listItems, 1000);
    stats.record('a1', 5, NOW);
    stats.record('a2', 1, NOW);
    expect(catalog.popular(2, NOW)).toEqual(['a1', 'a2']);
    stats.record('a2', 10, NOW);
    expect(catalog.popular(2, NOW + 500)).toEqual(['a1', 'a2']);
    expect(catalog.popular(2, NOW + 1000)).toEqual(['a2', 'a1']);
    // Without changes the orderings are kept.
    expect(catalog.popular(2, NOW + 5000)).toEqual(['a2', 'a1']);
  });

  it('keeps another item that took over an episode number when the old holder is renumbered', () => {
    const { catalog } = makeEnv([]);
    catalog.upsert([{ id: 'old-ep2', kind: 'EPISODE', genres: [], seriesId: 's9', episode: 2 }]);
    catalog.upsert([{ id: 'new-ep2', kind: 'EPISODE', genres: [], seriesId: 's9', episode: 2 }]);
    catalog.upsert([{ id: 'old-ep2', kind: 'EPISODE', genres: [], seriesId: 's9', episode: 99 }]);
    expect(catalog.episode('s9', 2)?.id).toBe('new-ep2');
  });
});

describe('parseFeatures', () => {
  const valid = featuresOf([
    ev('PLAY', titled(episode(SERIES_ID, 1, ['Crime'], SERIES_TITLE), 'E1'), NOW - HOUR_MS),
    ev('PURCHASE', titled(product('kitchen-0', 'kitchen', 'SKU-0', 'Acme'), 'Pan'), NOW),
  ]);

  it('accepts toRankingFeatures output, also after a JSON round trip', () => {
    expect(parseFeatures(valid)).toBe(valid);
    expect(parseFeatures(JSON.parse(JSON.stringify(valid)))).toEqual(valid);
    const empty = toRankingFeatures(emptyProfile('nobody'), cfg);
    expect(parseFeatures(empty)).toBe(empty);
  });

  it('rejects malformed documents', () => {
    const bad: unknown[] = [
      null,
      undefined,
      42,
      'features',
      [],
      {},
      { ...valid, v: 2 },
      { ...valid, v: '1' },
      { ...valid, version: '3' },
      { ...valid, halfLifeMs: 0 },
      { ...valid, halfLifeMs: -1 },
      { ...valid, halfLifeMs: Number.NaN },
      { ...valid, genres: 'Crime' },
      { ...valid, genres: { Crime: 1 } },
      { ...valid, genres: [{ key: 'Crime', score: '1', count: 1, lastSeenAt: NOW }] },
      { ...valid, genres: [null] },
      { ...valid, categories: undefined },
      { ...valid, facets: null },
      { ...valid, facets: { brand: 'Acme' } },
      { ...valid, series: {} },
      { ...valid, consumed: 'kitchen-0' },
      { ...valid, recent: null },
    ];
    for (const value of bad) expect(parseFeatures(value)).toBeNull();
  });

  it('rejects documents whose series entries are not series features', () => {
    const malformed = { ...valid, series: [null] };
    expect(parseFeatures(malformed)).toBeNull();
  });
});
