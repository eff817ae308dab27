import { describe, expect, it } from 'vitest';
import { definitionProblems } from '../../lib/contracts/computed-traits.js';
import type { ComputedTraitDefinition } from '../../lib/contracts/computed-traits.js';
import type { EventType, ItemRef, ProfileEvent } from '../../lib/contracts/event.js';
import { computedTraitValue, computedTraitValues, traitSignature } from '../../subgraphs/profile/src/domain/computed-traits.js';
import { DAY_MS, DEFAULT_REDUCER_CONFIG } from '../../subgraphs/profile/src/domain/config.js';
import type { ReducerConfig } from '../../subgraphs/profile/src/domain/config.js';
import { adoptProfile, emptyProfile } from '../../subgraphs/profile/src/domain/profile.js';
import type { AllTimeTraitState, Profile, WindowedTraitState } from '../../subgraphs/profile/src/domain/profile.js';
import { applyEvent, applyEvents, changedFields, mergeProfiles } from '../../subgraphs/profile/src/domain/reducer.js';
import { MINUTE_MS, T0, deepFreeze, episode, event, movie, mulberry32, pick, product, randInt, shuffled } from './fixtures.js';
import type { EventInit } from './fixtures.js';

// ---------------------------------------------------------------------------------------------
// Helpers

type DefInit = Partial<Omit<ComputedTraitDefinition, 'name' | 'kind'>>;

function def(name: string, kind: ComputedTraitDefinition['kind'], init: DefInit = {}): ComputedTraitDefinition {
  return { name, kind, eventTypes: [], filter: {}, windowMs: null, ...init };
}

const withTraits = (defs: ComputedTraitDefinition[], base: ReducerConfig = DEFAULT_REDUCER_CONFIG): ReducerConfig => ({ ...base, computedTraits: defs });

function fold(events: readonly ProfileEvent[], config: ReducerConfig, start: Profile | null = null): Profile {
  return applyEvents(start, events, config).profile;
}

function foldOneByOne(events: readonly ProfileEvent[], config: ReducerConfig): Profile {
  let p: Profile | null = null;
  for (const e of events) p = applyEvent(p, e, config);
  if (!p) throw new Error('no events');
  return p;
}

/** The value of the trait named `name` among `config.computedTraits` as of `now`. */
function valueOf(p: Profile, config: ReducerConfig, name: string, now: number) {
  const d = config.computedTraits.find((x) => x.name === name);
  if (!d) throw new Error(`no trait ${name}`);
  return computedTraitValue(p, d, now);
}

let seq = 0;
const ev = (type: EventType, occurredAt: number, init: Partial<EventInit> = {}): ProfileEvent => event(`e-${++seq}`, type, occurredAt, init);

const crime1 = movie('c1', ['crime', 'drama'], { director: 'Scorsese', cast: ['De Niro', 'Pesci'] });
const crime2 = movie('c2', ['crime'], { director: 'Mann', cast: ['De Niro', 'Pacino'] });
const comedy = movie('k1', ['comedy'], { director: 'Gerwig', year: 2019 });
const shoe = (id: string, sku: string) => product(id, 'shoes', sku, 'Acme');
const book = product('b1', 'books', 'SKU-B1', 'Zed');

// ---------------------------------------------------------------------------------------------

