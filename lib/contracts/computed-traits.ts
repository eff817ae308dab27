/**
 * Computed traits: aggregations over a user's events that the profile keeps up to date (Segment's
 * computed traits). The profile subgraph owns the definitions and the state; the audiences
 * subgraph creates definitions through the graph (an inline window in a rule) and reads the values
 * through the graph. Shared here: the definition's shape, its validation and the deterministic
 * name an inline window gets, so both sides agree without importing each other.
 */
import { createHash } from 'node:crypto';
import { EVENT_TYPES, ITEM_KINDS } from './event.js';
import type { EventType, ItemKind } from './event.js';

export const COMPUTED_TRAIT_KINDS = ['COUNT', 'SUM', 'DISTINCT', 'FIRST_SEEN', 'LAST_SEEN', 'MOST_FREQUENT'] as const;
export type ComputedTraitKind = (typeof COMPUTED_TRAIT_KINDS)[number];

/** What DISTINCT and MOST_FREQUENT count the values of. */
export const COMPUTED_TRAIT_VALUES = ['ITEM', 'GENRE', 'CATEGORY', 'SERIES', 'SKU', 'KIND', 'FACET'] as const;
export type ComputedTraitValue = (typeof COMPUTED_TRAIT_VALUES)[number];

/** Which events count: every field given must match (a genre matches when the item has it). */
export interface ComputedTraitFilter {
  genre?: string;
  category?: string;
  kind?: ItemKind;
  seriesId?: string;
  sku?: string;
  /** A metadata facet and the value it must have (for list facets: contain). */
  facet?: { name: string; value: string };
}

export interface ComputedTraitDefinition {
  /** `[a-z0-9][a-z0-9_-]{0,63}`; inline windows of audience rules get `w-<hash>`. */
  name: string;
  kind: ComputedTraitKind;
  /** Event types that count; empty means every type except IDENTIFY. */
  eventTypes: EventType[];
  filter: ComputedTraitFilter;
  /** Only events within this long before now count; null: all time. */
  windowMs: number | null;
  /** SUM: the event property summed (for example `quantity`, `value`); absent sums 1 per event. */
  property?: string;
  /** DISTINCT / MOST_FREQUENT: what is counted; FACET needs `facetName`. */
  of?: ComputedTraitValue;
  facetName?: string;
}

/** The value of a computed trait at a time, as `Profile.computedTraits` serves it. */
export interface ComputedTraitValueView {
  name: string;
  /** A number (COUNT, SUM, DISTINCT), an epoch-ms time (FIRST_SEEN, LAST_SEEN), a string (MOST_FREQUENT) or null. */
  value: number | string | null;
  /** When the value changes next with no new event (a windowed event dropping out); null: never. */
  nextChangeAt: number | null;
}

/** The longest window: contributions older than it are never kept. */
export const MAX_WINDOW_MS = 400 * 86_400_000;
export const MAX_COMPUTED_TRAITS = 200;

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const SHORT = 128;

export interface DefinitionProblem {
  /** Field path inside the definition, for example `filter.kind`. */
  path: string;
  message: string;
}

