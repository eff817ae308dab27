/**
 * The demo a fresh `npm start` shows: the demo audiences, the demo users' history and a batch
 * snapshot, and tokens to call it with. Shared by `npm start` and the browser tests, so the tests
 * see what a newcomer sees.
 */
import { mintToken } from '../lib/auth.js';
import type { AuthConfig } from '../lib/auth.js';
import { DEMO_USERS, demoHistory } from '../demo/history.js';
import { seedDemoAudiences } from '../demo/audiences.js';
import { evaluate } from '../subgraphs/experiments/src/domain/assign.js';
import type { Platform } from './platform.js';

export interface DemoSeed {
  accepted: number;
  duplicates: number;
  snapshotProfiles: number;
  audienceIds: string[];
}

/** Demo events have fixed ids, so seeding again after a restart on Redis changes nothing. */
export async function seedDemoData(platform: Pick<Platform, 'profile' | 'audiences'>, now = Date.now()): Promise<DemoSeed> {
  // Before the events: the computed traits of their windows count the events applied after them.
  const audienceIds = await seedDemoAudiences(platform.audiences.service);
  const seeded = await platform.profile.service.ingest(demoHistory(now), { waitApplied: true });
  if (seeded.rejected.length > 0) throw new Error(`demo seed rejected: ${JSON.stringify(seeded.rejected)}`);
  const snapshot = await platform.profile.snapshots.run();
  return { accepted: seeded.accepted, duplicates: seeded.duplicates, snapshotProfiles: snapshot.profiles, audienceIds };
}

/** The first demo user the ranking experiment puts in a treatment variant (its assignment is GrowthBook's hash). */
export async function treatmentUser(platform: Pick<Platform, 'experiments' | 'recommendations'>): Promise<string | null> {
  const experiment = await platform.experiments.service.get(platform.recommendations.service.config.rankingExperiment);
  if (!experiment || experiment.status !== 'RUNNING') return null;
  const control = experiment.variants[0]!.key;
  return DEMO_USERS.map((u) => u.id).find((id) => {
    const a = evaluate(experiment, id, {});
    return a.inExperiment && a.variant !== control;
  }) ?? null;
}

export interface DemoTokens {
  /** u1's user token. */
  user: string;
  /** The treatment user and its token, when it is not u1. */
  treatment: { id: string; token: string } | null;
  /** True when u1 itself is in a treatment variant. */
  u1IsTreatment: boolean;
  service: string;
}

/** Development tokens (12 h) signed with the configured secret. */
export async function mintDemoTokens(auth: AuthConfig, platform: Pick<Platform, 'experiments' | 'recommendations'>): Promise<DemoTokens> {
  const live = await treatmentUser(platform);
  return {
    user: await mintToken(auth, { sub: 'u1', role: 'user' }),
    treatment: live && live !== 'u1' ? { id: live, token: await mintToken(auth, { sub: live, role: 'user' }) } : null,
    u1IsTreatment: live === 'u1',
    service: await mintToken(auth, { sub: 'demo-backend', role: 'service' }),
  };
}
