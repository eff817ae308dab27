/** Stream backlog of a consumer group, and whether it grows: shared by bench:ingest and bench:soak. */
import type { EventLog } from '../../lib/eventlog/port.js';

/** Entries appended and not yet acknowledged by a group, summed over the partitions. */
export async function backlog(log: EventLog<unknown>, group: string): Promise<number> {
  let total = 0;
  for (const p of await log.info()) {
    const g = p.groups.find((x) => x.group === group);
    if (g) total += (g.lag ?? 0) + g.pending;
  }
  return total;
}

/** Least-squares slope of y over x. */
export function slope(points: readonly [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxy = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}
