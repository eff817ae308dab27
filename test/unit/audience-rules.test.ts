/**
 * The audience rule language: every node kind true and false, the times at which truth changes
 * with no event (decayed affinities, windows, inactivity), inline traits named as the contract
 * names them, and validation that names the bad node.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_LIMITS, RuleError, compileRule, evaluateRule, nextChangeAt } from '../../subgraphs/audiences/src/domain/rules.js';
import type { CompiledRule, ProfileView, RuleContext, RuleLimits, RuleProblem } from '../../subgraphs/audiences/src/domain/rules.js';
import { definitionProblems, inlineTraitName } from '../../lib/contracts/computed-traits.js';
import type { ComputedTraitValueView } from '../../lib/contracts/computed-traits.js';
import { CodedError } from '../../lib/contracts/errors.js';
import type { AffinityView, RankingFeatures } from '../../lib/contracts/ranking-features.js';
import { T0, mulberry32 } from './fixtures.js';

const DAY = 86_400_000;
const HALF_LIFE = 7 * DAY;
const nobody: RuleContext = { isMember: () => false };

function view(over: Partial<Omit<ProfileView, 'features'>> = {}, features: Partial<RankingFeatures> = {}): ProfileView {
  return {
    userId: 'u1',
    version: 1,
    lastEventAt: T0,
    traits: {},
    computed: {},
    asOf: T0,
    skus: [],
    ...over,
    features: { v: 1, userId: 'u1', version: 1, asOf: T0, halfLifeMs: HALF_LIFE, genres: [], categories: [], facets: {}, series: [], consumed: [], recent: [], ...features },
  };
}

const affinity = (key: string, score: number, lastSeenAt = T0): AffinityView => ({ key, score, count: 1, lastSeenAt });
const computed = (name: string, value: ComputedTraitValueView['value'], next: number | null = null): Record<string, ComputedTraitValueView> => ({
  [name]: { name, value, nextChangeAt: next },
});
const is = (rule: unknown, v: ProfileView, now = T0, ctx = nobody): boolean => evaluateRule(compileRule(rule), v, now, ctx);

/** The problems compileRule reports (fails the test when it compiles). */
function problems(rule: unknown, limits?: RuleLimits): RuleProblem[] {
  try {
    compileRule(rule, limits);
  } catch (e) {
    expect(e).toBeInstanceOf(RuleError);
    return (e as RuleError).problems;
  }
  throw new Error(`expected ${JSON.stringify(rule)} not to compile`);
}
const paths = (rule: unknown, limits?: RuleLimits): string[] => problems(rule, limits).map((p) => p.path);

describe('audience rules: traits (GrowthBook conditions)', () => {
  const premiumAdult = { traits: { plan: 'premium', age: { $gte: 18 } } };

  it('evaluates conditions with GrowthBook', () => {
    expect(is(premiumAdult, view({ traits: { plan: 'premium', age: 30 } }))).toBe(true);
    expect(is(premiumAdult, view({ traits: { plan: 'premium', age: 17 } }))).toBe(false);
    expect(is(premiumAdult, view({ traits: { plan: 'free', age: 30 } }))).toBe(false);
    expect(is(premiumAdult, view({ traits: {} }))).toBe(false);
  });

  it('$elemMatch: on objects by their fields, on values by operators', () => {
    const bigOrder = { traits: { orders: { $elemMatch: { total: { $gt: 100 } } } } };
    expect(is(bigOrder, view({ traits: { orders: [{ total: 50 }, { total: 150 }] } }))).toBe(true);
    expect(is(bigOrder, view({ traits: { orders: [{ total: 50 }] } }))).toBe(false);
    const sporty = { traits: { tags: { $elemMatch: { $regex: '^sport' } } } };
    expect(is(sporty, view({ traits: { tags: ['news', 'sports'] } }))).toBe(true);
    expect(is(sporty, view({ traits: { tags: ['news'] } }))).toBe(false);
  });

  it('logical operators and dotted paths', () => {
    const rule = { traits: { $or: [{ 'address.country': 'NL' }, { $not: { plan: { $in: ['free', 'trial'] } } }] } };
    expect(is(rule, view({ traits: { address: { country: 'NL' }, plan: 'free' } }))).toBe(true);
    expect(is(rule, view({ traits: { address: { country: 'DE' }, plan: 'gold' } }))).toBe(true);
    expect(is(rule, view({ traits: { address: { country: 'DE' }, plan: 'trial' } }))).toBe(false);
  });

  it('reads traits only, and is not time dependent', () => {
    const rule = compileRule(premiumAdult);
    expect([...rule.reads]).toEqual(['traits']);
    expect(rule.timeDependent).toBe(false);
    expect(nextChangeAt(rule, view({ traits: { plan: 'premium', age: 30 } }), T0, nobody)).toBeNull();
  });

  it('refuses what GrowthBook would quietly evaluate as false, naming the operator', () => {
    expect(paths({ traits: { age: { $gte: 18, $foo: 1 } } })).toEqual(['$.traits.age.$foo']);
    expect(paths({ traits: { name: { $regex: '(' } } })).toEqual(['$.traits.name.$regex']);
    expect(paths({ traits: { plan: { $in: 'premium' } } })).toEqual(['$.traits.plan.$in']);
    expect(paths({ traits: { plan: { $nin: 3 } } })).toEqual(['$.traits.plan.$nin']);
    expect(paths({ traits: { $or: { plan: 'a' } } })).toEqual(['$.traits.$or']);
    expect(paths({ traits: { $and: [{ plan: 'a' }, 'b'] } })).toEqual(['$.traits.$and[1]']);
    expect(paths({ traits: { $nor: [{ age: { $bogus: 1 } }] } })).toEqual(['$.traits.$nor[0].age.$bogus']);
    expect(paths({ traits: { $gte: 18 } })).toEqual(['$.traits.$gte']);
    expect(paths({ traits: { $savedGroup: { id: 'g' } } })).toEqual(['$.traits.$savedGroup']);
    expect(paths({ traits: { age: { $or: [{ $gt: 1 }] } } })).toEqual(['$.traits.age.$or']);
    expect(paths({ traits: { tags: { $elemMatch: 'x' } } })).toEqual(['$.traits.tags.$elemMatch']);
    expect(paths({ traits: { age: { $type: 'int' } } })).toEqual(['$.traits.age.$type']);
    expect(paths({ traits: { age: { $exists: 'yes' } } })).toEqual(['$.traits.age.$exists']);
    expect(paths({ traits: { age: { $gt: 1, plain: 2 } } })).toEqual(['$.traits.age']);
    expect(paths({ traits: { 'a.b': { $regexi: '[' } } })).toEqual(['$.traits["a.b"].$regexi']);
    expect(paths({ traits: ['plan'] })).toEqual(['$.traits']);
  });

  it('refuses attribute paths into prototypes', () => {
    expect(paths({ traits: { 'constructor.name': 'Object' } })).toEqual(['$.traits["constructor.name"]']);
    expect(paths(JSON.parse('{"traits":{"__proto__":{"x":1}}}'))).toEqual(['$.traits.__proto__']);
  });
});

