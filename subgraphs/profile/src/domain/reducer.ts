/**
 * The one reducer that folds events into a profile. Every path that changes a profile (HTTP and
 * GraphQL ingestion, stream consumers, the replay tool, the simulator) goes through it.
 *
 * Properties: applying an event twice is a no-op (its id is remembered); the result does not
 * depend on the order events arrive in (decay is by event time, sets and maxima commute), up to
 * floating-point rounding and the size bounds.
 */
import type { ReducerConfig } from './config.js';
import { EVENT_WEIGHTS, ratingWeight } from './config.js';
import { addContribution, combine, scoreAt } from '../../../../lib/contracts/decay.js';
import type { DecayedScore } from '../../../../lib/contracts/decay.js';
import { CONSUMING_EVENT_TYPES, eventKey, facetValues } from '../../../../lib/contracts/event.js';
import type { ItemRef, ProfileEvent } from '../../../../lib/contracts/event.js';
import { computedStateRank, contributesToComputedTraits, foldComputedTraits, mergeComputedTraits } from './computed-traits.js';
import { cloneProfile, dict, emptyProfile } from './profile.js';
import type { AffinityMap, Profile } from './profile.js';

export interface ApplyOutcome {
  profile: Profile;
  /** Events that changed the profile (not already applied). */
  applied: number;
}

export function applyEvent(profile: Profile | null, event: ProfileEvent, config: ReducerConfig): Profile {
  return applyEvents(profile, [event], config).profile;
}

/**
 * Applies events for one user. The input profile is never mutated, unless the caller owns it
 * outright (`owned`: a document it just deserialized) and lets the reducer skip the copy.
 */
export function applyEvents(
  profile: Profile | null,
  events: readonly ProfileEvent[],
  config: ReducerConfig,
  owned = false,
): ApplyOutcome {
  const draft = profile ? (owned ? profile : cloneProfile(profile)) : emptyProfile(events[0]?.userId ?? '');
  let applied = 0;
  for (const event of events) {
    const key = eventKey(event);
    if (draft.appliedEventIds[key] !== undefined) continue;
    foldEvent(draft, event, key, config);
    applied++;
  }
  if (applied > 0) enforceLimits(draft, config);
  return { profile: applied > 0 ? draft : (profile ?? draft), applied };
}

function foldEvent(p: Profile, e: ProfileEvent, key: string, config: ReducerConfig): void {
  const t = e.occurredAt;
  p.version += 1;
  p.eventCount += 1;
  p.firstSeenAt = p.firstSeenAt === null ? t : Math.min(p.firstSeenAt, t);
  p.lastEventAt = p.lastEventAt === null ? t : Math.max(p.lastEventAt, t);
  if (e.receivedAt !== undefined) p.updatedAt = p.updatedAt === null ? e.receivedAt : Math.max(p.updatedAt, e.receivedAt);
  p.appliedEventIds[key] = t;

  if (e.type === 'IDENTIFY') {
    for (const [key, value] of Object.entries(e.traits ?? {})) setTrait(p, key, value, t);
    return;
  }
  foldComputedTraits(p, e, config.computedTraits, config.limits);
  const item = e.item;
  if (!item) return;

  const weight = eventWeight(e);
  if (weight !== 0) addItemAffinities(p, item, weight, t, config);
  touchRecentItem(p, e, item);
  if (CONSUMING_EVENT_TYPES.has(e.type)) p.consumed[item.id] = Math.max(p.consumed[item.id] ?? t, t);
  if (item.sku) countSku(p, e, item.sku);
  if (item.kind === 'EPISODE' && item.seriesId && item.episode !== undefined && CONSUMING_EVENT_TYPES.has(e.type)) {
    watchEpisode(p, item, t);
  }
}

export function eventWeight(e: ProfileEvent): number {
  if (e.type === 'RATE') {
    const rating = Number(e.properties?.['rating']);
    return Number.isFinite(rating) ? ratingWeight(rating) : 0;
  }
  return EVENT_WEIGHTS[e.type] ?? 0;
}

function bump(map: AffinityMap, key: string, weight: number, t: number, halfLifeMs: number): void {
  map[key] = addContribution(map[key], weight, t, halfLifeMs);
}

function addItemAffinities(p: Profile, item: ItemRef, weight: number, t: number, config: ReducerConfig): void {
  const h = config.halfLifeMs;
  for (const genre of new Set(item.genres)) bump(p.genres, genre, weight, t, h);
  if (item.category) bump(p.categories, item.category, weight, t, h);
  if (!item.metadata) return;
  for (const facet of config.facets) {
    if (item.metadata[facet] === undefined) continue;
    const values = facetValues(item, facet);
    const map = (p.facets[facet] ??= dict());
    for (const value of new Set(values)) bump(map, value, weight, t, h);
  }
}

