/**
 * Live experiment results (Subscription.experimentResultsUpdated): one computation per
 * (experiment, unit) however many subscribers, at most once per `throttleMs`, when the aggregates
 * changed. Aggregates change where unit events are recorded (any replica): each recording
 * publishes an ExperimentResultsChanged notice on pub/sub, per experiment.
 */
import { Repeater, SlidingBuffer } from '@repeaterjs/repeater';
import type { PubSub, Unsubscribe } from '../../../../lib/pubsub/port.js';
import type { ExperimentResults, ExperimentService } from './experiment-service.js';

/** Published after unit events of the experiment were recorded. */
export interface ExperimentResultsChanged {
  experimentKey: string;
  /** Units whose aggregates moved. */
  unitIds: string[];
}

interface Feed {
  subscribers: Set<(r: ExperimentResults) => void>;
  unsubscribe: Promise<Unsubscribe>;
  timer: NodeJS.Timeout | undefined;
  lastAt: number;
  computing: boolean;
  /** A change arrived while computing: compute again after. */
  dirty: boolean;
}

export class ResultsFeeds {
  private readonly feeds = new Map<string, Feed>();

  constructor(
    private readonly service: ExperimentService,
    private readonly pubsub: PubSub<ExperimentResultsChanged>,
    private readonly throttleMs: number,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  /** The current results at once, then after every change (the newest only, for a slow reader). */
  subscribe(experimentKey: string, unitId: string | null): AsyncIterableIterator<ExperimentResults> {
    const id = `${experimentKey}\u0000${unitId ?? ''}`;
    return new Repeater<ExperimentResults>(async (push, stop) => {
      const listener = (r: ExperimentResults) => void push(r);
      let feed = this.feeds.get(id);
      if (!feed) {
        const created: Feed = { subscribers: new Set(), unsubscribe: Promise.resolve(async () => {}), timer: undefined, lastAt: 0, computing: false, dirty: false };
        created.unsubscribe = this.pubsub.subscribe(experimentKey, (m) => {
          if (unitId === null || m.unitIds.includes(unitId)) this.changed(created, experimentKey, unitId);
        });
        // A failed subscription fails this feed's subscribers only: the next subscriber tries again.
        created.unsubscribe.catch(() => {
          if (this.feeds.get(id) === created) this.feeds.delete(id);
        });
        this.feeds.set(id, (feed = created));
      }
      feed.subscribers.add(listener);
      await feed.unsubscribe;
      // The first message: the results now, for this subscriber.
      try {
        void push(await this.service.results(experimentKey, unitId));
      } catch (err) {
        stop(err);
      }
      await stop;
      feed.subscribers.delete(listener);
      if (feed.subscribers.size === 0 && this.feeds.get(id) === feed) {
        this.feeds.delete(id);
        clearTimeout(feed.timer);
        await (await feed.unsubscribe)();
      }
    }, new SlidingBuffer(1));
  }

  private changed(feed: Feed, experimentKey: string, unitId: string | null): void {
    if (feed.computing) {
      feed.dirty = true;
      return;
    }
    if (feed.timer) return;
    const wait = Math.max(0, feed.lastAt + this.throttleMs - Date.now());
    feed.timer = setTimeout(() => void this.compute(feed, experimentKey, unitId), wait);
    feed.timer.unref();
  }

  private async compute(feed: Feed, experimentKey: string, unitId: string | null): Promise<void> {
    feed.timer = undefined;
    feed.computing = true;
    feed.lastAt = Date.now();
    try {
      const results = await this.service.results(experimentKey, unitId);
      for (const s of feed.subscribers) s(results);
    } catch (err) {
      // The store failed: subscribers keep what they have, and the next change computes again.
      this.onError(err);
    }
    feed.computing = false;
    if (feed.dirty) {
      feed.dirty = false;
      this.changed(feed, experimentKey, unitId);
    }
  }
}
