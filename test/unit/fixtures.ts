/** Shared helpers for the unit tests: a seeded PRNG, event builders and comparison helpers. */
import type { EventType, ItemRef, MetadataValue, ProfileEvent } from '../../lib/contracts/event.js';

/** 2024-01-01T00:00:00Z, the base time of most scenarios. */
export const T0 = Date.UTC(2024, 0, 1);
export const MINUTE_MS = 60_000;

/** mulberry32: a tiny seeded PRNG returning floats in [0, 1) (shared with the benchmarks). */
export { rng as mulberry32 } from '../../bench/lib/synthetic.js';

export type Rng = () => number;

/** Integer in [min, max], both inclusive. */
export function randInt(rng: Rng, min: number, max: number): number {
  return min + Math.floor(rng() * (max - min + 1));
}

export function pick<T>(rng: Rng, items: readonly T[]): T {
  const value = items[Math.floor(rng() * items.length)];
  if (value === undefined) throw new Error('pick() needs a non-empty list');
  return value;
}

/** Fisher–Yates shuffle into a new array. */
export function shuffled<T>(items: readonly T[], rng: Rng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export type EventInit = Omit<ProfileEvent, 'eventId' | 'type' | 'occurredAt'>;

export function event(
  eventId: string,
  type: EventType,
  occurredAt: number,
  init: Partial<EventInit> = {},
): ProfileEvent {
  return { eventId, userId: 'user-1', type, occurredAt, ...init };
}

export function movie(id: string, genres: string[], metadata?: Record<string, MetadataValue>): ItemRef {
  return { id, kind: 'MOVIE', genres, ...(metadata ? { metadata } : {}) };
}

export function episode(seriesId: string, n: number, genres: string[], seriesTitle?: string): ItemRef {
  return {
    id: `${seriesId}-e${n}`,
    kind: 'EPISODE',
    genres,
    seriesId,
    episode: n,
    ...(seriesTitle !== undefined ? { metadata: { seriesTitle } } : {}),
  };
}

export function product(id: string, category: string, sku: string, brand?: string): ItemRef {
  return { id, kind: 'PRODUCT', genres: [], category, sku, ...(brand !== undefined ? { metadata: { brand } } : {}) };
}

/**
 * Rounds a non-integer to `digits` significant digits (tiny values become 0). Integers such as
 * timestamps and counters are left exact.
 */
export function roundFloat(x: number, digits = 9): number {
  if (!Number.isFinite(x) || Number.isInteger(x)) return x;
  if (Math.abs(x) < 1e-9) return 0;
  return Number(x.toPrecision(digits));
}

/** A plain-object copy of `value` with every float rounded by roundFloat, for toEqual comparisons. */
export function normalize(value: unknown): unknown {
  if (typeof value === 'number') return roundFloat(value);
  if (Array.isArray(value)) return value.map(normalize);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      Object.defineProperty(out, key, {
        value: normalize((value as Record<string, unknown>)[key]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

/** Freezes `value` and everything reachable from it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  }
  return value;
}
