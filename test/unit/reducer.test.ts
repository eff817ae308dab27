import { describe, expect, it } from 'vitest';
import { DAY_MS, DEFAULT_REDUCER_CONFIG } from '../../subgraphs/profile/src/domain/config.js';
import type { ProfileLimits, ReducerConfig } from '../../subgraphs/profile/src/domain/config.js';
import { eventKey } from '../../lib/contracts/event.js';
import type { EventType, ItemRef, ProfileEvent } from '../../lib/contracts/event.js';
import { rankAffinities, toRankingFeatures } from '../../subgraphs/profile/src/domain/features.js';
import { emptyProfile } from '../../subgraphs/profile/src/domain/profile.js';
import type { Profile } from '../../subgraphs/profile/src/domain/profile.js';
import { applyEvent, applyEvents, mergeProfiles } from '../../subgraphs/profile/src/domain/reducer.js';
import {
  MINUTE_MS,
  T0,
  deepFreeze,
  episode,
  event,
  movie,
  mulberry32,
  normalize,
  pick,
  product,
  randInt,
  roundFloat,
  shuffled,
} from './fixtures.js';
import type { EventInit, Rng } from './fixtures.js';

const cfg = DEFAULT_REDUCER_CONFIG;
const H = cfg.halfLifeMs;

// ---------------------------------------------------------------------------------------------
// Helpers

/** Applies `events` as one batch. */
function fold(events: readonly ProfileEvent[], config: ReducerConfig = cfg, start: Profile | null = null): Profile {
  return applyEvents(start, events, config).profile;
}

/** Applies `events` one call at a time. */
function foldOneByOne(events: readonly ProfileEvent[], config: ReducerConfig = cfg): Profile {
  let p: Profile | null = null;
  for (const e of events) p = applyEvent(p, e, config);
  if (!p) throw new Error('no events');
  return p;
}

/** Applies `events` in batches of random size. */
function foldInChunks(events: readonly ProfileEvent[], rng: Rng, maxChunk: number, config: ReducerConfig = cfg): Profile {
  let p: Profile | null = null;
  for (let i = 0; i < events.length; ) {
    const n = randInt(rng, 1, maxChunk);
    p = applyEvents(p, events.slice(i, i + n), config).profile;
    i += n;
  }
  if (!p) throw new Error('no events');
  return p;
}

const byTime = (events: readonly ProfileEvent[]) => [...events].sort((a, b) => a.occurredAt - b.occurredAt);
const withUser = (events: readonly ProfileEvent[], userId: string) => events.map((e) => ({ ...e, userId }));
/** Events sent for `sentAs` and moved by an alias to `userId` (the same events: same keys). */
const movedTo = (events: readonly ProfileEvent[], userId: string, sentAs: string) => events.map((e) => ({ ...e, userId, sentAs }));
const keyCount = (rec: object) => Object.keys(rec).length;

/** Ranking features with `consumed` sorted: it lists a set, in dictionary insertion order. */
function features(p: Profile, config: ReducerConfig = cfg): unknown {
  const f = toRankingFeatures(p, config);
  return normalize({ ...f, consumed: [...f.consumed].sort() });
}

/** Field-by-field comparison, floats to ~9 significant digits, everything else exact. */
function expectSameProfile(actual: Profile, expected: Profile): void {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const field of Object.keys(expected) as (keyof Profile)[]) {
    expect(normalize(actual[field]), `profile.${field}`).toEqual(normalize(expected[field]));
  }
}

/**
 * ~40 varied events for one user over 60 days: movies with director/cast/studio metadata, episodes
 * of two series, products with category, sku and brand, and IDENTIFY events. Event times are
 * distinct (1.5-day slots with jitter) and assigned in random order, so for example episode 3 may
 * be played before episode 1.
 */