describe('windowed COUNT', () => {
  const cfg = withTraits([def('crime-plays-7d', 'COUNT', { eventTypes: ['PLAY', 'COMPLETE'], filter: { genre: 'crime' }, windowMs: 7 * DAY_MS })]);
  const events = [
    ev('PLAY', T0, { item: crime1 }),
    ev('COMPLETE', T0 + DAY_MS, { item: crime1 }),
    ev('PLAY', T0 + 2 * DAY_MS, { item: crime2 }),
    // Not counted: wrong type, wrong genre, no item.
    ev('VIEW', T0 + DAY_MS, { item: crime2 }),
    ev('PLAY', T0 + DAY_MS, { item: comedy }),
    ev('SEARCH', T0 + DAY_MS),
  ];
  const p = fold(events, cfg);
  const at = (now: number) => valueOf(p, cfg, 'crime-plays-7d', now);

  it('counts matching events in the window and drops one exactly when it ages out', () => {
    expect(at(T0 + 3 * DAY_MS)).toEqual({ name: 'crime-plays-7d', value: 3, nextChangeAt: T0 + 7 * DAY_MS });
    expect(at(T0 + 7 * DAY_MS - 1).value).toBe(3);
    expect(at(T0 + 7 * DAY_MS)).toEqual({ name: 'crime-plays-7d', value: 2, nextChangeAt: T0 + 8 * DAY_MS });
    expect(at(T0 + 9 * DAY_MS)).toEqual({ name: 'crime-plays-7d', value: 0, nextChangeAt: null });
  });

  it('counts an event from its own time on, and says when a later one enters', () => {
    expect(at(T0 - 1)).toEqual({ name: 'crime-plays-7d', value: 0, nextChangeAt: T0 });
    expect(at(T0)).toEqual({ name: 'crime-plays-7d', value: 1, nextChangeAt: T0 + DAY_MS });
  });

  it('an unknown or never-matched trait reads as nothing', () => {
    expect(computedTraitValues(emptyProfile('u'), cfg.computedTraits, T0)).toEqual([{ name: 'crime-plays-7d', value: 0, nextChangeAt: null }]);
  });

  it('keeps no contribution that no later read can count', () => {
    const later = fold([ev('PLAY', T0 + 30 * DAY_MS, { item: crime1 })], cfg, p);
    expect((later.computed['crime-plays-7d'] as WindowedTraitState).entries).toEqual([[T0 + 30 * DAY_MS, 1]]);
    // A late event already outside the window of the newest is not kept either.
    const late = fold([ev('PLAY', T0 + 20 * DAY_MS, { item: crime1 })], cfg, later);
    expect(late.computed).toEqual(later.computed);
  });
});

