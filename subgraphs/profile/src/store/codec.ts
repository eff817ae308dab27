/**
 * How a profile is stored in Redis: MessagePack (msgpackr) with records from a fixed table of the
 * profile's own object shapes (an affinity score, a recent item, an item reference, a SKU, ...):
 * a record is written as its table index and its values, without its keys, and msgpackr reads it
 * with a reader compiled for that shape. The profile's dictionaries (genres, items, event ids,
 * ...) are plain MessagePack maps. A profile takes well under half the bytes of its JSON, and
 * encodes and decodes faster than JSON does (`npm run bench:codec` measures both in one process).
 *
 * The table is part of the stored format: changing it changes what stored bytes mean, so a
 * changed table is a new format version (the second byte), and the old table stays to read the
 * documents written with it. Format 2 has format 1's table and stores a series' episode runs as
 * bytes (packRuns); both are read. Documents written as JSON before (they start with `{`) are still
 * read, so a store upgrades as its profiles are written.
 *
 * msgpackr reads a key `__proto__` as `__proto_` (so a message cannot poison a prototype); the
 * profile's maps are keyed by user-supplied strings (genres, traits) where `__proto__` is a
 * plain key. A profile that has one is written with every `~*__proto__` key given one more `~`
 * and a flag that says so, which makes the round trip exact (those keys come back last in their
 * map).
 */
import { Packr } from 'msgpackr';
import type { Profile, SeriesState } from '../domain/profile.js';
import { adoptProfile, cloneProfile, dict, userKeyedRecords } from '../domain/profile.js';

/** ItemRef's optional fields, in the order validation adds them (lib/contracts/validate.ts). */
const ITEM_OPTIONAL = ['title', 'category', 'sku', 'seriesId', 'episode', 'metadata'] as const;

/**
 * Format 1's record shapes, keys in the order the reducer creates them. Never edit: append a
 * new format instead.
 */
export const SHAPES_V1: readonly (readonly string[])[] = [
  ['userId', 'version', 'eventCount', 'firstSeenAt', 'lastEventAt', 'updatedAt', 'traits', 'genres', 'categories', 'facets', 'recentItems', 'consumed', 'skus', 'series', 'appliedEventIds', 'computed'],
  ['score', 'count', 'lastSeenAt'],
  ['item', 'lastEventType', 'lastEventAt', 'interactions'],
  ['viewed', 'addedToCart', 'purchased', 'lastSeenAt'],
  // A series as stored: its episodes as runs (seriesForStorage).
  ['episodeRuns', 'lastWatchedAt'],
  ['episodeRuns', 'lastWatchedAt', 'title', 'titleAt'],
  ['value', 'at'],
  ['sig', 'entries'],
  ['sig', 'count', 'first', 'last'],
  ['sig', 'count', 'first', 'last', 'sum'],
  ['sig', 'count', 'first', 'last', 'counts'],
  // Item references: id, kind, genres, then the common sets of optional fields (seriesId and
  // episode come together).
  ...[[], ['title'], ['title', 'metadata'], ['title', 'seriesId', 'episode'], ['title', 'seriesId', 'episode', 'metadata'], ['title', 'category'], ['title', 'category', 'metadata'], ['title', 'category', 'sku'], ['title', 'category', 'sku', 'metadata'], ['title', 'sku'], ['category'], ['category', 'sku'], ['seriesId', 'episode'], ['metadata'], ['title', 'category', 'seriesId', 'episode', 'metadata']].map((optional) => [
    'id',
    'kind',
    'genres',
    ...ITEM_OPTIONAL.filter((k) => optional.includes(k)),
  ]),
];

const FORMAT_MARK = 0xc1; // a byte MessagePack never uses: no format 1 document is anything else
/** Format 1: episode runs as MessagePack arrays of numbers. */
const FORMAT_V1 = 1;
/**
 * Format 2: the same table, episode runs as packed bytes where they fit (packRuns). Written from
 * this release on; a reader of format 1 only refuses these documents rather than misreading them.
 */
const FORMAT_V2 = 2;

