/**
 * Computed traits in the profile: what an event contributes to each definition, the state kept
 * per trait and its value at a time. Pure, and part of the one reducer (reducer.ts calls it).
 *
 * State (profile.ts: ComputedState), per trait name:
 * - windowed: the contributions `[t, value]` within the window of the newest one, at most
 *   `computedTraitEntries` of them (the newest by time, then value). That set is a function of the
 *   events alone, so any arrival order, batching or alias merge gives the same state; the value is
 *   computed when read, as of the time asked.
 * - all-time: running aggregates (count, first and last time, sum, value counts). Exact and order
 *   independent while at most `computedTraitEntries` distinct values are counted; beyond that new
 *   values are kept or dropped by a fixed rule (count, then value), so the DISTINCT value caps at
 *   the bound and MOST_FREQUENT is that of the values kept. Float sums are exact for integers.
 *
 * Window semantics, everywhere: a contribution at t counts as of `now` when now − windowMs < t ≤ now.
 */
import { inlineTraitName } from '../../../../lib/contracts/computed-traits.js';
import type { ComputedTraitDefinition, ComputedTraitValue, ComputedTraitValueView } from '../../../../lib/contracts/computed-traits.js';
import { EVENT_TYPES, facetValues } from '../../../../lib/contracts/event.js';
import type { EventType, ItemRef, ProfileEvent } from '../../../../lib/contracts/event.js';
import type { ProfileLimits } from './config.js';
import { copyComputedState, dict } from './profile.js';
import type { AllTimeTraitState, ComputedState, Contribution, Profile, WindowedTraitState } from './profile.js';

/** A definition prepared for folding: its signature, filter test and what an event gives it. */
interface CompiledTrait {
  def: ComputedTraitDefinition;
  sig: string;
  matches: (item: ItemRef | undefined) => boolean;
  /** The amount an event adds (SUM, or 1) or the values it counts; null: it contributes nothing. */
  contribution: (e: ProfileEvent) => number | string[] | null;
}

interface CompiledTraits {
  /** The traits each event type can count for, so an event only looks at those. */
  byType: Map<EventType, CompiledTrait[]>;
  byName: Map<string, CompiledTrait>;
}

const COUNTABLE_TYPES = EVENT_TYPES.filter((t) => t !== 'IDENTIFY');
const compiledSets = new WeakMap<readonly ComputedTraitDefinition[], CompiledTraits>();
const signatures = new WeakMap<ComputedTraitDefinition, string>();

/**
 * What identifies a definition apart from its name: the name it would get inline (a digest of
 * everything else), so a state is only ever read and extended by the definition that built it.
 */
export function traitSignature(def: ComputedTraitDefinition): string {
  let sig = signatures.get(def);
  if (sig === undefined) {
    const { name: _name, ...rest } = def;
    sig = inlineTraitName(rest);
    signatures.set(def, sig);
  }
  return sig;
}

function compiled(defs: readonly ComputedTraitDefinition[]): CompiledTraits {
  let set = compiledSets.get(defs);
  if (set) return set;
  set = { byType: new Map(), byName: new Map() };
  for (const def of defs) {
    const trait: CompiledTrait = { def, sig: traitSignature(def), matches: filterTest(def), contribution: contributionOf(def) };
    set.byName.set(def.name, trait);
    for (const type of def.eventTypes.length > 0 ? new Set(def.eventTypes) : COUNTABLE_TYPES) {
      if (type === 'IDENTIFY') continue;
      const list = set.byType.get(type);
      if (list) list.push(trait);
      else set.byType.set(type, [trait]);
    }
  }
  compiledSets.set(defs, set);
  return set;
}

