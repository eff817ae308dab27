/**
 * `npm start`: the whole platform in one process on the embedded in-memory stores, seeded with the
 * demo catalog and users. Each service also runs alone (`npm run start:<service>`). With
 * NODE_ENV=production it prints no credentials and seeds no demo users (DEMO_DATA=true to seed).
 */
import { onShutdown } from '../lib/shutdown.js';
import { loadAuthConfig } from '../lib/auth.js';
import { envBool, envInt, envString, isProduction } from '../lib/env.js';
import { DEMO_USERS } from '../demo/history.js';
import { startPlatform } from './platform.js';
import { mintDemoTokens, seedDemoData } from './demo.js';
import type { DemoTokens } from './demo.js';
import { ensureConsoleBuilt } from '../console/build.js';
import { startConsoleServer } from '../console/server.js';
import type { DemoToken } from '../console/server.js';
import { planDemoTraffic, startDemoTraffic } from '../simulator/demo-traffic.js';

const env = process.env;
const production = isProduction(env);
const auth = loadAuthConfig(env);
const demoData = envBool(env, 'DEMO_DATA', !production);
// Synthetic users (labelled a simulation) so the seeded experiment's results fill live; read now, so a bad setting fails before anything starts.
const traffic = planDemoTraffic(env, { production, demoData, auth });

/** How to call the platform: demo tokens when this process can mint them. */
function authHelp(tokens: DemoTokens | null): string {
  if (auth.disabled) return 'Auth is OFF (AUTH_DISABLED=1): every call acts as a service. For local exploration only.';
  if (!auth.jwtSecret) return 'Auth: tokens come from your identity provider (JWKS_URL); send Authorization: Bearer <JWT>.';
  if (!tokens) return 'Auth: every operation needs a JWT signed with JWT_SECRET (no demo tokens are printed in production).';
  // u1 may be in the control variant (the batch ranking): a treatment user shows the live one.
  const live = tokens.treatment;
  const liveLine = live ? `
  user ${live.id} (treatment: its row is ranked live)${' '.repeat(Math.max(1, 25 - live.id.length))}Bearer ${live.token}` : '';
  return `Auth: every operation needs a JWT. Demo tokens (12 h, signed with ${auth.developmentSecrets ? 'the development JWT_SECRET' : 'JWT_SECRET'}):
  user u1 (reads only u1, records its own unit events; ${tokens.u1IsTreatment ? 'treatment: live row' : 'control: batch row'})   Bearer ${tokens.user}${liveLine}
  service (ingests, reads anyone, experiments, catalog)  Bearer ${tokens.service}
In Sandbox open the Headers tab (or Settings → Shared headers) and set  Authorization: Bearer <token>;
for subscriptions set the connection params to  {"authorization": "Bearer <token>"}.
The events API takes the service token:  curl -H 'authorization: Bearer <service token>' -H 'content-type: application/json' -d '{"events":[...]}' ${profile.url}/v1/events`;
}
/** The demo tokens the console offers at sign-in (development only). */
function consoleTokens(t: DemoTokens): DemoToken[] {
  return [
    { label: 'service: every view', role: 'service', token: t.service },
    ...(t.treatment ? [{ label: `user ${t.treatment.id} (treatment: live row)`, role: 'user' as const, token: t.treatment.token }] : []),
    { label: `user u1 (${t.u1IsTreatment ? 'treatment: live row' : 'control: batch row'})`, role: 'user', token: t.user },
  ];
}

// Embedded stores by default (one process: the subgraphs share an in-memory event log);
// Redis or Redis Cluster when REDIS_URL / REDIS_CLUSTER_NODES is set.
// The console's bundle is checked (and rebuilt when its sources changed) while the platform starts.
const consoleBuilt = ensureConsoleBuilt();
consoleBuilt.catch(() => undefined); // awaited below, where a failure is reported
const platform = await startPlatform({ env });
const { backends, gateway, profile, recommendations, experiments, audiences } = platform;
async function seedDemo(): Promise<string> {
  if (!demoData) return 'Demo data: none (DEMO_DATA=false, the default in production).';
  const seeded = await seedDemoData(platform);
  return `Demo data: ${seeded.accepted} new events (${seeded.duplicates} already there) for ${DEMO_USERS.map((u) => u.id).join(', ')}; batch snapshot of ${seeded.snapshotProfiles} profiles taken; audiences ${seeded.audienceIds.join(', ')}.`;
}
const demo = await seedDemo();
// A token printed to a production log (or served to a browser) is a credential anyone reading it can use.
const tokens = auth.disabled || !auth.jwtSecret || production ? null : await mintDemoTokens(auth, platform);
await consoleBuilt;
const consoleServer = await startConsoleServer({
  host: envString(env, 'HOST', '127.0.0.1'),
  port: envInt(env, 'CONSOLE_PORT', 4005, 0, 65535),
  gatewayUrl: envString(env, 'CONSOLE_GATEWAY_URL', gateway.url),
  production,
  demoTokens: tokens ? consoleTokens(tokens) : [],
  metricsUrls: {
    gateway: `${gateway.url}/metrics`,
    profile: `${profile.url}/metrics`,
    recommendations: `${recommendations.url}/metrics`,
    experiments: `${experiments.url}/metrics`,
    audiences: `${audiences.url}/metrics`,
  },
});

console.log(`
Real-time personalization platform (${backends.kind === 'memory' ? 'embedded in-memory stores' : `${backends.kind} at ${env['REDIS_URL'] ?? env['REDIS_CLUSTER_NODES']}`})

  ${production ? 'Gateway                 ' : 'Gateway + Apollo Sandbox'}   ${gateway.url}/graphql${production ? '' : `
  GraphiQL (works offline)   ${gateway.url}/graphiql`}
  Profile subgraph           ${profile.url}/graphql
  Recommendations subgraph   ${recommendations.url}/graphql  (${recommendations.service.catalog.size} catalog items, model ${recommendations.service.config.defaultModel})
  Experiments subgraph       ${experiments.url}/graphql  (running: ${(await experiments.service.list('RUNNING')).map((e) => e.key).join(', ') || 'none'})
  Audiences subgraph         ${audiences.url}/graphql  (${(await audiences.service.list()).length} audiences)
  Events API                 POST ${profile.url}/v1/events
  Console                    ${consoleServer.url}

${demo}
${traffic.label}
Try:  { user(id: "u1") { id profile { version genreAffinities { key score } } assignments { experimentKey variant } recommendedFor(limit: 5) { model variant items { position reasons item { title } } } } }
Audiences (service token):  { user(id: "u1") { id audiences { since audience { id name } } } }
Live membership (service token, over ws://):  subscription { audienceMembershipChanged(audienceId: "crime-bingers") { entered reason at user { id profile { version } } } }
${authHelp(tokens)}
Ctrl-C stops everything.
`);

// After the banner, so it never delays it; through the gateway, as `npm run simulate` does.
const simulation = traffic.config
  ? startDemoTraffic({ gatewayUrl: platform.gatewayUrl, auth, config: traffic.config, experimentKey: recommendations.service.config.rankingExperiment })
  : null;

onShutdown(async () => {
  await simulation?.stop();
  await consoleServer.close();
  await platform.close();
});
