/**
 * The profile's storage encoding (subgraphs/profile/src/store/codec.ts): exact round trips of
 * any profile the reducer makes, user-supplied keys such as `__proto__` included, documents
 * stored as JSON before it still read, and fewer bytes than JSON.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import type { ProfileEvent } from '../../lib/contracts/event.js';
import { DEFAULT_REDUCER_CONFIG } from '../../subgraphs/profile/src/domain/config.js';
import { applyEvents } from '../../subgraphs/profile/src/domain/reducer.js';
import type { Profile } from '../../subgraphs/profile/src/domain/profile.js';
import { userKeyedRecords } from '../../subgraphs/profile/src/domain/profile.js';
import { Packr } from 'msgpackr';
import { decodeProfile, encodeProfile, SHAPES_V1 } from '../../subgraphs/profile/src/store/codec.js';

const T0 = Date.UTC(2026, 10, 1);
/** Keys the way they are stored, order included, and every map's prototype. */
const exact = (p: Profile) =>
  JSON.stringify(p, function (_k, v) {
    if (v && typeof v === 'object' && !Array.isArray(v)) return { proto: Object.getPrototypeOf(v) === null ? 'null' : 'object', entries: Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)) };
    return v;
  });

/** Strings a user can send as genres, facets and trait keys, hostile ones included. */
const userString = fc.oneof(fc.constantFrom('__proto__', '~__proto__', '~~__proto__', 'constructor', 'prototype', 'toString', 'toJSON', 'valueOf', 'hasOwnProperty', 'Crime', ''), fc.string({ maxLength: 12 }));

interface EventSpec {
  n: number;
  type: string;
  genres: string[];
  category: string;
  sku: string;
  director: string;
  trait: string;
  episode: number;
}

const eventArb: fc.Arbitrary<EventSpec> = fc.record({
  n: fc.nat(10_000),
  type: fc.constantFrom('PLAY', 'COMPLETE', 'VIEW', 'PURCHASE', 'ADD_TO_CART', 'RATE', 'IDENTIFY'),
  genres: fc.array(userString, { minLength: 1, maxLength: 3 }),
  category: userString,
  sku: userString,
  director: userString,
  trait: userString,
  episode: fc.integer({ min: 1, max: 40 }),
});

function profileOf(events: EventSpec[]): Profile {
  const folded: ProfileEvent[] = events.map((e, i) => ({
    eventId: `e${i}-${e.n}`,
    userId: 'codec-user',
    type: e.type as ProfileEvent['type'],
    occurredAt: T0 + e.n * 1000,
    receivedAt: T0 + e.n * 1000 + 5,
    ...(e.type === 'IDENTIFY'
      ? { traits: { [e.trait || 'plan']: e.n } }
      : { item: { id: `item-${e.n % 50}`, kind: 'EPISODE', title: `Title ${e.n}`, genres: e.genres.map((g) => g || 'none'), ...(e.category ? { category: e.category } : {}), ...(e.sku ? { sku: e.sku } : {}), seriesId: `s-${e.n % 3}`, episode: e.episode, metadata: { director: e.director || 'none' } }, properties: { price: 1.5, rating: 4 } }),
  }));
  return applyEvents(null, folded, DEFAULT_REDUCER_CONFIG).profile;
}

/** Events whose items are of a shape in the table, keys in the order validation gives them. */
function eventsWithoutMetadata(events: EventSpec[]): ProfileEvent[] {
  return events.map((e, i) => ({
    eventId: `e${i}-${e.n}`,
    userId: 'codec-user',
    type: e.type as ProfileEvent['type'],
    occurredAt: T0 + e.n * 1000,
    receivedAt: T0 + e.n * 1000 + 5,
    item: { id: `item-${e.n % 50}`, kind: 'EPISODE', genres: e.genres, title: `Title ${e.n}`, seriesId: `s-${e.n % 3}`, episode: e.episode },
  }));
}

