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

/**
 * One event's part in a windowed computed trait: its event time and the amount summed (COUNT,
 * FIRST_SEEN and LAST_SEEN count 1) or the value counted (DISTINCT, MOST_FREQUENT: one entry per
 * distinct value the event has).
 */
export type Contribution = [t: number, value: number | string];

/** Common to every computed-trait state. */
interface TraitStateBase {
  /**
   * The definition the state was built by (computed-traits.ts: traitSignature). A name deleted and
   * defined again differently starts over instead of reading the old definition's state.
   */
  sig: string;
}

/** A windowed computed trait keeps its recent contributions; the value is computed when read. */
export interface WindowedTraitState extends TraitStateBase {
  /** Ascending by time, then value: those within the window of the newest, at most `computedTraitEntries`. */
  entries: Contribution[];
}

/** An all-time computed trait keeps running aggregates. */
export interface AllTimeTraitState extends TraitStateBase {
  /** Contributing events, and the first and last of their times. */
  count: number;
  first: number;
  last: number;
  /** SUM only. */
  sum?: number;
  /** DISTINCT and MOST_FREQUENT only: value → events with it, at most `computedTraitEntries` values. */
  counts?: Record<string, number>;
}

export type ComputedState = WindowedTraitState | AllTimeTraitState;

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
  /**
   * Computed-trait name → state. Profiles stored before computed traits have none: adoptProfile
   * and cloneProfile give them an empty record.
   */
  computed: Record<string, ComputedState>;
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
    computed: dict(),
  };
}

/**
 * Turns a freshly parsed JSON profile into the reducer's shape in place (null-prototype records),
 * without copying: for adapters that deserialize a document nobody else holds.
 */
export function adoptProfile(p: Profile): Profile {
  p.computed ??= dict();
  for (const rec of userKeyedRecords(p)) Object.setPrototypeOf(rec, null);
  return p;
}

/** The profile's records keyed by user-supplied strings (genres, traits, item ids, ...), nested ones included. */
export function userKeyedRecords(p: Profile): Record<string, unknown>[] {
  const records: Record<string, unknown>[] = [p.traits, p.genres, p.categories, p.facets, p.recentItems, p.consumed, p.skus, p.series, p.appliedEventIds, p.computed];
  for (const facet of Object.values(p.facets)) records.push(facet);
  for (const state of Object.values(p.computed)) if ('counts' in state && state.counts) records.push(state.counts);
  return records;
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
    computed: copyDict(p.computed, copyComputedState),
  };
}

/** Copies what the reducer mutates: the entry list (its tuples are never changed) or the counts. */
export function copyComputedState(s: ComputedState): ComputedState {
  if ('entries' in s) return { sig: s.sig, entries: [...s.entries] };
  return s.counts ? { ...s, counts: copyDict(s.counts, same) } : { ...s };
}
