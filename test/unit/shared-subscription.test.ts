/** One live subscription for identical subscribers: one step per event, latest-wins per subscriber. */
import { describe, expect, it } from 'vitest';
import { SharedSubscription } from '../../gateway/src/shared-subscription.js';
import type { UpstreamSink } from '../../gateway/src/shared-subscription.js';
import { until } from '../helpers/wait.js';

/** An upstream the test feeds by hand (through the sink the shared subscription gave it), and what the shared subscription did with it. */
function fixture() {
  let sink: UpstreamSink<number> | undefined;
  let opened = 0;
  let returned = 0;
  let over = 0;
  let closed = 0;
  const steps: number[] = [];
  const shared = new SharedSubscription<number, string>({
    open: (s) => {
      opened++;
      sink = s;
      return () => void returned++;
    },
    step: async (n) => {
      steps.push(n);
      return { value: `result ${n}`, last: n < 0 };
    },
    failed: (err) => `failed: ${String(err)}`,
    over: () => void over++,
    closed: async () => void closed++,
  });
  const upstream = {
    put: (n: number) => sink!.next(n),
    end: (error?: unknown) => (error === undefined ? sink!.complete() : sink!.error(error)),
  };
  return { shared, upstream, steps, counts: () => ({ opened, returned, over, closed }) };
}

describe('SharedSubscription', () => {
  it('runs one step per event for every subscriber and opens the upstream once', async () => {
    const { shared, upstream, steps, counts } = fixture();
    const left: number[] = [];
    const subs = [0, 1, 2].map((i) => shared.join(() => left.push(i)));
    const pending = subs.map((s) => s.next());
    upstream.put(1);
    expect((await Promise.all(pending)).map((r) => r.value)).toEqual(['result 1', 'result 1', 'result 1']);
    expect(steps).toEqual([1]);
    expect(counts().opened).toBe(1);
    await Promise.all(subs.map((s) => s.return!()));
    expect(left.sort()).toEqual([0, 1, 2]);
  });

  it('a slow subscriber gets only the newest result; the others every one', async () => {
    const { shared, upstream, steps } = fixture();
    const slow = shared.join(() => undefined);
    const fast = shared.join(() => undefined);
    for (const n of [1, 2, 3]) {
      const next = fast.next();
      upstream.put(n);
      expect((await next).value).toBe(`result ${n}`);
    }
    expect(steps).toEqual([1, 2, 3]);
    expect((await slow.next()).value).toBe('result 3');
    await slow.return!();
    await fast.return!();
  });

  it('return() while next() is pending ends that subscriber only; the last one closes the upstream', async () => {
    const { shared, upstream, counts } = fixture();
    const a = shared.join(() => undefined);
    const b = shared.join(() => undefined);
    const pendingA = a.next();
    await a.return!();
    expect(await pendingA).toEqual({ done: true, value: undefined });
    expect(counts().returned).toBe(0);
    const nextB = b.next();
    upstream.put(7);
    expect((await nextB).value).toBe('result 7');
    await b.return!();
    expect(counts()).toMatchObject({ returned: 1, over: 1, closed: 1 });
    expect(() => shared.join(() => undefined)).toThrow(/over/);
  });

  it('delivers an upstream failure to each subscriber once, then ends them all', async () => {
    const { shared, upstream, counts } = fixture();
    const left: string[] = [];
    const a = shared.join(() => left.push('a'));
    const b = shared.join(() => left.push('b'));
    upstream.end(new Error('gone'));
    for (const s of [a, b]) {
      expect((await s.next()).value).toBe('failed: Error: gone');
      expect((await s.next()).done).toBe(true);
    }
    expect(left).toEqual(['a', 'b']);
    await until(() => counts().closed === 1, 2000, 'the upstream to close');
    expect(counts().over).toBe(1);
  });

  it('a last step ends every subscriber after its result', async () => {
    const { shared, upstream } = fixture();
    const a = shared.join(() => undefined);
    upstream.put(-1);
    expect((await a.next()).value).toBe('result -1');
    expect((await a.next()).done).toBe(true);
  });
});

describe('SharedSubscription of distinct events (everyEvent)', () => {
  it('delivers every event, in order, to a subscriber that reads late; a late joiner gets none from before', async () => {
    const events: number[] = [];
    let sink: UpstreamSink<number> | undefined;
    const push = (n: number) => sink!.next(n);
    const shared = new SharedSubscription<number, string>(
      {
        open: (s) => {
          sink = s;
          return () => undefined;
        },
        step: async (n) => {
          events.push(n);
          return { value: `change ${n}` };
        },
        failed: (err) => `failed: ${String(err)}`,
        over: () => undefined,
        closed: async () => undefined,
      },
      { everyEvent: true },
    );
    const reader = shared.join(() => undefined);
    const first = reader.next();
    for (const n of [1, 2, 3, 4, 5]) push(n);
    await until(() => events.length === 5);
    const late = shared.join(() => undefined);
    const got = [(await first).value, ...(await Promise.all([reader.next(), reader.next(), reader.next(), reader.next()])).map((r) => r.value)];
    expect(got).toEqual(['change 1', 'change 2', 'change 3', 'change 4', 'change 5']);
    const lateNext = late.next();
    push(6);
    expect((await lateNext).value).toBe('change 6');
    expect((await reader.next()).value).toBe('change 6');
    await reader.return!();
    await late.return!();
  });
});