function scenarioEvents(seed = 7): ProfileEvent[] {
  const m1 = movie('m1', ['drama', 'thriller'], { director: 'Nolan', cast: ['Actor A', 'Actor B'] });
  const m2 = movie('m2', ['comedy'], { director: 'Gerwig' });
  const m3 = movie('m3', ['drama'], { director: 'Nolan', studio: 'Syncopy' });
  const m4 = movie('m4', ['horror', 'thriller'], { director: 'Peele' });
  const m5 = movie('m5', ['comedy', 'romance'], { studio: 'A24', director: 'Gerwig' });
  const a = (n: number) => episode('series-a', n, ['drama', 'mystery'], 'Alpha');
  const b = (n: number) => episode('series-b', n, ['comedy'], 'Beta');
  const p1 = product('p1', 'shoes', 'SKU-1', 'Acme');
  const p2 = product('p2', 'shoes', 'SKU-2', 'Zed');
  const p3 = product('p3', 'books', 'SKU-3', 'Acme');
  const specs: [EventType, Partial<EventInit>][] = [
    ['PLAY', { item: m1 }],
    ['COMPLETE', { item: m1 }],
    ['RATE', { item: m1, properties: { rating: 4.5 } }],
    ['VIEW', { item: m2 }],
    ['PLAY', { item: m2 }],
    ['SKIP', { item: m2 }],
    ['LIKE', { item: m3 }],
    ['PLAY', { item: m3 }],
    ['DISLIKE', { item: m4 }],
    ['VIEW', { item: m4 }],
    ['PLAY', { item: m5 }],
    ['RATE', { item: m5, properties: { rating: 2 } }],
    ['PLAY', { item: a(1) }],
    ['COMPLETE', { item: a(1) }],
    ['PLAY', { item: a(3) }],
    ['PLAY', { item: a(2) }],
    ['VIEW', { item: a(4) }],
    ['PLAY', { item: b(2) }],
    ['COMPLETE', { item: b(1) }],
    ['VIEW', { item: b(3) }],
    ['SKIP', { item: b(3) }],
    ['VIEW', { item: p1 }],
    ['VIEW', { item: p1 }],
    ['ADD_TO_CART', { item: p1 }],
    ['PURCHASE', { item: p1, properties: { quantity: 2 } }],
    ['VIEW', { item: p2 }],
    ['ADD_TO_CART', { item: p2 }],
    ['VIEW', { item: p3 }],
    ['PURCHASE', { item: p3 }],
    ['LIKE', { item: p3 }],
    ['IDENTIFY', { traits: { plan: 'free', country: 'DE' } }],
    ['IDENTIFY', { traits: { plan: 'pro' } }],
    ['IDENTIFY', { traits: { plan: 'enterprise', locale: 'de-DE' } }],
    ['IDENTIFY', { traits: { country: 'AT', tags: ['a', 'b'] } }],
    ['VIEW', { item: m1 }],
    ['RATE', { item: m2, properties: { rating: 3 } }],
    ['LIKE', { item: a(2) }],
    ['DISLIKE', { item: p2 }],
    ['COMPLETE', { item: m5 }],
    ['VIEW', { item: m3 }],
    ['PURCHASE', { item: p2, properties: { quantity: 1 } }],
  ];
  const rng = mulberry32(seed);
  const slotMs = (60 * DAY_MS) / specs.length;
  const times = shuffled(
    specs.map((_, i) => T0 + Math.floor(i * slotMs + rng() * (slotMs - 1))),
    rng,
  );
  return specs.map(([type, init], i) => {
    const occurredAt = times[i]!;
    return event(`evt-${i}`, type, occurredAt, { ...init, receivedAt: occurredAt + randInt(rng, 0, 10 * MINUTE_MS) });
  });
}

const RANDOM_TYPES: EventType[] = [
  'VIEW',
  'CLICK',
  'PLAY',
  'COMPLETE',
  'ADD_TO_CART',
  'REMOVE_FROM_CART',
  'PURCHASE',
  'RATE',
  'LIKE',
  'DISLIKE',
  'SKIP',
  'IDENTIFY',
];

