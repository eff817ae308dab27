/** The assignment of a consumer group's partitions to its live members (lib/eventlog/redis-streams.ts). */
import { describe, expect, it } from 'vitest';
import { partitionOwners } from '../../lib/eventlog/redis-streams.js';

describe('partitionOwners', () => {
  it('gives every partition one member, evenly, the same whatever order the members are listed in', () => {
    const owners = partitionOwners(['b', 'a', 'c'], 8);
    expect(owners).toHaveLength(8);
    const counts = new Map<string, number>();
    for (const o of owners) counts.set(o, (counts.get(o) ?? 0) + 1);
    expect([...counts.values()].sort()).toEqual([2, 3, 3]);
    expect(partitionOwners(['c', 'a', 'b', 'a'], 8)).toEqual(owners);
  });

  it('a lone member reads everything; more members than partitions leaves some idle', () => {
    expect(new Set(partitionOwners(['only'], 8))).toEqual(new Set(['only']));
    expect(new Set(partitionOwners(['a', 'b', 'c'], 2)).size).toBe(2);
  });
});