/** Every filter field given must match; an event without an item only passes an empty filter. */
function filterTest(def: ComputedTraitDefinition): (item: ItemRef | undefined) => boolean {
  const { genre, category, kind, seriesId, sku, facet } = def.filter;
  if (genre === undefined && category === undefined && kind === undefined && seriesId === undefined && sku === undefined && facet === undefined) {
    return () => true;
  }
  return (item) =>
    item !== undefined &&
    (genre === undefined || item.genres.includes(genre)) &&
    (category === undefined || item.category === category) &&
    (kind === undefined || item.kind === kind) &&
    (seriesId === undefined || item.seriesId === seriesId) &&
    (sku === undefined || item.sku === sku) &&
    (facet === undefined || facetValues(item, facet.name).includes(facet.value));
}

function contributionOf(def: ComputedTraitDefinition): (e: ProfileEvent) => number | string[] | null {
  if (def.kind === 'DISTINCT' || def.kind === 'MOST_FREQUENT') {
    const of = def.of as ComputedTraitValue;
    const facetName = def.facetName ?? '';
    return (e) => {
      const values = e.item ? countedValues(e.item, of, facetName) : [];
      return values.length > 0 ? values : null;
    };
  }
  const property = def.kind === 'SUM' ? def.property : undefined;
  if (property === undefined) return () => 1;
  return (e) => {
    const v = e.properties?.[property];
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  };
}

/** The distinct values of an item that DISTINCT and MOST_FREQUENT count. */
function countedValues(item: ItemRef, of: ComputedTraitValue, facetName: string): string[] {
  switch (of) {
    case 'ITEM':
      return [item.id];
    case 'GENRE':
      return [...new Set(item.genres)];
    case 'CATEGORY':
      return item.category ? [item.category] : [];
    case 'SERIES':
      return item.seriesId ? [item.seriesId] : [];
    case 'SKU':
      return item.sku ? [item.sku] : [];
    case 'KIND':
      return [item.kind];
    case 'FACET':
      return [...new Set(facetValues(item, facetName))];
  }
}

/** Whether an event changes any computed trait (for ProfileUpdated.changed). */
export function contributesToComputedTraits(e: ProfileEvent, defs: readonly ComputedTraitDefinition[]): boolean {
  if (defs.length === 0) return false;
  return (compiled(defs).byType.get(e.type) ?? []).some((trait) => trait.matches(e.item) && trait.contribution(e) !== null);
}

/** Records what the event contributes to each computed trait it counts for. */
export function foldComputedTraits(p: Profile, e: ProfileEvent, defs: readonly ComputedTraitDefinition[], limits: ProfileLimits): void {
  if (defs.length === 0) return;
  const traits = compiled(defs).byType.get(e.type);
  if (!traits) return;
  const t = e.occurredAt;
  for (const trait of traits) {
    if (!trait.matches(e.item)) continue;
    const c = trait.contribution(e);
    if (c === null) continue;
    const states = p.computed;
    const prev = states[trait.def.name];
    const windowMs = trait.def.windowMs;
    if (windowMs !== null) {
      const state = prev?.sig === trait.sig ? (prev as WindowedTraitState) : { sig: trait.sig, entries: [] };
      if (typeof c === 'number') insertSorted(state.entries, [t, c]);
      else for (const v of c) insertSorted(state.entries, [t, v]);
      prune(state.entries, windowMs, limits.computedTraitEntries);
      states[trait.def.name] = state;
    } else {
      const state = prev?.sig === trait.sig ? (prev as AllTimeTraitState) : emptyAllTime(trait, t);
      state.count += 1;
      state.first = Math.min(state.first, t);
      state.last = Math.max(state.last, t);
      if (typeof c === 'number') {
        if (state.sum !== undefined) state.sum += c;
      } else for (const v of c) countValue(state.counts!, v, limits.computedTraitEntries);
      states[trait.def.name] = state;
    }
  }
}

function emptyAllTime(trait: CompiledTrait, t: number): AllTimeTraitState {
  const kind = trait.def.kind;
  return {
    sig: trait.sig,
    count: 0,
    first: t,
    last: t,
    ...(kind === 'SUM' ? { sum: 0 } : {}),
    ...(kind === 'DISTINCT' || kind === 'MOST_FREQUENT' ? { counts: dict<number>() } : {}),
  };
}

