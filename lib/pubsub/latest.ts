/**
 * A subscription as an async iterator with a one-slot buffer: a slow reader gets the newest
 * message (older pending ones are dropped), never an older version after a newer one (except
 * after a deletion, which restarts at version 0), and `return()` unsubscribes at once even while
 * the reader is waiting.
 */
import type { ProfilePubSub, ProfileUpdated } from './port.js';

export async function latestUpdates(pubsub: ProfilePubSub, userId: string): Promise<AsyncIterableIterator<ProfileUpdated>> {
  let pending: ProfileUpdated | null = null;
  let lastVersion = -1;
  let done = false;
  let wake: (() => void) | null = null;
  const unsubscribe = await pubsub.subscribe(userId, (m) => {
    // A deletion restarts versions at 0, so it always goes through and resets the watermark.
    if (m.cause === 'delete') lastVersion = -1;
    else if (m.version <= lastVersion || (pending && pending.cause !== 'delete' && m.version < pending.version)) return;
    pending = m;
    wake?.();
  });
  const finish = async (): Promise<IteratorResult<ProfileUpdated>> => {
    if (!done) {
      done = true;
      wake?.();
      await unsubscribe();
    }
    return { done: true, value: undefined };
  };
  const iterator: AsyncIterableIterator<ProfileUpdated> = {
    async next() {
      while (!done && !pending) await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
      if (done || !pending) return { done: true, value: undefined };
      const message: ProfileUpdated = pending;
      pending = null;
      lastVersion = message.version;
      return { done: false, value: message };
    },
    return: finish,
    throw: async (err) => {
      await finish();
      throw err;
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
