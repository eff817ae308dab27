import { describe, expect, it } from 'vitest';
import { CodedError } from '../../lib/contracts/errors.js';
import {
  DEFAULT_VALIDATION_LIMITS,
  checkBatch,
  validateEvent,
} from '../../lib/contracts/validate.js';
import type { Rejection } from '../../lib/contracts/validate.js';
import { MINUTE_MS } from './fixtures.js';

const NOW = Date.UTC(2024, 5, 1, 12);
const INDEX = 7;

/** A valid raw PLAY event (as parsed from JSON), with `overrides` applied. */
function raw(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    eventId: 'evt-1',
    userId: 'user-1',
    type: 'PLAY',
    occurredAt: '2024-06-01T11:00:00.000Z',
    item: { id: 'm1', kind: 'MOVIE', genres: ['drama'] },
    ...overrides,
  };
}

/** `raw()` with item fields overridden. */
function rawItem(item: Record<string, unknown>): Record<string, unknown> {
  return raw({ item: { id: 'm1', kind: 'MOVIE', genres: ['drama'], ...item } });
}

function accepted(input: unknown) {
  const result = validateEvent(input, INDEX, NOW);
  if (!result.ok) throw new Error(`expected acceptance, got ${result.rejection.code}: ${result.rejection.message}`);
  return result.event;
}

function rejected(input: unknown): Rejection {
  const result = validateEvent(input, INDEX, NOW);
  if (result.ok) throw new Error('expected a rejection');
  return result.rejection;
}

function batchError(run: () => unknown): CodedError {
  try {
    run();
  } catch (err) {
    if (err instanceof CodedError) return err;
    throw err;
  }
  throw new Error('expected a batch error (CodedError)');
}

describe('validateEvent: valid events', () => {
  it('accepts and normalizes a fully specified event', () => {
    const input = {
      eventId: 'evt-42',
      userId: 'user-9',
      type: 'COMPLETE',
      occurredAt: '2024-06-01T10:30:00.000Z',
      item: {
        id: 'ep-7',
        kind: 'EPISODE',
        title: 'Pilot',
        genres: [' drama ', 'mystery'],
        category: 'tv',
        sku: 'SKU-7',
        seriesId: 'series-1',
        episode: 7,
        metadata: { director: 'Someone', cast: ['A', 'B'], year: 2020, hd: true },
      },
      properties: { progress: 1, device: 'tv' },
      traits: { plan: 'pro' },
    };
    expect(accepted(input)).toEqual({
      eventId: 'evt-42',
      userId: 'user-9',
      type: 'COMPLETE',
      occurredAt: Date.UTC(2024, 5, 1, 10, 30),
      receivedAt: NOW,
      item: {
        id: 'ep-7',
        kind: 'EPISODE',
        title: 'Pilot',
        genres: ['drama', 'mystery'],
        category: 'tv',
        sku: 'SKU-7',
        seriesId: 'series-1',
        episode: 7,
        metadata: { director: 'Someone', cast: ['A', 'B'], year: 2020, hd: true },
      },
      properties: { progress: 1, device: 'tv' },
      traits: { plan: 'pro' },
    });
  });

  it.each([
    ['an ISO string with Z', '2024-06-01T11:00:00.000Z', Date.UTC(2024, 5, 1, 11)],
    ['an ISO string with an offset', '2024-06-01T13:00:00+02:00', Date.UTC(2024, 5, 1, 11)],
    ['epoch milliseconds', Date.UTC(2024, 5, 1, 11), Date.UTC(2024, 5, 1, 11)],
    ['up to the allowed clock skew ahead', NOW + 5 * MINUTE_MS, NOW + 5 * MINUTE_MS],
    ['exactly 2000-01-01', Date.UTC(2000, 0, 1), Date.UTC(2000, 0, 1)],
  ])('parses occurredAt given as %s to epoch ms', (_name, occurredAt, expected) => {
    const e = accepted(raw({ occurredAt }));
    expect(e.occurredAt).toBe(expected);
    expect(e.receivedAt).toBe(NOW);
  });

  it('accepts events without an item when the type needs none, and nulls as absent', () => {
    const e = accepted(raw({ type: 'IDENTIFY', item: null, properties: null, traits: { plan: 'free' } }));
    expect(e.item).toBeUndefined();
    expect(e.properties).toBeUndefined();
    expect(accepted(raw({ type: 'SEARCH', item: undefined })).item).toBeUndefined();
  });

  it('accepts ids of exactly 128 characters and ratings in range', () => {
    expect(accepted(raw({ eventId: 'x'.repeat(128) })).eventId).toHaveLength(128);
    expect(accepted(raw({ type: 'RATE', properties: { rating: 0.5 } })).properties).toEqual({ rating: 0.5 });
    expect(accepted(raw({ type: 'PURCHASE', properties: { quantity: 2 } })).properties).toEqual({ quantity: 2 });
  });
});