describe('aggregations', () => {
  const cfg = withTraits([
    def('shoe-units-30d', 'SUM', { eventTypes: ['PURCHASE'], filter: { category: 'shoes' }, windowMs: 30 * DAY_MS, property: 'quantity' }),
    def('shoe-units', 'SUM', { eventTypes: ['PURCHASE'], filter: { category: 'shoes' }, property: 'quantity' }),
    def('shoe-purchases', 'SUM', { eventTypes: ['PURCHASE'], filter: { category: 'shoes' } }),
    def('items-7d', 'DISTINCT', { windowMs: 7 * DAY_MS, of: 'ITEM' }),
    def('items', 'DISTINCT', { of: 'ITEM' }),
    def('top-genre-7d', 'MOST_FREQUENT', { eventTypes: ['PLAY'], windowMs: 7 * DAY_MS, of: 'GENRE' }),
    def('top-genre', 'MOST_FREQUENT', { eventTypes: ['PLAY'], of: 'GENRE' }),
    def('first-purchase', 'FIRST_SEEN', { eventTypes: ['PURCHASE'] }),
    def('last-purchase', 'LAST_SEEN', { eventTypes: ['PURCHASE'] }),
    def('first-play-7d', 'FIRST_SEEN', { eventTypes: ['PLAY'], windowMs: 7 * DAY_MS }),
    def('last-play-7d', 'LAST_SEEN', { eventTypes: ['PLAY'], windowMs: 7 * DAY_MS }),
  ]);
  const events = [
    ev('PURCHASE', T0, { item: shoe('s1', 'SKU-1'), properties: { quantity: 2 } }),
    ev('PURCHASE', T0 + 10 * DAY_MS, { item: shoe('s2', 'SKU-2'), properties: { quantity: 3 } }),
    // No numeric quantity: not summed by the property sums, counted by the plain one.
    ev('PURCHASE', T0 + 11 * DAY_MS, { item: shoe('s2', 'SKU-2'), properties: { quantity: 'many' } }),
    ev('PURCHASE', T0 + 12 * DAY_MS, { item: book, properties: { quantity: 7 } }),
    ev('PLAY', T0 + 20 * DAY_MS, { item: crime1 }),
    ev('PLAY', T0 + 21 * DAY_MS, { item: crime2 }),
    ev('PLAY', T0 + 22 * DAY_MS, { item: comedy }),
    ev('PLAY', T0 + 23 * DAY_MS, { item: comedy }),
    ev('VIEW', T0 + 23 * DAY_MS, { item: crime1 }),
  ];
  const p = fold(events, cfg);
  const now = T0 + 24 * DAY_MS;
  const values = Object.fromEntries(computedTraitValues(p, cfg.computedTraits, now).map((v) => [v.name, v.value]));

  it('every fixture definition is valid', () => {
    for (const d of cfg.computedTraits) expect(definitionProblems(d), d.name).toEqual([]);
  });

  it('gives one value per definition, in definition order', () => {
    expect(computedTraitValues(p, cfg.computedTraits, now).map((v) => v.name)).toEqual(cfg.computedTraits.map((d) => d.name));
  });

  it('SUM adds a numeric property (skipping events without one) or counts events', () => {
    expect(values['shoe-units']).toBe(5);
    expect(values['shoe-units-30d']).toBe(5);
    expect(values['shoe-purchases']).toBe(3);
    // At T0 + 30d the first purchase (quantity 2) has left the 30-day window.
    expect(valueOf(p, cfg, 'shoe-units-30d', T0 + 30 * DAY_MS).value).toBe(3);
    expect(valueOf(p, cfg, 'shoe-units-30d', now).nextChangeAt).toBe(T0 + 30 * DAY_MS);
  });

  it('DISTINCT counts each value once', () => {
    expect(values['items']).toBe(6);
    // Within 7 days of T0 + 24d: c1 (play and view), c2 and k1.
    expect(values['items-7d']).toBe(3);
  });

  it('MOST_FREQUENT gives the value counted most, ties to the smallest', () => {
    // crime 2, comedy 2, drama 1: a tie, won by the smaller string.
    expect(values['top-genre']).toBe('comedy');
    expect(valueOf(p, cfg, 'top-genre-7d', now).value).toBe('comedy');
    const more = fold([ev('PLAY', T0 + 23 * DAY_MS, { item: crime2 })], cfg, p);
    expect(valueOf(more, cfg, 'top-genre', now).value).toBe('crime');
    expect(valueOf(emptyProfile('u'), cfg, 'top-genre', now).value).toBeNull();
  });

  it('FIRST_SEEN and LAST_SEEN give event times', () => {
    expect(values['first-purchase']).toBe(T0);
    expect(values['last-purchase']).toBe(T0 + 12 * DAY_MS);
    expect(values['first-play-7d']).toBe(T0 + 20 * DAY_MS);
    expect(values['last-play-7d']).toBe(T0 + 23 * DAY_MS);
    expect(valueOf(p, cfg, 'last-play-7d', T0 + 21 * DAY_MS + 1).value).toBe(T0 + 21 * DAY_MS);
    expect(valueOf(p, cfg, 'first-play-7d', T0 + 40 * DAY_MS).value).toBeNull();
    expect(valueOf(emptyProfile('u'), cfg, 'first-purchase', now).value).toBeNull();
  });

  it('all-time traits never change by time alone', () => {
    for (const v of computedTraitValues(p, cfg.computedTraits, now)) {
      const d = cfg.computedTraits.find((x) => x.name === v.name)!;
      if (d.windowMs === null) expect(v.nextChangeAt, v.name).toBeNull();
    }
  });
});

