/**
 * Several replicas on Redis: two gateways, each in front of its own set of subgraph replicas, on
 * two independent Redis connections sharing one key prefix. An event ingested at replica B reaches
 * a subscriber connected through gateway A (stream → updater group → Redis pub/sub → profile A →
 * gateway A), with a row re-ranked by recommendations A.
 */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createBackends } from '../../platform/backends.js';
import type { Backends } from '../../platform/backends.js';
import { startPlatform } from '../../platform/platform.js';
import type { Platform } from '../../platform/platform.js';
import { TEST_ENV } from '../helpers/platform.js';
import { REDIS_URL, deleteByPrefix, freshPrefix, redisTargets, requireTarget } from '../helpers/redis.js';
import { subscribed } from '../helpers/subscriptions.js';

describe('replicas on Redis pub/sub', () => {
  let available = true;
  let note = '';
  const prefix = freshPrefix();
  const backends: Backends[] = [];
  const replicas: Platform[] = [];

  beforeAll(async () => {
    available = await requireTarget(redisTargets()[0]!, (n) => (note = n));
    if (!available) return;
    for (let i = 0; i < 2; i++) {
      const b = createBackends({ REDIS_URL, REDIS_PREFIX: prefix, STREAM_PARTITIONS: '2' });
      backends.push(b);
      replicas.push(
        await startPlatform({
          backends: b,
          env: { ...TEST_ENV, PROFILE_PORT: '0', RECOMMENDATIONS_PORT: '0', EXPERIMENTS_PORT: '0', AUDIENCES_PORT: '0', SEED_RANKING_EXPERIMENT: 'false' },
        }),
      );
    }
  });
  afterAll(async () => {
    if (!available) return;
    for (const r of replicas) await r.close();
    await deleteByPrefix(backends[0]!.redis!, prefix);
    for (const b of backends) await b.close();
  });

  it('an event ingested at one replica reaches a subscriber of another gateway', async ({ skip }) => {
    if (!available) skip(note);
    const [a, b] = replicas as [Platform, Platform];
    const client = createClient({ url: a.gatewayUrl.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
    const messages: any[] = [];
    client.subscribe(
      { query: 'subscription { profileUpdated(userId: "replica-user") { version user { recommendedFor(limit: 3) { profileVersion items { item { id } } } } } }' },
      { next: (m) => messages.push(m), error: (e) => messages.push({ error: String(e) }), complete: () => undefined },
    );
    // Profile A's SUBSCRIBE is answered by Redis: whichever updater applies the event, its message reaches A.
    await subscribed(a, 'replica-user');
    const res = await fetch(`${b.profile.url}/v1/events?wait=applied`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        events: [{ eventId: 'replica-1', userId: 'replica-user', type: 'PLAY', occurredAt: Date.now(), item: { id: 'ep-harbor-files-1', kind: 'EPISODE', genres: ['Crime'], seriesId: 'series-harbor-files', episode: 1, metadata: { seriesTitle: 'The Harbor Files' } } }],
      }),
    });
    expect(await res.json()).toMatchObject({ accepted: 1, applied: true });
    try {
      await vi.waitFor(() => expect(messages.length).toBeGreaterThan(0), { timeout: 10_000, interval: 10 });
    } finally {
      await client.dispose();
    }
    expect(messages[0]?.errors).toBeUndefined();
    expect(messages[0]?.data?.profileUpdated?.version).toBe(1);
    const row = messages[0].data.profileUpdated.user.recommendedFor;
    expect(row.profileVersion).toBe(1);
    expect(row.items[0].item.id).toBe('ep-harbor-files-2');
  });
});
