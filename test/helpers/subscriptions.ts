/** graphql-ws helpers for tests, and when a subscription is live upstream. */
import type { Client } from 'graphql-ws';
import { vi } from 'vitest';
import { MemoryPubSub } from '../../lib/pubsub/memory.js';
import type { ProfilePubSub } from '../../lib/pubsub/port.js';
import { RedisPubSub } from '../../lib/pubsub/redis.js';

/** Subscribes and collects messages; `until` resolves when a predicate on them holds. */
export function collect(client: Client, query: string, variables: Record<string, unknown>) {
  const messages: any[] = [];
  let error: unknown;
  let completed = false;
  const unsubscribe = client.subscribe(
    { query, variables },
    {
      next: (m) => void messages.push(m),
      error: (e) => void (error = e),
      complete: () => void (completed = true),
    },
  );
  const until = (check: () => boolean, timeoutMs = 10_000) =>
    vi.waitFor(
      () => {
        if (!check()) throw new Error(`timed out; got ${JSON.stringify(messages).slice(0, 500)} error ${String(error)}`);
      },
      { timeout: timeoutMs, interval: 10 },
    );
  return { messages, until, unsubscribe, error: () => error, completed: () => completed };
}

/**
 * `userId`'s listeners on a pub/sub: `attached` ones, and those it already delivers to
 * (`receiving`: in memory every attached one, on Redis those whose SUBSCRIBE Redis has answered).
 */
export function listeners(pubsub: ProfilePubSub, userId: string): { attached: number; receiving: number } {
  if (pubsub instanceof MemoryPubSub) {
    const attached = pubsub.listenerCount(userId);
    return { attached, receiving: attached };
  }
  if (pubsub instanceof RedisPubSub) return { attached: pubsub.listenerCount(userId), receiving: pubsub.receivingCount(userId) };
  throw new Error(`no way to tell whether ${pubsub.constructor.name} delivers to a listener`);
}

type WithProfile = { profile: { pubsub: ProfilePubSub } };

/**
 * Resolves once the profile subgraph listens for `userId`'s updates: the upstream end of a
 * subscription through the gateway is acknowledged, so a change applied from now on is delivered.
 * Tell-tale only while no other subscription follows the same user (wait for `unsubscribed` first).
 */
export function subscribed(platform: WithProfile, userId: string, timeoutMs = 10_000): Promise<void> {
  return vi.waitFor(
    () => {
      if (listeners(platform.profile.pubsub, userId).receiving === 0) throw new Error(`the profile subgraph does not listen for ${userId}`);
    },
    { timeout: timeoutMs, interval: 10 },
  );
}

/** Resolves once the profile subgraph has no listener left for `userId` (every subscription closed upstream). */
export function unsubscribed(platform: WithProfile, userId: string, timeoutMs = 10_000): Promise<void> {
  return vi.waitFor(
    () => {
      const { attached } = listeners(platform.profile.pubsub, userId);
      if (attached > 0) throw new Error(`the profile subgraph still has ${attached} listener(s) for ${userId}`);
    },
    { timeout: timeoutMs, interval: 10 },
  );
}