describe('filters and counted values', () => {
  const a = (n: number) => episode('series-a', n, ['drama']);
  const cfg = withTraits([
    def('scorsese', 'COUNT', { filter: { facet: { name: 'director', value: 'Scorsese' } } }),
    def('de-niro', 'COUNT', { filter: { facet: { name: 'cast', value: 'De Niro' } } }),
    def('year-2019', 'COUNT', { filter: { facet: { name: 'year', value: '2019' } } }),
    def('episodes', 'COUNT', { filter: { kind: 'EPISODE' } }),
    def('series-a', 'COUNT', { filter: { seriesId: 'series-a' } }),
    def('sku-1', 'COUNT', { filter: { sku: 'SKU-1' } }),
    def('sku-1-books', 'COUNT', { filter: { sku: 'SKU-1', category: 'books' } }),
    def('anything', 'COUNT'),
    def('casts', 'DISTINCT', { of: 'FACET', facetName: 'cast' }),
    def('series', 'DISTINCT', { of: 'SERIES' }),
    def('skus', 'DISTINCT', { of: 'SKU' }),
    def('kinds', 'DISTINCT', { of: 'KIND' }),
    def('categories', 'DISTINCT', { of: 'CATEGORY' }),
    def('top-director', 'MOST_FREQUENT', { of: 'FACET', facetName: 'director' }),
  ]);
  const events = [
    ev('PLAY', T0, { item: crime1 }),
    ev('PLAY', T0 + 1, { item: crime2 }),
    ev('VIEW', T0 + 2, { item: crime1 }),
    ev('PLAY', T0 + 3, { item: comedy }),
    ev('PLAY', T0 + 4, { item: a(1) }),
    ev('PLAY', T0 + 5, { item: a(2) }),
    ev('PLAY', T0 + 6, { item: episode('series-b', 1, ['comedy']) }),
    ev('VIEW', T0 + 7, { item: shoe('s1', 'SKU-1') }),
    ev('PURCHASE', T0 + 8, { item: shoe('s1', 'SKU-1') }),
    ev('VIEW', T0 + 9, { item: book }),
    ev('SEARCH', T0 + 10),
    ev('IDENTIFY', T0 + 11, { traits: { plan: 'pro' } }),
  ];
  const p = fold(events, cfg);
  const values = Object.fromEntries(computedTraitValues(p, cfg.computedTraits, T0 + DAY_MS).map((v) => [v.name, v.value]));

  it('every fixture definition is valid', () => {
    for (const d of cfg.computedTraits) expect(definitionProblems(d), d.name).toEqual([]);
  });

  it('facet filters match scalars as text and lists by containing', () => {
    expect(values['scorsese']).toBe(2);
    expect(values['de-niro']).toBe(3);
    expect(values['year-2019']).toBe(1);
  });

  it('kind, series and sku filters; every field given must match', () => {
    expect(values['episodes']).toBe(3);
    expect(values['series-a']).toBe(2);
    expect(values['sku-1']).toBe(2);
    expect(values['sku-1-books']).toBe(0);
  });

  it('an empty filter counts events without an item too, but never IDENTIFY', () => {
    expect(values['anything']).toBe(events.length - 1);
  });

  it('DISTINCT and MOST_FREQUENT count facet values, series, skus, kinds and categories', () => {
    expect(values['casts']).toBe(3);
    expect(values['series']).toBe(2);
    expect(values['skus']).toBe(2);
    expect(values['kinds']).toBe(3);
    expect(values['categories']).toBe(2);
    expect(values['top-director']).toBe('Scorsese');
  });

  it('changedFields names computedTraits only when an event counts for a trait', () => {
    expect(changedFields([ev('PLAY', T0, { item: crime1 })], cfg)).toContain('computedTraits');
    expect(changedFields([ev('IDENTIFY', T0, { traits: { a: 1 } })], cfg)).not.toContain('computedTraits');
    expect(changedFields([ev('PLAY', T0, { item: crime1 })], DEFAULT_REDUCER_CONFIG)).not.toContain('computedTraits');
  });
});

// ---------------------------------------------------------------------------------------------
// Order independence, idempotency, merge

/** Every kind, windowed and all-time, over ~40 events of movies, episodes and products. */
const mixedDefs = [
  def('plays-3d', 'COUNT', { eventTypes: ['PLAY', 'COMPLETE'], windowMs: 3 * DAY_MS }),
  def('crime-7d', 'COUNT', { filter: { genre: 'crime' }, windowMs: 7 * DAY_MS }),
  def('events', 'COUNT'),
  def('units-10d', 'SUM', { eventTypes: ['PURCHASE'], property: 'quantity', windowMs: 10 * DAY_MS }),
  def('units', 'SUM', { eventTypes: ['PURCHASE'], property: 'quantity' }),
  def('items-5d', 'DISTINCT', { of: 'ITEM', windowMs: 5 * DAY_MS }),
  def('items', 'DISTINCT', { of: 'ITEM' }),
  def('genre-5d', 'MOST_FREQUENT', { of: 'GENRE', windowMs: 5 * DAY_MS }),
  def('genre', 'MOST_FREQUENT', { of: 'GENRE' }),
  def('director', 'MOST_FREQUENT', { of: 'FACET', facetName: 'director', windowMs: 14 * DAY_MS }),
  def('first-play', 'FIRST_SEEN', { eventTypes: ['PLAY'] }),
  def('last-play-2d', 'LAST_SEEN', { eventTypes: ['PLAY'], windowMs: 2 * DAY_MS }),
  def('first-view-2d', 'FIRST_SEEN', { eventTypes: ['VIEW'], windowMs: 2 * DAY_MS }),
];

