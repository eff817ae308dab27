/**
 * npm run simulate -- --users N --minutes M [--gateway URL] [--seed S] [--concurrency C]
 *
 * A SIMULATION: synthetic users drive a running platform through the gateway as real clients
 * would (run.ts). It ends by printing the realtime-ranking experiment's results.
 */
import { loadAuthConfig, mintToken } from '../lib/auth.js';
import { parseArgs } from 'node:util';
import { assertLoopback } from './gateway-client.js';
import { formatResults } from './report.js';
import { simulate } from './run.js';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '200' },
    minutes: { type: 'string', default: '1' },
    // GATEWAY_URL, else the gateway `npm start` runs on this machine (GATEWAY_PORT, default 4000).
    gateway: { type: 'string', default: process.env['GATEWAY_URL'] ?? `http://127.0.0.1:${process.env['GATEWAY_PORT'] ?? '4000'}/graphql` },
    seed: { type: 'string', default: String(Date.now() % 100_000) },
    concurrency: { type: 'string', default: '8' },
    experiment: { type: 'string', default: 'realtime-ranking' },
  },
});
const USERS = Number(values.users);
const MINUTES = Number(values.minutes);
const CONCURRENCY = Number(values.concurrency);
const SEED = Number(values.seed);
if (!(USERS > 0 && USERS <= 100_000) || !(MINUTES > 0 && MINUTES <= 24 * 60) || !(CONCURRENCY > 0 && CONCURRENCY <= 256)) {
  console.error('simulate: --users 1..100000, --minutes > 0, --concurrency 1..256');
  process.exit(2);
}
const gateway = values.gateway;
try {
  assertLoopback(gateway);
} catch {
  console.error('simulate: only loopback gateways are allowed');
  process.exit(2);
}

// Tokens as the platform expects them, signed with its JWT_SECRET (the development default unless
// set): the backend ingests and reads results with a service token; each simulated user reads its
// row and records unit events with its own user token, as a real client would.
const auth = loadAuthConfig(process.env);

console.log(`SIMULATION: ${USERS} synthetic users for ${MINUTES} min against ${gateway} (seed ${SEED}). Not real user data.`);
let latest = { rows: 0, clicks: 0, plays: 0, errors: 0 };
const progress = setInterval(() => {
  if (process.stdout.isTTY) process.stdout.write(`\r${latest.rows} rows, ${latest.clicks} clicks, ${latest.plays} plays, ${latest.errors} errors`);
}, 500);
const done = await simulate({
  gatewayUrl: gateway,
  users: USERS,
  durationMs: MINUTES * 60_000,
  seed: SEED,
  concurrency: CONCURRENCY,
  experimentKey: values.experiment,
  mintToken: (claims) => mintToken(auth, claims),
  serviceSubject: 'simulator-backend',
  onProgress: (p) => {
    if (p.type === 'seeded') console.log(`seeded ${p.historyEvents} history events and ran the batch snapshot; simulating sessions...`);
    else latest = p.counters;
    if (p.type === 'error' && p.counters.errors <= 3) console.error(`session failed: ${p.error.message}`);
  },
}).finally(() => clearInterval(progress));
if (process.stdout.isTTY) process.stdout.write('\n');
console.log(`done: ${done.rows} rows served, ${done.impressions} impressions, ${done.clicks} clicks, ${done.plays} play events, ${done.errors} errors`);
console.log(formatResults(done.results));
