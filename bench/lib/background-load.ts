/**
 * Background load in a process of its own (so it does not share the measuring process's event
 * loop): requests at a steady arrival rate (./paced-load.ts) until SIGTERM, then its figures are
 * written to the result file. argv[2] is a JSON `BackgroundLoad`.
 *
 * kinds: `events` posts batches of 10 PLAY events (unique ids, users bg-0..bg-4999) to
 * /v1/events; `home` posts the home-page query for those users to a GraphQL endpoint.
 */
import { writeFileSync } from 'node:fs';
import { DEMO_MOVIE_REFS } from '../../demo/catalog.js';
import { pacedLoad } from './paced-load.js';
import { HOME_QUERY } from './queries.js';

export interface BackgroundLoad {
  kind: 'events' | 'home';
  url: string;
  /** Requests per second over all connections. */
  rate: number;
  connections: number;
  /** Credentials (the service token). */
  headers: Record<string, string>;
  resultFile: string;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as BackgroundLoad;
const playable = DEMO_MOVIE_REFS;
const run = process.pid.toString(36);
let n = 0;
const body =
  spec.kind === 'events'
    ? () =>
        JSON.stringify({
          events: Array.from({ length: 10 }, () => {
            const k = n++;
            return { eventId: `bg-${run}-${k}`, userId: `bg-${k % 5000}`, type: 'PLAY', occurredAt: Date.now(), item: playable[k % playable.length] };
          }),
        })
    : () => JSON.stringify({ query: HOME_QUERY, variables: { id: `bg-${n++ % 5000}` } });

const load = pacedLoad({ url: spec.url, connections: spec.connections, rate: spec.rate, headers: spec.headers, body });
void load.done.then((result) => {
  const perRequest = spec.kind === 'events' ? 10 : 1;
  writeFileSync(
    spec.resultFile,
    JSON.stringify({ perSecond: (result.requests * perRequest) / result.seconds, errors: result.errors + result.non2xx, latencyMs: { p50: result.latencyMs.p50, p99: result.latencyMs.p99 } }),
  );
  process.exit(0);
});
process.on('SIGTERM', () => load.stop());
process.stdout.write('{}\n');
