/**
 * Assignment against GrowthBook's published SDK test vectors
 * (github.com/growthbook/growthbook, packages/sdk-js/test/cases.json, specVersion 0.5.4, commit
 * 021bf498f75c8491c156184ca1b3a1fbafa1d64e): a selection of its "hash", "getBucketRange",
 * "chooseVariation" and "run" cases, copied into small tables here.
 *
 * @growthbook/growthbook does not export its hash, so the hash vectors are checked against an
 * independent re-implementation below (FNV-1a 32-bit, GrowthBook's v1 and v2 hashing, bucket ranges,
 * chooseVariation), and evaluate() is then checked against that re-implementation for many users.
 */
import { describe, expect, it } from 'vitest';
import { evaluate } from '../../subgraphs/experiments/src/domain/assign.js';
import { DEFAULT_ANALYSIS } from '../../subgraphs/experiments/src/domain/experiment.js';
import type { Experiment, ExperimentStatus } from '../../subgraphs/experiments/src/domain/experiment.js';
import { mulberry32 } from './fixtures.js';

// ---------------------------------------------------------------------------------------------
// Independent re-implementation of GrowthBook's hashing and bucketing (from the SDK spec).

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a, 32 bits, over UTF-16 code units (as the JavaScript SDK does; ids here are ASCII). */
function fnv1a32(s: string): number {
  let h = FNV_OFFSET_BASIS;
  for (let i = 0; i < s.length; i++) {
    h = (h ^ s.charCodeAt(i)) >>> 0;
    h = Math.imul(h, FNV_PRIME) >>> 0;
  }
  return h;
}

/** GrowthBook's hash(seed, value, version): v1 = (fnv(value+seed) % 1000)/1000, v2 = double hash. */
function gbHash(seed: string, value: string, version: number): number | null {
  if (version === 1) return (fnv1a32(value + seed) % 1000) / 1000;
  if (version === 2) return (fnv1a32(String(fnv1a32(seed + value))) % 10000) / 10000;
  return null;
}

type Range = [number, number];

/** Bucket ranges from weights and coverage as the spec describes. */
function bucketRanges(numVariations: number, coverage: number, weights: readonly number[] | null): Range[] {
  const cov = Math.min(1, Math.max(0, coverage));
  const equal = Array.from({ length: numVariations }, () => 1 / numVariations);
  let w = weights ?? equal;
  if (w.length !== numVariations) w = equal;
  const total = w.reduce((a, b) => a + b, 0);
  if (total < 0.99 || total > 1.01) w = equal;
  let cumulative = 0;
  return w.map((weight) => {
    const start = cumulative;
    cumulative += weight;
    return [start, start + cov * weight];
  });
}

/** Index of the range holding n (start inclusive, end exclusive), or −1. */
function chooseVariation(n: number, ranges: readonly Range[]): number {
  return ranges.findIndex(([start, end]) => n >= start && n < end);
}

