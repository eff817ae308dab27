/**
 * How a profile is stored in Redis: MessagePack (msgpackr) with records, about half the bytes
 * of its JSON (`npm run bench:codec` measures both on profiles at their size bounds). A record
 * names its keys once per message and then holds only the values, which is what a profile is
 * made of: maps of same-shaped entries (affinities, recent items, SKUs).
 *
 * Documents written as JSON before (they start with `{`, which no MessagePack map does) are
 * still read, so a store upgrades as its profiles are written.
 *
 * msgpackr reads a key `__proto__` as `__proto_` (so a message cannot poison a prototype); the
 * profile's maps are keyed by user-supplied strings (genres, traits) where `__proto__` is a
 * plain key. A profile that has one is written with every `~*__proto__` key given one more `~`
 * and a flag that says so, which makes the round trip exact (those keys come back last in their
 * map).
 */
import { Packr } from 'msgpackr';
import type { Profile } from '../domain/profile.js';
import { adoptProfile } from '../domain/profile.js';

/** Records embedded in each message: no shared structures to keep in step across processes. */
const packr = new Packr({ useRecords: true, mapsAsObjects: true });

const JSON_START = 0x7b; // '{'

/** The maps of a profile whose keys are user-supplied. */
function userKeyedMaps(p: Profile): Record<string, unknown>[] {
  const maps: Record<string, unknown>[] = [p.traits, p.genres, p.categories, p.facets, p.recentItems, p.consumed, p.skus, p.series, p.appliedEventIds, p.computed];
  for (const facet of Object.values(p.facets)) maps.push(facet);
  for (const state of Object.values(p.computed)) if ('counts' in state && state.counts) maps.push(state.counts);
  return maps;
}

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

export function encodeProfile(profile: Profile): Buffer {
  if (!userKeyedMaps(profile).some((map) => Object.hasOwn(map, PROTO))) return packr.pack(profile);
  // Rare: escape every `~*__proto__` key, on a copy (the caller's profile stays as it is).
  const copy = adoptProfile(JSON.parse(JSON.stringify(profile)) as Profile);
  for (const map of userKeyedMaps(copy)) renameKeys(map, /^~*__proto__$/, (k) => `~${k}`);
  return packr.pack({ ...copy, [ESCAPED]: true });
}

export function decodeProfile(doc: Buffer): Profile {
  // Documents stored as JSON (before this codec) were written without escapes.
  if (doc[0] === JSON_START) return adoptProfile(JSON.parse(doc.toString('utf8')) as Profile);
  const decoded = packr.unpack(doc) as Profile & { [ESCAPED]?: true };
  const profile = adoptProfile(decoded);
  if (decoded[ESCAPED]) {
    delete decoded[ESCAPED];
    for (const map of userKeyedMaps(profile)) renameKeys(map, /^~+__proto__$/, (k) => k.slice(1));
  }
  return profile;
}