describe('audience rules: affinity', () => {
  const drama = (op: string, value: number) => ({ affinity: { dimension: 'genre', key: 'Drama', [op]: value } });

  it('compares the score decayed to now; an absent key scores 0', () => {
    const v = view({}, { genres: [affinity('Drama', 10)] });
    expect(is(drama('gte', 5), v, T0)).toBe(true);
    expect(is(drama('gte', 5), v, T0 + 2 * HALF_LIFE)).toBe(false); // 2.5
    expect(is(drama('gt', 2), v, T0 + 2 * HALF_LIFE)).toBe(true);
    expect(is(drama('lt', 3), v, T0 + 2 * HALF_LIFE)).toBe(true);
    expect(is(drama('lte', 10), v, T0 - DAY)).toBe(true); // never amplified before lastSeenAt
    expect(is({ affinity: { dimension: 'genre', key: 'Comedy', lt: 0.1 } }, v)).toBe(true);
    expect(is({ affinity: { dimension: 'genre', key: 'Comedy', gte: 0 } }, v)).toBe(true);
    expect(is({ affinity: { dimension: 'genre', key: 'Comedy', gt: 0 } }, v)).toBe(false);
  });

  it('reads categories and facets by their own lists', () => {
    const v = view({}, { categories: [affinity('Shoes', 4)], facets: { director: [affinity('Nolan', 3)] } });
    expect(is({ affinity: { dimension: 'category', key: 'Shoes', gte: 4 } }, v)).toBe(true);
    expect(is({ affinity: { dimension: 'category', key: 'Nolan', gte: 1 } }, v)).toBe(false);
    expect(is({ affinity: { dimension: 'facet', facet: 'director', key: 'Nolan', gte: 3 } }, v)).toBe(true);
    expect(is({ affinity: { dimension: 'facet', facet: 'cast', key: 'Nolan', gte: 3 } }, v)).toBe(false);
    const reads = (dimension: string) => [...compileRule({ affinity: { dimension, facet: dimension === 'facet' ? 'brand' : undefined, key: 'k', gte: 1 } }).reads];
    expect([reads('genre'), reads('category'), reads('facet')]).toEqual([['genreAffinities'], ['categoryAffinities'], ['facetAffinities']]);
    expect(compileRule(drama('gte', 1)).timeDependent).toBe(true);
  });

  it('gte: nextChangeAt is the first ms the decayed score is below the threshold', () => {
    // 10 halves to exactly 5 at T0 + one half-life: still >= 5 then, below it one ms later.
    const rule = compileRule(drama('gte', 5));
    const v = view({}, { genres: [affinity('Drama', 10)] });
    const t = nextChangeAt(rule, v, T0, nobody);
    expect(t).toBe(T0 + HALF_LIFE + 1);
    expect(evaluateRule(rule, v, t! - 1, nobody)).toBe(true);
    expect(evaluateRule(rule, v, t!, nobody)).toBe(false);
    // Once crossed, the score never comes back.
    expect(nextChangeAt(rule, v, t!, nobody)).toBeNull();
  });

  it('gte with an inexact crossing: flips exactly at the returned ms', () => {
    const rule = compileRule(drama('gte', 3.1));
    const v = view({}, { genres: [affinity('Drama', 8.3, T0 - 3 * DAY)] });
    const t = nextChangeAt(rule, v, T0, nobody)!;
    expect(Math.abs(t - (T0 - 3 * DAY + HALF_LIFE * Math.log2(8.3 / 3.1)))).toBeLessThanOrEqual(1);
    expect(evaluateRule(rule, v, t - 1, nobody)).toBe(true);
    expect(evaluateRule(rule, v, t, nobody)).toBe(false);
  });

  it('lt: enters when the score decays below the threshold', () => {
    const rule = compileRule(drama('lt', 2));
    const v = view({}, { genres: [affinity('Drama', 8)] });
    const t = nextChangeAt(rule, v, T0, nobody)!;
    expect(t).toBe(T0 + 2 * HALF_LIFE + 1); // exactly 2 after two half-lives, below 2 one ms later
    expect(evaluateRule(rule, v, t - 1, nobody)).toBe(false);
    expect(evaluateRule(rule, v, t, nobody)).toBe(true);
  });

  it('negative scores rise toward 0: lte exits, gt enters', () => {
    const v = view({}, { genres: [affinity('Drama', -4)] });
    for (const [op, before] of [['lte', true], ['gt', false]] as const) {
      const rule = compileRule(drama(op, -1));
      const t = nextChangeAt(rule, v, T0, nobody)!;
      expect(t).toBeGreaterThanOrEqual(T0 + 2 * HALF_LIFE);
      expect(t).toBeLessThanOrEqual(T0 + 2 * HALF_LIFE + 1);
      expect(evaluateRule(rule, v, t - 1, nobody)).toBe(before);
      expect(evaluateRule(rule, v, t, nobody)).toBe(!before);
    }
  });

  it('no crossing when the threshold is beyond the score, on the other side of 0, or 0', () => {
    const v = view({}, { genres: [affinity('Drama', 4)] });
    for (const rule of [drama('gte', 5), drama('gt', -1), drama('gt', 0), drama('lt', 0)]) {
      expect(nextChangeAt(compileRule(rule), v, T0, nobody)).toBeNull();
    }
    expect(nextChangeAt(compileRule({ affinity: { dimension: 'genre', key: 'Comedy', gte: 1 } }), v, T0, nobody)).toBeNull();
  });

  it('for random scores, thresholds and comparisons: the returned ms is the first one that flips', () => {
    const rng = mulberry32(7);
    const ops = ['gte', 'gt', 'lte', 'lt'];
    for (let i = 0; i < 500; i++) {
      const score = (rng() - 0.3) * 20;
      // Every other round a threshold between 0 and the score, the ones that get crossed.
      const threshold = Math.floor(i / 4) % 2 === 0 ? score * rng() : (rng() - 0.3) * 20;
      const lastSeenAt = T0 - Math.floor(rng() * 30 * DAY);
      const halfLifeMs = Math.floor((0.5 + rng() * 20) * DAY);
      const rule = compileRule(drama(ops[i % 4]!, threshold));
      const v = view({}, { halfLifeMs, genres: [affinity('Drama', score, lastSeenAt)] });
      const now = T0;
      const before = evaluateRule(rule, v, now, nobody);
      const t = nextChangeAt(rule, v, now, nobody);
      const label = JSON.stringify({ score, threshold, lastSeenAt, halfLifeMs, op: ops[i % 4] });
      if (t === null) {
        expect(evaluateRule(rule, v, now + 1000 * DAY, nobody), label).toBe(before);
      } else {
        expect(t, label).toBeGreaterThan(now);
        expect(evaluateRule(rule, v, t, nobody), label).toBe(!before);
        if (t - 1 > now) expect(evaluateRule(rule, v, t - 1, nobody), label).toBe(before);
      }
    }
  });
});

