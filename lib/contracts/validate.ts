/**
 * Validation of raw events, shared by `POST /v1/events` and `Mutation.ingestEvents`. Each event
 * is judged on its own, so one bad event never sinks the valid ones next to it.
 */
import { inspectJson, isPrototypeKey } from '../json-shape.js';
import { CodedError } from './errors.js';
import { envDuration } from '../env.js';
import { EVENT_TYPES, ITEM_EVENT_TYPES, ITEM_KINDS } from './event.js';
import type { EventType, ItemKind, ItemRef, MetadataValue, ProfileEvent } from './event.js';

export interface ValidationLimits {
  maxIdLength: number;
  /** How far in the future occurredAt may be (clock skew allowance). */
  maxFutureSkewMs: number;
  /** Earliest accepted occurredAt; catches epoch seconds sent as milliseconds. */
  minOccurredAt: number;
  maxTextLength: number;
  maxGenres: number;
  maxMetadataBytes: number;
  maxPropertiesBytes: number;
  maxTraitsBytes: number;
  /** Deepest nesting of objects and arrays in properties and traits (the object itself is level 1). */
  maxJsonDepth: number;
  maxBatchEvents: number;
  maxBatchBytes: number;
}

export const DEFAULT_VALIDATION_LIMITS: ValidationLimits = {
  maxIdLength: 128,
  maxFutureSkewMs: 5 * 60_000,
  minOccurredAt: Date.UTC(2000, 0, 1),
  maxTextLength: 512,
  maxGenres: 20,
  maxMetadataBytes: 4096,
  maxPropertiesBytes: 4096,
  maxTraitsBytes: 8192,
  maxJsonDepth: 32,
  maxBatchEvents: 1000,
  maxBatchBytes: 1_048_576,
};

export interface Rejection {
  index: number;
  eventId: string | null;
  code: string;
  message: string;
}

export type Validated = { ok: true; event: ProfileEvent } | { ok: false; rejection: Rejection };

/** One event's refusal (caught per event, so the rest of the batch is judged on its own). */
class Invalid extends CodedError {}

const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Serialized size in bytes; Infinity for a value nested too deeply for JSON.stringify (a RangeError,
 * "Maximum call stack size exceeded": JSON.parse accepts nesting that stringify cannot measure, and
 * the error used to escape validation as a 500 for the whole batch).
 */
function jsonBytes(v: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(v));
  } catch (err) {
    if (err instanceof RangeError) return Infinity;
    throw err;
  }
}

export function validateId(value: unknown, field: string, code: string, limits: ValidationLimits): string {
  if (typeof value !== 'string') throw new Invalid(code, `${field} must be a string`);
  if (value.trim().length === 0) throw new Invalid(code, `${field} must not be empty`);
  if (value.length > limits.maxIdLength) {
    throw new Invalid(code, `${field} is ${value.length} characters; the maximum is ${limits.maxIdLength}`);
  }
  if (CONTROL_CHARS.test(value)) throw new Invalid(code, `${field} must not contain control characters`);
  return value;
}

/**
 * Strings that become keys of the profile's maps (item ids, SKUs, series, genres, categories,
 * facet values) must not name a prototype: written into a plain object, `__proto__` would replace
 * its prototype (lib/json-shape.ts).
 */
function mapKey<T extends string | undefined>(value: T, field: string, code = 'ITEM_INVALID'): T {
  if (value !== undefined && isPrototypeKey(value)) throw new Invalid(code, `${field} must not be "${value}" (__proto__, constructor and prototype are refused)`);
  return value;
}

function optionalText(value: unknown, field: string, limits: ValidationLimits): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new Invalid('ITEM_INVALID', `${field} must be a string`);
  if (value.length > limits.maxTextLength) {
    throw new Invalid('ITEM_INVALID', `${field} is longer than ${limits.maxTextLength} characters`);
  }
  return value;
}

const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** Largest epoch milliseconds a Date can hold (±100,000,000 days). */
export const MAX_EPOCH_MS = 8.64e15;