/** A random event over large key spaces (200 genres, 100 categories, 2,000 movies, 80 series, …). */
function randomEvent(rng: Rng, i: number): ProfileEvent {
  const type = pick(rng, RANDOM_TYPES);
  const occurredAt = T0 + Math.floor(rng() * 90 * DAY_MS);
  const id = `rnd-${i}`;
  if (type === 'IDENTIFY') return event(id, type, occurredAt, { traits: { [`trait-${randInt(rng, 0, 49)}`]: randInt(rng, 0, 9) } });
  const genres = Array.from({ length: randInt(rng, 1, 3) }, () => `genre-${randInt(rng, 0, 199)}`);
  const roll = rng();
  const item: ItemRef =
    roll < 0.4
      ? movie(`movie-${randInt(rng, 0, 1999)}`, genres, { director: `director-${randInt(rng, 0, 99)}` })
      : roll < 0.7
        ? episode(`series-${randInt(rng, 0, 79)}`, randInt(rng, 1, 60), genres, 'Some series')
        : product(`product-${randInt(rng, 0, 999)}`, `category-${randInt(rng, 0, 99)}`, `sku-${randInt(rng, 0, 499)}`, `brand-${randInt(rng, 0, 59)}`);
  if (type === 'RATE') return event(id, type, occurredAt, { item, properties: { rating: randInt(rng, 1, 10) / 2 } });
  if (type === 'PURCHASE') return event(id, type, occurredAt, { item, properties: { quantity: randInt(rng, 1, 3) } });
  return event(id, type, occurredAt, { item });
}

function randomEvents(seed: number, n: number): ProfileEvent[] {
  const rng = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => randomEvent(rng, i));
}

// ---------------------------------------------------------------------------------------------

describe('idempotency', () => {
  const e = event('evt-1', 'PURCHASE', T0, { item: product('p1', 'shoes', 'SKU-1', 'Acme'), properties: { quantity: 2 } });

  it('applying the same event twice equals applying it once', () => {
    const once = applyEvent(null, e, cfg);
    const twice = applyEvent(once, e, cfg);
    expect(twice).toEqual(once);
    expect(twice.version).toBe(1);
    expect(twice.eventCount).toBe(1);
    expect(twice.skus['SKU-1']?.purchased).toBe(2);
    expect(applyEvents(once, [e], cfg).applied).toBe(0);
  });

  it('counts a repeated eventId inside one batch once', () => {
    const other = event('evt-2', 'VIEW', T0 + 1000, { item: movie('m1', ['drama']) });
    const outcome = applyEvents(null, [e, other, e, { ...e, occurredAt: T0 + 5000 }, other], cfg);
    expect(outcome.applied).toBe(2);
    expect(outcome.profile).toEqual(fold([e, other]));
    expect(outcome.profile.eventCount).toBe(2);
    expect(outcome.profile.skus['SKU-1']?.purchased).toBe(2);
  });

  it('redelivering a whole scenario changes nothing', () => {
    const events = scenarioEvents();
    const p = fold(events);
    const again = applyEvents(p, shuffled(events, mulberry32(3)), cfg);
    expect(again.applied).toBe(0);
    expect(again.profile).toEqual(p);
  });
});