function compareContributions(a: Contribution, b: Contribution): number {
  return a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
}

function insertSorted(entries: Contribution[], c: Contribution): void {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareContributions(entries[mid]!, c) <= 0) lo = mid + 1;
    else hi = mid;
  }
  entries.splice(lo, 0, c);
}

/**
 * Drops the contributions no read at or after the newest can count (t ≤ newest − windowMs), then
 * the oldest beyond `max`. Both depend only on the set, so pruning early or late gives one result.
 */
function prune(entries: Contribution[], windowMs: number | null, max: number): void {
  const newest = entries[entries.length - 1];
  if (!newest) return;
  let drop = 0;
  if (windowMs !== null) {
    const edge = newest[0] - windowMs;
    while (drop < entries.length && entries[drop]![0] <= edge) drop++;
  }
  drop = Math.max(drop, entries.length - max);
  if (drop > 0) entries.splice(0, drop);
}

/** Ranks value counts: more events first, then the smaller value (which also wins MOST_FREQUENT ties). */
function beats(count: number, value: string, otherCount: number, other: string): boolean {
  return count > otherCount || (count === otherCount && value < other);
}

/** Counts one more event with `value`; a new value in a full map takes the place of the weakest, if it beats it. */
function countValue(counts: Record<string, number>, value: string, max: number): void {
  const prev = counts[value];
  if (prev !== undefined || Object.keys(counts).length < max) {
    counts[value] = (prev ?? 0) + 1;
    return;
  }
  let weakest: string | undefined;
  for (const k in counts) if (weakest === undefined || beats(counts[weakest]!, weakest, counts[k]!, k)) weakest = k;
  if (weakest === undefined || !beats(1, value, counts[weakest]!, weakest)) return;
  delete counts[weakest];
  counts[value] = 1;
}

/** Keeps the `max` strongest value counts. */
function truncateCounts(counts: Record<string, number>, max: number): Record<string, number> {
  const keys = Object.keys(counts);
  if (keys.length <= max) return counts;
  keys.sort((a, b) => (beats(counts[a]!, a, counts[b]!, b) ? -1 : 1));
  return dict(keys.slice(0, max).map((k) => [k, counts[k]!] as const));
}

/**
 * Folds the source profile's computed traits into `m` (a private copy) as if the source's events
 * had been applied to it. A state built by another definition than the target's gives way to the
 * one built by the current definition, or else the target's is kept.
 */
export function mergeComputedTraits(m: Profile, source: Profile, defs: readonly ComputedTraitDefinition[], limits: ProfileLimits): void {
  const byName = compiled(defs).byName;
  for (const [name, s] of Object.entries(source.computed ?? {})) {
    const prev = m.computed[name];
    const current = byName.get(name);
    if (!prev || (prev.sig !== s.sig && current?.sig === s.sig)) {
      m.computed[name] = copyComputedState(s);
    } else if (prev.sig === s.sig && 'entries' in prev && 'entries' in s) {
      prev.entries = [...prev.entries, ...s.entries].sort(compareContributions);
      prune(prev.entries, current?.sig === s.sig ? current.def.windowMs : null, limits.computedTraitEntries);
    } else if (prev.sig === s.sig && !('entries' in prev) && !('entries' in s)) {
      prev.count += s.count;
      prev.first = Math.min(prev.first, s.first);
      prev.last = Math.max(prev.last, s.last);
      if (prev.sum !== undefined && s.sum !== undefined) prev.sum += s.sum;
      if (prev.counts && s.counts) {
        for (const [v, n] of Object.entries(s.counts)) prev.counts[v] = (prev.counts[v] ?? 0) + n;
        prev.counts = truncateCounts(prev.counts, limits.computedTraitEntries);
      }
    }
  }
}

/** How enforceLimits ranks trait states: the defined traits first, then the latest contributed to. */
export function computedStateRank(defs: readonly ComputedTraitDefinition[]): (s: ComputedState, name: string) => number {
  const byName = compiled(defs).byName;
  return (s, name) => (byName.has(name) ? Number.MAX_VALUE : 'entries' in s ? (s.entries[s.entries.length - 1]?.[0] ?? 0) : s.last);
}

