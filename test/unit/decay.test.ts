import { describe, expect, it } from 'vitest';
import { DAY_MS } from '../../subgraphs/profile/src/domain/config.js';
import { addContribution, combine, decayFactor, scoreAt } from '../../lib/contracts/decay.js';
import type { DecayedScore } from '../../lib/contracts/decay.js';
import { T0, mulberry32, randInt, shuffled } from './fixtures.js';

const H = 7 * DAY_MS;

interface Contribution {
  weight: number;
  at: number;
}

function accumulate(contributions: readonly Contribution[], start?: DecayedScore): DecayedScore | undefined {
  return contributions.reduce<DecayedScore | undefined>((acc, c) => addContribution(acc, c.weight, c.at, H), start);
}

/** The closed form: every weight decayed to the latest contribution time. */
function closedForm(contributions: readonly Contribution[]): DecayedScore {
  const lastSeenAt = Math.max(...contributions.map((c) => c.at));
  const score = contributions.reduce((sum, c) => sum + c.weight * 2 ** (-(lastSeenAt - c.at) / H), 0);
  return { score, count: contributions.length, lastSeenAt };
}

function expectSameScore(actual: DecayedScore | undefined, expected: DecayedScore): void {
  expect(actual).toBeDefined();
  expect(actual!.count).toBe(expected.count);
  expect(actual!.lastSeenAt).toBe(expected.lastSeenAt);
  const scale = Math.max(1, Math.abs(expected.score));
  expect(Math.abs(actual!.score - expected.score) / scale).toBeLessThan(1e-9);
}

function randomContributions(seed: number, n: number): Contribution[] {
  const rng = mulberry32(seed);
  const weights = [-3, -1, 1, 1.5, 2, 3, 5];
  return Array.from({ length: n }, () => ({
    weight: weights[randInt(rng, 0, weights.length - 1)]!,
    at: T0 + randInt(rng, 0, 90 * DAY_MS),
  }));
}

describe('decayFactor', () => {
  it.each([
    [0, 1],
    [-DAY_MS, 1],
    [H, 0.5],
    [2 * H, 0.25],
    [H / 2, Math.SQRT1_2],
  ])('after %i ms is %f', (elapsed, expected) => {
    expect(decayFactor(elapsed, H)).toBeCloseTo(expected, 15);
  });

  it('goes to zero but never below', () => {
    expect(decayFactor(10_000 * H, H)).toBe(0);
  });
});

describe('scoreAt', () => {
  const entry: DecayedScore = { score: 8, count: 3, lastSeenAt: T0 };

  it('is the stored score at lastSeenAt and halves every half-life after it', () => {
    expect(scoreAt(entry, T0, H)).toBe(8);
    expect(scoreAt(entry, T0 + H, H)).toBeCloseTo(4, 12);
    expect(scoreAt(entry, T0 + 3 * H, H)).toBeCloseTo(1, 12);
  });

  it('never amplifies the score for earlier times', () => {
    expect(scoreAt(entry, T0 - 5 * H, H)).toBe(8);
  });

  it('keeps the sign of negative scores', () => {
    expect(scoreAt({ ...entry, score: -4 }, T0 + H, H)).toBeCloseTo(-2, 12);
  });
});

describe('addContribution', () => {
  it('starts a new entry', () => {
    expect(addContribution(undefined, 2, T0, H)).toEqual({ score: 2, count: 1, lastSeenAt: T0 });
  });

  it('decays the old score when a later contribution arrives', () => {
    const e = addContribution({ score: 4, count: 1, lastSeenAt: T0 }, 1, T0 + H, H);
    expect(e.count).toBe(2);
    expect(e.lastSeenAt).toBe(T0 + H);
    expect(e.score).toBeCloseTo(3, 12);
  });

  it('decays an earlier contribution to the existing anchor', () => {
    const e = addContribution({ score: 4, count: 1, lastSeenAt: T0 }, 2, T0 - H, H);
    expect(e.lastSeenAt).toBe(T0);
    expect(e.score).toBeCloseTo(5, 12);
  });

  it('adds a simultaneous contribution without decay', () => {
    expect(addContribution({ score: 4, count: 2, lastSeenAt: T0 }, -1, T0, H)).toEqual({ score: 3, count: 3, lastSeenAt: T0 });
  });

  it('does not mutate its input', () => {
    const entry = Object.freeze({ score: 4, count: 1, lastSeenAt: T0 });
    addContribution(entry, 1, T0 + H, H);
    addContribution(entry, 1, T0 - H, H);
    expect(entry).toEqual({ score: 4, count: 1, lastSeenAt: T0 });
  });

  it.each([1, 2, 3, 4, 5])('is commutative: any order gives the closed form (seed %i)', (seed) => {
    const contributions = randomContributions(seed, 60);
    const expected = closedForm(contributions);
    const rng = mulberry32(seed * 1000);
    expectSameScore(accumulate(contributions), expected);
    expectSameScore(accumulate([...contributions].sort((a, b) => a.at - b.at)), expected);
    expectSameScore(accumulate([...contributions].sort((a, b) => b.at - a.at)), expected);
    for (let i = 0; i < 5; i++) expectSameScore(accumulate(shuffled(contributions, rng)), expected);
  });
});

describe('combine', () => {
  const a: DecayedScore = { score: 4, count: 2, lastSeenAt: T0 };
  const b: DecayedScore = { score: 2, count: 1, lastSeenAt: T0 + H };

  it('copies b when a is missing', () => {
    const c = combine(undefined, b, H);
    expect(c).toEqual(b);
    expect(c).not.toBe(b);
  });

  it('anchors at the later lastSeenAt and adds decayed scores and counts', () => {
    const c = combine(a, b, H);
    expect(c.lastSeenAt).toBe(T0 + H);
    expect(c.count).toBe(3);
    expect(c.score).toBeCloseTo(4, 12);
  });

  it('is symmetric', () => {
    expect(combine(a, b, H)).toEqual(combine(b, a, H));
  });

  it.each([1, 2, 3, 4])('equals sequential adds of both halves (seed %i)', (seed) => {
    const contributions = randomContributions(seed + 100, 40);
    const split = randInt(mulberry32(seed), 1, contributions.length - 1);
    const left = accumulate(contributions.slice(0, split))!;
    const right = accumulate(contributions.slice(split))!;
    const all = accumulate(contributions)!;
    expectSameScore(combine(left, right, H), all);
    expectSameScore(combine(right, left, H), all);
    // Continuing to add onto a combined entry is the same as adding onto the whole.
    const more = randomContributions(seed + 200, 10);
    expectSameScore(accumulate(more, combine(left, right, H)), closedForm([...contributions, ...more]));
  });
});
