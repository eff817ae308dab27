/** The stored profile: a plain JSON-serializable document, bounded in size by ProfileLimits. */
import type { DecayedScore } from '../../../../lib/contracts/decay.js';
import type { EventType, ItemRef } from '../../../../lib/contracts/event.js';

export type AffinityMap = Record<string, DecayedScore>;

export interface RecentItemState {
  item: ItemRef;
  lastEventType: EventType;
  lastEventAt: number;
  interactions: number;
}

export interface SkuState {
  viewed: number;
  addedToCart: number;
  purchased: number;
  lastSeenAt: number;
}

export interface SeriesState {
  title?: string;
  /** Event time of the title (the latest wins). */
  titleAt?: number;
  /** Episode numbers watched, ascending. */
  episodes: number[];
  lastWatchedAt: number;
}

export interface TraitState {
  value: unknown;
  /** Event time of the write; the latest write per key wins. */
  at: number;
}

export interface Profile {
  userId: string;
  version: number;
  eventCount: number;
  firstSeenAt: number | null;
  lastEventAt: number | null;
  /** Latest acceptance time (wall clock) of an applied event. */
  updatedAt: number | null;
  traits: Record<string, TraitState>;
  genres: AffinityMap;
  categories: AffinityMap;
  facets: Record<string, AffinityMap>;
  recentItems: Record<string, RecentItemState>;
  /** Item id → latest time it was consumed (played, completed, purchased, rated). */
  consumed: Record<string, number>;
  skus: Record<string, SkuState>;
  series: Record<string, SeriesState>;
  /** Recently applied event ids → event time, so redelivery is a no-op. */
  appliedEventIds: Record<string, number>;
}

/**
 * Records keyed by user-supplied strings use null prototypes, so keys such as `__proto__` or
 * `constructor` are plain keys.
 */
export function dict<V>(entries?: Iterable<readonly [string, V]>): Record<string, V> {
  const out = Object.create(null) as Record<string, V>;
  if (entries) for (const [k, v] of entries) out[k] = v;
  return out;
}

function copyDict<V>(rec: Record<string, V> | undefined, copy: (v: V) => V): Record<string, V> {
  const out = dict<V>();
  if (rec) for (const k of Object.keys(rec)) out[k] = copy(rec[k] as V);
  return out;
}

const same = <V>(v: V): V => v;
const shallow = <V extends object>(v: V): V => ({ ...v });

export function emptyProfile(userId: string): Profile {
  return {
    userId,
    version: 0,
    eventCount: 0,
    firstSeenAt: null,
    lastEventAt: null,
    updatedAt: null,
    traits: dict(),
    genres: dict(),
    categories: dict(),
    facets: dict(),
    recentItems: dict(),
    consumed: dict(),
    skus: dict(),
    series: dict(),
    appliedEventIds: dict(),
  };
}

/**
 * Turns a freshly parsed JSON profile into the reducer's shape in place (null-prototype records),
 * without copying: for adapters that deserialize a document nobody else holds.
 */
export function adoptProfile(p: Profile): Profile {
  const orphan = (rec: object | undefined) => {
    if (rec) Object.setPrototypeOf(rec, null);
  };
  for (const rec of [p.traits, p.genres, p.categories, p.facets, p.recentItems, p.consumed, p.skus, p.series, p.appliedEventIds]) {
    orphan(rec);
  }
  for (const facet of Object.values(p.facets)) orphan(facet);
  return p;
}

/** Deep copy with null-prototype records; the reducer mutates only such a copy. */
export function cloneProfile(p: Profile): Profile {
  return {
    userId: p.userId,
    version: p.version,
    eventCount: p.eventCount,
    firstSeenAt: p.firstSeenAt,
    lastEventAt: p.lastEventAt,
    updatedAt: p.updatedAt,
    traits: copyDict(p.traits, shallow),
    genres: copyDict(p.genres, shallow),
    categories: copyDict(p.categories, shallow),
    facets: copyDict(p.facets, (m) => copyDict(m, shallow)),
    recentItems: copyDict(p.recentItems, shallow),
    consumed: copyDict(p.consumed, same),
    skus: copyDict(p.skus, shallow),
    series: copyDict(p.series, (s) => ({ ...s, episodes: [...s.episodes] })),
    appliedEventIds: copyDict(p.appliedEventIds, same),
  };
}