describe('profile codec', () => {
  it('round-trips every profile exactly, null-prototype maps and hostile keys included', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 1, maxLength: 40 }), (events) => {
        const profile = profileOf(events);
        const before = exact(profile);
        const decoded = decodeProfile(encodeProfile(profile));
        expect(exact(decoded)).toBe(before);
        // Encoding never changes the caller's profile.
        expect(exact(profile)).toBe(before);
      }),
      { numRuns: 300 },
    );
  });

  it('another process (a fresh codec) reads what this one wrote: the format is the table, not state', async () => {
    const docs = fc.sample(fc.array(eventArb, { minLength: 1, maxLength: 30 }), 50).map((events) => {
      const profile = profileOf(events);
      return { doc: encodeProfile(profile), expected: exact(profile) };
    });
    vi.resetModules();
    const fresh = await import('../../subgraphs/profile/src/store/codec.js');
    for (const { doc, expected } of docs) expect(exact(fresh.decodeProfile(doc))).toBe(expected);
  });

  it('refuses a document of an unknown format rather than misreading it', () => {
    expect(() => decodeProfile(Buffer.from([0xc1, 0x09, 0x80]))).toThrow(/unknown format/);
  });

  it('a key named __proto__ stays a plain key and pollutes nothing', () => {
    const profile = profileOf([{ n: 1, type: 'PLAY', genres: ['__proto__', '~__proto__'], category: '__proto__', sku: 'x', director: '__proto__', trait: 'a', episode: 1 }]);
    const decoded = decodeProfile(encodeProfile(profile));
    expect(Object.keys(decoded.genres).sort()).toEqual(['__proto__', '~__proto__']);
    expect(Object.getPrototypeOf(decoded.genres)).toBeNull();
    expect(({} as Record<string, unknown>)['score']).toBeUndefined();
    expect('~escaped' in decoded).toBe(false);
  });

  it('a key named toJSON is a plain key, not a method the encoder calls', () => {
    // A dictionary has no prototype, so an own key `toJSON` (an event id, genre, trait or item id
    // a client sent) must not be taken for a toJSON method: it made every write of the profile throw.
    const events: ProfileEvent[] = [
      { eventId: 'toJSON', userId: 'codec-user', type: 'PLAY', occurredAt: T0, receivedAt: T0, item: { id: 'toJSON', kind: 'MOVIE', genres: ['toJSON', 'valueOf'], category: 'toJSON', sku: 'toJSON', metadata: { toJSON: 'x', director: 'toJSON' } } },
      { eventId: 'valueOf', userId: 'codec-user', type: 'IDENTIFY', occurredAt: T0 + 1, receivedAt: T0 + 1, traits: { toJSON: 1, hasOwnProperty: 2 } },
    ];
    const profile = applyEvents(null, events, DEFAULT_REDUCER_CONFIG).profile;
    const decoded = decodeProfile(encodeProfile(profile));
    expect(exact(decoded)).toBe(exact(profile));
    expect(Object.keys(decoded.appliedEventIds).map((k) => k.split(':').at(-1)).sort()).toEqual(['toJSON', 'valueOf']);
  });

  it('stores episodes as runs, gaps and out-of-order lists included, and reads them back exactly', () => {
    const profile = profileOf([{ n: 1, type: 'PLAY', genres: ['Crime'], category: 'c', sku: 's', director: 'd', trait: 't', episode: 1 }]);
    const series = Object.values(profile.series)[0]!;
    const edges = [[Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER], [0, 1, 2, -1], [-3, -2, 0], [1, NaN, 2], [1, 2, 2 ** 53]];
    const ascending = fc.sample(fc.uniqueArray(fc.integer({ min: 0, max: 100_000 }), { maxLength: 600 }).map((xs) => xs.sort((a, b) => a - b)), 40);
    for (const episodes of [[1, 2, 3, 7, 9, 10], [], [5], [3, 1, 2], [1, 1, 2], [1.5, 2], ...edges, ...ascending]) {
      series.episodes = episodes;
      expect(decodeProfile(encodeProfile(profile)).series[Object.keys(profile.series)[0]!]!.episodes).toEqual(episodes);
    }
    series.episodes = Array.from({ length: 500 }, (_, i) => i + 1);
    // A binge of 500 episodes takes a few bytes, not 500 numbers.
    const withBinge = encodeProfile(profile).length;
    series.episodes = [1];
    expect(withBinge - encodeProfile(profile).length).toBeLessThan(8);
  });

  it('reads format 1 documents (episode runs as arrays of numbers) and writes format 2 (runs as bytes)', () => {
    const v1 = new Packr({ structures: SHAPES_V1.map((s) => [...s]), maxSharedStructures: SHAPES_V1.length, shouldShareStructure: () => false, mapsAsObjects: true, variableMapSize: true, useRecords: (o: object) => Object.getPrototypeOf(o) !== null, useToJSON: false });
    const runsOf = (episodes: number[]) => {
      const runs: number[] = [];
      episodes.forEach((e, i) => (i > 0 && e === episodes[i - 1]! + 1 ? (runs[runs.length - 1] = e) : runs.push(e, e)));
      return runs;
    };
    const docs = fc.sample(fc.array(eventArb, { minLength: 1, maxLength: 30 }), 30).map(profileOf);
    for (const profile of docs) {
      if (Object.values(profile.series).length === 0 || Object.keys(profile).length === 0) continue;
      const series = Object.create(null) as Record<string, unknown>;
      for (const [id, st] of Object.entries(profile.series)) series[id] = { episodeRuns: runsOf(st.episodes), lastWatchedAt: st.lastWatchedAt, ...(st.title === undefined ? {} : { title: st.title, titleAt: st.titleAt }) };
      if (userKeyedRecords(profile).some((m) => Object.hasOwn(m, '__proto__'))) continue; // escaping is covered above
      const old = Buffer.concat([Buffer.from([0xc1, 1]), v1.pack({ ...profile, series })]);
      expect(exact(decodeProfile(old))).toBe(exact(profile));
      const now = encodeProfile(profile);
      expect([...now.subarray(0, 2)]).toEqual([0xc1, 2]);
      // A series' runs as bytes take at most 2 bytes more than as numbers (their small header).
      expect(now.length).toBeLessThanOrEqual(old.length + 2 * Object.keys(profile.series).length);
    }
    // Every width: runs of 8 bits, 16 bits, 32 bits, and past 32 bits (numbers then), a few runs and many.
    const profile = docs.find((p) => Object.keys(p.series).length > 0)!;
    const id = Object.keys(profile.series)[0]!;
    const gaps = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + 3 * i);
    for (const episodes of [gaps(1, 20), gaps(200, 20), gaps(60_000, 20), gaps(70_000, 3), gaps(2 ** 31, 20), gaps(2 ** 33, 20), [2 ** 33, 2 ** 33 + 1]]) {
      profile.series[id]!.episodes = episodes;
      expect(decodeProfile(encodeProfile(profile)).series[id]!.episodes).toEqual(episodes);
    }
  });

  it('reads documents stored as JSON before the codec', () => {
    const profile = profileOf([{ n: 7, type: 'PLAY', genres: ['Crime'], category: 'Film', sku: 'S1', director: 'D', trait: 'a', episode: 2 }]);
    const legacy = Buffer.from(JSON.stringify(profile), 'utf8');
    expect(exact(decodeProfile(legacy))).toBe(exact(profile));
  });

  it('writes the dictionaries as maps: no record defined in the message for their key sets', () => {
    // Items of a table shape and no object traits: every object that is not a dictionary is a
    // shape of the table, so the document defines no record of its own ("r" extension: d4 72 /
    // d5 72). The dictionaries' key sets (genres, item ids, event ids) are all new ones.
    const events = Array.from({ length: 40 }, (_, i) => ({ n: i, type: i % 7 === 0 ? 'PURCHASE' : 'PLAY', genres: [`genre-${i % 9}`], category: `cat-${i % 5}`, sku: `sku-${i % 4}`, director: '', trait: 't', episode: (i % 12) + 1 }));
    const profile = applyEvents(null, eventsWithoutMetadata(events), DEFAULT_REDUCER_CONFIG).profile;
    const doc = encodeProfile(profile);
    const definitions = doc.findIndex((b, i) => (b === 0xd4 || b === 0xd5) && doc[i + 1] === 0x72);
    expect(definitions).toBe(-1);
    expect(exact(decodeProfile(doc))).toBe(exact(profile));
  });

  it('reads documents whose dictionaries were written as records defined in the message (the writer before)', () => {
    // (useToJSON off: the writer before could not write a dictionary with a `toJSON` key at all.)
    const before = new Packr({ structures: SHAPES_V1.map((s) => [...s]), maxSharedStructures: SHAPES_V1.length, shouldShareStructure: () => false, mapsAsObjects: true, useRecords: true, useToJSON: false });
    const docs = fc.sample(fc.array(eventArb, { minLength: 1, maxLength: 30 }), 50).map(profileOf);
    for (const profile of docs) {
      // What encodeProfile wrote then: the framed body, episodes as runs (a copy via the codec's own round trip).
      const current = encodeProfile(profile);
      const body = before.pack(new Packr({ structures: SHAPES_V1.map((s) => [...s]), mapsAsObjects: true, useRecords: true, useToJSON: false }).unpack(current.subarray(2)));
      const old = Buffer.concat([current.subarray(0, 2), body]);
      expect(old.equals(current)).toBe(false);
      expect(exact(decodeProfile(old))).toBe(exact(profile));
    }
  });

  it('takes fewer bytes than JSON', () => {
    const events = Array.from({ length: 400 }, (_, i) => ({ n: i, type: 'PLAY', genres: [`genre-${i % 40}`], category: `cat-${i % 30}`, sku: `sku-${i % 60}`, director: `director-${i % 20}`, trait: 't', episode: (i % 30) + 1 }));
    const profile = profileOf(events);
    expect(encodeProfile(profile).length).toBeLessThan(0.6 * JSON.stringify(profile).length);
  });
});
