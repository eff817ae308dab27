/**
 * Item-to-item co-occurrence learned from the event stream ("people who watched X then watched
 * Y"). The ranker combines it with the items in a user's profile (`recent` in the ranking
 * features): the fresher that list, the better the row. Memory is bounded: a short window of
 * recent items per user (least recently active users are forgotten first) and at most
 * `maxNeighbors` neighbours per item.
 */

export interface CoOccurrenceOptions {
  /** How many of a user's previous items each new item is paired with. */
  window: number;
  maxNeighbors: number;
  maxUsers: number;
}

export const DEFAULT_CO_OCCURRENCE: CoOccurrenceOptions = { window: 10, maxNeighbors: 200, maxUsers: 200_000 };

export class CoOccurrence {
  private readonly neighbors = new Map<string, Map<string, number>>();
  private readonly counts = new Map<string, number>();
  private readonly windows = new Map<string, string[]>();
  /** Sorted neighbour lists, dropped when the item's neighbours change. */
  private readonly sorted = new Map<string, string[]>();

  constructor(private readonly options: CoOccurrenceOptions = DEFAULT_CO_OCCURRENCE) {}

  /** Records that `userId` engaged with `itemId` (call once per positive interaction, in time order). */
  observe(userId: string, itemId: string): void {
    let window = this.windows.get(userId);
    if (window) this.windows.delete(userId); // re-insert: Map order is recency order
    else window = [];
    if (window.includes(itemId)) {
      this.windows.set(userId, window);
      return;
    }
    this.counts.set(itemId, (this.counts.get(itemId) ?? 0) + 1);
    window.forEach((previous, i) => {
      // Nearer neighbours in the sequence say more.
      const weight = 1 / (window!.length - i);
      this.bump(previous, itemId, weight);
      this.bump(itemId, previous, weight);
    });
    window.push(itemId);
    if (window.length > this.options.window) window.shift();
    this.windows.set(userId, window);
    if (this.windows.size > this.options.maxUsers) this.windows.delete(this.windows.keys().next().value!);
  }

  private bump(from: string, to: string, weight: number): void {
    let m = this.neighbors.get(from);
    if (!m) this.neighbors.set(from, (m = new Map()));
    m.set(to, (m.get(to) ?? 0) + weight);
    this.sorted.delete(from);
    if (m.size > this.options.maxNeighbors * 1.5) {
      const kept = [...m].sort((a, b) => b[1] - a[1]).slice(0, this.options.maxNeighbors);
      this.neighbors.set(from, new Map(kept));
    }
  }

  /** Cosine-normalized similarity of two items, 0 when never seen together. */
  similarity(a: string, b: string): number {
    const c = this.neighbors.get(a)?.get(b);
    if (!c) return 0;
    return c / Math.sqrt((this.counts.get(a) ?? 1) * (this.counts.get(b) ?? 1));
  }

  /** The item's strongest neighbours by raw co-occurrence. */
  topNeighbors(itemId: string, n: number): string[] {
    let list = this.sorted.get(itemId);
    if (!list) {
      const m = this.neighbors.get(itemId);
      if (!m) return [];
      list = [...m].sort((a, b) => b[1] - a[1]).map(([id]) => id);
      this.sorted.set(itemId, list);
    }
    return list.slice(0, n);
  }
}