/** The values of the given traits as of `now`, in the order given. */
export function computedTraitValues(p: Profile, defs: readonly ComputedTraitDefinition[], now: number): ComputedTraitValueView[] {
  return defs.map((def) => computedTraitValue(p, def, now));
}

/**
 * A trait's value as of `now`: COUNT, SUM and DISTINCT give numbers (0 when nothing counts),
 * FIRST_SEEN and LAST_SEEN event times, MOST_FREQUENT the value counted most (ties: the smallest),
 * null when nothing counts. `nextChangeAt`, for windowed traits only, is the first time the value
 * may change with no new event: the oldest counted contribution leaving the window, or a
 * contribution dated after `now` entering it. It can be early (a value seen again later), never late.
 */
export function computedTraitValue(p: Profile, def: ComputedTraitDefinition, now: number): ComputedTraitValueView {
  const state = p.computed?.[def.name];
  if (!state || state.sig !== traitSignature(def)) return { name: def.name, value: aggregate(def, [], 0, 0), nextChangeAt: null };
  if (!('entries' in state)) return { name: def.name, value: allTimeValue(def, state), nextChangeAt: null };
  const windowMs = def.windowMs as number;
  // The entries are in time order (insertSorted, prune and merges keep it): the counted ones are
  // a range found by two binary searches, read in place (a read per audience evaluation and per
  // live message; filtering a copy of up to computedTraitEntries of them for each trait was a
  // sixth of the subgraphs process in bench:soak).
  const { entries } = state;
  const lo = firstAfter(entries, now - windowMs);
  const hi = firstAfter(entries, now);
  const leaves = lo < hi ? entries[lo]![0] + windowMs : Infinity;
  const enters = hi < entries.length ? entries[hi]![0] : Infinity;
  const next = Math.min(leaves, enters);
  return { name: def.name, value: aggregate(def, entries, lo, hi), nextChangeAt: Number.isFinite(next) ? next : null };
}

/** The index of the first entry dated after `t` (entries.length when none is). */
function firstAfter(entries: readonly Contribution[], t: number): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid]![0] <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The value of a windowed trait over the contributions counted, entries[from] to entries[to - 1] (none: nothing counts). */
function aggregate(def: ComputedTraitDefinition, entries: readonly Contribution[], from: number, to: number): number | string | null {
  switch (def.kind) {
    case 'COUNT':
      return to - from;
    case 'SUM': {
      let sum = 0;
      for (let i = from; i < to; i++) sum += entries[i]![1] as number;
      return sum;
    }
    case 'FIRST_SEEN':
      return from < to ? entries[from]![0] : null;
    case 'LAST_SEEN':
      return from < to ? entries[to - 1]![0] : null;
    case 'DISTINCT': {
      const seen = new Set<number | string>();
      for (let i = from; i < to; i++) seen.add(entries[i]![1]);
      return seen.size;
    }
    case 'MOST_FREQUENT': {
      const counts = dict<number>();
      for (let i = from; i < to; i++) {
        const v = entries[i]![1] as string;
        counts[v] = (counts[v] ?? 0) + 1;
      }
      return mostFrequent(counts);
    }
  }
}

function allTimeValue(def: ComputedTraitDefinition, s: AllTimeTraitState): number | string | null {
  switch (def.kind) {
    case 'COUNT':
      return s.count;
    case 'SUM':
      return s.sum ?? 0;
    case 'FIRST_SEEN':
      return s.first;
    case 'LAST_SEEN':
      return s.last;
    case 'DISTINCT':
      return Object.keys(s.counts ?? {}).length;
    case 'MOST_FREQUENT':
      return mostFrequent(s.counts ?? {});
  }
}

function mostFrequent(counts: Record<string, number>): string | null {
  let best: string | null = null;
  for (const k in counts) if (best === null || beats(counts[k]!, k, counts[best]!, best)) best = k;
  return best;
}