function touchRecentItem(p: Profile, e: ProfileEvent, item: ItemRef): void {
  const prev = p.recentItems[item.id];
  if (!prev) {
    p.recentItems[item.id] = { item, lastEventType: e.type, lastEventAt: e.occurredAt, interactions: 1 };
    return;
  }
  // Ties in event time are broken by event type so any arrival order gives the same state.
  const newer = e.occurredAt > prev.lastEventAt || (e.occurredAt === prev.lastEventAt && e.type >= prev.lastEventType);
  p.recentItems[item.id] = {
    item: newer ? item : prev.item,
    lastEventType: newer ? e.type : prev.lastEventType,
    lastEventAt: newer ? e.occurredAt : prev.lastEventAt,
    interactions: prev.interactions + 1,
  };
}

function countSku(p: Profile, e: ProfileEvent, sku: string): void {
  const s = (p.skus[sku] ??= { viewed: 0, addedToCart: 0, purchased: 0, lastSeenAt: e.occurredAt });
  s.lastSeenAt = Math.max(s.lastSeenAt, e.occurredAt);
  if (e.type === 'VIEW' || e.type === 'CLICK') s.viewed += 1;
  else if (e.type === 'ADD_TO_CART') s.addedToCart += 1;
  else if (e.type === 'PURCHASE') {
    const quantity = Number(e.properties?.['quantity'] ?? 1);
    s.purchased += Number.isInteger(quantity) && quantity > 0 ? quantity : 1;
  }
}

function watchEpisode(p: Profile, item: ItemRef, t: number): void {
  const seriesId = item.seriesId as string;
  const s = (p.series[seriesId] ??= { episodes: [], lastWatchedAt: t });
  const seriesTitle = item.metadata?.['seriesTitle'];
  if (typeof seriesTitle === 'string' && newerValue(s.titleAt, s.title, t, seriesTitle)) {
    s.title = seriesTitle;
    s.titleAt = t;
  }
  s.lastWatchedAt = Math.max(s.lastWatchedAt, t);
  const episode = item.episode as number;
  if (!s.episodes.includes(episode)) {
    s.episodes.push(episode);
    s.episodes.sort((a, b) => a - b);
  }
}

/** Latest event time wins; ties are broken by value so any arrival order gives one answer. */
function newerValue(prevAt: number | undefined, prevValue: unknown, t: number, value: unknown): boolean {
  if (prevAt === undefined) return true;
  return t > prevAt || (t === prevAt && JSON.stringify(value) > JSON.stringify(prevValue));
}

function setTrait(p: Profile, key: string, value: unknown, t: number): void {
  const prev = p.traits[key];
  if (prev && !newerValue(prev.at, prev.value, t, value)) return;
  p.traits[key] = { value, at: t };
}

/** Keeps the `limit` entries that `rank` orders first (descending), breaking ties by key. */
function keepTop<V>(rec: Record<string, V>, limit: number, rank: (v: V, key: string) => number): Record<string, V> {
  const keys = Object.keys(rec);
  if (keys.length <= limit) return rec;
  keys.sort((a, b) => rank(rec[b] as V, b) - rank(rec[a] as V, a) || (a < b ? -1 : a > b ? 1 : 0));
  return dict(keys.slice(0, limit).map((k) => [k, rec[k] as V] as const));
}

function enforceLimits(p: Profile, config: ReducerConfig): void {
  const { limits, halfLifeMs } = config;
  const ref = p.lastEventAt ?? 0;
  const byDecayedScore = (a: DecayedScore) => scoreAt(a, ref, halfLifeMs);
  p.genres = keepTop(p.genres, limits.affinityKeys, byDecayedScore);
  p.categories = keepTop(p.categories, limits.affinityKeys, byDecayedScore);
  for (const facet of Object.keys(p.facets)) p.facets[facet] = keepTop(p.facets[facet]!, limits.facetKeys, byDecayedScore);
  p.recentItems = keepTop(p.recentItems, limits.recentItems, (r) => r.lastEventAt);
  p.consumed = keepTop(p.consumed, limits.consumedItems, (t) => t);
  p.skus = keepTop(p.skus, limits.skus, (s) => s.lastSeenAt);
  p.series = keepTop(p.series, limits.series, (s) => s.lastWatchedAt);
  for (const s of Object.values(p.series)) {
    if (s.episodes.length > limits.episodesPerSeries) s.episodes = s.episodes.slice(-limits.episodesPerSeries);
  }
  p.appliedEventIds = keepTop(p.appliedEventIds, limits.appliedEventIds, (t) => t);
  p.traits = keepTop(p.traits, limits.traitKeys, (tr) => tr.at);
  // Names the config lacks keep their state (another process may have newer definitions).
  p.computed = keepTop(p.computed, limits.computedTraits, computedStateRank(config.computedTraits));
}