describe('validateEvent: rejections', () => {
  const longId = 'x'.repeat(129);
  const cases: [string, unknown, string, string | null][] = [
    // EVENT_INVALID
    ['a string', 'not an event', 'EVENT_INVALID', null],
    ['null', null, 'EVENT_INVALID', null],
    ['an array', [raw()], 'EVENT_INVALID', null],
    ['a number', 42, 'EVENT_INVALID', null],
    // EVENT_ID_INVALID
    ['a missing eventId', raw({ eventId: undefined }), 'EVENT_ID_INVALID', null],
    ['an empty eventId', raw({ eventId: '' }), 'EVENT_ID_INVALID', ''],
    ['a whitespace eventId', raw({ eventId: ' \t ' }), 'EVENT_ID_INVALID', ' \t '],
    ['a 129-character eventId', raw({ eventId: longId }), 'EVENT_ID_INVALID', longId],
    ['an eventId with a newline', raw({ eventId: 'evt\n1' }), 'EVENT_ID_INVALID', 'evt\n1'],
    ['an eventId with NUL', raw({ eventId: 'evt\u00001' }), 'EVENT_ID_INVALID', 'evt\u00001'],
    ['an eventId with DEL', raw({ eventId: 'evt\u007f' }), 'EVENT_ID_INVALID', 'evt\u007f'],
    ['a numeric eventId', raw({ eventId: 12 }), 'EVENT_ID_INVALID', null],
    ['an object eventId', raw({ eventId: { id: 'x' } }), 'EVENT_ID_INVALID', null],
    // USER_ID_INVALID
    ['a missing userId', raw({ userId: undefined }), 'USER_ID_INVALID', 'evt-1'],
    ['an empty userId', raw({ userId: '  ' }), 'USER_ID_INVALID', 'evt-1'],
    ['a 129-character userId', raw({ userId: longId }), 'USER_ID_INVALID', 'evt-1'],
    ['a numeric userId', raw({ userId: 5 }), 'USER_ID_INVALID', 'evt-1'],
    ['a userId with a control character', raw({ userId: 'u\u0007' }), 'USER_ID_INVALID', 'evt-1'],
    // TYPE_INVALID
    ['a lower-case type', raw({ type: 'play' }), 'TYPE_INVALID', 'evt-1'],
    ['an unknown type', raw({ type: 'WATCH' }), 'TYPE_INVALID', 'evt-1'],
    ['a missing type', raw({ type: undefined }), 'TYPE_INVALID', 'evt-1'],
    ['a numeric type', raw({ type: 1 }), 'TYPE_INVALID', 'evt-1'],
    // OCCURRED_AT_INVALID
    ['a garbage occurredAt', raw({ occurredAt: 'yesterday' }), 'OCCURRED_AT_INVALID', 'evt-1'],
    ['an impossible date', raw({ occurredAt: '2024-13-45T00:00:00Z' }), 'OCCURRED_AT_INVALID', 'evt-1'],
    ['a date without time', raw({ occurredAt: '2024-06-01' }), 'OCCURRED_AT_INVALID', 'evt-1'],
    ['a missing occurredAt', raw({ occurredAt: undefined }), 'OCCURRED_AT_INVALID', 'evt-1'],
    ['an infinite occurredAt', raw({ occurredAt: Infinity }), 'OCCURRED_AT_INVALID', 'evt-1'],
    ['epoch seconds', raw({ occurredAt: Math.floor(NOW / 1000) }), 'OCCURRED_AT_INVALID', 'evt-1'],
    ['a date before 2000', raw({ occurredAt: '1999-12-31T23:59:59Z' }), 'OCCURRED_AT_INVALID', 'evt-1'],
    // OCCURRED_AT_IN_FUTURE
    ['now + 10 min', raw({ occurredAt: NOW + 10 * MINUTE_MS }), 'OCCURRED_AT_IN_FUTURE', 'evt-1'],
    ['now + 10 min as ISO', raw({ occurredAt: new Date(NOW + 10 * MINUTE_MS).toISOString() }), 'OCCURRED_AT_IN_FUTURE', 'evt-1'],
    // ITEM_REQUIRED
    ['PLAY without item', raw({ item: undefined }), 'ITEM_REQUIRED', 'evt-1'],
    ['PURCHASE with a null item', raw({ type: 'PURCHASE', item: null }), 'ITEM_REQUIRED', 'evt-1'],
    // ITEM_INVALID
    ['a non-object item', raw({ item: 'm1' }), 'ITEM_INVALID', 'evt-1'],
    ['an item without id', rawItem({ id: undefined }), 'ITEM_INVALID', 'evt-1'],
    ['a bad kind', rawItem({ kind: 'BOOK' }), 'ITEM_INVALID', 'evt-1'],
    ['a missing kind', rawItem({ kind: undefined }), 'ITEM_INVALID', 'evt-1'],
    ['an EPISODE without seriesId', rawItem({ kind: 'EPISODE', episode: 1 }), 'ITEM_INVALID', 'evt-1'],
    ['an EPISODE without episode', rawItem({ kind: 'EPISODE', seriesId: 's1' }), 'ITEM_INVALID', 'evt-1'],
    ['episode -1', rawItem({ kind: 'EPISODE', seriesId: 's1', episode: -1 }), 'ITEM_INVALID', 'evt-1'],
    ['episode 1.5', rawItem({ kind: 'EPISODE', seriesId: 's1', episode: 1.5 }), 'ITEM_INVALID', 'evt-1'],
    ['21 genres', rawItem({ genres: Array.from({ length: 21 }, (_, i) => `g${i}`) }), 'ITEM_INVALID', 'evt-1'],
    ['a non-string genre', rawItem({ genres: ['drama', 3] }), 'ITEM_INVALID', 'evt-1'],
    ['an empty genre', rawItem({ genres: [' '] }), 'ITEM_INVALID', 'evt-1'],
    ['genres as a string', rawItem({ genres: 'drama' }), 'ITEM_INVALID', 'evt-1'],
    ['a numeric title', rawItem({ title: 5 }), 'ITEM_INVALID', 'evt-1'],
    ['a 513-character sku', rawItem({ sku: 's'.repeat(513) }), 'ITEM_INVALID', 'evt-1'],
    // METADATA_INVALID
    ['a nested metadata object', rawItem({ metadata: { director: { name: 'x' } } }), 'METADATA_INVALID', 'evt-1'],
    ['a metadata list of numbers', rawItem({ metadata: { cast: [1, 2] } }), 'METADATA_INVALID', 'evt-1'],
    ['metadata as an array', rawItem({ metadata: ['x'] }), 'METADATA_INVALID', 'evt-1'],
    ['a null metadata value', rawItem({ metadata: { director: null } }), 'METADATA_INVALID', 'evt-1'],
    // METADATA_TOO_LARGE
    ['metadata over 4 KB', rawItem({ metadata: { synopsis: 'x'.repeat(4096) } }), 'METADATA_TOO_LARGE', 'evt-1'],
    // PROPERTIES_INVALID
    ['properties as an array', raw({ properties: [1] }), 'PROPERTIES_INVALID', 'evt-1'],
    ['properties as a string', raw({ properties: 'x' }), 'PROPERTIES_INVALID', 'evt-1'],
    ['properties over 4 KB', raw({ properties: { blob: 'x'.repeat(4096) } }), 'PROPERTIES_INVALID', 'evt-1'],
    ['a zero purchase quantity', raw({ type: 'PURCHASE', properties: { quantity: 0 } }), 'PROPERTIES_INVALID', 'evt-1'],
    ['a fractional purchase quantity', raw({ type: 'PURCHASE', properties: { quantity: 1.5 } }), 'PROPERTIES_INVALID', 'evt-1'],
    // RATING_INVALID
    ['RATE without rating', raw({ type: 'RATE' }), 'RATING_INVALID', 'evt-1'],
    ['rating 7', raw({ type: 'RATE', properties: { rating: 7 } }), 'RATING_INVALID', 'evt-1'],
    ['rating 0', raw({ type: 'RATE', properties: { rating: 0 } }), 'RATING_INVALID', 'evt-1'],
    ['a string rating', raw({ type: 'RATE', properties: { rating: '4' } }), 'RATING_INVALID', 'evt-1'],
    // TRAITS_INVALID
    ['IDENTIFY without traits', raw({ type: 'IDENTIFY', item: undefined }), 'TRAITS_INVALID', 'evt-1'],
    ['IDENTIFY with empty traits', raw({ type: 'IDENTIFY', traits: {} }), 'TRAITS_INVALID', 'evt-1'],
    ['traits as an array', raw({ type: 'IDENTIFY', traits: ['plan'] }), 'TRAITS_INVALID', 'evt-1'],
    ['traits over 8 KB', raw({ type: 'IDENTIFY', traits: { blob: 'x'.repeat(8192) } }), 'TRAITS_INVALID', 'evt-1'],
  ];

  it.each(cases)('rejects %s', (_name, input, code, eventId) => {
    const rejection = rejected(input);
    expect(rejection).toMatchObject({ index: INDEX, eventId, code });
    expect(rejection.message).toEqual(expect.any(String));
    expect(rejection.message.length).toBeGreaterThan(0);
  });

  it('reports each event of a batch with its own index and eventId', () => {
    const batch = [raw({ eventId: 'a' }), raw({ eventId: 'b', type: 'NOPE' }), 'x', raw({ eventId: 'd', item: undefined })];
    const results = batch.map((e, i) => validateEvent(e, i, NOW));
    expect(results.map((r) => r.ok)).toEqual([true, false, false, false]);
    expect(results.flatMap((r) => (r.ok ? [] : [[r.rejection.index, r.rejection.eventId, r.rejection.code]]))).toEqual([
      [1, 'b', 'TYPE_INVALID'],
      [2, null, 'EVENT_INVALID'],
      [3, 'd', 'ITEM_REQUIRED'],
    ]);
  });

  it('truncates a huge eventId in the rejection', () => {
    expect(rejected(raw({ eventId: 'x'.repeat(10_000) })).eventId).toHaveLength(256);
  });

  // These used to throw a RangeError out of validation (a 500 for the whole batch).
  it.each([1e308, -1e308, 8.64e15 + 1, -8.64e15 - 1])('rejects occurredAt %d (outside the Date range) as OCCURRED_AT_INVALID', (occurredAt) => {
    expect(rejected(raw({ occurredAt })).code).toBe('OCCURRED_AT_INVALID');
  });

  const nested = (levels: number, leaf: unknown = 1) => {
    let v: unknown = leaf;
    for (let i = 0; i < levels; i++) v = i % 2 ? { a: v } : [v];
    return v;
  };

  it('rejects properties and traits nested more than 32 levels, even too deep for JSON.stringify', () => {
    for (const levels of [32, 20_000]) {
      expect(rejected(raw({ properties: { deep: nested(levels) } }))).toMatchObject({ code: 'PROPERTIES_INVALID', message: expect.stringContaining('nested') });
      expect(rejected(raw({ type: 'IDENTIFY', traits: { deep: nested(levels) } }))).toMatchObject({ code: 'TRAITS_INVALID' });
    }
    expect(rejected(rawItem({ metadata: { deep: nested(20_000) } })).code).toBe('METADATA_INVALID');
    // 31 levels below the object itself are fine.
    expect(accepted(raw({ properties: { deep: nested(31) } })).properties).toBeDefined();
  });
});

