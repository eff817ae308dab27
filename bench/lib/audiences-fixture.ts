/**
 * Fixture of bench:audiences: 100 audiences of mixed rule kinds over the synthetic catalog
 * (bench/lib/synthetic.ts) and the demo movies the background load plays, and the workload that
 * feeds them: users with traits (an IDENTIFY first), genre tastes, series binges and purchases.
 *
 * Four audiences have jobs in the benchmark besides being evaluated:
 * - PROBE_COHORT (`traits: {cohort: "probe"}`): the IDENTIFY that warms a probe user up makes it
 *   enter, which tells the benchmark its subscription is live;
 * - PROBE_AUDIENCE (that cohort, and 1+ PLAY in 1 day): the probe event of a warmed-up user
 *   makes it enter (event → membership);
 * - TIME_WINDOW (1+ PLAY within 5 s) and TIME_RECENCY (lastEventWithin 3 s), both for that cohort
 *   only: exits due at a known time after one PLAY (time-driven transitions).
 */
import type { ProfileEvent } from '../../lib/contracts/event.js';
import { asItemRef } from '../../subgraphs/recommendations/src/domain/catalog.js';
import type { CatalogItem } from '../../subgraphs/recommendations/src/domain/catalog.js';
import { GENRES, rng, syntheticCatalog, syntheticEvents } from './synthetic.js';

export interface AudienceSpec {
  id: string;
  name: string;
  /** The rule kind it stands for in the mix (reported). */
  kind: string;
  rule: unknown;
}

export const PROBE_COHORT = 'probe-cohort';
export const PROBE_AUDIENCE = 'probe-players';
export const TIME_WINDOW = 'time-play-5s';
export const TIME_WINDOW_MS = 5000;
export const TIME_RECENCY = 'time-recent-3s';
export const TIME_RECENCY_MS = 3000;

/** The synthetic catalog the workload uses (series-<n>, SKU-<n>, its categories). */
export const CATALOG: CatalogItem[] = syntheticCatalog(2000, 7);
const CATEGORIES = [...new Set(CATALOG.filter((i) => i.category).map((i) => i.category!))].sort();
const SERIES = CATALOG.filter((i) => i.kind === 'SERIES').map((i) => i.id);
const PLANS = ['free', 'basic', 'premium'] as const;
const COUNTRIES = ['US', 'GB', 'DE', 'FR', 'IN', 'BR', 'JP'] as const;