describe('order independence', () => {
  const events = scenarioEvents();
  const reference = fold(byTime(events));

  it('the scenario exercises every part of the profile', () => {
    expect(reference.eventCount).toBe(events.length);
    for (const field of ['genres', 'categories', 'facets', 'recentItems', 'consumed', 'skus', 'series', 'traits'] as const) {
      expect(keyCount(reference[field]), field).toBeGreaterThan(1);
    }
    expect(Object.keys(reference.facets).sort()).toEqual(['cast', 'director', 'studio', 'brand'].sort());
  });

  it('one-by-one application in time order equals the batch', () => {
    expectSameProfile(foldOneByOne(byTime(events)), reference);
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('permutation with seed %i gives the same profile and features', (seed) => {
    const rng = mulberry32(seed);
    const permuted = shuffled(events, rng);
    for (const p of [fold(permuted), foldOneByOne(permuted), foldInChunks(permuted, rng, 7)]) {
      expectSameProfile(p, reference);
      expect(features(p)).toEqual(features(reference));
    }
  });

  it('reverse time order gives the same profile', () => {
    expectSameProfile(fold(byTime(events).reverse()), reference);
  });

  it('recent items and series in the features are ordered by event time', () => {
    const f = toRankingFeatures(reference, cfg);
    const recentTimes = f.recent.map((id) => reference.recentItems[id]!.lastEventAt);
    expect(recentTimes).toEqual([...recentTimes].sort((x, y) => y - x));
    expect(f.series.map((s) => s.lastWatchedAt)).toEqual(f.series.map((s) => s.lastWatchedAt).sort((x, y) => y - x));
  });
});

describe('time decay', () => {
  const drama = event('e-new', 'PLAY', T0, { item: movie('m1', ['drama']) });
  const comedyAt = (t: number) => event('e-old', 'PLAY', t, { item: movie('m2', ['comedy']) });

  function scores(p: Profile, config: ReducerConfig): Record<string, number> {
    const views = rankAffinities(p.genres, p.lastEventAt!, config.halfLifeMs, 10);
    return Object.fromEntries(views.map((v) => [v.key, v.score]));
  }

  it('a PLAY one half-life earlier counts half', () => {
    const s = scores(fold([comedyAt(T0 - H), drama]), cfg);
    expect(s['drama']).toBe(2);
    expect(s['comedy']).toBeCloseTo(1, 12);
  });

  it('honours halfLifeMs from the config', () => {
    const oneDay: ReducerConfig = { ...cfg, halfLifeMs: DAY_MS };
    const events = [comedyAt(T0 - DAY_MS), drama];
    expect(scores(fold(events, oneDay), oneDay)['comedy']).toBeCloseTo(1, 12);
    expect(scores(fold(events, cfg), cfg)['comedy']).toBeCloseTo(2 * 2 ** (-DAY_MS / H), 12);
  });

  it('contributions to one genre decay to the latest event', () => {
    const p = fold([
      event('a', 'PLAY', T0, { item: movie('m1', ['drama']) }),
      event('b', 'PLAY', T0 - 2 * H, { item: movie('m2', ['drama']) }),
    ]);
    expect(p.genres['drama']).toEqual({ score: 2.5, count: 2, lastSeenAt: T0 });
    expect(rankAffinities(p.genres, T0 + H, H, 1)[0]?.score).toBeCloseTo(1.25, 12);
  });
});

describe('series progress', () => {
  const play = (n: number, t: number) => event(`ep-${n}`, 'PLAY', t, { item: episode('s1', n, ['drama'], 'Show') });

  it('episodes played out of order are tracked in ascending order', () => {
    const p = fold([play(3, T0 + 1000), play(1, T0 + 3000), play(2, T0 + 2000)]);
    expect(p.series['s1']).toMatchObject({ title: 'Show', episodes: [1, 2, 3], lastWatchedAt: T0 + 3000 });
    const [series] = toRankingFeatures(p, cfg).series;
    expect(series).toMatchObject({ seriesId: 's1', lastEpisode: 3, watched: [1, 2, 3] });
  });

  it('a VIEW of an episode does not count as watched', () => {
    const view = (n: number, series: string) => event(`view-${series}-${n}`, 'VIEW', T0 + 5000, { item: episode(series, n, ['drama']) });
    const p = fold([play(1, T0), view(4, 's1'), view(1, 's2')]);
    expect(p.series['s1']?.episodes).toEqual([1]);
    expect(p.series['s2']).toBeUndefined();
    expect(p.recentItems['s1-e4']?.lastEventType).toBe('VIEW');
  });
});

describe('consumed items', () => {
  const item = movie('m1', ['drama']);
  const props = (type: EventType) => (type === 'RATE' ? { properties: { rating: 4 } } : {});

  it.each(['PLAY', 'COMPLETE', 'PURCHASE', 'RATE'] as const)('%s marks the item consumed', (type) => {
    expect(fold([event('e', type, T0, { item, ...props(type) })]).consumed['m1']).toBe(T0);
  });

  it.each(['VIEW', 'ADD_TO_CART', 'CLICK', 'LIKE', 'SKIP'] as const)('%s does not mark the item consumed', (type) => {
    const p = fold([event('e', type, T0, { item })]);
    expect(p.consumed['m1']).toBeUndefined();
    expect(toRankingFeatures(p, cfg).consumed).toEqual([]);
  });

  it('keeps the latest consumption time', () => {
    const p = fold([event('a', 'PLAY', T0 + 5000, { item }), event('b', 'COMPLETE', T0 + 1000, { item })]);
    expect(p.consumed['m1']).toBe(T0 + 5000);
  });
});

describe('sku counters', () => {
  it('counts views, add-to-carts and purchased quantities', () => {
    const item = product('p1', 'shoes', 'SKU-1');
    const p = fold([
      event('v1', 'VIEW', T0, { item }),
      event('v2', 'VIEW', T0 + 1000, { item }),
      event('c1', 'CLICK', T0 + 2000, { item }),
      event('a1', 'ADD_TO_CART', T0 + 3000, { item }),
      event('b1', 'PURCHASE', T0 + 9000, { item, properties: { quantity: 3 } }),
      event('b2', 'PURCHASE', T0 + 4000, { item }),
      event('x1', 'LIKE', T0 + 5000, { item }),
    ]);
    expect(p.skus['SKU-1']).toEqual({ viewed: 3, addedToCart: 1, purchased: 4, lastSeenAt: T0 + 9000 });
  });

  it.each([0, -2, 1.5, 'abc'])('an invalid quantity (%s) counts as one', (quantity) => {
    const p = fold([event('b', 'PURCHASE', T0, { item: product('p1', 'shoes', 'SKU-1'), properties: { quantity } })]);
    expect(p.skus['SKU-1']?.purchased).toBe(1);
  });
});

describe('traits', () => {
  const early = event('id-1', 'IDENTIFY', T0, { traits: { plan: 'free', country: 'DE' } });
  const late = event('id-2', 'IDENTIFY', T0 + 1000, { traits: { plan: 'pro' } });

  it('IDENTIFY sets traits with their event time', () => {
    expect(fold([early]).traits).toEqual({ plan: { value: 'free', at: T0 }, country: { value: 'DE', at: T0 } });
  });

  it('the later write in event time wins regardless of arrival order', () => {
    const expected = { plan: { value: 'pro', at: T0 + 1000 }, country: { value: 'DE', at: T0 } };
    expect(fold([early, late]).traits).toEqual(expected);
    expect(fold([late, early]).traits).toEqual(expected);
    expect(applyEvent(applyEvent(null, late, cfg), early, cfg).traits).toEqual(expected);
  });

  it('simultaneous writes resolve the same way in either order', () => {
    const other = event('id-3', 'IDENTIFY', T0, { traits: { plan: 'basic' } });
    expect(fold([early, other]).traits).toEqual(fold([other, early]).traits);
  });
});

describe('bounds', () => {
  const small: ReducerConfig = {
    ...cfg,
    limits: {
      affinityKeys: 5,
      facetKeys: 3,
      recentItems: 5,
      consumedItems: 10,
      skus: 5,
      computedTraitEntries: 4,
      computedTraits: 3,
      series: 3,
      episodesPerSeries: 4,
      appliedEventIds: 8,
      traitKeys: 3,
    },
  };

  function expectWithinLimits(p: Profile, limits: ProfileLimits): void {
    expect(keyCount(p.genres)).toBeLessThanOrEqual(limits.affinityKeys);
    expect(keyCount(p.categories)).toBeLessThanOrEqual(limits.affinityKeys);
    for (const facet of Object.values(p.facets)) expect(keyCount(facet)).toBeLessThanOrEqual(limits.facetKeys);
    expect(keyCount(p.recentItems)).toBeLessThanOrEqual(limits.recentItems);
    expect(keyCount(p.consumed)).toBeLessThanOrEqual(limits.consumedItems);
    expect(keyCount(p.skus)).toBeLessThanOrEqual(limits.skus);
    expect(keyCount(p.series)).toBeLessThanOrEqual(limits.series);
    for (const s of Object.values(p.series)) expect(s.episodes.length).toBeLessThanOrEqual(limits.episodesPerSeries);
    expect(keyCount(p.appliedEventIds)).toBeLessThanOrEqual(limits.appliedEventIds);
    expect(keyCount(p.traits)).toBeLessThanOrEqual(limits.traitKeys);
  }

  it('every map stays within small custom limits over 5,000 events', () => {
    const events = randomEvents(11, 5000);
    const rng = mulberry32(12);
    let p: Profile | null = null;
    for (let i = 0; i < events.length; ) {
      const n = randInt(rng, 1, 100);
      p = applyEvents(p, events.slice(i, i + n), small).profile;
      expectWithinLimits(p, small.limits);
      i += n;
    }
    if (!p) throw new Error('no profile');
    expect(p.eventCount).toBe(5000);
    // The limits were actually reached.
    expect(keyCount(p.genres)).toBe(5);
    expect(keyCount(p.consumed)).toBe(10);
    expect(keyCount(p.appliedEventIds)).toBe(8);
    expect(keyCount(p.traits)).toBe(3);
    expect(Math.max(...Object.values(p.series).map((s) => s.episodes.length))).toBe(4);
  });

  it('one batch of 5,000 events is trimmed to the limits too', () => {
    expectWithinLimits(fold(randomEvents(13, 5000), small), small.limits);
  });

  it('keeps the highest-scoring genres and the most recent items', () => {
    const p = fold(
      Array.from({ length: 10 }, (_, i) =>
        event(`e${i}`, 'PLAY', T0 + i * 1000, { item: movie(`m${i}`, Array.from({ length: i + 1 }, (_, g) => `g${g}`)) }),
      ),
      small,
    );
    // g0 appears in all 10 items, g1 in 9, …
    expect(Object.keys(p.genres).sort()).toEqual(['g0', 'g1', 'g2', 'g3', 'g4']);
    expect(Object.keys(p.recentItems).sort()).toEqual(['m5', 'm6', 'm7', 'm8', 'm9']);
  });

  it('a default-limit profile built from 5,000 random events stays under 64 KB of JSON', () => {
    const p = foldInChunks(randomEvents(17, 5000), mulberry32(18), 50);
    expectWithinLimits(p, cfg.limits);
    expect(Buffer.byteLength(JSON.stringify(p))).toBeLessThan(64 * 1024);
  });
});

describe('special keys', () => {
  const polluted = () => (Object.prototype as Record<string, unknown>)['polluted'] ?? ({} as Record<string, unknown>)['polluted'];

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'])('%s is an ordinary key', (key) => {
    const item: ItemRef = { id: key, kind: 'PRODUCT', genres: [key, 'plain'], category: key, sku: key, metadata: { brand: key } };
    // JSON.parse makes `key` an own property even for "__proto__" (as an HTTP body would).
    const traits = JSON.parse(`{"${key}": {"polluted": true}, "plain": 1}`) as Record<string, unknown>;
    const events = [
      event(key, 'VIEW', T0, { item }),
      event('e2', 'PURCHASE', T0 + 1000, { item, properties: { quantity: 2 } }),
      event('e3', 'PLAY', T0 + 2000, { item: { ...episode(key, 1, [key]), id: `${key}-ep` } }),
      event('e4', 'IDENTIFY', T0 + 3000, { traits }),
    ];
    const first = applyEvents(null, events, cfg);
    const p = first.profile;
    expect(first.applied).toBe(4);
    expect(polluted()).toBeUndefined();

    expect(Object.keys(p.genres).sort()).toEqual([key, 'plain'].sort());
    expect(p.genres[key]?.count).toBe(3);
    expect(p.categories[key]?.count).toBe(2);
    expect(p.facets['brand']?.[key]?.count).toBe(2);
    expect(p.skus[key]).toEqual({ viewed: 1, addedToCart: 0, purchased: 2, lastSeenAt: T0 + 1000 });
    expect(p.consumed[key]).toBe(T0 + 1000);
    expect(p.recentItems[key]?.interactions).toBe(2);
    expect(p.series[key]?.episodes).toEqual([1]);
    expect(p.traits[key]).toEqual({ value: { polluted: true }, at: T0 + 3000 });
    expect(Object.hasOwn(p.appliedEventIds, eventKey({ userId: 'user-1', eventId: key }))).toBe(true);

    const f = toRankingFeatures(p, cfg);
    expect(f.genres.map((g) => g.key)).toContain(key);
    expect(f.consumed).toContain(key);
    expect(f.series.map((s) => s.seriesId)).toEqual([key]);

    // Redelivery is still a no-op, also after a JSON round trip (how a store would keep it).
    expect(applyEvents(p, events, cfg).applied).toBe(0);
    const restored = JSON.parse(JSON.stringify(p)) as Profile;
    expect(applyEvents(restored, events, cfg).applied).toBe(0);
    const more = fold([event('e5', 'VIEW', T0 + 4000, { item })], cfg, restored);
    expect(more.genres[key]?.count).toBe(4);
    expect(more.skus[key]?.viewed).toBe(2);
    expect(polluted()).toBeUndefined();
  });

  it('merging profiles with special keys does not pollute prototypes', () => {
    const keys = ['__proto__', 'constructor', 'toString'];
    const build = (userId: string, t: number) =>
      fold(keys.map((k, i) => event(`${userId}-${k}`, 'PLAY', t + i, { userId, item: movie(k, [k], { director: k }) })));
    const m = mergeProfiles(build('user-1', T0), build('anon-1', T0 + 10_000), cfg);
    expect(polluted()).toBeUndefined();
    for (const k of keys) {
      expect(m.genres[k]?.count).toBe(2);
      expect(m.facets['director']?.[k]?.count).toBe(2);
      expect(m.recentItems[k]?.interactions).toBe(2);
    }
    expect(m.eventCount).toBe(6);
  });
});

