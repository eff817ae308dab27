/** The recommendations benchmark world: a synthetic catalog and history, built the same way in every process. */
import { DEFAULT_REDUCER_CONFIG } from '../../subgraphs/profile/src/domain/config.js';
import { toRankingFeatures } from '../../subgraphs/profile/src/domain/features.js';
import type { RankingFeatures } from '../../lib/contracts/ranking-features.js';
import { applyEvents } from '../../subgraphs/profile/src/domain/reducer.js';
import type { ProfileEvent } from '../../lib/contracts/event.js';
import { syntheticCatalog, syntheticEvents } from './synthetic.js';

export const CATALOG_SIZE = Number(process.env['BENCH_CATALOG_SIZE'] ?? 10_000);
export const HISTORY_USERS = 3000;
export const EVENTS_PER_USER = 60;
export const BENCH_USERS = 500;
const END = Date.UTC(2026, 10, 1);
const SPAN = 30 * 86_400_000;

export function recsWorld() {
  const catalog = syntheticCatalog(CATALOG_SIZE);
  const events = syntheticEvents(catalog, HISTORY_USERS, EVENTS_PER_USER, END, SPAN);
  return { catalog, events, now: END };
}

export interface BenchUser {
  id: string;
  live: RankingFeatures;
  batch: RankingFeatures;
}

/** Live features from a user's whole history, batch features from the first 70% of it. */
export function benchUsers(events: readonly ProfileEvent[], count = BENCH_USERS): BenchUser[] {
  const byUser = new Map<string, ProfileEvent[]>();
  for (const e of events) (byUser.get(e.userId) ?? byUser.set(e.userId, []).get(e.userId)!).push(e);
  return [...byUser]
    .slice(0, count)
    .map(([id, list]) => {
      const cut = Math.floor(list.length * 0.7);
      const batch = applyEvents(null, list.slice(0, cut), DEFAULT_REDUCER_CONFIG).profile;
      const live = applyEvents(batch, list.slice(cut), DEFAULT_REDUCER_CONFIG).profile;
      return { id, live: toRankingFeatures(live, DEFAULT_REDUCER_CONFIG), batch: toRankingFeatures(batch, DEFAULT_REDUCER_CONFIG) };
    });
}