/**
 * ~40 events over 30 days, some at the same time, plus late events (dated well before the newest,
 * some outside every window of it) so arrival order moves the window during a fold.
 */
function mixedEvents(seed: number, userId = 'user-1'): ProfileEvent[] {
  const rng = mulberry32(seed);
  const items: ItemRef[] = [crime1, crime2, comedy, episode('series-a', 1, ['drama']), episode('series-a', 2, ['drama']), shoe('s1', 'SKU-1'), shoe('s2', 'SKU-2'), book];
  const types: EventType[] = ['VIEW', 'PLAY', 'COMPLETE', 'PURCHASE', 'LIKE', 'SKIP', 'SEARCH'];
  const out: ProfileEvent[] = [];
  for (let i = 0; i < 40; i++) {
    const type = pick(rng, types);
    const t = T0 + (i % 7 === 0 ? 0 : randInt(rng, 0, 30 * 24) * 60 * MINUTE_MS);
    const init: Partial<EventInit> = { userId };
    if (type !== 'SEARCH') init.item = pick(rng, items);
    if (type === 'PURCHASE') init.properties = { quantity: randInt(rng, 1, 4) };
    out.push(event(`${userId}-m${i}`, type, t, init));
  }
  return out;
}

describe('order independence', () => {
  const cfg = withTraits(mixedDefs);
  const events = mixedEvents(11);
  const byTime = [...events].sort((a, b) => a.occurredAt - b.occurredAt);
  const expected = fold(byTime, cfg);

  it('the fixture exercises every trait', () => {
    for (const d of mixedDefs) expect(expected.computed[d.name], d.name).toBeDefined();
  });

  it('any permutation, applied in one batch or one by one, gives the same state', () => {
    const rng = mulberry32(2024);
    for (let round = 0; round < 60; round++) {
      const order = shuffled(events, rng);
      const p = round % 2 === 0 ? fold(order, cfg) : foldOneByOne(order, cfg);
      expect(p.computed, `round ${round}`).toEqual(expected.computed);
    }
  });

  it('holds for windowed traits when the entry bound is hit', () => {
    const windowed = mixedDefs.filter((d) => d.windowMs !== null);
    const tight = withTraits(windowed, { ...DEFAULT_REDUCER_CONFIG, limits: { ...DEFAULT_REDUCER_CONFIG.limits, computedTraitEntries: 3 } });
    const want = fold(byTime, tight);
    const rng = mulberry32(99);
    for (let round = 0; round < 40; round++) expect(foldOneByOne(shuffled(events, rng), tight).computed).toEqual(want.computed);
  });

  it('values as of any time agree across orders', () => {
    const rng = mulberry32(5);
    const other = foldOneByOne(shuffled(events, rng), cfg);
    for (let day = 0; day <= 35; day += 0.5) {
      const now = T0 + day * DAY_MS;
      expect(computedTraitValues(other, mixedDefs, now)).toEqual(computedTraitValues(expected, mixedDefs, now));
    }
  });

  it('does not mutate the input profile', () => {
    const start = deepFreeze(fold(events.slice(0, 20), cfg));
    const before = JSON.stringify(start);
    fold(events.slice(20), cfg, start);
    expect(JSON.stringify(start)).toBe(before);
  });
});

describe('idempotency', () => {
  const cfg = withTraits(mixedDefs);
  const events = mixedEvents(3);

  it('a redelivered event is counted once', () => {
    const once = fold(events, cfg);
    const redelivered = fold([events[5]!, events[12]!], cfg, once);
    expect(redelivered.computed).toEqual(once.computed);
    expect(fold([...events, ...events.slice(0, 10)], cfg).computed).toEqual(once.computed);
  });

  it('counts one play once', () => {
    const play = ev('PLAY', T0, { item: crime1 });
    const p = fold([play, play], cfg);
    expect(valueOf(fold([play], cfg, p), cfg, 'events', T0).value).toBe(1);
  });
});

