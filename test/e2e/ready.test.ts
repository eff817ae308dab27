/**
 * /health (alive) and /ready (can serve) on every service: ready when its store answers, its
 * consumer groups have joined (and, at the gateway, the supergraph is loaded); 503 naming the
 * check, never the error, when not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../lib/eventlog/memory.js';
import { consumerGroupReady } from '../../lib/eventlog/ready.js';
import { createMemoryStores } from '../../subgraphs/profile/src/store/memory.js';
import { startTestPlatform } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';

describe('/ready on every service', () => {
  let p: TestPlatform;
  let broken = false;
  beforeAll(async () => {
    const stores = createMemoryStores({ dedupeTtlMs: 60_000 });
    const getMany = stores.profiles.getMany.bind(stores.profiles);
    // The profile store fails on demand, as a Redis that went away would.
    stores.profiles.getMany = (ids) => (broken ? Promise.reject(new Error('connect ECONNREFUSED 10.0.0.7:6379')) : getMany(ids));
    p = await startTestPlatform({ profileStores: stores, env: { SEED_RANKING_EXPERIMENT: 'false' } });
  });
  afterAll(async () => {
    await p?.close();
  });

  it('answers 200 with every check ok on the gateway and each subgraph', async () => {
    const urls = { gateway: p.gateway.url, profile: p.profile.url, recommendations: p.recommendations.url, experiments: p.experiments.url, audiences: p.audiences.url };
    for (const [name, url] of Object.entries(urls)) {
      const res = await fetch(`${url}/ready`);
      const body = (await res.json()) as { status: string; service: string; checks: Record<string, string> };
      expect(res.status, name).toBe(200);
      expect(body.status).toBe('ready');
      expect(Object.values(body.checks).every((c) => c === 'ok'), JSON.stringify(body)).toBe(true);
    }
    // Each consumer says its consumer group has joined.
    const checksOf = async (url: string) => ((await (await fetch(`${url}/ready`)).json()) as { checks: Record<string, string> }).checks;
    // The profile's updater group only when events are applied from the stream in this process.
    const { mode } = (await (await fetch(`${p.profile.url}/health`)).json()) as { mode: string };
    expect(await checksOf(p.profile.url)).toEqual(mode === 'stream' ? { profileStore: 'ok', updaterGroup: 'ok' } : { profileStore: 'ok' });
    expect(await checksOf(p.audiences.url)).toMatchObject({ audienceStore: 'ok', profileChangesGroup: 'ok' });
    expect(await checksOf(p.recommendations.url)).toMatchObject({ trendingGroup: 'ok' });
  });

  it('a consumer group check fails until its consumer has joined every partition', async () => {
    const log = new MemoryEventLog();
    const ready = consumerGroupReady(log, 'late-group');
    await expect(ready()).rejects.toThrow(/has not joined/);
    const consumer = log.consume('late-group', () => undefined);
    try {
      await expect(ready()).resolves.toBeUndefined();
    } finally {
      await consumer.stop();
      await log.close();
    }
  });

  it('answers 503 naming the failed check, without the error (no internal address)', async () => {
    broken = true;
    try {
      const res = await fetch(`${p.profile.url}/ready`);
      const text = await res.text();
      expect(res.status).toBe(503);
      expect(JSON.parse(text)).toMatchObject({ status: 'not ready', checks: { profileStore: 'unavailable' } });
      expect(text).not.toContain('10.0.0.7');
      // Alive all the same.
      expect((await fetch(`${p.profile.url}/health`)).status).toBe(200);
    } finally {
      broken = false;
    }
  });
});