/** Parses ISO-8601 date-times with an offset (`Z` or `+02:00`) or epoch milliseconds. */
export function parseTime(value: unknown): number | null {
  // Outside the Date range a number is no time at all (and `new Date(t).toISOString()` throws).
  if (typeof value === 'number') return Number.isFinite(value) && Math.abs(value) <= MAX_EPOCH_MS ? value : null;
  // An explicit offset is required: a local time would depend on the server's time zone.
  if (typeof value !== 'string' || !ISO_WITH_OFFSET.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

function validateOccurredAt(value: unknown, now: number, limits: ValidationLimits): number {
  const t = parseTime(value);
  if (t === null) {
    throw new Invalid('OCCURRED_AT_INVALID', 'occurredAt must be an ISO-8601 date-time or epoch milliseconds');
  }
  if (t > now + limits.maxFutureSkewMs) {
    throw new Invalid(
      'OCCURRED_AT_IN_FUTURE',
      `occurredAt ${new Date(t).toISOString()} is more than ${limits.maxFutureSkewMs / 1000} s in the future`,
    );
  }
  if (t < limits.minOccurredAt) {
    throw new Invalid(
      'OCCURRED_AT_INVALID',
      `occurredAt ${new Date(t).toISOString()} is before ${new Date(limits.minOccurredAt).toISOString()} (epoch milliseconds expected)`,
    );
  }
  return t;
}

function validateMetadata(value: unknown, limits: ValidationLimits): Record<string, MetadataValue> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) throw new Invalid('METADATA_INVALID', 'item.metadata must be an object');
  const bytes = jsonBytes(value);
  if (bytes === Infinity) throw new Invalid('METADATA_INVALID', 'item.metadata is nested too deeply (it must be flat)');
  if (bytes > limits.maxMetadataBytes) {
    throw new Invalid('METADATA_TOO_LARGE', `item.metadata is larger than ${limits.maxMetadataBytes} bytes`);
  }
  const out: Record<string, MetadataValue> = Object.create(null);
  for (const [key, v] of Object.entries(value)) {
    mapKey(key, `item.metadata key`, 'METADATA_INVALID');
    if (typeof v === 'string') mapKey(v, `item.metadata.${key}`, 'METADATA_INVALID');
    if (Array.isArray(v)) for (const s of v) if (typeof s === 'string') mapKey(s, `item.metadata.${key}`, 'METADATA_INVALID');
    const ok =
      typeof v === 'string' ||
      typeof v === 'boolean' ||
      (typeof v === 'number' && Number.isFinite(v)) ||
      (Array.isArray(v) && v.every((s) => typeof s === 'string'));
    if (!ok) {
      throw new Invalid('METADATA_INVALID', `item.metadata.${key} must be a string, number, boolean or list of strings`);
    }
    out[key] = v as MetadataValue;
  }
  return out;
}

function validateItem(value: unknown, limits: ValidationLimits): ItemRef {
  if (!isPlainObject(value)) throw new Invalid('ITEM_INVALID', 'item must be an object');
  const id = mapKey(validateId(value['id'], 'item.id', 'ITEM_INVALID', limits), 'item.id');
  const kind = value['kind'];
  if (typeof kind !== 'string' || !(ITEM_KINDS as readonly string[]).includes(kind)) {
    throw new Invalid('ITEM_INVALID', `item.kind must be one of ${ITEM_KINDS.join(', ')}`);
  }
  const rawGenres = value['genres'] ?? [];
  if (!Array.isArray(rawGenres) || !rawGenres.every((g) => typeof g === 'string' && g.trim().length > 0)) {
    throw new Invalid('ITEM_INVALID', 'item.genres must be a list of non-empty strings');
  }
  if (rawGenres.length > limits.maxGenres) {
    throw new Invalid('ITEM_INVALID', `item.genres has more than ${limits.maxGenres} entries`);
  }
  const genres = rawGenres.map((g: string) => g.trim());
  if (genres.some((g) => g.length > 64)) throw new Invalid('ITEM_INVALID', 'a genre is longer than 64 characters');
  for (const g of genres) mapKey(g, 'a genre');
  const item: ItemRef = { id, kind: kind as ItemKind, genres };
  const title = optionalText(value['title'], 'item.title', limits);
  const category = mapKey(optionalText(value['category'], 'item.category', limits), 'item.category');
  const sku = mapKey(optionalText(value['sku'], 'item.sku', limits), 'item.sku');
  if (title !== undefined) item.title = title;
  if (category !== undefined) item.category = category;
  if (sku !== undefined) item.sku = sku;
  if (value['seriesId'] !== undefined && value['seriesId'] !== null) {
    item.seriesId = mapKey(validateId(value['seriesId'], 'item.seriesId', 'ITEM_INVALID', limits), 'item.seriesId');
  }
  const episode = value['episode'];
  if (episode !== undefined && episode !== null) {
    if (!Number.isInteger(episode) || (episode as number) < 0 || (episode as number) > 100_000) {
      throw new Invalid('ITEM_INVALID', 'item.episode must be an integer between 0 and 100000');
    }
    item.episode = episode as number;
  }
  if (item.kind === 'EPISODE' && (item.seriesId === undefined || item.episode === undefined)) {
    throw new Invalid('ITEM_INVALID', 'an EPISODE item needs seriesId and episode');
  }
  const metadata = validateMetadata(value['metadata'], limits);
  if (metadata !== undefined) item.metadata = metadata;
  return item;
}

function validateObject(
  value: unknown,
  field: string,
  maxBytes: number,
  code: string,
  limits: ValidationLimits,
): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) throw new Invalid(code, `${field} must be an object`);
  // Past a few thousand levels JSON.stringify overflows the stack: such a value must not be
  // accepted, or every later serialization of the profile (store, event stream) would fail.
  const problem = inspectJson(value, limits.maxJsonDepth, true);
  if (problem?.kind === 'too-deep') throw new Invalid(code, `${field} is nested more than ${limits.maxJsonDepth} levels deep`);
  if (problem?.kind === 'non-finite') throw new Invalid(code, `${field}.${problem.path} is not a finite number`);
  if (problem) throw new Invalid(code, `${field}.${problem.path} is refused: keys __proto__, constructor and prototype are not allowed`);
  if (jsonBytes(value) > maxBytes) throw new Invalid(code, `${field} is larger than ${maxBytes} bytes`);
  return value;
}

