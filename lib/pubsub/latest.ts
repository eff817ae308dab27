/**
 * A user's ProfileUpdated messages as an async iterator (a one-slot Mailbox, lib/streams.ts): a
 * slow reader gets the newest message (older pending ones are dropped), never an older version
 * after a newer one (except after a deletion, which restarts at version 0), and `return()`
 * unsubscribes at once even while the reader is waiting. It subscribes when first read, so a
 * reader that leaves before reading leaves nothing.
 *
 * With `step`, the reader gets what `step` makes of each message it asks for (lib/streams.ts
 * `mapEach`): `undefined` skips the message; an error ends the iterator after unsubscribing.
 */
import { mapEach, subscribed } from '../streams.js';
import type { Stream } from '../streams.js';
import type { ProfilePubSub, ProfileUpdated } from './port.js';

export function latestUpdates(pubsub: ProfilePubSub, userId: string): Stream<ProfileUpdated>;
export function latestUpdates<R>(
  pubsub: ProfilePubSub,
  userId: string,
  step: (message: ProfileUpdated) => Promise<R | undefined>,
  options?: { first?: ProfileUpdated },
): Stream<R>;
/**
 * `options.first`: a message handed to the reader as soon as the subscription is live (before any
 * published one, which replaces it if the reader has not read it yet): a resuming reader checks
 * the current state without missing a change made meanwhile.
 */
export function latestUpdates<R>(
  pubsub: ProfilePubSub,
  userId: string,
  step?: (message: ProfileUpdated) => Promise<R | undefined>,
  options: { first?: ProfileUpdated } = {},
): Stream<ProfileUpdated> | Stream<R> {
  // The version last passed on (waiting in the mailbox, or read): older ones are dropped.
  let newest = -1;
  const messages = subscribed<ProfileUpdated>(
    1,
    (push) =>
      pubsub.subscribe(userId, (m) => {
        // A deletion restarts versions at 0, so it always goes through and resets the watermark.
        if (m.cause !== 'delete' && m.version <= newest) return;
        newest = m.version;
        push(m);
      }),
    (push) => options.first && push(options.first),
  );
  return step ? mapEach(messages, step) : messages;
}
