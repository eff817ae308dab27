import { describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../lib/eventlog/memory.js';
import { until } from '../helpers/wait.js';

/** An entry that is not a profile event: the log knows it only through its EntryKeys. */
interface Membership {
  audience: string;
  id: string;
  entered: boolean;
}

describe('the event log is generic over its entries', () => {
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
});
