import { describe, expect, it } from 'vitest';
import { KeyedQueue } from '../../lib/keyed-queue.js';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('KeyedQueue', () => {
  it('runs the tasks of one key one at a time, in order; other keys do not wait; a failure does not stop the next task', async () => {
    const queue = new KeyedQueue();
    const log: string[] = [];
    const task = (name: string, ms: number, fail = false) => async () => {
      log.push(`${name} start`);
      await tick(ms);
      log.push(`${name} end`);
      if (fail) throw new Error(name);
      return name;
    };
    const a1 = queue.run('a', task('a1', 20, true));
    const a2 = queue.run('a', task('a2', 1));
    const b1 = queue.run('b', task('b1', 1));
    await expect(a1).rejects.toThrow('a1');
    expect(await a2).toBe('a2');
    expect(await b1).toBe('b1');
    expect(log.indexOf('a2 start')).toBeGreaterThan(log.indexOf('a1 end'));
    expect(log.indexOf('b1 end')).toBeLessThan(log.indexOf('a1 end'));
    await tick(1);
    expect((queue as unknown as { tails: Map<string, unknown> }).tails.size).toBe(0);
  });
});