/** Where GrowthBook would put `id` (ignoring targeting): variation index or −1. */
function expectedIndex(e: Experiment, id: string): number {
  if (id === '') return -1;
  const n = gbHash(e.seed, id, e.hashVersion);
  if (n === null) return -1;
  return chooseVariation(
    n,
    bucketRanges(
      e.variants.length,
      e.coverage,
      e.variants.map((v) => v.weight),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Helpers

interface ExperimentSpec {
  key: string;
  variations?: number;
  weights?: number[];
  coverage?: number;
  seed?: string;
  hashVersion?: 1 | 2;
  condition?: Record<string, unknown> | null;
  status?: ExperimentStatus;
}

/** An experiment with variants v0, v1, …; as in GrowthBook, seed defaults to the key, hashVersion to 1. */
function experiment(spec: ExperimentSpec): Experiment {
  const count = spec.weights?.length ?? spec.variations ?? 2;
  const weights = spec.weights ?? Array.from({ length: count }, () => 1 / count);
  return {
    key: spec.key,
    name: spec.key,
    description: null,
    status: spec.status ?? 'RUNNING',
    weightsVersion: 1,
    analysis: DEFAULT_ANALYSIS,
    variants: weights.map((weight, i) => ({ key: `v${i}`, name: `variation ${i}`, weight })),
    coverage: spec.coverage ?? 1,
    seed: spec.seed ?? spec.key,
    hashVersion: spec.hashVersion ?? 1,
    condition: spec.condition ?? null,
    createdAt: 0,
    startedAt: 0,
    stoppedAt: null,
    updatedAt: 0,
  };
}

const ID_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:.@';

/** Distinct ASCII ids from a seeded PRNG, so any failure reproduces. */
function randomIds(count: number, seed: number): string[] {
  const rand = mulberry32(seed);
  const ids = new Set<string>();
  while (ids.size < count) {
    const len = 1 + Math.floor(rand() * 24);
    let id = '';
    for (let i = 0; i < len; i++) id += ID_CHARS[Math.floor(rand() * ID_CHARS.length)]!;
    ids.add(id);
  }
  return [...ids];
}

// ---------------------------------------------------------------------------------------------
// Published vectors (selection)

/** cases.json "hash": [seed, value, version, expected]. */
const HASH_VECTORS: ReadonlyArray<readonly [string, string, number, number | null]> = [
  ['', 'a', 1, 0.22],
  ['', 'b', 1, 0.077],
  ['b', 'a', 1, 0.946],
  ['ef', 'd', 1, 0.652],
  ['asdf', '8952klfjas09ujk', 1, 0.549],
  ['', '123', 1, 0.011],
  ['', '___)((*":&', 1, 0.563],
  ['seed', 'a', 2, 0.0505],
  ['seed', 'b', 2, 0.2696],
  ['foo', 'ab', 2, 0.2575],
  ['foo', 'def', 2, 0.2019],
  ['89123klj', '8952klfjas09ujkasdf', 2, 0.124],
  ['90850943850283058242805', '123', 2, 0.7516],
  ['()**(%$##$%#$#', '___)((*":&', 2, 0.0128],
  ['abc', 'def', 99, null],
];

/** cases.json "getBucketRange": [name, [numVariations, coverage, weights], expected ranges]. */
const BUCKET_RANGE_VECTORS: ReadonlyArray<readonly [string, number, number, number[] | null, Range[]]> = [
  ['normal 50/50', 2, 1, null, [[0, 0.5], [0.5, 1]]],
  ['reduced coverage', 2, 0.5, null, [[0, 0.25], [0.5, 0.75]]],
  ['zero coverage', 2, 0, null, [[0, 0], [0.5, 0.5]]],
  ['4 variations', 4, 1, null, [[0, 0.25], [0.25, 0.5], [0.5, 0.75], [0.75, 1]]],
  ['uneven weights, 3 variations', 3, 1, [0.2, 0.3, 0.5], [[0, 0.2], [0.2, 0.5], [0.5, 1]]],
  ['uneven weights, reduced coverage, 3 variations', 3, 0.2, [0.2, 0.3, 0.5], [[0, 0.04], [0.2, 0.26], [0.5, 0.6]]],
  ['negative coverage', 2, -0.2, null, [[0, 0], [0.5, 0.5]]],
  ['coverage above 1', 2, 1.5, null, [[0, 0.5], [0.5, 1]]],
  ['weights sum below 1', 2, 1, [0.4, 0.1], [[0, 0.5], [0.5, 1]]],
  ['weights sum above 1', 2, 1, [0.7, 0.6], [[0, 0.5], [0.5, 1]]],
  ['weights.length not equal to num variations', 4, 1, [0.4, 0.4, 0.2], [[0, 0.25], [0.25, 0.5], [0.5, 0.75], [0.75, 1]]],
  ['weights sum almost equals 1', 2, 1, [0.4, 0.5999], [[0, 0.4], [0.4, 0.9999]]],
];

/** cases.json "chooseVariation": [name, n, ranges, expected]. */
const CHOOSE_VECTORS: ReadonlyArray<readonly [string, number, Range[], number]> = [
  ['even range, 0.2', 0.2, [[0, 0.5], [0.5, 1]], 0],
  ['even range, 0.6', 0.6, [[0, 0.5], [0.5, 1]], 1],
  ['even range, 0', 0, [[0, 0.5], [0.5, 1]], 0],
  ['even range, 0.5', 0.5, [[0, 0.5], [0.5, 1]], 1],
  ['reduced range, 0.4', 0.4, [[0, 0.25], [0.5, 0.75]], -1],
  ['reduced range, 0.25', 0.25, [[0, 0.25], [0.5, 0.75]], -1],
  ['reduced range, 0.5', 0.5, [[0, 0.25], [0.5, 0.75]], 1],
  ['zero range', 0.5, [[0, 0.5], [0.5, 0.5], [0.5, 1]], 2],
];

interface RunCase {
  name: string;
  id: string;
  traits?: Record<string, unknown>;
  experiment: ExperimentSpec;
  /** Published variation value (the variation index here). */
  variation: number;
  inExperiment: boolean;
}

/**
 * cases.json "run": [name, context, experiment, value, inExperiment, hashUsed]. Experiments without
 * hashVersion use version 1 and seed = key, as the SDK does; equal default weights are spelled out.
 */
const RUN_CASES: readonly RunCase[] = [
  { name: 'default weights - 1', id: '1', experiment: { key: 'my-test' }, variation: 1, inExperiment: true },
  { name: 'default weights - 2', id: '2', experiment: { key: 'my-test' }, variation: 0, inExperiment: true },
  { name: 'default weights - 4', id: '4', experiment: { key: 'my-test' }, variation: 1, inExperiment: true },
  { name: 'default weights - 9', id: '9', experiment: { key: 'my-test' }, variation: 0, inExperiment: true },
  { name: 'uneven weights - 3', id: '3', experiment: { key: 'my-test', weights: [0.1, 0.9] }, variation: 0, inExperiment: true },
  { name: 'uneven weights - 7', id: '7', experiment: { key: 'my-test', weights: [0.1, 0.9] }, variation: 0, inExperiment: true },
  { name: 'uneven weights - 8', id: '8', experiment: { key: 'my-test', weights: [0.1, 0.9] }, variation: 1, inExperiment: true },
  { name: 'coverage - 1', id: '1', experiment: { key: 'my-test', coverage: 0.4 }, variation: 0, inExperiment: false },
  { name: 'coverage - 2', id: '2', experiment: { key: 'my-test', coverage: 0.4 }, variation: 0, inExperiment: true },
  { name: 'coverage - 4', id: '4', experiment: { key: 'my-test', coverage: 0.4 }, variation: 0, inExperiment: false },
  { name: 'coverage - 5', id: '5', experiment: { key: 'my-test', coverage: 0.4 }, variation: 1, inExperiment: true },
  { name: 'coverage - 8', id: '8', experiment: { key: 'my-test', coverage: 0.4 }, variation: 1, inExperiment: true },
  { name: 'three way test - 1', id: '1', experiment: { key: 'my-test', variations: 3 }, variation: 2, inExperiment: true },
  { name: 'three way test - 5', id: '5', experiment: { key: 'my-test', variations: 3 }, variation: 1, inExperiment: true },
  { name: 'three way test - 7', id: '7', experiment: { key: 'my-test', variations: 3 }, variation: 0, inExperiment: true },
  { name: 'test name - my-test-3', id: '1', experiment: { key: 'my-test-3' }, variation: 0, inExperiment: true },
  {
    name: 'evaluates conditions - pass',
    id: '1',
    traits: { browser: 'firefox' },
    experiment: { key: 'my-test', condition: { browser: 'firefox' } },
    variation: 1,
    inExperiment: true,
  },
  {
    name: 'evaluates conditions - fail',
    id: '1',
    traits: { browser: 'chrome' },
    experiment: { key: 'my-test', condition: { browser: 'firefox' } },
    variation: 0,
    inExperiment: false,
  },
  {
    name: 'Uses seed with default weights/coverage',
    id: '1',
    experiment: { key: 'key', seed: 'foo', hashVersion: 2 },
    variation: 1,
    inExperiment: true,
  },
  {
    name: 'Uses seed with weights/coverage',
    id: '1',
    experiment: { key: 'key', seed: 'foo', hashVersion: 2, weights: [0.5, 0.5], coverage: 0.99 },
    variation: 1,
    inExperiment: true,
  },
  { name: 'Experiment coverage - Works when 0', id: '1', experiment: { key: 'no-coverage', coverage: 0 }, variation: 0, inExperiment: false },
  { name: 'empty id', id: '', experiment: { key: 'my-test' }, variation: 0, inExperiment: false },
];

// ---------------------------------------------------------------------------------------------

describe('test re-implementation reproduces the published vectors', () => {
  it.each(HASH_VECTORS)('hash(%j, %j, v%i) = %s', (seed, value, version, expected) => {
    const h = gbHash(seed, value, version);
    if (expected === null) expect(h).toBeNull();
    else expect(h).toBe(expected);
  });

  it.each(BUCKET_RANGE_VECTORS)('getBucketRange: %s', (_name, n, coverage, weights, expected) => {
    const ranges = bucketRanges(n, coverage, weights);
    expect(ranges).toHaveLength(expected.length);
    ranges.forEach(([start, end], i) => {
      expect(start).toBeCloseTo(expected[i]![0], 10);
      expect(end).toBeCloseTo(expected[i]![1], 10);
    });
  });

  it.each(CHOOSE_VECTORS)('chooseVariation: %s', (_name, n, ranges, expected) => {
    expect(chooseVariation(n, ranges)).toBe(expected);
  });

  it.each(RUN_CASES.filter((c) => !c.experiment.condition))('run (hash + ranges only): $name', (c) => {
    const idx = expectedIndex(experiment(c.experiment), c.id);
    expect(idx >= 0).toBe(c.inExperiment);
    if (c.inExperiment) expect(idx).toBe(c.variation);
  });
});

describe('evaluate() reproduces the published run cases', () => {
  it.each(RUN_CASES)('$name', (c) => {
    const e = experiment(c.experiment);
    const a = evaluate(e, c.id, c.traits ?? {});
    expect(a.experimentKey).toBe(e.key);
    expect(a.inExperiment).toBe(c.inExperiment);
    expect(a.variant).toBe(`v${c.variation}`);
    if (c.inExperiment) expect(a.reason).toBe('ASSIGNED');
    else expect(['NOT_TARGETED', 'NOT_IN_COVERAGE']).toContain(a.reason);
  });

  it('reports a failed condition as NOT_TARGETED and a hash outside the ranges as NOT_IN_COVERAGE', () => {
    const targeted = experiment({ key: 'my-test', condition: { browser: 'firefox' } });
    expect(evaluate(targeted, '1', { browser: 'chrome' }).reason).toBe('NOT_TARGETED');
    expect(evaluate(experiment({ key: 'my-test', coverage: 0.4 }), '1', {}).reason).toBe('NOT_IN_COVERAGE');
  });
});

describe('evaluate() agrees with the hash and bucket ranges for many users', () => {
  const configs: ReadonlyArray<{ name: string; spec: ExperimentSpec }> = [
    { name: 'v2, 0.5/0.5', spec: { key: 'exp-a', hashVersion: 2, weights: [0.5, 0.5] } },
    { name: 'v1, 0.5/0.5', spec: { key: 'exp-a', hashVersion: 1, weights: [0.5, 0.5] } },
    { name: 'v2, 0.2/0.8, own seed', spec: { key: 'exp-b', hashVersion: 2, weights: [0.2, 0.8], seed: 'seed-123' } },
    { name: 'v2, 0.1/0.2/0.7, coverage 0.37', spec: { key: 'exp-c', hashVersion: 2, weights: [0.1, 0.2, 0.7], coverage: 0.37 } },
    { name: 'v1, 4 × 0.25, coverage 0.5', spec: { key: 'exp-d', hashVersion: 1, weights: [0.25, 0.25, 0.25, 0.25], coverage: 0.5 } },
    { name: 'v2, 0.3334/0.3333/0.3333, coverage 0.9', spec: { key: 'exp-e', hashVersion: 2, weights: [0.3334, 0.3333, 0.3333], coverage: 0.9 } },
  ];

  it.each(configs)('$name', ({ spec }) => {
    const e = experiment(spec);
    const ids = randomIds(3000, 0xc0ffee + spec.key.length);
    let inside = 0;
    for (const id of ids) {
      const idx = expectedIndex(e, id);
      const a = evaluate(e, id, {});
      if (idx >= 0) {
        inside++;
        expect({ id, inExperiment: a.inExperiment, variant: a.variant, reason: a.reason }).toEqual({
          id,
          inExperiment: true,
          variant: `v${idx}`,
          reason: 'ASSIGNED',
        });
      } else {
        expect({ id, inExperiment: a.inExperiment, variant: a.variant, reason: a.reason }).toEqual({
          id,
          inExperiment: false,
          variant: 'v0',
          reason: 'NOT_IN_COVERAGE',
        });
      }
    }
    // Sanity: the sample actually exercised both outcomes where coverage < 1.
    expect(inside).toBeGreaterThan(0);
    if (e.coverage < 1) expect(inside).toBeLessThan(ids.length);
  });

  it('ignores an "id" trait: the hash attribute is always the user id', () => {
    const e = experiment({ key: 'exp-a', hashVersion: 2 });
    for (const id of randomIds(200, 7)) {
      expect(evaluate(e, id, { id: `not-${id}` })).toEqual(evaluate(e, id, {}));
    }
  });
});

describe('assignment properties', () => {
  const ids10k = randomIds(10_000, 42);

  function shares(e: Experiment, ids: readonly string[]) {
    const counts = new Map<string, number>();
    for (const id of ids) {
      const a = evaluate(e, id, {});
      const k = a.inExperiment ? a.variant : a.reason;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    return (k: string) => (counts.get(k) ?? 0) / ids.length;
  }

  it('gives the same user the same variant every time', () => {
    const e = experiment({ key: 'sticky', hashVersion: 2, weights: [0.3, 0.3, 0.4] });
    for (const id of ids10k.slice(0, 500)) {
      const first = evaluate(e, id, {});
      for (let i = 0; i < 3; i++) expect(evaluate(e, id, { plan: i }).variant).toBe(first.variant);
    }
  });

  it('splits 10,000 users 0.5/0.5 within ±2.5 points', () => {
    const share = shares(experiment({ key: 'split-50', hashVersion: 2, weights: [0.5, 0.5] }), ids10k);
    expect(Math.abs(share('v0') - 0.5)).toBeLessThan(0.025);
    expect(Math.abs(share('v1') - 0.5)).toBeLessThan(0.025);
    expect(share('v0') + share('v1')).toBe(1);
  });

  it('splits 10,000 users 0.2/0.8 within ±2.5 points', () => {
    const share = shares(experiment({ key: 'split-20', hashVersion: 2, weights: [0.2, 0.8] }), ids10k);
    expect(Math.abs(share('v0') - 0.2)).toBeLessThan(0.025);
    expect(Math.abs(share('v1') - 0.8)).toBeLessThan(0.025);
  });

  it('coverage 0.5 leaves about half the users NOT_IN_COVERAGE, the rest split by weight', () => {
    const share = shares(experiment({ key: 'half', hashVersion: 2, weights: [0.5, 0.5], coverage: 0.5 }), ids10k);
    expect(Math.abs(share('NOT_IN_COVERAGE') - 0.5)).toBeLessThan(0.025);
    expect(Math.abs(share('v0') - 0.25)).toBeLessThan(0.025);
    expect(Math.abs(share('v1') - 0.25)).toBeLessThan(0.025);
  });

  it('coverage 0 keeps everyone out and coverage 1 lets everyone in', () => {
    const none = shares(experiment({ key: 'none', hashVersion: 2, coverage: 0 }), ids10k.slice(0, 1000));
    expect(none('NOT_IN_COVERAGE')).toBe(1);
    const all = shares(experiment({ key: 'all', hashVersion: 2, coverage: 1 }), ids10k.slice(0, 1000));
    expect(all('NOT_IN_COVERAGE')).toBe(0);
  });

  it('condition { plan: "premium" } targets premium users only', () => {
    const e = experiment({ key: 'premium-only', hashVersion: 2, condition: { plan: 'premium' } });
    for (const id of ids10k.slice(0, 200)) {
      const premium = evaluate(e, id, { plan: 'premium' });
      expect(premium.inExperiment).toBe(true);
      expect(premium.reason).toBe('ASSIGNED');
      expect(premium.variant).toBe(`v${expectedIndex(e, id)}`);
      for (const traits of [{ plan: 'free' }, {}, { plan: null }, { plan: 'premium-plus' }, { plan: 'Premium' }, { tier: 'premium' }]) {
        expect(evaluate(e, id, traits)).toEqual({ experimentKey: 'premium-only', variant: 'v0', inExperiment: false, reason: 'NOT_TARGETED' });
      }
    }
  });

  it.each(['DRAFT', 'STOPPED'] as const)('%s experiments give NOT_RUNNING with the control variant', (status) => {
    const e = experiment({ key: 'not-running', hashVersion: 2, weights: [0.01, 0.99], status });
    for (const id of ids10k.slice(0, 100)) {
      expect(evaluate(e, id, {})).toEqual({ experimentKey: 'not-running', variant: 'v0', inExperiment: false, reason: 'NOT_RUNNING' });
    }
  });
});