describe('checkBatch', () => {
  const small = (n: number) => Array.from({ length: n }, (_, i) => raw({ eventId: `evt-${i}` }));

  it('accepts exactly 1,000 small events and returns them', () => {
    const events = small(1000);
    expect(checkBatch(events)).toBe(events);
    expect(events.every((e, i) => validateEvent(e, i, NOW).ok)).toBe(true);
  });

  it('rejects 1,001 events as BATCH_TOO_LARGE', () => {
    const err = batchError(() => checkBatch(small(1001)));
    expect(err.code).toBe('BATCH_TOO_LARGE');
    expect(err.message).toContain('1001');
  });

  it('rejects a batch over 1 MB as BATCH_TOO_LARGE', () => {
    expect(batchError(() => checkBatch([{ blob: 'x'.repeat(DEFAULT_VALIDATION_LIMITS.maxBatchBytes) }])).code).toBe(
      'BATCH_TOO_LARGE',
    );
    // A caller-measured body size is honoured too.
    expect(batchError(() => checkBatch([], DEFAULT_VALIDATION_LIMITS, 1_048_577)).code).toBe('BATCH_TOO_LARGE');
    expect(checkBatch([], DEFAULT_VALIDATION_LIMITS, 1_048_576)).toEqual([]);
  });

  it('rejects a batch too deeply nested to measure as BATCH_INVALID', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = [deep];
    expect(batchError(() => checkBatch([raw({ properties: { deep } })])).code).toBe('BATCH_INVALID');
  });

  it.each([
    ['an object', { events: [] }],
    ['a string', '[]'],
    ['null', null],
    ['undefined', undefined],
  ])('rejects %s as BATCH_INVALID', (_name, input) => {
    expect(batchError(() => checkBatch(input)).code).toBe('BATCH_INVALID');
  });
});
