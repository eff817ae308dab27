/** The live streams (lib/streams.ts, lib/pubsub/latest.ts) and a shared subscription's reader that leaves early. */
import { Repeater } from '@repeaterjs/repeater';
import type { Push, Stop } from '@repeaterjs/repeater';
import { describe, expect, it } from 'vitest';
import { Mailbox, mapEach } from '../../lib/streams.js';
import { latestUpdates } from '../../lib/pubsub/latest.js';
import { MemoryPubSub } from '../../lib/pubsub/memory.js';
import type { ProfileUpdated } from '../../lib/pubsub/port.js';
import { SharedSubscription } from '../../gateway/src/shared-subscription.js';
import { until } from '../helpers/wait.js';

/** A source the test feeds (push/stop once it is read), counting return() calls. */
function source<T>() {
  let push: Push<T> | undefined;
  let stop: Stop | undefined;
  let returned = 0;
  const repeater = new Repeater<T>((p, s) => {
    push = p;
    stop = s;
  });
  const it: AsyncIterator<T> = {
    next: () => repeater.next(),
    return: async () => {
      returned++;
      return repeater.return();
    },
  };
  return {
    it,
    push: (v: T) => void push!(v),
    stop: (err?: unknown) => stop!(err),
    started: () => push !== undefined,
    returned: () => returned,
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('a one-slot Mailbox (what each live subscriber reads)', () => {
  /** A mailbox that counts the times its feed was stopped. */
  function fed() {
    let stopped = 0;
    const box = new Mailbox<number>(1, undefined, () => void stopped++);
    return { box, stopped: () => stopped };
  }

  it('a slow reader gets only the newest value', async () => {
    const { box } = fed();
    const first = box.next();
    box.push(1);
    expect(await first).toEqual({ done: false, value: 1 });
    for (const n of [2, 3, 4]) box.push(n);
    await tick();
    expect(await box.next()).toEqual({ done: false, value: 4 });
    await box.return();
  });

  it('return() while next() is pending resolves it and stops the feed', async () => {
    const { box, stopped } = fed();
    const pending = box.next();
    await box.return();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(stopped()).toBe(1);
  });

  it('an error comes after the value still waiting, once, then the end (an ended feed is not stopped)', async () => {
    const { box, stopped } = fed();
    const first = box.next();
    box.push(1);
    await first;
    box.push(2);
    box.end(new Error('gone'));
    await tick();
    expect(await box.next()).toEqual({ done: false, value: 2 });
    await expect(box.next()).rejects.toThrow('gone');
    expect(await box.next()).toEqual({ done: true, value: undefined });
    await box.return();
    expect(stopped()).toBe(0);
  });
});

describe('mapEach(source, step)', () => {
  it('steps each value the reader asks for, skipping undefined, reading nothing ahead', async () => {
    const s = source<number>();
    const stepped: number[] = [];
    const out = mapEach(s.it, async (n) => {
      stepped.push(n);
      return n % 2 ? `odd ${n}` : undefined;
    });
    const first = out.next();
    await until(s.started, 2000, 'the source to be read');
    s.push(2);
    s.push(3);
    expect(await first).toEqual({ done: false, value: 'odd 3' });
    s.push(5);
    await tick();
    // Not asked for yet: not stepped.
    expect(stepped).toEqual([2, 3]);
    expect(await out.next()).toEqual({ done: false, value: 'odd 5' });
    await out.return();
  });

  it('return() while the reader waits closes the source at once', async () => {
    const s = source<number>();
    const out = mapEach(s.it, async (n) => n);
    const pending = out.next();
    await until(s.started, 2000, 'the source to be read');
    await out.return();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(s.returned()).toBe(1);
  });

  it('a failing step closes the source, then its error is delivered once, then the end', async () => {
    const s = source<number>();
    const out = mapEach(s.it, async () => {
      throw new Error('FORBIDDEN');
    });
    const pending = out.next();
    await until(s.started, 2000, 'the source to be read');
    s.push(1);
    await expect(pending).rejects.toThrow('FORBIDDEN');
    expect(s.returned()).toBeGreaterThanOrEqual(1);
    expect(await out.next()).toEqual({ done: true, value: undefined });
  });
});

describe('latestUpdates(pubsub, userId)', () => {
  const message = (version: number, cause: ProfileUpdated['cause'] = 'events'): ProfileUpdated => ({ userId: 'u', version, cause, eventIds: [], changed: [], at: version });

  it('subscribes when first read; newest version wins, older ones are dropped, a deletion restarts; return() unsubscribes while waiting', async () => {
    const bus = new MemoryPubSub();
    const updates = latestUpdates(bus, 'u');
    expect(bus.listenerCount('u')).toBe(0);
    const first = updates.next();
    await until(() => bus.listenerCount('u') === 1, 2000, 'the subscription');
    await bus.publish(message(1));
    expect((await first).value?.version).toBe(1);
    for (const v of [3, 2, 1]) await bus.publish(message(v));
    expect((await updates.next()).value?.version).toBe(3);
    await bus.publish(message(3));
    await bus.publish(message(0, 'delete'));
    await bus.publish(message(2));
    expect((await updates.next()).value).toMatchObject({ version: 2, cause: 'events' });
    await bus.publish(message(0, 'delete'));
    expect((await updates.next()).value).toMatchObject({ version: 0, cause: 'delete' });
    const pending = updates.next();
    await updates.return();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(bus.listenerCount('u')).toBe(0);
  });

  it('a reader that leaves before reading leaves no listener', async () => {
    const bus = new MemoryPubSub();
    await latestUpdates(bus, 'u').return();
    await tick();
    expect(bus.listenerCount('u')).toBe(0);
  });

  it('with a step: a failing step unsubscribes before its error is delivered', async () => {
    const bus = new MemoryPubSub();
    const updates = latestUpdates(bus, 'u', async () => {
      throw new Error('FORBIDDEN');
    });
    const pending = updates.next();
    await until(() => bus.listenerCount('u') === 1, 2000, 'the subscription');
    await bus.publish(message(1));
    await expect(pending).rejects.toThrow('FORBIDDEN');
    expect(bus.listenerCount('u')).toBe(0);
  });
});

describe('SharedSubscription: a subscriber that leaves before its first next()', () => {
  it('leaves (onLeave once) and, being the last, closes the upstream', async () => {
    let unsubscribed = 0;
    let closed = 0;
    const shared = new SharedSubscription<number, string>({
      open: () => () => void unsubscribed++,
      step: async (n) => ({ value: `result ${n}` }),
      failed: (err) => `failed: ${String(err)}`,
      over: () => undefined,
      closed: async () => void closed++,
    });
    let left = 0;
    const a = shared.join(() => left++);
    expect(shared.size).toBe(1);
    expect(await a.return!()).toEqual({ done: true, value: undefined });
    expect([left, shared.size, closed]).toEqual([1, 0, 1]);
    expect(unsubscribed).toBe(1);
    expect(await a.next()).toEqual({ done: true, value: undefined });
    expect(left).toBe(1);
  });
});
