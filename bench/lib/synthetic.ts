/**
 * Deterministic synthetic catalogs and event streams for benchmarks (and tests that need volume):
 * movies, series with episodes and products, plus users with genre tastes who binge series.
 */
import type { ProfileEvent } from '../../lib/contracts/event.js';
import { asItemRef } from '../../subgraphs/recommendations/src/domain/catalog.js';
import type { CatalogItem } from '../../subgraphs/recommendations/src/domain/catalog.js';

/** mulberry32: small, fast, seedable. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const GENRES = [
  'Action', 'Adventure', 'Animation', 'Comedy', 'Crime', 'Documentary', 'Drama', 'Family', 'Fantasy', 'Horror',
  'Music', 'Mystery', 'Romance', 'Sci-Fi', 'Sport', 'Thriller', 'War', 'Western', 'Biography', 'History',
] as const;
const CATEGORIES = ['Electronics/Audio', 'Electronics/Tablets', 'Home/Kitchen', 'Books/Crime', 'Books/Sci-Fi', 'Outdoor/Bags', 'Grocery/Coffee', 'Media/Box Sets'];

const pick = <T>(r: () => number, list: readonly T[]): T => list[Math.floor(r() * list.length)]!;

/** About `size` items: 55% movies, 25% episodes of 8-episode series, 20% products. */
export function syntheticCatalog(size: number, seed = 1): CatalogItem[] {
  const r = rng(seed);
  const items: CatalogItem[] = [];
  const director = () => `Director ${Math.floor(r() * 300)}`;
  const seriesCount = Math.floor((size * 0.25) / 8);
  for (let s = 0; s < seriesCount; s++) {
    const genres = [pick(r, GENRES), pick(r, GENRES)].filter((g, i, a) => a.indexOf(g) === i);
    const d = director();
    const title = `Series ${s}`;
    items.push({ id: `series-${s}`, kind: 'SERIES', title, genres, metadata: { director: d } });
    for (let e = 1; e <= 7; e++) {
      items.push({
        id: `series-${s}-ep-${e}`,
        kind: 'EPISODE',
        title: `${title} E${e}`,
        genres,
        seriesId: `series-${s}`,
        episode: e,
        metadata: { director: d, seriesTitle: title },
      });
    }
  }
  const products = Math.floor(size * 0.2);
  for (let p = 0; p < products; p++) {
    items.push({
      id: `product-${p}`,
      kind: 'PRODUCT',
      title: `Product ${p}`,
      genres: [],
      category: pick(r, CATEGORIES),
      sku: `SKU-${p}`,
      metadata: { brand: `Brand ${Math.floor(r() * 80)}`, price: 5 + Math.floor(r() * 400) },
    });
  }
  for (let m = 0; items.length < size; m++) {
    const genres = [pick(r, GENRES), pick(r, GENRES), pick(r, GENRES)].slice(0, 1 + Math.floor(r() * 3));
    items.push({
      id: `movie-${m}`,
      kind: 'MOVIE',
      title: `Movie ${m}`,
      genres: [...new Set(genres)],
      releaseYear: 1970 + Math.floor(r() * 56),
      metadata: { director: director() },
    });
  }
  return items;
}


/**
 * Events from `users` users, `perUser` each, over `spanMs` ending at `end`: each user favours two
 * genres, watches series episodes in order, and sometimes shops.
 */
export function syntheticEvents(catalog: readonly CatalogItem[], users: number, perUser: number, end: number, spanMs: number, seed = 2): ProfileEvent[] {
  const r = rng(seed);
  const byGenre = new Map<string, CatalogItem[]>();
  for (const item of catalog) {
    if (item.kind === 'EPISODE' || item.kind === 'SERIES') continue;
    for (const g of item.genres) (byGenre.get(g) ?? byGenre.set(g, []).get(g)!).push(item);
  }
  const products = catalog.filter((i) => i.kind === 'PRODUCT');
  const series = catalog.filter((i) => i.kind === 'SERIES');
  const episode = new Map(catalog.filter((i) => i.kind === 'EPISODE').map((i) => [`${i.seriesId}#${i.episode}`, i]));
  const events: ProfileEvent[] = [];
  for (let u = 0; u < users; u++) {
    const userId = `user-${u}`;
    const tastes = [pick(r, GENRES), pick(r, GENRES)];
    let bingeSeries: CatalogItem | undefined;
    let nextEpisode = 1;
    for (let n = 0; n < perUser; n++) {
      const at = end - spanMs + Math.floor(((n + r()) / perUser) * spanMs);
      const roll = r();
      let item: CatalogItem | undefined;
      let type: ProfileEvent['type'] = 'PLAY';
      if (roll < 0.3) {
        if (!bingeSeries || nextEpisode > 7) {
          bingeSeries = pick(r, series);
          nextEpisode = 1;
        }
        item = episode.get(`${bingeSeries.id}#${nextEpisode++}`);
      } else if (roll < 0.85) {
        const pool = byGenre.get(r() < 0.8 ? pick(r, tastes) : pick(r, GENRES)) ?? [];
        // Skewed towards the head of each genre, as real popularity is.
        item = pool[Math.floor(Math.pow(r(), 2.5) * pool.length)];
        type = r() < 0.2 ? 'COMPLETE' : 'PLAY';
      } else if (products.length > 0) {
        item = products[Math.floor(Math.pow(r(), 2) * products.length)];
        type = r() < 0.6 ? 'VIEW' : r() < 0.7 ? 'ADD_TO_CART' : 'PURCHASE';
      }
      if (!item) continue;
      events.push({ eventId: `${userId}-${n}`, userId, type, occurredAt: at, receivedAt: at, item: asItemRef(item) });
    }
  }
  return events.sort((a, b) => a.occurredAt - b.occurredAt);
}

/** Median, p99 and mean of a list of durations. */
export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  n: number;
}

export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), mean: sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1), n: sorted.length };
}

/**
 * The same figures from a node:perf_hooks histogram (HDR: 3 significant digits, constant memory
 * however many values), its recorded integers divided by `unit` (1000: µs recorded, ms reported).
 */
export function histogramPercentiles(h: { count: number; mean: number; percentile(q: number): number } | undefined, unit = 1): Percentiles {
  if (!h || h.count === 0) return { p50: NaN, p95: NaN, p99: NaN, mean: NaN, n: 0 };
  return { p50: h.percentile(50) / unit, p95: h.percentile(95) / unit, p99: h.percentile(99) / unit, mean: h.mean / unit, n: h.count };
}
