/**
 * What a live subscription keeps between events: heap snapshots under `bench:fanout` found the
 * gateway holding about 20 KB per distinct subscription, much of it the last result and the last
 * upstream event (kept by the shared subscription for late readers, and by suspended async
 * frames), and Repeater state. An idle subscription must keep neither the event nor the result
 * once its reader has them.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { SharedSubscription } from '../../gateway/src/shared-subscription.js';
import type { UpstreamSink } from '../../gateway/src/shared-subscription.js';
import { Mailbox, mapEach } from '../../lib/streams.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Whether what `ref` points to is gone after full collections (a few turns of the loop for pending reactions). */
async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    if (ref.deref() === undefined) return true;
  }
  return false;
}

describe('what an idle live subscription keeps', () => {
  it('a shared subscription keeps neither the upstream event nor the result its subscribers read', async () => {
    let sink: UpstreamSink<{ payload: number[] }> | undefined;
    const shared = new SharedSubscription<{ payload: number[] }, { rows: number[] }>({
      open: (s) => {
        sink = s;
        return () => undefined;
      },
      step: async (event) => ({ value: { rows: event.payload.map((n) => n * 2) } }),
      failed: () => ({ rows: [] }),
      over: () => undefined,
      closed: async () => undefined,
    });
    const readers = [shared.join(() => undefined), shared.join(() => undefined)];
    let eventRef: WeakRef<object> | undefined;
    let resultRef: WeakRef<object> | undefined;
    await (async () => {
      const pending = readers.map((r) => r.next());
      const event = { payload: Array.from({ length: 1000 }, (_, i) => i) };
      eventRef = new WeakRef(event);
      sink!.next(event);
      const [a] = await Promise.all(pending);
      resultRef = new WeakRef(a!.value as object);
    })();
    // The readers wait for the next event, as graphql-ws's loop does.
    const waiting = readers.map((r) => r.next());
    expect(await collected(eventRef!)).toBe(true);
    expect(await collected(resultRef!)).toBe(true);
    sink!.next({ payload: [1] });
    expect((await Promise.all(waiting)).map((r) => r.value)).toEqual([{ rows: [2] }, { rows: [2] }]);
    await Promise.all(readers.map((r) => r.return!()));
  });

  it('a mailbox read through mapEach() keeps no value its reader has', async () => {
    const box = new Mailbox<object>(1);
    const out = mapEach(box, (v) => ({ wrapped: v }));
    let ref: WeakRef<object> | undefined;
    await (async () => {
      const first = out.next();
      const value = { big: new Array(1000).fill(7) };
      ref = new WeakRef(value);
      box.push(value);
      expect(((await first).value as { wrapped: object }).wrapped).toBe(value);
    })();
    const next = out.next();
    expect(await collected(ref!)).toBe(true);
    box.push({ small: 1 });
    expect((await next).value).toEqual({ wrapped: { small: 1 } });
    await out.return();
  });
});

describe('Mailbox', () => {
  it('keeps the newest `size` values, serves waiting readers in order, ends after what is unread', async () => {
    const box = new Mailbox<number>(2);
    const [a, b] = [box.next(), box.next()];
    box.push(1);
    box.push(2);
    expect([(await a).value, (await b).value]).toEqual([1, 2]);
    for (const n of [3, 4, 5]) box.push(n);
    box.end(new Error('gone'));
    box.push(6);
    expect((await box.next()).value).toBe(4);
    expect((await box.next()).value).toBe(5);
    await expect(box.next()).rejects.toThrow('gone');
    expect(await box.next()).toEqual({ done: true, value: undefined });
  });

  it('starts its feed at the first next(), and return() settles waiting readers and stops the feed once', async () => {
    let started = 0;
    let stopped = 0;
    const box = new Mailbox<number>(1, () => void started++, () => void stopped++);
    expect(started).toBe(0);
    const pending = [box.next(), box.next()];
    expect(started).toBe(1);
    await box.return();
    await box.return();
    expect(await Promise.all(pending)).toEqual([{ done: true, value: undefined }, { done: true, value: undefined }]);
    expect(stopped).toBe(1);
    box.push(1);
    expect(await box.next()).toEqual({ done: true, value: undefined });
  });

  it('a reader that leaves before reading never starts the feed', async () => {
    let started = 0;
    let stopped = 0;
    const box = new Mailbox<number>(1, () => void started++, () => void stopped++);
    await box.return();
    expect(await box.next()).toEqual({ done: true, value: undefined });
    expect([started, stopped]).toEqual([0, 1]);
  });
});
