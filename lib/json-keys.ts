/**
 * The one rule for keys that name object prototypes (`__proto__`, `constructor`, `prototype`).
 * Written into a plain object such a key replaces its prototype or shadows a built-in, and
 * forwarded in JSON it is refused by the next service's parser (secure-json-parse), so a value
 * that carries one breaks every later read. Input carrying one is refused (GraphQL JSON scalars,
 * the event validator, for object keys and for the strings that become profile map keys); output
 * never carries one (JSON scalars drop them from stored data written before this rule).
 */
const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export const isPrototypeKey = (key: string): boolean => PROTOTYPE_KEYS.has(key);

/** The path (`a.b[0].c`) of the first key in a JSON value that names a prototype, or null. */
export function prototypeKeyPath(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return null;
  const stack: Array<[unknown, string]> = [[value, '']];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) if (typeof v[i] === 'object' && v[i] !== null) stack.push([v[i], `${path}[${i}]`]);
      continue;
    }
    for (const key of Object.keys(v as object)) {
      const at = path ? `${path}.${key}` : key;
      if (PROTOTYPE_KEYS.has(key)) return at;
      const child = (v as Record<string, unknown>)[key];
      if (typeof child === 'object' && child !== null) stack.push([child, at]);
    }
  }
  return null;
}

/** The value without keys that name prototypes (the value itself when it has none). */
export function withoutPrototypeKeys<T>(value: T): T {
  if (prototypeKeyPath(value) === null) return value;
  const copy = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(copy);
    if (typeof v !== 'object' || v === null) return v;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(v)) if (!PROTOTYPE_KEYS.has(key)) out[key] = copy((v as Record<string, unknown>)[key]);
    return out;
  };
  return copy(value) as T;
}
