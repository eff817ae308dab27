/**
 * The catalog and its retrieval indexes (by genre, category, series and metadata facet), so a
 * request looks at a few hundred candidates, never the whole catalog. Orderings by popularity
 * and trending are rebuilt lazily, at most every `refreshMs`.
 */
import { facetValues } from '../../../../lib/contracts/event.js';
import type { ItemKind, ItemRef } from '../../../../lib/contracts/event.js';
import type { ItemStats } from './item-stats.js';

export interface CatalogItem extends ItemRef {
  releaseYear?: number;
}

/** The item as events reference it (catalog-only fields dropped). */
export function asItemRef(item: CatalogItem): ItemRef {
  const { releaseYear: _year, ...ref } = item;
  return ref;
}

export interface ItemFilter {
  kind?: ItemKind | null;
  genre?: string | null;
  category?: string | null;
  seriesId?: string | null;
}

const LIST_DEPTH = 200;
const TRENDING_DEPTH = 50;

interface Orderings {
  popularByGenre: Map<string, string[]>;
  trendingByGenre: Map<string, string[]>;
  trendingRankByGenre: Map<string, Map<string, number>>;
  popularByCategory: Map<string, string[]>;
  popularByFacet: Map<string, string[]>;
  popular: string[];
  trending: string[];
}

function addTo(index: Map<string, Set<string>>, key: string, id: string): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(id);
}

function removeFrom(index: Map<string, Set<string>>, key: string, id: string): void {
  const set = index.get(key);
  set?.delete(id);
  if (set?.size === 0) index.delete(key);
}

export class CatalogIndex {
  private readonly items = new Map<string, CatalogItem>();
  private readonly byGenre = new Map<string, Set<string>>();
  private readonly byCategory = new Map<string, Set<string>>();
  private readonly byFacet = new Map<string, Set<string>>();
  private readonly bySeries = new Map<string, Map<number, string>>();
  private revision = 0;
  private sortedIds: string[] | undefined;
  private orderings: Orderings | undefined;
  private builtAt = -Infinity;
  private builtRevision = '';

  constructor(
    readonly facets: readonly string[],
    readonly stats: ItemStats,
    private readonly refreshMs = 1000,
  ) {}

  get size(): number {
    return this.items.size;
  }

  get(id: string): CatalogItem | undefined {
    return this.items.get(id);
  }

  upsert(items: readonly CatalogItem[]): void {
    for (const item of items) {
      const prev = this.items.get(item.id);
      if (prev) this.unindex(prev);
      this.items.set(item.id, item);
      this.index(item);
    }
    this.revision++;
    this.sortedIds = undefined;
  }

  private readonly facetKeyCache = new WeakMap<CatalogItem, string[]>();

  private facetKeys(item: CatalogItem): string[] {
    let keys = this.facetKeyCache.get(item);
    if (!keys) {
      keys = this.facets.flatMap((f) => facetValues(item, f).map((v) => `${f}\u0000${v}`));
      this.facetKeyCache.set(item, keys);
    }
    return keys;
  }

  private index(item: CatalogItem): void {
    for (const g of item.genres) addTo(this.byGenre, g, item.id);
    if (item.category) addTo(this.byCategory, item.category, item.id);
    for (const key of this.facetKeys(item)) addTo(this.byFacet, key, item.id);
    if (item.kind === 'EPISODE' && item.seriesId && item.episode !== undefined) {
      let eps = this.bySeries.get(item.seriesId);
      if (!eps) this.bySeries.set(item.seriesId, (eps = new Map()));
      eps.set(item.episode, item.id);
    }
  }

  private unindex(item: CatalogItem): void {
    for (const g of item.genres) removeFrom(this.byGenre, g, item.id);
    if (item.category) removeFrom(this.byCategory, item.category, item.id);
    for (const key of this.facetKeys(item)) removeFrom(this.byFacet, key, item.id);
    if (item.seriesId && item.episode !== undefined) {
      const episodes = this.bySeries.get(item.seriesId);
      // Another item may hold this episode number by now; only remove our own entry.
      if (episodes?.get(item.episode) === item.id) episodes.delete(item.episode);
    }
  }

  /** The episode of a series with the given number, if the catalog has it. */
  episode(seriesId: string, episode: number): CatalogItem | undefined {
    const id = this.bySeries.get(seriesId)?.get(episode);
    return id === undefined ? undefined : this.items.get(id);
  }

  /** Episode numbers of a series, ascending. */
  episodeNumbers(seriesId: string): number[] {
    return [...(this.bySeries.get(seriesId)?.keys() ?? [])].sort((a, b) => a - b);
  }

  private idsInOrder(): string[] {
    this.sortedIds ??= [...this.items.keys()].sort();
    return this.sortedIds;
  }