/** A codec of one format: its own table (msgpackr keeps shared structures on the instance). */
function packrOf(shapes: readonly (readonly string[])[]): Packr {
  // Shared structures are only those of the table, never added to (another process could not
  // know them). The profile's dictionaries (null-prototype maps keyed by genres, item ids, event
  // ids, ...) are written as MessagePack maps: as records, each would carry a record definition
  // of its own key set in every message (read back through a definition, slower than a map), and
  // msgpackr's table of key transitions would grow with every new key it sees. Objects with a
  // prototype are the reducer's shapes, records of the table (an object of another shape, such as
  // an item's metadata as read back from the stream or a trait's object value, gets a record
  // defined in the message).
  return new Packr({
    structures: shapes.map((s) => [...s]),
    maxSharedStructures: shapes.length,
    shouldShareStructure: () => false,
    mapsAsObjects: true,
    variableMapSize: true,
    useRecords: (o: object) => Object.getPrototypeOf(o) !== null,
    // A dictionary's own key `toJSON` (an event id, genre or trait a client sent) is data, not a
    // method to call; nothing in a profile has a toJSON of its own.
    useToJSON: false,
  });
}

const packr = packrOf(SHAPES_V1);

const JSON_START = 0x7b; // '{'

const PROTO = '__proto__';
/** Set on a message whose keys were escaped (no profile field has this name). */
const ESCAPED = '~escaped';

/** Renames the map's keys that match, keeping the others (and their order) as they are. */
function renameKeys(map: Record<string, unknown>, matches: RegExp, to: (key: string) => string): void {
  const keys = Object.keys(map).filter((k) => matches.test(k));
  const values = keys.map((k) => map[k]);
  for (const k of keys) delete map[k];
  keys.forEach((k, i) => Object.defineProperty(map, to(k), { value: values[i], enumerable: true, writable: true, configurable: true }));
}

/**
 * Episode numbers (ascending integers) as flat [first, last] runs: a binge of 500 episodes is two
 * numbers, not 500. Null when the list is not ascending integers (stored as it is then).
 */
function toRuns(episodes: readonly number[]): number[] | null {
  const runs: number[] = [];
  if (episodes.length === 0) return runs;
  // One pass, a run written when it ends (at the size bounds: 50 series of 500 episodes).
  let start = episodes[0]!;
  if (!Number.isSafeInteger(start)) return null;
  let prev = start;
  for (let i = 1; i < episodes.length; i++) {
    const e = episodes[i]!;
    if (e === prev + 1 && e <= Number.MAX_SAFE_INTEGER) {
      prev = e;
      continue;
    }
    if (!(e > prev) || !Number.isSafeInteger(e)) return null;
    runs.push(start, prev);
    start = prev = e;
  }
  runs.push(start, prev);
  return runs;
}

function fromRuns(runs: readonly number[]): number[] {
  let total = 0;
  for (let i = 0; i + 1 < runs.length; i += 2) total += Math.max(0, Math.floor(runs[i + 1]! - runs[i]!) + 1);
  // Sized once and filled in order (pushing 25,000 episodes one by one took three times as long).
  const episodes = new Array<number>(total);
  let k = 0;
  for (let i = 0; i + 1 < runs.length; i += 2) for (let e = runs[i]!, last = runs[i + 1]!; e <= last; e++) episodes[k++] = e;
  return episodes;
}

/** Runs (numbers, two a run) from which a series' runs are stored as bytes. */
const PACKED_RUNS_FROM = 8;

/**
 * Runs as bytes (format 2): a width byte (1, 2 or 4), then the numbers little-endian in that
 * width. MessagePack writes an array of 10,000 small numbers one by one and reads it back the same
 * way; as one binary value both are a copy (at the size bounds, 50 series of 100 runs). Null for
 * a few runs (an array of them is as fast and a byte or two shorter) and when a run does not fit
 * 32 bits unsigned (stored as numbers then).
 */
function packRuns(runs: readonly number[]): Uint8Array | null {
  if (runs.length < PACKED_RUNS_FROM) return null;
  let max = 0;
  for (const r of runs) {
    if (r < 0) return null;
    if (r > max) max = r;
  }
  const width = max <= 0xff ? 1 : max <= 0xffff ? 2 : max <= 0xffffffff ? 4 : 0;
  if (width === 0) return null;
  const bytes = Buffer.allocUnsafe(1 + runs.length * width);
  bytes[0] = width;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (width === 1) for (let i = 0; i < runs.length; i++) bytes[1 + i] = runs[i]!;
  else if (width === 2) for (let i = 0; i < runs.length; i++) view.setUint16(1 + 2 * i, runs[i]!, true);
  else for (let i = 0; i < runs.length; i++) view.setUint32(1 + 4 * i, runs[i]!, true);
  return bytes;
}