describe('audience rules: computed traits', () => {
  it('compares the value as of the fetch', () => {
    const v = view({ computed: { ...computed('purchases-30d', 3), ...computed('top-genre', 'Drama') } });
    expect(is({ computed: { trait: 'purchases-30d', gte: 3 } }, v)).toBe(true);
    expect(is({ computed: { trait: 'purchases-30d', gt: 3 } }, v)).toBe(false);
    expect(is({ computed: { trait: 'purchases-30d', eq: 3 } }, v)).toBe(true);
    expect(is({ computed: { trait: 'top-genre', eq: 'Drama' } }, v)).toBe(true);
    expect(is({ computed: { trait: 'top-genre', eq: 'Comedy' } }, v)).toBe(false);
    expect(is({ computed: { trait: 'top-genre', gte: 0 } }, v)).toBe(false); // a string is not a number
  });

  it('a missing or null value counts as 0 for lte/lt only', () => {
    for (const v of [view(), view({ computed: computed('purchases-30d', null) })]) {
      expect(is({ computed: { trait: 'purchases-30d', lt: 1 } }, v)).toBe(true);
      expect(is({ computed: { trait: 'purchases-30d', lte: 0 } }, v)).toBe(true);
      expect(is({ computed: { trait: 'purchases-30d', lt: 0 } }, v)).toBe(false);
      expect(is({ computed: { trait: 'purchases-30d', gte: 0 } }, v)).toBe(false);
      expect(is({ computed: { trait: 'purchases-30d', gt: -1 } }, v)).toBe(false);
      expect(is({ computed: { trait: 'purchases-30d', eq: 0 } }, v)).toBe(false);
    }
  });

  it("nextChangeAt is the trait's own, when in the future", () => {
    const rule = compileRule({ computed: { trait: 'purchases-30d', gte: 1 } });
    expect(rule.traitNames).toEqual(['purchases-30d']);
    expect(rule.inlineTraits).toEqual([]);
    expect([...rule.reads]).toEqual(['computedTraits']);
    expect(rule.timeDependent).toBe(true);
    expect(nextChangeAt(rule, view({ computed: computed('purchases-30d', 1, T0 + DAY) }), T0, nobody)).toBe(T0 + DAY);
    expect(nextChangeAt(rule, view({ computed: computed('purchases-30d', 1, T0) }), T0, nobody)).toBeNull();
    expect(nextChangeAt(rule, view({ computed: computed('purchases-30d', 1) }), T0, nobody)).toBeNull();
    expect(nextChangeAt(rule, view(), T0, nobody)).toBeNull();
  });

  it('refuses bad names and comparisons', () => {
    expect(paths({ computed: { trait: 'Bad Name', gte: 1 } })).toEqual(['$.computed.trait']);
    expect(paths({ computed: { trait: 'x', gte: 1, lt: 5 } })).toEqual(['$.computed']);
    expect(paths({ computed: { trait: 'x' } })).toEqual(['$.computed']);
    expect(paths({ computed: { trait: 'x', gte: '1' } })).toEqual(['$.computed.gte']);
    expect(paths({ computed: { trait: 'x', eq: true } })).toEqual(['$.computed.eq']);
    expect(paths({ computed: { trait: 'x', gte: 1, within: '7d' } })).toEqual(['$.computed.within']);
  });
});

