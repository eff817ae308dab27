/**
 * Two rules for JSON values taken from requests, checked in one walk without recursion:
 *
 * - Depth. JSON.parse accepts nesting that JSON.stringify cannot serialize again (it overflows the
 *   stack after a few thousand levels), so such a value must be refused before anything stores or
 *   forwards it.
 * - Keys that name object prototypes (`__proto__`, `constructor`, `prototype`). Written into a
 *   plain object such a key replaces its prototype or shadows a built-in, and forwarded in JSON it
 *   is refused by the next service's parser (secure-json-parse), so a value that carries one breaks
 *   every later read. Input carrying one is refused (GraphQL JSON scalars, variables, the event
 *   validator, for object keys and for the strings that become profile map keys); output never
 *   carries one (JSON scalars drop them from data stored before this rule).
 */
const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export const isPrototypeKey = (key: string): boolean => PROTOTYPE_KEYS.has(key);

export type JsonProblem = { kind: 'too-deep'; maxDepth: number } | { kind: 'prototype-key'; path: string; key: string } | { kind: 'non-finite'; path: string };

/** Where a nested value sits, for the path in a refusal (one per object or array walked). */
interface Place {
  parent: Place | null;
  step: string;
}

const pathOf = (place: Place, key: string): string => {
  const steps = [key];
  for (let p: Place | null = place; p && p.step !== ''; p = p.parent) steps.push(p.step);
  return steps.reverse().reduce((path, s) => (path === '' ? s : s.startsWith('[') ? path + s : `${path}.${s}`), '');
};

/**
 * The first problem of a JSON value: nested more than `maxDepth` levels (the value itself is
 * level 1), a key that names a prototype (with its path, `a.b[0].c`), or, with `finite`, a number
 * that is not finite (JSON.parse reads 1e400 as Infinity, which JSON.stringify forwards as null);
 * null when it has none.
 */
export function inspectJson(value: unknown, maxDepth = Infinity, finite = false): JsonProblem | null {
  if (typeof value !== 'object' || value === null) return null;
  const stack: Array<[object, number, Place]> = [[value, 1, { parent: null, step: '' }]];
  while (stack.length > 0) {
    const [v, depth, place] = stack.pop()!;
    if (depth > maxDepth) return { kind: 'too-deep', maxDepth };
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const child: unknown = v[i];
        if (typeof child === 'object' && child !== null) stack.push([child, depth + 1, { parent: place, step: `[${i}]` }]);
        else if (finite && typeof child === 'number' && !Number.isFinite(child)) return { kind: 'non-finite', path: pathOf(place, `[${i}]`) };
      }
      continue;
    }
    for (const key of Object.keys(v)) {
      if (PROTOTYPE_KEYS.has(key)) return { kind: 'prototype-key', key, path: pathOf(place, key) };
      const child = (v as Record<string, unknown>)[key];
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1, { parent: place, step: key }]);
      else if (finite && typeof child === 'number' && !Number.isFinite(child)) return { kind: 'non-finite', path: pathOf(place, key) };
    }
  }
  return null;
}

/** The value without keys that name prototypes (the value itself when it has none). */
export function withoutPrototypeKeys<T>(value: T): T {
  if (inspectJson(value) === null) return value;
  const copy = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(copy);
    if (typeof v !== 'object' || v === null) return v;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(v)) if (!PROTOTYPE_KEYS.has(key)) out[key] = copy((v as Record<string, unknown>)[key]);
    return out;
  };
  return copy(value) as T;
}

/**
 * The path of a key that would poison a prototype when the value is assigned into objects:
 * `__proto__` anywhere, or a `constructor` object holding `prototype` (what secure-json-parse,
 * Fastify's JSON parser, refuses). Null when there is none.
 */
export function poisoningKeyPath(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return null;
  const stack: Array<[unknown, Place]> = [[value, { parent: null, step: '' }]];
  while (stack.length > 0) {
    const [v, place] = stack.pop()!;
    if (Array.isArray(v)) {
      v.forEach((child, i) => typeof child === 'object' && child !== null && stack.push([child, { parent: place, step: `[${i}]` }]));
      continue;
    }
    for (const key of Object.keys(v as object)) {
      const child = (v as Record<string, unknown>)[key];
      if (key === '__proto__') return pathOf(place, key);
      if (key === 'constructor' && typeof child === 'object' && child !== null && Object.hasOwn(child, 'prototype')) return pathOf(place, 'constructor.prototype');
      if (typeof child === 'object' && child !== null) stack.push([child, { parent: place, step: key }]);
    }
  }
  return null;
}
