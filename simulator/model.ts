/**
 * The simulated audience: users with genre tastes that drift (they binge a series, switch
 * genres) and a choice model for what they click and how long they watch. Pure and seeded.
 */
import { rng } from '../bench/lib/synthetic.js';

export interface SimItem {
  id: string;
  kind: string;
  title: string | null;
  genres: string[];
  seriesId: string | null;
  episode: number | null;
  metadata: Record<string, unknown> | null;
}

export interface SimUser {
  id: string;
  /** Current genre preferences, summing to 1. */
  taste: Map<string, number>;
  binge: { seriesId: string; nextEpisode: number } | null;
}

export class Audience {
  readonly random: () => number;
  private readonly genres: string[];
  private readonly series: Map<string, SimItem[]>;

  constructor(
    readonly catalog: readonly SimItem[],
    seed: number,
  ) {
    this.random = rng(seed);
    this.genres = [...new Set(catalog.flatMap((i) => i.genres))].sort();
    this.series = new Map();
    for (const item of catalog) {
      if (item.kind !== 'EPISODE' || !item.seriesId) continue;
      const list = this.series.get(item.seriesId) ?? [];
      list.push(item);
      this.series.set(item.seriesId, list);
    }
    for (const list of this.series.values()) list.sort((a, b) => (a.episode ?? 0) - (b.episode ?? 0));
  }

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.random() * list.length)]!;
  }

  /** A taste concentrated on one or two genres. */
  private taste(): Map<string, number> {
    const main = this.pick(this.genres);
    const second = this.pick(this.genres);
    const taste = new Map<string, number>(this.genres.map((g) => [g, 0.02]));
    taste.set(main, (taste.get(main) ?? 0) + 0.6);
    taste.set(second, (taste.get(second) ?? 0) + 0.25);
    const total = [...taste.values()].reduce((a, b) => a + b, 0);
    for (const [g, v] of taste) taste.set(g, v / total);
    return taste;
  }

  newUser(id: string): SimUser {
    return { id, taste: this.taste(), binge: null };
  }

  /** Between sessions: sometimes the user's taste moves to a new genre, or a binge starts. */
  drift(user: SimUser): void {
    if (this.random() < 0.15) user.taste = this.taste();
    if (!user.binge && this.random() < 0.3) {
      const favourite = [...user.taste].sort((a, b) => b[1] - a[1])[0]![0];
      const candidates = [...this.series].filter(([, eps]) => eps[0]?.genres.includes(favourite));
      if (candidates.length > 0) user.binge = { seriesId: this.pick(candidates)[0], nextEpisode: 1 };
    }
  }

  /** How much the user wants this item right now (0..1). */
  utility(user: SimUser, item: SimItem): number {
    if (user.binge && item.seriesId === user.binge.seriesId) {
      return item.episode === user.binge.nextEpisode ? 0.95 : 0.05;
    }
    if (item.kind === 'EPISODE') return 0.05;
    const g = item.genres.reduce((sum, genre) => sum + (user.taste.get(genre) ?? 0), 0);
    return Math.min(1, 0.05 + 1.6 * g);
  }

  /** Which position (1-based) the user clicks in a shown row, or null: cascade with position bias. */
  choose(user: SimUser, row: readonly SimItem[]): number | null {
    for (let i = 0; i < row.length; i++) {
      const examine = 1 / Math.log2(i + 2);
      if (this.random() < examine * this.utility(user, row[i]!) * 0.6) return i + 1;
    }
    return null;
  }

  /** Seconds watched after a click, and whether they finished. */
  consume(user: SimUser, item: SimItem): { seconds: number; completed: boolean } {
    const runtime = 60 * Number(item.metadata?.['runtimeMinutes'] ?? 45);
    const share = Math.min(1, this.utility(user, item) * (0.5 + this.random()));
    return { seconds: Math.round(runtime * share), completed: share > 0.9 };
  }

  /** An item the user finds on their own (search, browse): their taste drives it. */
  organic(user: SimUser): SimItem {
    if (user.binge) {
      const eps = this.series.get(user.binge.seriesId) ?? [];
      const ep = eps.find((e) => e.episode === user.binge!.nextEpisode);
      if (ep) return ep;
      user.binge = null;
    }
    const r = this.random();
    let acc = 0;
    let genre = this.genres[0]!;
    for (const [g, v] of user.taste) {
      acc += v;
      if (r <= acc) {
        genre = g;
        break;
      }
    }
    const pool = this.catalog.filter((i) => i.kind !== 'EPISODE' && i.kind !== 'PRODUCT' && i.genres.includes(genre));
    return pool.length > 0 ? this.pick(pool) : this.pick(this.catalog);
  }

  /** After a play of an episode in the binge, move on to the next one. */
  advance(user: SimUser, item: SimItem): void {
    if (user.binge && item.seriesId === user.binge.seriesId && item.episode === user.binge.nextEpisode) {
      user.binge.nextEpisode += 1;
      if (!this.series.get(user.binge.seriesId)?.some((e) => e.episode === user.binge!.nextEpisode)) user.binge = null;
    }
  }
}