/**
 * Folds `source` (an anonymous visitor's profile) into `target`. Event ids are deduplicated
 * globally, so the two were built from disjoint events and their counters add up. A source whose
 * events the target already holds (a retried alias) changes nothing.
 */
export function mergeProfiles(target: Profile, source: Profile, config: ReducerConfig): Profile {
  const sourceIds = Object.keys(source.appliedEventIds);
  const overlap = sourceIds.filter((id) => target.appliedEventIds[id] !== undefined).length;
  if (sourceIds.length > 0 && overlap === sourceIds.length) return target;
  const m = cloneProfile(target);
  const added = Math.max(0, source.eventCount - overlap);
  m.version += added;
  m.eventCount += added;
  m.firstSeenAt = minNullable(m.firstSeenAt, source.firstSeenAt);
  m.lastEventAt = maxNullable(m.lastEventAt, source.lastEventAt);
  m.updatedAt = maxNullable(m.updatedAt, source.updatedAt);
  const h = config.halfLifeMs;
  for (const [k, v] of Object.entries(source.genres)) m.genres[k] = combine(m.genres[k], v, h);
  for (const [k, v] of Object.entries(source.categories)) m.categories[k] = combine(m.categories[k], v, h);
  for (const [facet, map] of Object.entries(source.facets)) {
    const into = (m.facets[facet] ??= dict());
    for (const [k, v] of Object.entries(map)) into[k] = combine(into[k], v, h);
  }
  for (const [k, v] of Object.entries(source.traits)) setTrait(m, k, v.value, v.at);
  for (const [id, r] of Object.entries(source.recentItems)) {
    const prev = m.recentItems[id];
    m.recentItems[id] =
      !prev || r.lastEventAt > prev.lastEventAt
        ? { ...r, interactions: r.interactions + (prev?.interactions ?? 0) }
        : { ...prev, interactions: prev.interactions + r.interactions };
  }
  for (const [id, t] of Object.entries(source.consumed)) m.consumed[id] = Math.max(m.consumed[id] ?? t, t);
  for (const [sku, s] of Object.entries(source.skus)) {
    const prev = m.skus[sku];
    m.skus[sku] = prev
      ? {
          viewed: prev.viewed + s.viewed,
          addedToCart: prev.addedToCart + s.addedToCart,
          purchased: prev.purchased + s.purchased,
          lastSeenAt: Math.max(prev.lastSeenAt, s.lastSeenAt),
        }
      : { ...s };
  }
  for (const [id, s] of Object.entries(source.series)) {
    const prev = m.series[id];
    const episodes = [...new Set([...(prev?.episodes ?? []), ...s.episodes])].sort((a, b) => a - b);
    const titleFromSource = s.title !== undefined && newerValue(prev?.titleAt, prev?.title, s.titleAt ?? 0, s.title);
    m.series[id] = {
      ...(prev ?? {}),
      ...(titleFromSource ? { title: s.title, ...(s.titleAt !== undefined ? { titleAt: s.titleAt } : {}) } : {}),
      episodes,
      lastWatchedAt: Math.max(prev?.lastWatchedAt ?? 0, s.lastWatchedAt),
    };
  }
  for (const [id, t] of Object.entries(source.appliedEventIds)) m.appliedEventIds[id] = t;
  mergeComputedTraits(m, source, config.computedTraits, config.limits);
  enforceLimits(m, config);
  return m;
}

function minNullable(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}
function maxNullable(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

/** Profile fields a set of events touches (for ProfileUpdated.changed). */
export function changedFields(events: readonly ProfileEvent[], config: ReducerConfig): string[] {
  const changed = new Set(['version', 'eventCount', 'lastEventAt', 'rankingFeatures']);
  for (const e of events) {
    if (e.type === 'IDENTIFY') changed.add('traits');
    if (contributesToComputedTraits(e, config.computedTraits)) changed.add('computedTraits');
    const item = e.item;
    if (!item) continue;
    changed.add('recentItems');
    const weighted = eventWeight(e) !== 0;
    if (weighted && item.genres.length > 0) changed.add('genreAffinities');
    if (weighted && item.category) changed.add('categoryAffinities');
    if (weighted && item.metadata && config.facets.some((f) => item.metadata![f] !== undefined)) changed.add('facetAffinities');
    if (item.sku) changed.add('skus');
    if (item.kind === 'EPISODE' && CONSUMING_EVENT_TYPES.has(e.type)) changed.add('series');
  }
  return [...changed].sort();
}