describe('merge', () => {
  const cfg = withTraits(mixedDefs);
  const known = mixedEvents(21, 'user-1');
  const anonymous = mixedEvents(22, 'anon-1');
  // The anonymous events as the known profile gets them once the alias moved them.
  const union = fold([...known, ...anonymous.map((e) => ({ ...e, userId: 'user-1', sentAs: 'anon-1' }))], cfg, emptyProfile('user-1'));

  it('merging equals folding all events into one profile', () => {
    const merged = mergeProfiles(fold(known, cfg), fold(anonymous, cfg), cfg);
    expect(merged.computed).toEqual(union.computed);
    for (let day = 0; day <= 32; day += 1) {
      expect(computedTraitValues(merged, mixedDefs, T0 + day * DAY_MS)).toEqual(computedTraitValues(union, mixedDefs, T0 + day * DAY_MS));
    }
  });

  it('merging into an empty profile copies the state', () => {
    const source = fold(anonymous, cfg);
    expect(mergeProfiles(emptyProfile('anon-1'), source, cfg).computed).toEqual(source.computed);
  });
});

// ---------------------------------------------------------------------------------------------

describe('bounds and definitions', () => {
  it('keeps at most computedTraitEntries contributions, the newest', () => {
    const cfg = withTraits(
      [def('plays', 'COUNT', { windowMs: 30 * DAY_MS }), def('items', 'DISTINCT', { of: 'ITEM' }), def('genres', 'MOST_FREQUENT', { of: 'GENRE' })],
      { ...DEFAULT_REDUCER_CONFIG, limits: { ...DEFAULT_REDUCER_CONFIG.limits, computedTraitEntries: 4 } },
    );
    const events = Array.from({ length: 10 }, (_, i) => ev('PLAY', T0 + i * MINUTE_MS, { item: movie(`m${i}`, [`g${i}`]) }));
    const p = fold(shuffled(events, mulberry32(1)), cfg);
    const entries = (p.computed['plays'] as WindowedTraitState).entries;
    expect(entries.map(([t]) => t)).toEqual([6, 7, 8, 9].map((i) => T0 + i * MINUTE_MS));
    expect(valueOf(p, cfg, 'plays', T0 + DAY_MS).value).toBe(4);
    expect(valueOf(p, cfg, 'items', T0 + DAY_MS).value).toBe(4);
    expect(Object.keys((p.computed['genres'] as AllTimeTraitState).counts!)).toHaveLength(4);
  });

  it('keeps states of traits it no longer defines, the defined ones first, up to computedTraits', () => {
    const defs = [def('a', 'COUNT'), def('b', 'COUNT'), def('c', 'COUNT')];
    const old = fold([ev('PLAY', T0, { item: crime1 }), ev('PLAY', T0 + 1, { item: crime1 })], withTraits(defs));
    // A process that only knows `c` keeps `a` and `b`, bounded by the limit: `c` first, then the latest.
    const onlyC = withTraits([defs[2]!], { ...DEFAULT_REDUCER_CONFIG, limits: { ...DEFAULT_REDUCER_CONFIG.limits, computedTraits: 2 } });
    const p = fold([ev('PLAY', T0 + 2, { item: comedy })], onlyC, old);
    expect(Object.keys(p.computed).length).toBe(2);
    expect(p.computed['c']).toBeDefined();
    expect(valueOf(p, onlyC, 'c', T0 + 3).value).toBe(3);
    const all = fold([ev('PLAY', T0 + 3, { item: comedy })], withTraits(defs), old);
    expect(computedTraitValues(all, defs, T0 + 4).map((v) => v.value)).toEqual([3, 3, 3]);
  });

  it('a name defined again differently starts over', () => {
    const before = def('t', 'COUNT', { eventTypes: ['PLAY'] });
    const after = def('t', 'COUNT', { eventTypes: ['VIEW'] });
    const p = fold([ev('PLAY', T0, { item: crime1 }), ev('PLAY', T0 + 1, { item: crime1 })], withTraits([before]));
    expect(computedTraitValue(p, after, T0 + 2).value).toBe(0);
    const q = fold([ev('VIEW', T0 + 2, { item: crime1 })], withTraits([after]), p);
    expect(computedTraitValue(q, after, T0 + 3).value).toBe(1);
  });
});

