/**
 * `npm start`: the whole platform in one process on the embedded in-memory stores, seeded with the
 * demo catalog and users. Each service also runs alone (`npm run start:<service>`). With
 * NODE_ENV=production it prints no credentials and seeds no demo users (DEMO_DATA=true to seed).
 */
import { onShutdown } from '../lib/shutdown.js';
import { loadAuthConfig, mintToken } from '../lib/auth.js';
import { envBool, isProduction } from '../lib/env.js';
import { DEMO_USERS, demoHistory } from '../demo/history.js';
import { seedDemoAudiences } from '../demo/audiences.js';
import { startPlatform } from './platform.js';
import { evaluate } from '../subgraphs/experiments/src/domain/assign.js';

const env = process.env;
const production = isProduction(env);

/** How to call the platform: demo tokens when this process can mint them. */
async function authHelp(): Promise<string> {
  const auth = loadAuthConfig(env);
  if (auth.disabled) return 'Auth is OFF (AUTH_DISABLED=1): every call acts as a service. For local exploration only.';
  if (!auth.jwtSecret) return 'Auth: tokens come from your identity provider (JWKS_URL); send Authorization: Bearer <JWT>.';
  // A token printed to a production log is a credential anyone reading the log can use.
  if (production) return 'Auth: every operation needs a JWT signed with JWT_SECRET (no demo tokens are printed in production).';
  const user = await mintToken(auth, { sub: 'u1', role: 'user' });
  const service = await mintToken(auth, { sub: 'demo-backend', role: 'service' });
  // u1 may be in the control variant (the batch ranking): a treatment user shows the live one.
  const live = await treatmentUser();
  const liveLine = live && live !== 'u1' ? `
  user ${live} (treatment: its row is ranked live)${' '.repeat(Math.max(1, 25 - live.length))}Bearer ${await mintToken(auth, { sub: live, role: 'user' })}` : '';
  return `Auth: every operation needs a JWT. Demo tokens (12 h, signed with ${auth.developmentSecrets ? 'the development JWT_SECRET' : 'JWT_SECRET'}):
  user u1 (reads only u1, records its own unit events; ${live === 'u1' ? 'treatment: live row' : 'control: batch row'})   Bearer ${user}${liveLine}
  service (ingests, reads anyone, experiments, catalog)  Bearer ${service}
In Sandbox open the Headers tab (or Settings → Shared headers) and set  Authorization: Bearer <token>;
for subscriptions set the connection params to  {"authorization": "Bearer <token>"}.
The events API takes the service token:  curl -H 'authorization: Bearer <service token>' -H 'content-type: application/json' -d '{"events":[...]}' ${profile.url}/v1/events`;
}
/** The first demo user the ranking experiment puts in a treatment variant (its assignment is GrowthBook's hash). */
async function treatmentUser(): Promise<string | null> {
  const experiment = await experiments.service.get(recommendations.service.config.rankingExperiment);
  if (!experiment || experiment.status !== 'RUNNING') return null;
  const control = experiment.variants[0]!.key;
  return DEMO_USERS.map((u) => u.id).find((id) => {
    const a = evaluate(experiment, id, {});
    return a.inExperiment && a.variant !== control;
  }) ?? null;
}

// Embedded stores by default (one process: the subgraphs share an in-memory event log);
// Redis or Redis Cluster when REDIS_URL / REDIS_CLUSTER_NODES is set.
const platform = await startPlatform({ env });
const { backends, gateway, profile, recommendations, experiments, audiences } = platform;
// Demo events have fixed ids, so seeding again after a restart on Redis changes nothing.
async function seedDemo(): Promise<string> {
  if (!envBool(env, 'DEMO_DATA', !production)) return 'Demo data: none (DEMO_DATA=false, the default in production).';
  // Before the events: the computed traits of their windows count the events applied after them.
  const audienceIds = await seedDemoAudiences(audiences.service);
  const seeded = await profile.service.ingest(demoHistory(Date.now()), { waitApplied: true });
  if (seeded.rejected.length > 0) throw new Error(`demo seed rejected: ${JSON.stringify(seeded.rejected)}`);
  const snapshot = await profile.snapshots.run();
  return `Demo data: ${seeded.accepted} new events (${seeded.duplicates} already there) for ${DEMO_USERS.map((u) => u.id).join(', ')}; batch snapshot of ${snapshot.profiles} profiles taken; audiences ${audienceIds.join(', ')}.`;
}
const demo = await seedDemo();

console.log(`
Real-time personalization platform (${backends.kind === 'memory' ? 'embedded in-memory stores' : `${backends.kind} at ${env['REDIS_URL'] ?? env['REDIS_CLUSTER_NODES']}`})

  ${production ? 'Gateway                 ' : 'Gateway + Apollo Sandbox'}   ${gateway.url}/graphql
  Profile subgraph           ${profile.url}/graphql
  Recommendations subgraph   ${recommendations.url}/graphql  (${recommendations.service.catalog.size} catalog items, model ${recommendations.service.config.defaultModel})
  Experiments subgraph       ${experiments.url}/graphql  (running: ${(await experiments.service.list('RUNNING')).map((e) => e.key).join(', ') || 'none'})
  Audiences subgraph         ${audiences.url}/graphql  (${(await audiences.service.list()).length} audiences)
  Events API                 POST ${profile.url}/v1/events

${demo}
Try:  { user(id: "u1") { id profile { version genreAffinities { key score } } assignments { experimentKey variant } recommendedFor(limit: 5) { model variant items { position reasons item { title } } } } }
Audiences (service token):  { user(id: "u1") { id audiences { since audience { id name } } } }
Live membership (service token, over ws://):  subscription { audienceMembershipChanged(audienceId: "crime-bingers") { entered reason at user { id profile { version } } } }
${await authHelp()}
Ctrl-C stops everything.
`);

onShutdown(() => platform.close());