/** Validates one raw event. `now` is the acceptance time used for the future-time check. */
export function validateEvent(raw: unknown, index: number, now: number, limits = DEFAULT_VALIDATION_LIMITS): Validated {
  const eventId = isPlainObject(raw) && typeof raw['eventId'] === 'string' ? raw['eventId'].slice(0, 256) : null;
  try {
    if (!isPlainObject(raw)) throw new Invalid('EVENT_INVALID', 'an event must be a JSON object');
    const event: ProfileEvent = {
      eventId: validateId(raw['eventId'], 'eventId', 'EVENT_ID_INVALID', limits),
      userId: validateId(raw['userId'], 'userId', 'USER_ID_INVALID', limits),
      type: validateType(raw['type']),
      occurredAt: validateOccurredAt(raw['occurredAt'], now, limits),
      receivedAt: now,
    };
    if (raw['item'] !== undefined && raw['item'] !== null) event.item = validateItem(raw['item'], limits);
    else if (ITEM_EVENT_TYPES.has(event.type)) throw new Invalid('ITEM_REQUIRED', `${event.type} events need an item`);
    const properties = validateObject(raw['properties'], 'properties', limits.maxPropertiesBytes, 'PROPERTIES_INVALID', limits);
    if (properties !== undefined) event.properties = properties;
    const traits = validateObject(raw['traits'], 'traits', limits.maxTraitsBytes, 'TRAITS_INVALID', limits);
    if (traits !== undefined) event.traits = traits;
    checkTypeRules(event);
    return { ok: true, event };
  } catch (err) {
    if (!(err instanceof Invalid)) throw err;
    return { ok: false, rejection: { index, eventId, code: err.code, message: err.message } };
  }
}

function validateType(value: unknown): EventType {
  if (typeof value !== 'string' || !(EVENT_TYPES as readonly string[]).includes(value)) {
    throw new Invalid('TYPE_INVALID', `type must be one of ${EVENT_TYPES.join(', ')}`);
  }
  return value as EventType;
}

function checkTypeRules(e: ProfileEvent): void {
  if (e.type === 'RATE') {
    const rating = e.properties?.['rating'];
    if (typeof rating !== 'number' || !(rating >= 0.5 && rating <= 5)) {
      throw new Invalid('RATING_INVALID', 'RATE events need properties.rating between 0.5 and 5');
    }
  }
  if (e.type === 'IDENTIFY' && (!e.traits || Object.keys(e.traits).length === 0)) {
    throw new Invalid('TRAITS_INVALID', 'IDENTIFY events need a non-empty traits object');
  }
  if (e.type === 'PURCHASE' && e.properties?.['quantity'] !== undefined) {
    const q = e.properties['quantity'];
    if (!Number.isInteger(q) || (q as number) < 1) {
      throw new Invalid('PROPERTIES_INVALID', 'properties.quantity must be a positive integer');
    }
  }
}

/** Validates a catalog item on its own (used by the catalog's upsert). */
export function checkItem(
  raw: unknown,
  limits = DEFAULT_VALIDATION_LIMITS,
): { ok: true; item: ItemRef } | { ok: false; code: string; message: string } {
  try {
    return { ok: true, item: validateItem(raw, limits) };
  } catch (err) {
    if (!(err instanceof Invalid)) throw err;
    return { ok: false, code: err.code, message: err.message };
  }
}


/** Checks the batch as a whole (count and size); throws CodedError (BATCH_TOO_LARGE, BATCH_INVALID). */
export function checkBatch(events: unknown, limits = DEFAULT_VALIDATION_LIMITS, bytes?: number): unknown[] {
  if (!Array.isArray(events)) throw new CodedError('BATCH_INVALID', 'events must be an array of event objects');
  if (events.length > limits.maxBatchEvents) {
    throw new CodedError(
      'BATCH_TOO_LARGE',
      `a batch holds at most ${limits.maxBatchEvents} events; got ${events.length}. Split it into smaller batches.`,
    );
  }
  const size = bytes ?? jsonBytes(events);
  if (size === Infinity) throw new CodedError('BATCH_INVALID', 'the batch is nested too deeply to be measured');
  if (size > limits.maxBatchBytes) {
    throw new CodedError('BATCH_TOO_LARGE', `a batch is at most ${limits.maxBatchBytes} bytes; got ${size}`);
  }
  return events;
}

/**
 * MAX_FUTURE_SKEW, read in this one place: how far in the future an event's occurredAt may be
 * (the profile's events), and the clock skew allowed around a served row (unit events).
 */
export const maxFutureSkewMs = (env: Record<string, string | undefined>): number => envDuration(env, 'MAX_FUTURE_SKEW', '5m');
