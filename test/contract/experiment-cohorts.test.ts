/**
 * Experiment results by cohort (audience membership when assigned, before exposure) on memory,
 * Redis and Redis Cluster: the assignment records the user's audiences in the same step, and
 * results(unitId, audienceId) count only the cohort's users, whatever they join later.
 */
import { describe, expect, it } from 'vitest';
import { issueImpression } from '../../lib/contracts/impression.js';
import { ExperimentService } from '../../subgraphs/experiments/src/app/experiment-service.js';
import { DEFAULT_UNIT_EVENT_LIMITS } from '../../subgraphs/experiments/src/domain/unit-events.js';
import { createMemoryExperimentStores } from '../../subgraphs/experiments/src/store/memory.js';
import { createRedisExperimentStores } from '../../subgraphs/experiments/src/store/redis.js';
import { perTestRedis, redisTargets } from '../helpers/redis.js';

const SECRET = 'cohort-test-secret-0123456789';

for (const target of [null, ...redisTargets()]) {
  describe(`results by cohort (${target?.name ?? 'memory'})`, () => {
    const redis = perTestRedis(target);

    it('counts the users who were in the audience when assigned, not those who joined later', async ({ skip }) => {
      redis.require(skip);
      const stores = target ? createRedisExperimentStores(redis.connect(), redis.freshPrefix()) : createMemoryExperimentStores();
      const service = new ExperimentService(stores, SECRET, Date.now, 0, DEFAULT_UNIT_EVENT_LIMITS);
      await service.create({ key: 'exp', name: 'Exp', variants: [{ key: 'control', weight: 0.5 }, { key: 'treatment', weight: 0.5 }] });
      await service.start('exp');
      // 40 users: the even ones are crime bingers when assigned; the odd ones are not.
      const users = Array.from({ length: 40 }, (_, i) => ({ userId: `u${i}`, traits: { audiences: i % 2 === 0 ? ['crime-bingers', 'premium'] : [] } }));
      const assigned = await service.assignMany(users);
      // Later the odd users join the audience: their sticky assignment does not move them into the cohort.
      await service.assignMany(users.map((u) => ({ ...u, traits: { audiences: ['crime-bingers'] } })));
      const events = users.flatMap((u, i) => {
        const variant = assigned[i]![0]!.variant;
        const impressionId = issueImpression({ userId: u.userId, unitId: 'home', model: 'REALTIME', experimentKey: 'exp', variant, itemIds: ['a', 'b'], issuedAt: Date.now() }, SECRET);
        return [
          { eventId: `i-${i}`, impressionId, type: 'IMPRESSION' },
          // Only the cohort clicks.
          ...(i % 2 === 0 ? [{ eventId: `c-${i}`, impressionId, type: 'CLICK', position: 1, itemId: 'a' }] : []),
        ];
      });
      const tracked = await service.track(events);
      expect(tracked.rejected).toEqual([]);

      const all = await service.results('exp', null);
      const cohort = await service.results('exp', 'home', 'crime-bingers');
      const exposed = (r: typeof all) => r.variants.reduce((n, v) => n + v.exposedUsers, 0);
      expect(exposed(all)).toBe(40);
      expect(cohort.audienceId).toBe('crime-bingers');
      expect(exposed(cohort)).toBe(20);
      expect(cohort.variants.reduce((n, v) => n + v.assignedUsers, 0)).toBe(20);
      for (const v of cohort.variants) if (v.exposedUsers > 0) expect(v.ctr).toBe(1);
      const none = await service.results('exp', null, 'nobody');
      expect(exposed(none)).toBe(0);
    });
  });
}