describe('profiles stored before computed traits', () => {
  const cfg = withTraits([def('plays', 'COUNT', { eventTypes: ['PLAY'], windowMs: 7 * DAY_MS })]);
  const legacyJson = () => {
    const { computed: _computed, ...legacy } = fold([ev('VIEW', T0, { item: crime1 })], DEFAULT_REDUCER_CONFIG);
    return JSON.stringify(legacy);
  };

  it('load with an empty state and fold, adopted or copied', () => {
    const adopted = adoptProfile(JSON.parse(legacyJson()) as Profile);
    expect(Object.keys(adopted.computed)).toEqual([]);
    const owned = applyEvents(adopted, [ev('PLAY', T0 + 1, { item: crime1 })], cfg, true).profile;
    expect(valueOf(owned, cfg, 'plays', T0 + 2).value).toBe(1);

    const raw = JSON.parse(legacyJson()) as Profile;
    expect(valueOf(raw, cfg, 'plays', T0 + 2).value).toBe(0);
    const copied = fold([ev('PLAY', T0 + 1, { item: crime1 })], cfg, raw);
    expect(valueOf(copied, cfg, 'plays', T0 + 2).value).toBe(1);
    const other = JSON.parse(legacyJson()) as Profile;
    expect(mergeProfiles(copied, other, cfg).computed).toEqual(copied.computed);
  });
});

describe('reading a windowed trait', () => {
  /** What a read means, spelled out: filter the contributions in (now − window, now], aggregate them. */
  function reference(d: ComputedTraitDefinition, entries: readonly [number, number | string][], now: number) {
    const windowMs = d.windowMs!;
    const counted = entries.filter(([t]) => t > now - windowMs && t <= now);
    const values = counted.map(([, v]) => v);
    const counts = new Map<string, number>();
    for (const v of values) counts.set(String(v), (counts.get(String(v)) ?? 0) + 1);
    const most = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? null;
    const value = {
      COUNT: counted.length,
      SUM: values.reduce<number>((a, v) => a + (v as number), 0),
      FIRST_SEEN: counted[0]?.[0] ?? null,
      LAST_SEEN: counted.at(-1)?.[0] ?? null,
      DISTINCT: new Set(values).size,
      MOST_FREQUENT: most,
    }[d.kind];
    const leaves = counted[0] ? counted[0][0] + windowMs : Infinity;
    const enters = entries.find(([t]) => t > now)?.[0] ?? Infinity;
    const next = Math.min(leaves, enters);
    return { name: d.name, value, nextChangeAt: Number.isFinite(next) ? next : null };
  }

  it('equals filtering the contributions in the window, for every kind, at any time, with ties and edges', () => {
    const rng = mulberry32(19);
    const kinds = ['COUNT', 'SUM', 'FIRST_SEEN', 'LAST_SEEN', 'DISTINCT', 'MOST_FREQUENT'] as const;
    for (let round = 0; round < 400; round++) {
      const kind = pick(rng, kinds);
      const windowMs = randInt(rng, 1, 20) * MINUTE_MS;
      const d = def(`t-${round}`, kind, { windowMs, ...(kind === 'SUM' ? { property: 'price' } : {}), ...(kind === 'DISTINCT' || kind === 'MOST_FREQUENT' ? { of: 'GENRE' as const } : {}) });
      // Times on a coarse grid, so that several entries share one and reads land on their edges.
      const entries: [number, number | string][] = Array.from({ length: randInt(rng, 0, 60) }, () => {
        const t = T0 + randInt(rng, 0, 40) * MINUTE_MS;
        return [t, kind === 'DISTINCT' || kind === 'MOST_FREQUENT' ? pick(rng, ['Crime', 'Drama', 'Comedy']) : randInt(rng, 1, 9)];
      });
      entries.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
      const p = emptyProfile('u');
      p.computed[d.name] = { sig: traitSignature(d), entries } as WindowedTraitState;
      for (const now of [T0 - MINUTE_MS, ...entries.map(([t]) => t), ...entries.map(([t]) => t + windowMs), T0 + randInt(rng, 0, 60) * MINUTE_MS]) {
        expect(computedTraitValue(p, d, now)).toEqual(reference(d, entries, now));
      }
    }
  });
});