describe('audience rules: inline events', () => {
  it('compile to the trait an equivalent definition names, reused for the same definition', () => {
    const rule = compileRule({ all: [
      { events: { types: ['PLAY', 'COMPLETE'], genre: 'Drama', within: '7d', gte: 3 } },
      { events: { types: ['COMPLETE', 'PLAY'], within: '7d', genre: 'Drama', count: true, lt: 10 } },
    ] });
    const def = { kind: 'COUNT' as const, eventTypes: ['COMPLETE' as const, 'PLAY' as const], filter: { genre: 'Drama' }, windowMs: 7 * DAY };
    const name = inlineTraitName(def);
    expect(rule.traitNames).toEqual([name]);
    expect(rule.inlineTraits).toHaveLength(1);
    expect(rule.inlineTraits[0]).toEqual({ ...def, name });
    expect(definitionProblems(rule.inlineTraits[0])).toEqual([]);
    expect([...rule.reads]).toEqual(['computedTraits']);
    expect(rule.timeDependent).toBe(true);
    // Reads the same value as a `computed` node on that name.
    const named = compileRule({ computed: { trait: name, gte: 3 } });
    for (const value of [2, 3, 9, 12]) {
      const v = view({ computed: computed(name, value) });
      expect(evaluateRule(rule, v, T0, nobody)).toBe(value >= 3 && value < 10);
      expect(evaluateRule(named, v, T0, nobody)).toBe(value >= 3);
    }
  });

  it('the 7-day window: a purchase 2 days ago keeps the user in until it drops out', () => {
    const rule = compileRule({ events: { types: ['PURCHASE'], within: '7d', gte: 1 } });
    const name = rule.traitNames[0]!;
    expect(name).toBe(inlineTraitName({ kind: 'COUNT', eventTypes: ['PURCHASE'], filter: {}, windowMs: 7 * DAY }));
    const purchasedAt = T0 - 2 * DAY;
    const v = view({ lastEventAt: purchasedAt, computed: computed(name, 1, purchasedAt + 7 * DAY) });
    expect(evaluateRule(rule, v, T0, nobody)).toBe(true);
    const due = nextChangeAt(rule, v, T0, nobody);
    expect(due).toBe(purchasedAt + 7 * DAY);
    // The profile's value once the purchase has left the window.
    const after = view({ lastEventAt: purchasedAt, asOf: due!, computed: computed(name, 0) });
    expect(evaluateRule(rule, after, due!, nobody)).toBe(false);
    expect(nextChangeAt(rule, after, due!, nobody)).toBeNull();
  });

  it('sum and distinct aggregations, filters and all time', () => {
    const sum = compileRule({ events: { types: ['PURCHASE'], category: 'Shoes', sum: 'value', gte: 100 } });
    expect(sum.inlineTraits[0]).toEqual({ name: sum.traitNames[0], kind: 'SUM', eventTypes: ['PURCHASE'], filter: { category: 'Shoes' }, windowMs: null, property: 'value' });
    expect(sum.timeDependent).toBe(false);
    const distinct = compileRule({ events: { types: ['PLAY'], kind: 'EPISODE', facet: { name: 'studio', value: 'HBO' }, within: '30d', distinct: 'SERIES', gte: 2 } });
    expect(distinct.inlineTraits[0]).toMatchObject({ kind: 'DISTINCT', of: 'SERIES', filter: { kind: 'EPISODE', facet: { name: 'studio', value: 'HBO' } }, windowMs: 30 * DAY });
    const facets = compileRule({ events: { types: ['VIEW'], distinct: 'FACET', facetName: 'brand', gte: 3 } });
    expect(facets.inlineTraits[0]).toMatchObject({ kind: 'DISTINCT', of: 'FACET', facetName: 'brand' });
    expect(is({ events: { types: ['PURCHASE'], category: 'Shoes', sum: 'value', gte: 100 } }, view({ computed: computed(sum.traitNames[0]!, 120) }))).toBe(true);
  });

  it('refuses bad events nodes, naming each field', () => {
    expect(paths({ events: { types: ['PLAY', 'BINGE'], gte: 1 } })).toEqual(['$.events.types[1]']);
    expect(paths({ events: { types: ['IDENTIFY'], gte: 1 } })).toEqual(['$.events.types[0]']);
    expect(paths({ events: { types: ['PLAY', 'PLAY'], gte: 1 } })).toEqual(['$.events.types[1]']);
    expect(paths({ events: { types: [], gte: 1 } })).toEqual(['$.events.types']);
    expect(paths({ events: { types: ['PLAY'], within: 'seven days', gte: 1 } })).toEqual(['$.events.within']);
    expect(paths({ events: { types: ['PLAY'], within: '500w', gte: 1 } })).toEqual(['$.events.within']);
    expect(paths({ events: { types: ['PLAY'], kind: 'BOOK', gte: 1 } })).toEqual(['$.events.kind']);
    expect(paths({ events: { types: ['PLAY'], sum: 'value', distinct: 'GENRE', gte: 1 } })).toContain('$.events');
    expect(paths({ events: { types: ['PLAY'], distinct: 'COLOUR', gte: 1 } })).toEqual(['$.events.distinct']);
    expect(paths({ events: { types: ['PLAY'], distinct: 'FACET', gte: 1 } })).toEqual(['$.events.facetName']);
    expect(paths({ events: { types: ['PLAY'] } })).toEqual(['$.events']);
    expect(paths({ events: { types: ['PLAY'], eq: 1 } })).toEqual(['$.events.eq', '$.events']);
    // Every problem at once, a bad window included.
    expect(paths({ events: { types: ['BINGE'], genre: '', within: 'soon', gte: 1 } })).toEqual(['$.events.within', '$.events.types[0]', '$.events.genre']);
  });
});

