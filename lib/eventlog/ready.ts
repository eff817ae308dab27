/**
 * Readiness of a consumer: for /ready, a check that resolves once `group` reads every partition
 * of the log (its consumer has joined: the group exists on each partition), and fails before.
 */
import type { EventLog } from './port.js';

export function consumerGroupReady(log: Pick<EventLog<never>, 'info'>, group: string): () => Promise<void> {
  return async () => {
    const partitions = await log.info();
    if (partitions.length === 0 || !partitions.every((p) => p.groups.some((g) => g.group === group))) throw new Error(`${group} has not joined`);
  };
}