function unpackRuns(bytes: Uint8Array): number[] {
  const width = bytes[0];
  if (width !== 1 && width !== 2 && width !== 4) throw new Error(`episode runs of an unknown width ${width}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const runs = new Array<number>(Math.floor((bytes.length - 1) / width));
  if (width === 1) for (let i = 0; i < runs.length; i++) runs[i] = bytes[1 + i]!;
  else if (width === 2) for (let i = 0; i < runs.length; i++) runs[i] = view.getUint16(1 + 2 * i, true);
  else for (let i = 0; i < runs.length; i++) runs[i] = view.getUint32(1 + 4 * i, true);
  return runs;
}

type StoredSeries = Omit<SeriesState, 'episodes'> & { episodes?: number[]; episodeRuns?: number[] | Uint8Array };

/** The series map as stored: a copy whose states hold their episodes as runs (keys in order). */
function seriesForStorage(series: Record<string, SeriesState>): Record<string, StoredSeries> {
  const out = dict<StoredSeries>();
  for (const [id, s] of Object.entries(series)) {
    const runs = toRuns(s.episodes);
    if (runs === null) {
      out[id] = s;
      continue;
    }
    const stored: StoredSeries = { episodeRuns: packRuns(runs) ?? runs, lastWatchedAt: s.lastWatchedAt };
    if (s.title !== undefined) stored.title = s.title;
    if (s.titleAt !== undefined) stored.titleAt = s.titleAt;
    out[id] = stored;
  }
  return out;
}

/** The series map as the reducer holds it, from what was stored, in place. */
function seriesFromStorage(series: Record<string, StoredSeries>): void {
  for (const [id, s] of Object.entries(series)) {
    if (!s.episodeRuns) continue;
    const runs = s.episodeRuns instanceof Uint8Array ? unpackRuns(s.episodeRuns) : s.episodeRuns;
    const state: SeriesState = { episodes: fromRuns(runs), lastWatchedAt: s.lastWatchedAt };
    if (s.title !== undefined) state.title = s.title;
    if (s.titleAt !== undefined) state.titleAt = s.titleAt;
    series[id] = state;
  }
}

export function encodeProfile(profile: Profile): Buffer {
  if (!userKeyedRecords(profile).some((map) => Object.hasOwn(map, PROTO))) return framed(packr.pack({ ...profile, series: seriesForStorage(profile.series) }));
  // Rare: escape every `~*__proto__` key, on a copy (the caller's profile stays as it is).
  const copy = cloneProfile(profile);
  for (const map of userKeyedRecords(copy)) renameKeys(map, /^~*__proto__$/, (k) => `~${k}`);
  return framed(packr.pack({ ...copy, series: seriesForStorage(copy.series), [ESCAPED]: true }));
}

/** The format's two bytes, then the MessagePack body. */
function framed(body: Buffer): Buffer {
  const doc = Buffer.allocUnsafe(body.length + 2);
  doc[0] = FORMAT_MARK;
  doc[1] = FORMAT_V2;
  body.copy(doc, 2);
  return doc;
}

export function decodeProfile(doc: Buffer): Profile {
  // Documents stored as JSON (before this codec) were written without escapes.
  if (doc[0] === JSON_START) return adoptProfile(JSON.parse(doc.toString('utf8')) as Profile);
  if (doc[0] !== FORMAT_MARK || (doc[1] !== FORMAT_V1 && doc[1] !== FORMAT_V2)) throw new Error(`profile document of an unknown format (first bytes ${doc.subarray(0, 2).toString('hex')})`);
  const decoded = packr.unpack(doc.subarray(2)) as Profile & { [ESCAPED]?: true };
  const profile = adoptProfile(decoded);
  seriesFromStorage(profile.series as Record<string, StoredSeries>);
  if (decoded[ESCAPED]) {
    delete decoded[ESCAPED];
    for (const map of userKeyedRecords(profile)) renameKeys(map, /^~+__proto__$/, (k) => k.slice(1));
  }
  return profile;
}