describe('audience rules: series and purchases', () => {
  const series = [
    { seriesId: 's1', lastEpisode: 3, watched: [1, 2, 3], lastWatchedAt: T0 },
    { seriesId: 's2', lastEpisode: 5, watched: [1, 5], lastWatchedAt: T0 },
  ];

  it('series: watched episodes of one series (absent: 0), or the most of any series', () => {
    const v = view({}, { series });
    expect(is({ series: { seriesId: 's1', episodesWatched: { gte: 3 } } }, v)).toBe(true);
    expect(is({ series: { seriesId: 's2', episodesWatched: { gte: 3 } } }, v)).toBe(false);
    expect(is({ series: { seriesId: 's9', episodesWatched: { lt: 1 } } }, v)).toBe(true);
    expect(is({ series: { episodesWatched: { gt: 2 } } }, v)).toBe(true);
    expect(is({ series: { episodesWatched: { gt: 3 } } }, v)).toBe(false);
    expect(is({ series: { episodesWatched: { lte: 0 } } }, view())).toBe(true);
    const rule = compileRule({ series: { episodesWatched: { gte: 1 } } });
    expect([...rule.reads, rule.timeDependent]).toEqual(['series', false]);
    expect(nextChangeAt(rule, v, T0, nobody)).toBeNull();
    expect(paths({ series: { seriesId: 's1' } })).toEqual(['$.series.episodesWatched']);
    expect(paths({ series: { seriesId: 5, episodesWatched: { gte: 1, lt: 3 } } })).toEqual(['$.series.seriesId', '$.series.episodesWatched']);
  });

  it('purchased sku: from the sku counters, gte 1 by default', () => {
    const v = view({ skus: [{ sku: 'A-1', purchased: 2, addedToCart: 3, viewed: 9, lastSeenAt: T0 }, { sku: 'B-2', purchased: 0, addedToCart: 1, viewed: 1, lastSeenAt: T0 }] });
    expect(is({ purchased: { sku: 'A-1' } }, v)).toBe(true);
    expect(is({ purchased: { sku: 'B-2' } }, v)).toBe(false);
    expect(is({ purchased: { sku: 'C-3' } }, v)).toBe(false);
    expect(is({ purchased: { sku: 'A-1', gte: 3 } }, v)).toBe(false);
    expect(is({ purchased: { sku: 'C-3', lt: 1 } }, v)).toBe(true);
    const rule = compileRule({ purchased: { sku: 'A-1' } });
    expect([...rule.reads, rule.timeDependent, nextChangeAt(rule, v, T0, nobody)]).toEqual(['skus', false, null]);
  });

  it('purchased category: an inline COUNT of PURCHASE in that category', () => {
    const rule = compileRule({ purchased: { category: 'Shoes', within: '30d', gte: 2 } });
    const name = inlineTraitName({ kind: 'COUNT', eventTypes: ['PURCHASE'], filter: { category: 'Shoes' }, windowMs: 30 * DAY });
    expect(rule.traitNames).toEqual([name]);
    expect(rule.inlineTraits).toEqual([{ name, kind: 'COUNT', eventTypes: ['PURCHASE'], filter: { category: 'Shoes' }, windowMs: 30 * DAY }]);
    expect(rule.timeDependent).toBe(true);
    expect(evaluateRule(rule, view({ computed: computed(name, 2, T0 + DAY) }), T0, nobody)).toBe(true);
    expect(evaluateRule(rule, view({ computed: computed(name, 1) }), T0, nobody)).toBe(false);
    expect(nextChangeAt(rule, view({ computed: computed(name, 2, T0 + DAY) }), T0, nobody)).toBe(T0 + DAY);
    // Same definition as the equivalent events node; all time is not time dependent.
    expect(compileRule({ events: { types: ['PURCHASE'], category: 'Shoes', within: '30d', gte: 1 } }).traitNames).toEqual([name]);
    const allTime = compileRule({ purchased: { category: 'Shoes' } });
    expect([allTime.timeDependent, allTime.inlineTraits[0]!.windowMs]).toEqual([false, null]);
    expect(evaluateRule(allTime, view({ computed: computed(allTime.traitNames[0]!, 1) }), T0, nobody)).toBe(true);
  });

  it('refuses sku and category together or neither, and a window on a sku', () => {
    expect(paths({ purchased: { sku: 'A', category: 'Shoes' } })).toEqual(['$.purchased']);
    expect(paths({ purchased: { gte: 1 } })).toEqual(['$.purchased']);
    expect(paths({ purchased: { sku: 'A', within: '7d' } })).toEqual(['$.purchased.within']);
    expect(paths({ purchased: { category: '' } })).toEqual(['$.purchased.category']);
    expect(paths({ purchased: { category: 'Shoes', within: '0d' } })).toEqual(['$.purchased.within']);
  });
});

