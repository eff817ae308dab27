/**
 * `npm start`'s background SIMULATION: after the banner, a few hundred synthetic users drive the
 * platform through the gateway for a couple of minutes (run.ts, as `npm run simulate` does), so
 * the seeded experiment's results, and the console's lift chart, fill live. On by default only
 * where demo data is seeded outside production; never in production unless DEMO_SIMULATION_USERS
 * asks for it.
 */
import { mintToken } from '../lib/auth.js';
import type { AuthConfig } from '../lib/auth.js';
import { envDuration, envInt } from '../lib/env.js';
import { simulate, simulatedUserId } from './run.js';
import type { SimulationSummary } from './run.js';

export interface DemoTrafficConfig {
  users: number;
  durationMs: number;
  concurrency: number;
  pauseMs: number;
  seed: number;
}

/**
 * The defaults: 300 users put about 150 in each arm of a 50/50 experiment (above the analysis's
 * default minimumExposedUsers of 100, so verdicts show, not only intervals) within the first
 * seconds; 4 workers pausing 100 ms keep the machine free for a person using the console.
 */
export const DEMO_TRAFFIC_DEFAULTS = { users: 300, duration: '2m', concurrency: 4, pauseMs: 100 } as const;

/** A fixed seed: the same synthetic users on every start (a Redis that keeps them does not collect more). */
const DEMO_SEED = 1;

/** What `npm start` runs in the background (null: nothing), from env, and the banner's line about it. */
export function planDemoTraffic(
  env: NodeJS.ProcessEnv,
  { production, demoData, auth }: { production: boolean; demoData: boolean; auth: AuthConfig },
): { config: DemoTrafficConfig | null; label: string } {
  const asked = (env['DEMO_SIMULATION_USERS'] ?? '') !== '';
  const users = envInt(env, 'DEMO_SIMULATION_USERS', demoData && !production ? DEMO_TRAFFIC_DEFAULTS.users : 0, 0, 100_000);
  const durationMs = envDuration(env, 'DEMO_SIMULATION_DURATION', DEMO_TRAFFIC_DEFAULTS.duration);
  const concurrency = envInt(env, 'DEMO_SIMULATION_CONCURRENCY', DEMO_TRAFFIC_DEFAULTS.concurrency, 1, 256);
  if (users === 0 || (production && !asked)) {
    return { config: null, label: `Simulated traffic: off (${asked ? 'DEMO_SIMULATION_USERS=0' : 'on by default only with demo data outside production'}).` };
  }
  if (!auth.jwtSecret) return { config: null, label: 'Simulated traffic: off (it signs its tokens with JWT_SECRET, and tokens here come from JWKS_URL).' };
  const config = { users, durationMs, concurrency, pauseMs: DEMO_TRAFFIC_DEFAULTS.pauseMs, seed: DEMO_SEED };
  return { config, label: describeDemoTraffic(config) };
}

export interface DemoTraffic {
  /** Aborts the run and waits for it to end. */
  stop(): Promise<void>;
  /** Settles when the run ends: its summary (`aborted` when stopped), or null when it failed (logged). */
  done: Promise<SimulationSummary | null>;
}

const minutes = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`);

export function describeDemoTraffic(config: DemoTrafficConfig): string {
  return `Simulated traffic: ${config.users} synthetic users (${simulatedUserId(config.seed, 0)} … ${simulatedUserId(config.seed, config.users - 1)}) for ${minutes(config.durationMs)} through the gateway, so the experiment's results fill live — a simulation, not real users. DEMO_SIMULATION_USERS=0 turns it off.`;
}

/**
 * Starts the run in the background; `log` hears when it ends. Its service token has a subject of
 * its own (`demo-simulator`): the gateway's rate limit is per subject, so the run never spends
 * the rate of the demo service token a person uses in the console or Sandbox.
 */
export function startDemoTraffic(options: {
  gatewayUrl: string;
  auth: AuthConfig;
  config: DemoTrafficConfig;
  experimentKey: string;
  log?: (line: string) => void;
}): DemoTraffic {
  const { gatewayUrl, auth, config, experimentKey } = options;
  const log = options.log ?? console.log;
  const controller = new AbortController();
  const done = simulate({
    gatewayUrl,
    users: config.users,
    durationMs: config.durationMs,
    seed: config.seed,
    concurrency: config.concurrency,
    pauseMs: config.pauseMs,
    experimentKey,
    mintToken: (claims) => mintToken(auth, claims),
    serviceSubject: 'demo-simulator',
    signal: controller.signal,
  }).then(
    (summary) => {
      if (!summary.aborted) log(finished(summary, experimentKey));
      return summary;
    },
    (err: Error) => {
      log(`Simulated traffic stopped: ${err.message}`);
      return null;
    },
  );
  return {
    done,
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

function finished(s: SimulationSummary, experimentKey: string): string {
  const variants = (s.results as { all?: { variants: Array<{ variant: string; exposedUsers: number }> } } | null | undefined)?.all?.variants;
  const exposed = variants ? `; ${experimentKey} exposed ${variants.map((v) => `${v.variant} ${v.exposedUsers}`).join(', ')}` : '';
  return `Simulated traffic finished: ${s.sessions} sessions (${s.clicks} clicks, ${s.plays} play events, ${s.errors} errors)${exposed} — a simulation, not real users.`;
}