describe('immutability', () => {
  const tiny: ReducerConfig = { ...cfg, limits: { ...cfg.limits, affinityKeys: 2, episodesPerSeries: 1, recentItems: 2, traitKeys: 1 } };
  const extra = [
    event('x1', 'PURCHASE', T0 + 61 * DAY_MS, { item: product('p1', 'shoes', 'SKU-1', 'Acme'), properties: { quantity: 1 } }),
    event('x2', 'PLAY', T0 + 62 * DAY_MS, { item: episode('series-a', 9, ['drama'], 'Alpha Renamed') }),
    event('x3', 'IDENTIFY', T0 + 63 * DAY_MS, { traits: { plan: 'free' } }),
    event('x4', 'RATE', T0 - DAY_MS, { item: movie('m1', ['drama']), properties: { rating: 1 } }),
  ];

  it.each([
    ['default limits', cfg],
    ['tiny limits', tiny],
  ])('applyEvents never mutates the input profile (%s)', (_name, config) => {
    const base = fold(scenarioEvents());
    const before = JSON.stringify(base);
    deepFreeze(base);
    const next = applyEvents(base, extra, config).profile;
    expect(JSON.stringify(base)).toBe(before);
    expect(next).not.toBe(base);
    expect(next.eventCount).toBe(base.eventCount + extra.length);
  });

  it('mergeProfiles never mutates either input', () => {
    const events = scenarioEvents();
    const target = deepFreeze(fold(events.slice(0, 20)));
    const source = deepFreeze(fold(withUser(events.slice(20), 'anon-1')));
    const before = [JSON.stringify(target), JSON.stringify(source)];
    mergeProfiles(target, source, cfg);
    mergeProfiles(source, target, tiny);
    expect([JSON.stringify(target), JSON.stringify(source)]).toEqual(before);
  });
});

