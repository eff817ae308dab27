import { describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../lib/eventlog/memory.js';
import { MemoryPubSub } from '../../lib/pubsub/memory.js';
import { until } from '../helpers/wait.js';

/** An entry that is not a profile event: the log knows it only through its EntryKeys. */
interface Membership {
  audience: string;
  id: string;
  entered: boolean;
}

describe('the event log and the pub/sub are generic over their payloads', () => {
  it('orders by the order key, deduplicates by the dedupe key, delivers the entries as appended', async () => {
    const log = new MemoryEventLog<Membership>({ keys: { orderKey: (m) => m.audience, dedupeKey: (m) => `${m.audience}/${m.id}` } });
    const seen: Membership[] = [];
    const consumer = log.consume('test', (batch) => void seen.push(...batch));
    const first = { audience: 'bingers', id: 'm1', entered: true };
    const result = await log.append([first, { audience: 'bingers', id: 'm2', entered: false }]);
    expect(result.duplicates).toEqual([]);
    expect((await log.append([first, { audience: 'buyers', id: 'm1', entered: true }])).duplicates).toEqual([first]);
    await until(() => seen.length === 3, 5_000, 'three entries delivered');
    expect(seen.map((m) => `${m.audience}/${m.id}`)).toEqual(['bingers/m1', 'bingers/m2', 'buyers/m1']);
    await consumer.stop();
    await log.close();
  });

  it('the pub/sub delivers a message to the subscribers of its topic only', async () => {
    const pubsub = new MemoryPubSub<Membership>((m) => m.audience);
    const got: string[] = [];
    const unsubscribe = await pubsub.subscribe('bingers', (m) => void got.push(m.id));
    await pubsub.publish({ audience: 'bingers', id: 'm1', entered: true });
    await pubsub.publish({ audience: 'buyers', id: 'm2', entered: true });
    await unsubscribe();
    await pubsub.publish({ audience: 'bingers', id: 'm3', entered: false });
    expect(got).toEqual(['m1']);
    await pubsub.close();
  });

  it('keys and topics may be left out only for the profile payloads they default to (checked by tsc)', () => {
    // @ts-expect-error: another entry type needs its EntryKeys.
    expect(() => new MemoryEventLog<Membership>()).not.toThrow();
    // @ts-expect-error: another message type needs its topicOf.
    expect(() => new MemoryPubSub<Membership>()).not.toThrow();
    expect(new MemoryEventLog()).toBeInstanceOf(MemoryEventLog);
    expect(new MemoryPubSub()).toBeInstanceOf(MemoryPubSub);
  });
});
