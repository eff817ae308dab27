/**
 * Whether a JSON value nests objects and arrays more than `max` levels deep (the value itself is
 * level 1), checked without recursion. JSON.parse accepts nesting that JSON.stringify cannot
 * serialize again (it overflows the stack after a few thousand levels), so values from requests
 * are checked before anything serializes them.
 */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const stack: Array<[object, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}