/** Problems with a definition (empty when it is valid). */
export function definitionProblems(raw: unknown): DefinitionProblem[] {
  const problems: DefinitionProblem[] = [];
  const bad = (path: string, message: string) => problems.push({ path, message });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return [{ path: '', message: 'a definition is an object' }];
  const d = raw as Record<string, unknown>;
  if (typeof d.name !== 'string' || !NAME.test(d.name)) bad('name', 'name must match [a-z0-9][a-z0-9_-]{0,63}');
  if (!COMPUTED_TRAIT_KINDS.includes(d.kind as ComputedTraitKind)) bad('kind', `kind must be one of ${COMPUTED_TRAIT_KINDS.join(', ')}`);
  if (!Array.isArray(d.eventTypes) || d.eventTypes.length > EVENT_TYPES.length) bad('eventTypes', 'eventTypes must be a list of event types');
  else d.eventTypes.forEach((t, i) => {
    if (!EVENT_TYPES.includes(t as EventType) || t === 'IDENTIFY') bad(`eventTypes.${i}`, `unknown or uncountable event type ${JSON.stringify(t)}`);
  });
  if (d.windowMs !== null && (typeof d.windowMs !== 'number' || !Number.isInteger(d.windowMs) || d.windowMs < 1000 || d.windowMs > MAX_WINDOW_MS)) {
    bad('windowMs', `windowMs must be null or whole milliseconds between 1000 and ${MAX_WINDOW_MS}`);
  }
  const f = d.filter;
  if (typeof f !== 'object' || f === null || Array.isArray(f)) bad('filter', 'filter must be an object');
  else {
    const filter = f as Record<string, unknown>;
    for (const key of Object.keys(filter)) {
      if (!['genre', 'category', 'kind', 'seriesId', 'sku', 'facet'].includes(key)) bad(`filter.${key}`, 'unknown filter field');
    }
    for (const key of ['genre', 'category', 'seriesId', 'sku'] as const) {
      const v = filter[key];
      if (v !== undefined && (typeof v !== 'string' || v.length === 0 || v.length > SHORT)) bad(`filter.${key}`, `${key} must be a non-empty string of at most ${SHORT} characters`);
    }
    if (filter.kind !== undefined && !ITEM_KINDS.includes(filter.kind as ItemKind)) bad('filter.kind', `kind must be one of ${ITEM_KINDS.join(', ')}`);
    if (filter.facet !== undefined) {
      const facet = filter.facet as Record<string, unknown> | null;
      if (typeof facet !== 'object' || facet === null || typeof facet.name !== 'string' || typeof facet.value !== 'string' || !facet.name || facet.name.length > SHORT || facet.value.length > SHORT) {
        bad('filter.facet', 'facet must be { name, value } with non-empty strings');
      }
    }
  }
  if (d.property !== undefined && (d.kind !== 'SUM' || typeof d.property !== 'string' || !d.property || d.property.length > SHORT)) bad('property', 'property is a non-empty string, and only for SUM');
  const counted = d.kind === 'DISTINCT' || d.kind === 'MOST_FREQUENT';
  if (counted && !COMPUTED_TRAIT_VALUES.includes(d.of as ComputedTraitValue)) bad('of', `${String(d.kind)} needs of: one of ${COMPUTED_TRAIT_VALUES.join(', ')}`);
  if (!counted && d.of !== undefined) bad('of', 'of is only for DISTINCT and MOST_FREQUENT');
  if (d.of === 'FACET' && (typeof d.facetName !== 'string' || !d.facetName || d.facetName.length > SHORT)) bad('facetName', 'of: FACET needs facetName');
  if (d.of !== 'FACET' && d.facetName !== undefined) bad('facetName', 'facetName is only for of: FACET');
  return problems;
}

/** The definition without its name, in one canonical form (keys sorted, empty parts dropped). */
function canonical(def: Omit<ComputedTraitDefinition, 'name'>): string {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sorted)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined).map((k) => [k, sorted((v as Record<string, unknown>)[k])]))
        : v;
  return JSON.stringify(sorted({ ...def, eventTypes: [...def.eventTypes].sort() }));
}

/** The name an inline window gets: the same definition always gets the same name (so it is reused). */
export function inlineTraitName(def: Omit<ComputedTraitDefinition, 'name'>): string {
  return `w-${createHash('sha256').update(canonical(def)).digest('hex').slice(0, 16)}`;
}

/** The duration units of windows, in milliseconds, largest first. */
const WINDOW_UNITS = { w: 604_800_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 } as const;
type WindowUnit = keyof typeof WINDOW_UNITS;

/** Durations as rules and definitions write them: `90s`, `30m`, `12h`, `7d`, `2w`. */
export function parseWindow(text: unknown): number | null {
  if (typeof text !== 'string') return null;
  const m = /^(\d{1,6})(s|m|h|d|w)$/.exec(text);
  if (!m) return null;
  const ms = Number(m[1]) * WINDOW_UNITS[m[2] as WindowUnit];
  return ms > 0 ? ms : null;
}

/** Milliseconds in the largest whole unit parseWindow reads (`7d`, `90s`); seconds rounded up below that. */
export function formatWindow(ms: number): string {
  for (const [unit, size] of Object.entries(WINDOW_UNITS) as [WindowUnit, number][]) {
    if (unit !== 's' && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.ceil(ms / WINDOW_UNITS.s)}s`;
}
