/**
 * Live experiment results (Subscription.experimentResultsUpdated) over a memory pub/sub: a client
 * leaving while it waits for the next change closes the feed and its pub/sub subscription at once,
 * and a pub/sub subscription that failed is tried again by the next subscriber.
 */
import { describe, expect, it } from 'vitest';
import type { ExperimentResults, ExperimentService } from '../../subgraphs/experiments/src/app/experiment-service.js';
import { ResultsFeeds } from '../../subgraphs/experiments/src/app/results-feed.js';
import type { ExperimentResultsChanged } from '../../subgraphs/experiments/src/app/results-feed.js';
import { resolvers } from '../../subgraphs/experiments/src/schema/resolvers.js';
import type { ExperimentsContext } from '../../subgraphs/experiments/src/schema/context.js';
import { MemoryPubSub } from '../../lib/pubsub/memory.js';
import type { PubSub } from '../../lib/pubsub/port.js';
import { until } from '../helpers/wait.js';

/** A service that knows every experiment and counts its results computations. */
function fakeService() {
  let computed = 0;
  const service = {
    resultsTarget: async () => undefined,
    results: async (experimentKey: string, unitId: string | null) => {
      computed++;
      return { experimentKey, unitId, generatedAt: computed } as unknown as ExperimentResults;
    },
  };
  return { service: service as unknown as ExperimentService, computed: () => computed };
}

type Subscribe = (root: unknown, args: { key: string; unitId?: string | null }, ctx: ExperimentsContext, info: unknown) => Promise<AsyncIterator<{ experimentResultsUpdated: ExperimentResults }>>;
const subscribe = (resolvers.Subscription!.experimentResultsUpdated as unknown as { subscribe: Subscribe }).subscribe;

describe('live experiment results feed', () => {
  it('return() while next() waits for a change closes the feed and its pub/sub subscription at once', async () => {
    const pubsub = new MemoryPubSub<ExperimentResultsChanged>((m) => m.experimentKey);
    const { service } = fakeService();
    const feeds = new ResultsFeeds(service, pubsub, 0);
    const ctx = { service, feeds } as unknown as ExperimentsContext;

    const it = await subscribe({}, { key: 'exp' }, ctx, {});
    const first = await it.next();
    expect(first.done).toBe(false);
    expect(first.value.experimentResultsUpdated.experimentKey).toBe('exp');
    expect(pubsub.listenerCount('exp')).toBe(1);

    // The client waits for the next change, then leaves (graphql-ws calls return() meanwhile).
    const pending = it.next();
    const returned = it.return!();
    await until(() => pubsub.listenerCount('exp') === 0, 2_000, 'the feed to unsubscribe from pub/sub');
    await expect(returned).resolves.toMatchObject({ done: true });
    await expect(pending).resolves.toMatchObject({ done: true });

    // No change reaches a feed any more: a later subscriber gets a feed of its own.
    const again = await subscribe({}, { key: 'exp' }, ctx, {});
    expect((await again.next()).done).toBe(false);
    expect(pubsub.listenerCount('exp')).toBe(1);
    await again.return!();
    await until(() => pubsub.listenerCount('exp') === 0, 2_000, 'the second feed to unsubscribe');
  });

  it('a pub/sub subscribe that rejects fails its subscribers, and the next subscriber tries again', async () => {
    const memory = new MemoryPubSub<ExperimentResultsChanged>((m) => m.experimentKey);
    let failures = 1;
    let attempts = 0;
    const pubsub: PubSub<ExperimentResultsChanged> = {
      publish: (m) => memory.publish(m),
      publishMany: (ms) => memory.publishMany(ms),
      subscribe: async (topic, listener) => {
        attempts++;
        if (failures-- > 0) throw new Error('pub/sub down');
        return memory.subscribe(topic, listener);
      },
      close: () => memory.close(),
    };
    const { service } = fakeService();
    const feeds = new ResultsFeeds(service, pubsub, 0);

    const failed = feeds.subscribe('exp', null);
    await expect(failed.next()).rejects.toThrow('pub/sub down');

    const ok = feeds.subscribe('exp', null);
    const first = await ok.next();
    expect(first.done).toBe(false);
    expect(attempts).toBe(2);
    expect(memory.listenerCount('exp')).toBe(1);

    // The retried subscription delivers changes.
    const next = ok.next();
    await memory.publish({ experimentKey: 'exp', unitIds: ['home:hero'] });
    expect((await next).done).toBe(false);
    await ok.return!();
    await until(() => memory.listenerCount('exp') === 0, 2_000, 'the feed to unsubscribe');
  });
});
