import { describe, expect, it, vi } from 'vitest';
import { KeyedQueue } from '../../lib/keyed-queue.js';

/** A promise the test settles itself: tasks finish when told to, not after some time. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('KeyedQueue', () => {
  it('runs the tasks of one key one at a time, in order; other keys do not wait; a failure does not stop the next task', async () => {
    const queue = new KeyedQueue();
    const log: string[] = [];
    const task = (name: string, until: Promise<void>, fail = false) => async () => {
      log.push(`${name} start`);
      await until;
      log.push(`${name} end`);
      if (fail) throw new Error(name);
      return name;
    };
    const a1Gate = gate();
    const a1 = queue.run('a', task('a1', a1Gate.opened, true));
    const a2 = queue.run('a', task('a2', Promise.resolve()));
    const b1 = queue.run('b', task('b1', Promise.resolve()));
    // b1 finishes while a1 is still running, and a2 has not started behind it.
    expect(await b1).toBe('b1');
    expect(log).toEqual(['a1 start', 'b1 start', 'b1 end']);
    a1Gate.open();
    await expect(a1).rejects.toThrow('a1');
    expect(await a2).toBe('a2');
    expect(log.indexOf('a2 start')).toBeGreaterThan(log.indexOf('a1 end'));
    await vi.waitFor(() => expect((queue as unknown as { tails: Map<string, unknown> }).tails.size).toBe(0));
  });
});
