/**
 * A subscription as an async iterator with a one-slot buffer: a slow reader gets the newest
 * message (older pending ones are dropped), never an older version after a newer one (except
 * after a deletion, which restarts at version 0), and `return()` unsubscribes at once even while
 * the reader is waiting.
 */
import { LatestSlot } from '../latest-slot.js';
import type { ProfilePubSub, ProfileUpdated } from './port.js';

export async function latestUpdates(pubsub: ProfilePubSub, userId: string): Promise<AsyncIterableIterator<ProfileUpdated>> {
  const slot = new LatestSlot<ProfileUpdated>();
  let lastVersion = -1;
  let unsubscribed = false;
  const unsubscribe = await pubsub.subscribe(userId, (m) => {
    // A deletion restarts versions at 0, so it always goes through and resets the watermark.
    if (m.cause === 'delete') lastVersion = -1;
    else if (m.version <= lastVersion) return;
    slot.put(m, (waiting) => m.cause === 'delete' || waiting.cause === 'delete' || m.version >= waiting.version);
  });
  const finish = async (): Promise<IteratorResult<ProfileUpdated, undefined>> => {
    slot.close();
    if (!unsubscribed) {
      unsubscribed = true;
      await unsubscribe();
    }
    return { done: true, value: undefined };
  };
  const iterator: AsyncIterableIterator<ProfileUpdated> = {
    async next() {
      const next = await slot.take();
      if (!next.done) lastVersion = next.value.version;
      return next;
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