describe('mergeProfiles', () => {
  const events = scenarioEvents();
  const known = events.filter((_, i) => i % 2 === 0);
  const anonymous = withUser(
    events.filter((_, i) => i % 2 === 1),
    'anon-1',
  );
  // One profile built from all events: the anonymous ones as the known user's profile gets them
  // once the alias moved them (sent for anon-1, so their keys stay anon-1's).
  const union = fold([...known, ...movedTo(anonymous, 'user-1', 'anon-1')], cfg, emptyProfile('user-1'));

  it('merging an anonymous profile equals one profile built from all events', () => {
    const target = fold(known);
    const source = fold(anonymous);
    const merged = mergeProfiles(target, source, cfg);
    expect(merged.userId).toBe('user-1');
    expect(merged.eventCount).toBe(target.eventCount + source.eventCount);
    expect(merged.version).toBe(target.version + source.version);
    // Genres present in both halves combine to the single-profile score.
    for (const genre of ['drama', 'comedy', 'thriller']) {
      expect(target.genres[genre], genre).toBeDefined();
      expect(source.genres[genre], genre).toBeDefined();
      expect(roundFloat(merged.genres[genre]!.score)).toBe(roundFloat(union.genres[genre]!.score));
      expect(merged.genres[genre]!.count).toBe(union.genres[genre]!.count);
    }
    expect(merged.series['series-a']?.episodes).toEqual([1, 2, 3]);
    expect(merged.series['series-b']?.episodes).toEqual([1, 2]);
    expect(Object.keys(merged.consumed).sort()).toEqual(
      [...new Set([...Object.keys(target.consumed), ...Object.keys(source.consumed)])].sort(),
    );
    expectSameProfile(merged, union);
  });

  it('merging into an empty profile copies the source', () => {
    const source = fold(anonymous);
    expectSameProfile(mergeProfiles(emptyProfile('anon-1'), source, cfg), source);
  });

  // The target got events 16-25 of the anonymous id after the alias moved them; the source has them too.
  const overlapping = () => ({
    target: fold([...events.slice(0, 16), ...movedTo(withUser(events.slice(16, 26), 'anon-1'), 'user-1', 'anon-1')]),
    source: fold(withUser(events.slice(16), 'anon-1')),
  });

  it('overlapping appliedEventIds are not double counted in eventCount and version', () => {
    const { target, source } = overlapping();
    const merged = mergeProfiles(target, source, cfg);
    expect(merged.eventCount).toBe(events.length);
    expect(merged.version).toBe(events.length);
    expect(keyCount(merged.appliedEventIds)).toBe(events.length);
    // Merging the same profile twice (a retried alias) keeps the count.
    expect(mergeProfiles(merged, source, cfg).eventCount).toBe(events.length);
  });

  it('merging a source the target already absorbed (a retried alias) changes nothing', () => {
    const { target, source } = overlapping();
    const merged = mergeProfiles(target, source, cfg);
    expect(mergeProfiles(merged, source, cfg)).toBe(merged);
  });
});

describe('arrival order edge cases', () => {
  it('the series title comes from the latest event in event time', () => {
    const oldTitle = event('t1', 'PLAY', T0, { item: episode('s1', 1, [], 'Old title') });
    const newTitle = event('t2', 'PLAY', T0 + 1000, { item: episode('s1', 2, [], 'New title') });
    expect(fold([oldTitle, newTitle]).series['s1']?.title).toBe('New title');
    expect(fold([newTitle, oldTitle]).series['s1']?.title).toBe('New title');
  });

  it('recent item state does not depend on arrival order for simultaneous events', () => {
    const item = product('p1', 'shoes', 'SKU-1');
    const cart = event('c', 'ADD_TO_CART', T0, { item });
    const buy = event('b', 'PURCHASE', T0, { item });
    expect(fold([cart, buy]).recentItems['p1']).toEqual(fold([buy, cart]).recentItems['p1']);
  });
});
