/**
 * Popularity (all-time weighted interactions) and trending (the same, decayed by event time) per
 * item, fed by the event stream. Decay is anchored per item, so arrival order does not matter.
 */
import { addContribution, scoreAt } from '../../../../lib/contracts/decay.js';
import type { DecayedScore } from '../../../../lib/contracts/decay.js';
import type { ProfileEvent } from '../../../../lib/contracts/event.js';

/**
 * How much one event says "people engage with this item now". Explicit negative feedback
 * (DISLIKE, SKIP) counts nothing; a low rating still means the item was watched.
 */
export function interactionWeight(e: Pick<ProfileEvent, 'type' | 'properties'>): number {
  switch (e.type) {
    case 'PLAY':
    case 'COMPLETE':
    case 'ADD_TO_CART':
    case 'LIKE':
      return 1;
    case 'PURCHASE':
      return 2;
    case 'CLICK':
      return 0.5;
    case 'VIEW':
      return 0.25;
    case 'RATE': {
      const rating = Number(e.properties?.['rating']);
      return Number.isFinite(rating) ? (rating >= 4 ? 1 : 0.5) : 0;
    }
    default:
      return 0;
  }
}

export interface ItemStat {
  popularity: number;
  trending: DecayedScore;
}

export class ItemStats {
  private readonly stats = new Map<string, ItemStat>();
  /** Bumped on every change so derived orderings know when to rebuild. */
  revision = 0;
  maxPopularity = 0;

  constructor(readonly trendingHalfLifeMs: number) {}

  record(itemId: string, weight: number, at: number): void {
    if (weight <= 0) return;
    const prev = this.stats.get(itemId);
    const next: ItemStat = {
      popularity: (prev?.popularity ?? 0) + weight,
      trending: addContribution(prev?.trending, weight, at, this.trendingHalfLifeMs),
    };
    this.stats.set(itemId, next);
    if (next.popularity > this.maxPopularity) this.maxPopularity = next.popularity;
    this.revision++;
  }

  recordEvents(events: readonly ProfileEvent[]): void {
    for (const e of events) if (e.item) this.record(e.item.id, interactionWeight(e), e.occurredAt);
  }

  popularity(itemId: string): number {
    return this.stats.get(itemId)?.popularity ?? 0;
  }

  trending(itemId: string, now: number): number {
    const s = this.stats.get(itemId);
    return s ? scoreAt(s.trending, now, this.trendingHalfLifeMs) : 0;
  }

  /** Popularity scaled to 0..1 on a log scale. */
  popularityPrior(itemId: string): number {
    return this.maxPopularity > 0 ? Math.log1p(this.popularity(itemId)) / Math.log1p(this.maxPopularity) : 0;
  }

  entries(): IterableIterator<[string, ItemStat]> {
    return this.stats.entries();
  }
}