describe('audience rules: activity and audiences', () => {
  it('lastEventWithin: true until lastEventAt + d, due then', () => {
    const rule = compileRule({ lastEventWithin: '7d' });
    const last = T0 - DAY;
    const v = view({ lastEventAt: last });
    expect(evaluateRule(rule, v, T0, nobody)).toBe(true);
    expect(nextChangeAt(rule, v, T0, nobody)).toBe(last + 7 * DAY);
    expect(evaluateRule(rule, v, last + 7 * DAY - 1, nobody)).toBe(true);
    expect(evaluateRule(rule, v, last + 7 * DAY, nobody)).toBe(false);
    expect(nextChangeAt(rule, v, last + 7 * DAY, nobody)).toBeNull();
    expect(evaluateRule(rule, view({ lastEventAt: null }), T0, nobody)).toBe(false);
    expect(nextChangeAt(rule, view({ lastEventAt: null }), T0, nobody)).toBeNull();
    expect([...rule.reads, rule.timeDependent]).toEqual(['lastEventAt', true]);
  });

  it('inactiveFor: enters at lastEventAt + 14d; a user with no events is not inactive', () => {
    const rule = compileRule({ inactiveFor: '14d' });
    const last = T0;
    const v = view({ lastEventAt: last });
    expect(evaluateRule(rule, v, T0 + DAY, nobody)).toBe(false);
    const due = nextChangeAt(rule, v, T0 + DAY, nobody);
    expect(due).toBe(last + 14 * DAY);
    expect(evaluateRule(rule, v, due! - 1, nobody)).toBe(false);
    expect(evaluateRule(rule, v, due!, nobody)).toBe(true);
    expect(nextChangeAt(rule, v, due!, nobody)).toBeNull();
    expect(evaluateRule(rule, view({ lastEventAt: null }), T0 + 100 * DAY, nobody)).toBe(false);
    expect(nextChangeAt(rule, view({ lastEventAt: null }), T0, nobody)).toBeNull();
  });

  it('audience: membership from the context, listed for cycle checks', () => {
    const members: RuleContext = { isMember: (id) => id === 'vip' };
    const rule = compileRule({ any: [{ audience: 'vip' }, { all: [{ audience: 'churn-risk' }, { not: { audience: 'vip' } }] }] });
    expect(rule.audiences).toEqual(['vip', 'churn-risk']);
    expect([...rule.reads]).toEqual([]);
    expect(rule.timeDependent).toBe(false);
    expect(evaluateRule(rule, view(), T0, members)).toBe(true);
    expect(evaluateRule(rule, view(), T0, nobody)).toBe(false);
    expect(evaluateRule(rule, view(), T0, { isMember: (id) => id === 'churn-risk' })).toBe(true);
    expect(nextChangeAt(rule, view(), T0, members)).toBeNull();
  });
});

