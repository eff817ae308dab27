import { describe, expect, it } from 'vitest';
import { inspectJson, withoutPrototypeKeys } from '../../lib/json-shape.js';

describe('lib/json-shape: one walk for depth and prototype keys', () => {
  it('names the path of the first prototype key, in objects and arrays', () => {
    expect(inspectJson({ a: { b: [{ ok: 1 }, { constructor: 1 }] } })).toEqual({ kind: 'prototype-key', key: 'constructor', path: 'a.b[1].constructor' });
    expect(inspectJson(JSON.parse('{"__proto__":{"x":1}}'))).toEqual({ kind: 'prototype-key', key: '__proto__', path: '__proto__' });
    expect(inspectJson([[{ prototype: 1 }]])).toEqual({ kind: 'prototype-key', key: 'prototype', path: '[0][0].prototype' });
    expect(inspectJson({ a: [1, 'constructor', { b: null }] })).toBeNull();
  });

  it('finds nesting deeper than the limit without recursion (JSON.stringify would overflow)', () => {
    let deep: unknown = {};
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(inspectJson(deep, 64)).toEqual({ kind: 'too-deep', maxDepth: 64 });
    expect(inspectJson({ a: { b: {} } }, 3)).toBeNull();
    expect(inspectJson({ a: { b: {} } }, 2)?.kind).toBe('too-deep');
  });

  it('drops prototype keys from output, and returns a clean value itself', () => {
    const clean = { a: [{ b: 1 }] };
    expect(withoutPrototypeKeys(clean)).toBe(clean);
    expect(withoutPrototypeKeys(JSON.parse('{"plan":"pro","__proto__":{"x":1},"n":[{"constructor":2,"k":3}]}'))).toEqual({ plan: 'pro', n: [{ k: 3 }] });
  });
});
