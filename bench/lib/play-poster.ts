/**
 * PLAY events for benchmark users, posted to POST /v1/events over a keep-alive pool without
 * waiting: each user's send times are recorded in order (its v-th event makes profile version
 * v), so a live message's version says which events it made visible. A long run forgets the
 * times of events already seen (`forget`), so that what it keeps does not grow with its length.
 */
import { Pool } from 'undici';
import { DEMO_MOVIE_REFS } from '../../demo/catalog.js';

export function playPoster(profileUrl: string, caller: Record<string, string>, users: readonly string[], idPrefix: string) {
  const pool = new Pool(new URL(profileUrl).origin, { connections: 8 });
  /** Per user, the send time of each of its events (NaN for an untimed one). */
  const sent = new Map<string, number[]>(users.map((u) => [u, []]));
  /** Per user, how many of its first send times were forgotten (`sent` holds those after them). */
  const forgotten = new Map<string, number>();
  const inflight = new Set<Promise<void>>();
  let n = 0;
  const state = {
    sent,
    inflight,
    errors: 0,
    /** The send time of the user's v-th event (undefined when forgotten or never sent). */
    timeOf(userId: string, v: number): number | undefined {
      return sent.get(userId)?.[v - 1 - (forgotten.get(userId) ?? 0)];
    },
    /** How many events were posted for the user, forgotten ones included. */
    count(userId: string): number {
      return (forgotten.get(userId) ?? 0) + (sent.get(userId)?.length ?? 0);
    },
    /** Forgets the send times of the user's events up to its v-th. */
    forget(userId: string, v: number): void {
      const times = sent.get(userId);
      const before = forgotten.get(userId) ?? 0;
      const drop = Math.min(v - before, times?.length ?? 0);
      if (drop <= 0) return;
      times!.splice(0, drop);
      forgotten.set(userId, before + drop);
    },
    /** Posts one PLAY per listed user; `timed` false records it as NaN (counted, not timed). */
    post(batch: readonly string[], timed = true): void {
      const t = timed ? performance.now() : NaN;
      const events = batch.map((userId) => {
        sent.get(userId)!.push(t);
        const item = DEMO_MOVIE_REFS[n % DEMO_MOVIE_REFS.length];
        n++;
        return { eventId: `${idPrefix}-${n}`, userId, type: 'PLAY', occurredAt: Date.now(), item };
      });
      const p: Promise<void> = pool
        .request({ path: '/v1/events', method: 'POST', headers: { 'content-type': 'application/json', ...caller }, body: JSON.stringify({ events }) })
        .then(async (r) => {
          if (r.statusCode >= 300) state.errors++;
          await r.body.dump();
        })
        .catch(() => void state.errors++)
        .finally(() => inflight.delete(p));
      inflight.add(p);
    },
    /** Resolves once every post so far has been answered. */
    settled: () => Promise.all(inflight).then(() => undefined),
    close: () => pool.close(),
  };
  return state;
}