describe('audience rules: composites', () => {
  const premium = { traits: { plan: 'premium' } };

  it('all, any and not', () => {
    const v = view({ traits: { plan: 'premium' }, lastEventAt: T0 - DAY });
    expect(is({ all: [premium, { lastEventWithin: '7d' }] }, v)).toBe(true);
    expect(is({ all: [premium, { lastEventWithin: '1h' }] }, v)).toBe(false);
    expect(is({ any: [{ traits: { plan: 'free' } }, { lastEventWithin: '1h' }] }, v)).toBe(false);
    expect(is({ any: [{ traits: { plan: 'free' } }, { lastEventWithin: '7d' }] }, v)).toBe(true);
    expect(is({ not: premium }, v)).toBe(false);
    expect(is({ not: { not: premium } }, v)).toBe(true);
  });

  it('collects reads, traits and audiences of every node, once each', () => {
    const rule = compileRule({ all: [
      premium,
      { affinity: { dimension: 'genre', key: 'Drama', gte: 1 } },
      { any: [{ computed: { trait: 'ltv', gte: 100 } }, { purchased: { category: 'Shoes' } }, { computed: { trait: 'ltv', lt: 5 } }] },
      { not: { inactiveFor: '30d' } },
      { audience: 'vip' },
      { audience: 'vip' },
    ] });
    expect([...rule.reads].sort()).toEqual(['computedTraits', 'genreAffinities', 'lastEventAt', 'traits']);
    expect(rule.traitNames).toEqual(['ltv', inlineTraitName({ kind: 'COUNT', eventTypes: ['PURCHASE'], filter: { category: 'Shoes' }, windowMs: null })]);
    expect(rule.audiences).toEqual(['vip']);
    expect(rule.timeDependent).toBe(true);
    expect(Object.isFrozen(rule)).toBe(true);
  });

  it('nextChangeAt: the earliest child, unless a child that cannot change decides', () => {
    const rule = compileRule({ all: [premium, { inactiveFor: '14d' }, { not: { lastEventWithin: '3d' } }] });
    const last = T0;
    expect(nextChangeAt(rule, view({ traits: { plan: 'premium' }, lastEventAt: last }), T0, nobody)).toBe(last + 3 * DAY);
    // Not premium: the rule stays false whatever the time, so nothing is due.
    expect(nextChangeAt(rule, view({ traits: { plan: 'free' }, lastEventAt: last }), T0, nobody)).toBeNull();
    const any = compileRule({ any: [premium, { inactiveFor: '14d' }] });
    expect(nextChangeAt(any, view({ traits: { plan: 'premium' }, lastEventAt: last }), T0, nobody)).toBeNull();
    expect(nextChangeAt(any, view({ traits: { plan: 'free' }, lastEventAt: last }), T0, nobody)).toBe(last + 14 * DAY);
  });

  it('a copy of a compiled rule evaluates like the original', () => {
    const rule = compileRule({ all: [premium, { lastEventWithin: '7d' }] });
    const copy: CompiledRule = { ...rule };
    const v = view({ traits: { plan: 'premium' }, lastEventAt: T0 });
    expect(evaluateRule(copy, v, T0, nobody)).toBe(true);
    expect(nextChangeAt(copy, v, T0, nobody)).toBe(T0 + 7 * DAY);
    expect(copy.source).toEqual({ all: [premium, { lastEventWithin: '7d' }] });
  });
});