/** 100 audiences; the ones an audience rule refers to come first (createAudience checks references). */
export function audienceSpecs(): AudienceSpec[] {
  const out: AudienceSpec[] = [];
  const add = (kind: string, id: string, name: string, rule: unknown) => out.push({ id, name, kind, rule });

  // The benchmark's own four.
  add('traits', PROBE_COHORT, 'Probe cohort', { traits: { cohort: 'probe' } });
  add('combination', PROBE_AUDIENCE, 'Probe players', { all: [{ audience: PROBE_COHORT }, { events: { types: ['PLAY'], within: '1d', gte: 1 } }] });
  // Scoped to the probe cohort: over every user, 3 s and 5 s windows would re-evaluate each
  // background user twice per event (an entry, then an exit seconds later), which no real
  // audience set does; the cohort's trait comes first, so other users are never scheduled.
  add('events', TIME_WINDOW, 'Probe cohort, played in the last 5 s', { all: [{ traits: { cohort: 'probe' } }, { events: { types: ['PLAY'], within: '5s', gte: 1 } }] });
  add('recency', TIME_RECENCY, 'Probe cohort, active in the last 3 s', { all: [{ traits: { cohort: 'probe' } }, { lastEventWithin: '3s' }] });

  // Trait conditions (GrowthBook): 12.
  for (const plan of PLANS) add('traits', `plan-${plan}`, `Plan ${plan}`, { traits: { plan } });
  for (const country of COUNTRIES.slice(0, 4)) add('traits', `country-${country.toLowerCase()}`, `In ${country}`, { traits: { country } });
  add('traits', 'adults-over-40', 'Over 40', { traits: { age: { $gte: 40 } } });
  add('traits', 'young-adults', '18 to 25', { traits: { age: { $gte: 18, $lt: 26 } } });
  add('traits', 'paid-europe', 'Paying, in Europe', { traits: { plan: { $in: ['basic', 'premium'] }, country: { $in: ['GB', 'DE', 'FR'] } } });
  add('traits', 'newsletter', 'Newsletter opt-in', { traits: { newsletter: true } });
  add('traits', 'no-country', 'Country unknown', { traits: { country: { $exists: false } } });

  // Decayed affinity: 16.
  for (const [i, genre] of GENRES.slice(0, 10).entries()) add('affinity', `affinity-${genre.toLowerCase()}`, `Likes ${genre}`, { affinity: { dimension: 'genre', key: genre, gte: 2 + (i % 3) } });
  for (const category of CATEGORIES.slice(0, 4)) add('affinity', `affinity-cat-${slug(category)}`, `Shops ${category}`, { affinity: { dimension: 'category', key: category, gte: 3 } });
  add('affinity', 'affinity-crime-demo', 'Likes Crime (demo catalog)', { affinity: { dimension: 'genre', key: 'Crime', gte: 4 } });
  add('affinity', 'affinity-director-0', 'Follows Director 0', { affinity: { dimension: 'facet', facet: 'director', key: 'Director 0', gte: 1 } });

  // Inline event windows: 16.
  const windows = ['1h', '1d', '7d', '30d'];
  for (const [i, genre] of GENRES.slice(0, 8).entries()) add('events', `binge-${genre.toLowerCase()}`, `${genre} binger`, { events: { types: ['PLAY', 'COMPLETE'], genre, within: windows[i % 4], gte: 2 + (i % 2) } });
  add('events', 'views-1h', '3+ views in an hour', { events: { types: ['VIEW'], within: '1h', gte: 3 } });
  add('events', 'carts-1d', 'Added to cart today', { events: { types: ['ADD_TO_CART'], within: '1d', gte: 1 } });
  add('events', 'completes-7d', '5+ completes this week', { events: { types: ['COMPLETE'], within: '7d', gte: 5 } });
  add('events', 'episodes-1d', 'Watched episodes today', { events: { types: ['PLAY'], kind: 'EPISODE', within: '1d', gte: 2 } });
  add('events', 'genres-7d', '4+ genres this week', { events: { types: ['PLAY', 'COMPLETE'], distinct: 'GENRE', within: '7d', gte: 4 } });
  add('events', 'demo-plays-1h', 'Played the demo catalog this hour', { events: { types: ['PLAY'], genre: 'Comedy', within: '1h', gte: 1 } });
  add('events', 'few-plays-30d', 'Fewer than 3 plays in 30 days', { events: { types: ['PLAY'], within: '30d', lt: 3 } });
  add('events', 'heavy-1d', '20+ plays today', { events: { types: ['PLAY'], within: '1d', gte: 20 } });

  // Series progress: 8.
  for (const [i, seriesId] of SERIES.slice(0, 6).entries()) add('series', `series-${i}-progress`, `Series ${i}, 3+ episodes`, { series: { seriesId, episodesWatched: { gte: 3 } } });
  add('series', 'series-any-5', 'Any series, 5+ episodes', { series: { episodesWatched: { gte: 5 } } });
  add('series', 'series-demo-harbor', 'The Harbor Files, 2+ episodes', { series: { seriesId: 'harbor-files', episodesWatched: { gte: 2 } } });

  // SKU and category purchases: 10.
  for (let s = 0; s < 5; s++) add('purchased', `bought-sku-${s}`, `Bought SKU-${s}`, { purchased: { sku: `SKU-${s}` } });
  for (const category of CATEGORIES.slice(0, 4)) add('purchased', `bought-${slug(category)}-30d`, `Bought ${category} in 30 days`, { purchased: { category, within: '30d' } });
  add('purchased', 'bought-coffee-twice', 'Bought coffee twice', { purchased: { category: 'Grocery/Coffee', gte: 2 } });

  // Recency: 8.
  for (const w of ['1h', '6h', '1d', '7d']) add('recency', `active-${w}`, `Active in ${w}`, { lastEventWithin: w });
  for (const w of ['1h', '1d', '7d', '30d']) add('recency', `inactive-${w}`, `Inactive for ${w}`, { inactiveFor: w });

  // Audience of audiences: 10.
  add('audience', 'premium-active', 'Premium, active today', { all: [{ audience: 'plan-premium' }, { audience: 'active-1d' }] });
  add('audience', 'free-lapsed', 'Free and lapsed', { all: [{ audience: 'plan-free' }, { audience: 'inactive-1d' }] });
  add('audience', 'crime-or-horror', 'Crime or horror fans', { any: [{ audience: 'affinity-crime' }, { audience: 'affinity-horror' }] });
  add('audience', 'not-premium', 'Not premium', { not: { audience: 'plan-premium' } });
  add('audience', 'bingers-any', 'Any binger', { any: GENRES.slice(0, 8).map((g) => ({ audience: `binge-${g.toLowerCase()}` })) });
  add('audience', 'shoppers', 'Shoppers', { any: [{ audience: 'carts-1d' }, { audience: 'bought-sku-0' }, { audience: 'bought-sku-1' }] });
  add('audience', 'upsell', 'Upsell: free bingers', { all: [{ audience: 'not-premium' }, { audience: 'bingers-any' }] });
  add('audience', 'series-fans-active', 'Series fans, active', { all: [{ audience: 'series-any-5' }, { audience: 'active-7d' }] });
  add('audience', 'vip', 'VIP', { all: [{ audience: 'premium-active' }, { audience: 'shoppers' }] });
  add('audience', 'winback', 'Win back', { all: [{ audience: 'upsell' }, { not: { audience: 'active-1h' } }] });

  // Combinations of kinds: fill to 100.
  const combos: [string, unknown][] = [
    ['premium-drama', { all: [{ traits: { plan: 'premium' } }, { affinity: { dimension: 'genre', key: 'Drama', gte: 2 } }] }],
    ['cart-abandoners', { all: [{ events: { types: ['ADD_TO_CART'], within: '1d', gte: 1 } }, { not: { events: { types: ['PURCHASE'], within: '1d', gte: 1 } } }] }],
    ['lapsed-bingers', { all: [{ series: { episodesWatched: { gte: 3 } } }, { inactiveFor: '1h' }] }],
    ['eu-comedy', { all: [{ traits: { country: { $in: ['GB', 'DE', 'FR'] } } }, { events: { types: ['PLAY'], genre: 'Comedy', within: '7d', gte: 1 } }] }],
    ['young-scifi', { all: [{ traits: { age: { $lt: 30 } } }, { affinity: { dimension: 'genre', key: 'Sci-Fi', gte: 1 } }] }],
    ['buyers-active', { all: [{ purchased: { category: CATEGORIES[0]!, within: '30d' } }, { lastEventWithin: '1d' }] }],
    ['explorers', { any: [{ events: { types: ['PLAY'], distinct: 'GENRE', within: '7d', gte: 5 } }, { series: { episodesWatched: { gte: 6 } } }] }],
    ['quiet-premium', { all: [{ traits: { plan: 'premium' } }, { not: { lastEventWithin: '6h' } }] }],
    ['horror-night', { all: [{ events: { types: ['PLAY', 'COMPLETE'], genre: 'Horror', within: '1d', gte: 1 } }, { affinity: { dimension: 'genre', key: 'Horror', gte: 1 } }] }],
    ['sku-and-cart', { any: [{ purchased: { sku: 'SKU-2', gte: 1 } }, { all: [{ events: { types: ['ADD_TO_CART'], within: '1h', gte: 2 } }, { traits: { plan: { $ne: 'free' } } }] }] }],
    ['families', { all: [{ affinity: { dimension: 'genre', key: 'Family', gte: 1 } }, { traits: { age: { $gte: 30 } } }, { lastEventWithin: '7d' }] }],
    ['docs-recent', { all: [{ events: { types: ['PLAY'], genre: 'Documentary', within: '1d', gte: 1 } }, { not: { audience: 'plan-free' } }] }],
    ['multi-device', { all: [{ traits: { devices: { $gte: 2 } } }, { lastEventWithin: '1d' }] }],
    ['window-shoppers', { all: [{ events: { types: ['VIEW'], kind: 'PRODUCT', within: '1d', gte: 2 } }, { not: { purchased: { category: CATEGORIES[1]!, within: '30d' } } }] }],
    ['binge-and-buy', { all: [{ series: { episodesWatched: { gte: 2 } } }, { purchased: { category: CATEGORIES[2]!, within: '30d' } }] }],
    ['high-value', { all: [{ events: { types: ['PURCHASE'], sum: 'quantity', within: '30d', gte: 3 } }, { traits: { plan: 'premium' } }] }],
    ['nearly-churned', { all: [{ inactiveFor: '1d' }, { events: { types: ['PLAY'], within: '30d', lt: 5 } }] }],
    ['action-thriller', { all: [{ affinity: { dimension: 'genre', key: 'Action', gte: 1 } }, { affinity: { dimension: 'genre', key: 'Thriller', gte: 1 } }] }],
    ['newsletter-lapsed', { all: [{ traits: { newsletter: true } }, { inactiveFor: '7d' }] }],
    ['any-activity-1h', { any: [{ lastEventWithin: '1h' }, { events: { types: ['PURCHASE'], within: '1d', gte: 1 } }] }],
  ];
  for (const [id, rule] of combos) {
    if (out.length >= 100) break;
    add('combination', id, id, rule);
  }
  if (out.length !== 100) throw new Error(`the fixture has ${out.length} audiences, not 100`);
  return out;
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/** The audience created over the stored profiles in the backfill phase (affinity, recency, a trait). */
export const BACKFILL_AUDIENCE: AudienceSpec = {
  id: 'backfill-drama-active',
  name: 'Drama fans active this month, not free',
  kind: 'combination',
  rule: { all: [{ affinity: { dimension: 'genre', key: 'Drama', gte: 1 } }, { lastEventWithin: '30d' }, { not: { traits: { plan: 'free' } } }] },
};

/** The traits a workload user identifies with (deterministic per user). */
export function traitsOf(userIndex: number): Record<string, unknown> {
  const r = rng(userIndex * 7919 + 13);
  return {
    plan: PLANS[Math.floor(r() * PLANS.length)],
    ...(r() < 0.9 ? { country: COUNTRIES[Math.floor(r() * COUNTRIES.length)] } : {}),
    age: 16 + Math.floor(r() * 60),
    newsletter: r() < 0.3,
    devices: 1 + Math.floor(r() * 3),
  };
}

/**
 * The workload of `users` users named `<prefix><offset + n>`, `perUser` events each over the last day (an
 * IDENTIFY first), in time order: genre tastes, series binges, shopping (bench/lib/synthetic.ts).
 */
export function workload(prefix: string, users: number, perUser: number, end = Date.now(), seed = 3, offset = 0): ProfileEvent[] {
  const span = 86_400_000;
  const events = syntheticEvents(CATALOG, users, perUser, end, span, seed + offset).map(({ receivedAt: _r, ...e }) => {
    const u = offset + Number(e.userId.slice('user-'.length));
    return { ...e, eventId: `${prefix}${u}-${e.eventId.slice(e.eventId.lastIndexOf('-') + 1)}`, userId: `${prefix}${u}` };
  });
  const identifies: ProfileEvent[] = Array.from({ length: users }, (_, i) => ({
    eventId: `${prefix}${offset + i}-id`,
    userId: `${prefix}${offset + i}`,
    type: 'IDENTIFY',
    occurredAt: end - span,
    traits: traitsOf(offset + i),
  }));
  return [...identifies, ...events];
}

/** A demo-like movie for probe events (the probe audience counts any PLAY). */
export const PROBE_ITEM = asItemRef({ id: 'probe-movie', kind: 'MOVIE', title: 'Probe', genres: ['Documentary'], metadata: { director: 'Director 1' } });