  /** Items in id order after the cursor id, matching the filter. */
  list(filter: ItemFilter, afterId: string | null, first: number): { items: CatalogItem[]; hasNextPage: boolean } {
    const ids = this.idsInOrder();
    let start = 0;
    if (afterId !== null) {
      let lo = 0;
      let hi = ids.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ids[mid]! <= afterId) lo = mid + 1;
        else hi = mid;
      }
      start = lo;
    }
    const out: CatalogItem[] = [];
    for (let i = start; i < ids.length; i++) {
      const item = this.items.get(ids[i]!)!;
      if (!matches(item, filter)) continue;
      if (out.length === first) return { items: out, hasNextPage: true };
      out.push(item);
    }
    return { items: out, hasNextPage: false };
  }

  private ensureOrderings(now: number): Orderings {
    const revision = `${this.revision}:${this.stats.revision}`;
    if (this.orderings && (revision === this.builtRevision || now - this.builtAt < this.refreshMs)) return this.orderings;
    // Sort the catalog once by popularity (and the trending items once by trending), then deal
    // the sorted ids out to each genre, category and facet list until it is deep enough.
    // Only items with interactions need sorting; the rest follow in id order.
    const popularity = new Map<string, number>();
    for (const [id, stat] of this.stats.entries()) if (this.items.has(id)) popularity.set(id, stat.popularity);
    const byPopularity = [...popularity.keys()].sort((a, b) => popularity.get(b)! - popularity.get(a)! || (a < b ? -1 : 1));
    for (const id of this.idsInOrder()) if (!popularity.has(id)) byPopularity.push(id);
    const trendingScore = new Map<string, number>();
    for (const [id] of this.stats.entries()) {
      const score = this.items.has(id) ? this.stats.trending(id, now) : 0;
      if (score > 0) trendingScore.set(id, score);
    }
    const byTrending = [...trendingScore.keys()].sort((a, b) => trendingScore.get(b)! - trendingScore.get(a)! || (a < b ? -1 : 1));

    const popularByGenre = new Map<string, string[]>();
    const popularByCategory = new Map<string, string[]>();
    const popularByFacet = new Map<string, string[]>();
    const deal = (lists: Map<string, string[]>, key: string, id: string, depth: number) => {
      let list = lists.get(key);
      if (!list) lists.set(key, (list = []));
      if (list.length < depth) list.push(id);
    };
    // Episodes are reached only as "the next episode" of a series in progress, never through lists.
    const listable = (id: string) => this.items.get(id)!.kind !== 'EPISODE';
    for (const id of byPopularity) {
      const item = this.items.get(id)!;
      if (item.kind === 'EPISODE') continue;
      for (const g of item.genres) deal(popularByGenre, g, id, LIST_DEPTH);
      if (item.category) deal(popularByCategory, item.category, id, LIST_DEPTH);
      for (const key of this.facetKeys(item)) deal(popularByFacet, key, id, 50);
    }
    const trendingByGenre = new Map<string, string[]>();
    for (const id of byTrending) {
      if (listable(id)) for (const g of this.items.get(id)!.genres) deal(trendingByGenre, g, id, TRENDING_DEPTH);
    }
    const trendingRankByGenre = new Map<string, Map<string, number>>();
    for (const [genre, ids] of trendingByGenre) trendingRankByGenre.set(genre, new Map(ids.map((id, i) => [id, i])));

    this.orderings = {
      popularByGenre,
      trendingByGenre,
      trendingRankByGenre,
      popularByCategory,
      popularByFacet,
      popular: byPopularity.filter(listable).slice(0, LIST_DEPTH),
      trending: byTrending.filter(listable).slice(0, TRENDING_DEPTH),
    };
    this.builtAt = now;
    this.builtRevision = revision;
    return this.orderings;
  }

  popularInGenre(genre: string, n: number, now: number): string[] {
    return this.ensureOrderings(now).popularByGenre.get(genre)?.slice(0, n) ?? [];
  }
  trendingInGenre(genre: string, n: number, now: number): string[] {
    return this.ensureOrderings(now).trendingByGenre.get(genre)?.slice(0, n) ?? [];
  }
  popularInCategory(category: string, n: number, now: number): string[] {
    return this.ensureOrderings(now).popularByCategory.get(category)?.slice(0, n) ?? [];
  }
  popularForFacet(facet: string, value: string, n: number, now: number): string[] {
    return this.ensureOrderings(now).popularByFacet.get(`${facet}\u0000${value}`)?.slice(0, n) ?? [];
  }
  popular(n: number, now: number): string[] {
    return this.ensureOrderings(now).popular.slice(0, n);
  }
  trending(n: number, now: number): string[] {
    return this.ensureOrderings(now).trending.slice(0, n);
  }
  /** 0-based position of the item among the genre's trending items (top 50), or -1. */
  trendingRankInGenre(genre: string, itemId: string, now: number): number {
    return this.ensureOrderings(now).trendingRankByGenre.get(genre)?.get(itemId) ?? -1;
  }
}

function matches(item: CatalogItem, f: ItemFilter): boolean {
  return (
    (f.kind == null || item.kind === f.kind) &&
    (f.genre == null || item.genres.includes(f.genre)) &&
    (f.category == null || item.category === f.category) &&
    (f.seriesId == null || item.seriesId === f.seriesId)
  );
}