describe('audience rules: validation', () => {
  it('names the bad node by its path, and lists every problem at once', () => {
    expect(paths({ all: [{ traits: {} }, { affinity: { dimension: 'mood', key: 'x', gte: 1 } }] })).toEqual(['$.all[1].affinity.dimension']);
    const all = problems({ any: [
      { affinity: { dimension: 'facet', key: 'x', gte: 1 } },
      { affinity: { dimension: 'genre', key: 'x', gte: 1, lt: 2 } },
      { affinity: { dimension: 'genre', facet: 'brand', key: '', gte: Infinity } },
      { lastEventWithin: '7 days' },
      { inactiveFor: 14 },
      { audience: 42 },
    ] });
    expect(all.map((p) => p.path)).toEqual([
      '$.any[0].affinity.facet',
      '$.any[1].affinity',
      '$.any[2].affinity.facet',
      '$.any[2].affinity.key',
      '$.any[2].affinity.gte',
      '$.any[3].lastEventWithin',
      '$.any[4].inactiveFor',
      '$.any[5].audience',
    ]);
    expect(all[1]!.message).toMatch(/one comparison/);
  });

  it('nodes: exactly one known key, objects, non-empty lists', () => {
    expect(problems({})[0]).toMatchObject({ path: '$', message: expect.stringMatching(/exactly one key/) });
    expect(paths({ all: [{ audience: 'a', not: { audience: 'b' } }] })).toEqual(['$.all[0]']);
    expect(paths({ none: [] })).toEqual(['$.none']);
    expect(paths({ all: [] })).toEqual(['$.all']);
    expect(paths({ any: { audience: 'a' } })).toEqual(['$.any']);
    expect(paths({ not: 'vip' })).toEqual(['$.not']);
    expect(paths({ all: [null, ['x'], 3] })).toEqual(['$.all[0]', '$.all[1]', '$.all[2]']);
    expect(paths({ affinity: { dimension: 'genre', key: 'x', gte: 1, weight: 2 } })).toEqual(['$.affinity.weight']);
    expect(paths('all')).toEqual(['$']);
    expect(paths(undefined)).toEqual(['$']);
  });

  it('__proto__ and constructor are unknown keys, not prototype lookups', () => {
    expect(paths(JSON.parse('{"__proto__":{"audience":"x"}}'))).toEqual(['$.__proto__']);
    expect(paths({ constructor: { audience: 'x' } })).toEqual(['$.constructor']);
    expect(paths({ all: [{ toString: 'x' }] })).toEqual(['$.all[0].toString']);
    expect(paths(JSON.parse('{"affinity":{"dimension":"__proto__","key":"x","gte":1}}'))).toEqual(['$.affinity.dimension']);
    expect(paths(JSON.parse('{"affinity":{"dimension":"genre","key":"x","gte":1,"__proto__":{}}}'))).toEqual(['$.affinity.__proto__']);
  });

  it('limits: nodes, depth and size, each with the default and custom values', () => {
    expect(DEFAULT_RULE_LIMITS).toEqual({ maxNodes: 200, maxDepth: 10, maxBytes: 16_384 });
    const leaves = (n: number) => ({ any: Array.from({ length: n }, (_, i) => ({ audience: `a${i}` })) });
    expect(() => compileRule(leaves(199))).not.toThrow(); // 200 nodes with the `any`
    expect(problems(leaves(200))).toEqual([{ path: '$.any[199]', message: 'the rule has more than 200 nodes' }]);
    const nested = (depth: number): unknown => (depth === 1 ? { audience: 'a' } : { not: nested(depth - 1) });
    expect(() => compileRule(nested(10))).not.toThrow();
    expect(paths(nested(11))).toEqual([`$${'.not'.repeat(10)}`]);
    const big = { traits: { name: { $in: Array.from({ length: 2000 }, (_, i) => `name-${i}`) } } };
    expect(JSON.stringify(big).length).toBeGreaterThan(16_384);
    expect(problems(big)).toEqual([{ path: '$', message: expect.stringMatching(/more than 16384/) }]);
    const small: RuleLimits = { maxNodes: 2, maxDepth: 2, maxBytes: 100 };
    expect(paths(leaves(2), small)).toEqual(['$.any[1]']);
    expect(paths(nested(3), small)).toEqual(['$.not.not']);
    expect(() => compileRule(big, { ...DEFAULT_RULE_LIMITS, maxBytes: 100_000 })).not.toThrow();
  });

  it('RuleError is a coded error with every problem in its message', () => {
    try {
      compileRule({ all: [{ lastEventWithin: 'x' }, { audience: '' }] });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CodedError);
      expect((e as RuleError).code).toBe('RULE_INVALID');
      expect((e as RuleError).message).toContain('$.all[0].lastEventWithin');
      expect((e as RuleError).message).toContain('$.all[1].audience');
    }
  });
});
