/** Subscriptions through the gateway over graphql-ws: live profile and a re-ranked row per event. */
import { createClient } from 'graphql-ws';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoItemRef, episodeId } from '../../demo/catalog.js';
import { startTestPlatform } from '../helpers/platform.js';
import { collect, listeners, subscribed, unsubscribed } from '../helpers/subscriptions.js';
import type { TestPlatform } from '../helpers/platform.js';

const LIVE = /* GraphQL */ `
  subscription ($id: ID!) {
    profileUpdated(userId: $id) {
      version
      changed
      user {
        profile { version genreAffinities { key score } }
        recommendedFor(limit: 5) { model profileVersion items { item { id title } reasons } }
      }
    }
  }
`;

let counter = 0;
const play = (userId: string, itemId: string) => {
  const item = demoItemRef(itemId);
  return { eventId: `sub-${++counter}`, userId, type: 'PLAY', occurredAt: new Date().toISOString(), item };
};
const INGEST = `mutation ($events: [EventInput!]!) { ingestEvents(events: $events) { accepted } }`;

describe('subscriptions through the gateway', () => {
  let p: TestPlatform;
  let client: Client;

  beforeAll(async () => {
    p = await startTestPlatform({ env: { SEED_RANKING_EXPERIMENT: 'false' } });
    client = createClient({ url: p.gatewayUrl.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
  });
  afterAll(async () => {
    await client?.dispose();
    await p?.close();
  });

  it('a reconnecting client with the last version it saw gets the current state at once', async () => {
    const id = 'resume-1';
    for (const n of [1, 2]) await p.query(INGEST, { events: [play(id, episodeId('harbor-files', n))] });
    const RESUME = `subscription Resume($id: ID!, $since: Int) { profileUpdated(userId: $id, sinceVersion: $since) { version cause user { id recommendedFor(limit: 1) { profileVersion } } } }`;
    // It saw version 1 before its connection dropped: version 2 arrives with no new event.
    const behind = collect(client, RESUME, { id, since: 1 });
    await behind.until(() => behind.messages.length > 0);
    expect(behind.messages[0].data.profileUpdated).toMatchObject({ version: 2, cause: 'RESUME', user: { id, recommendedFor: { profileVersion: 2 } } });
    behind.unsubscribe();
    await unsubscribed(p, id);
    // Up to date already: nothing until the next change, which then comes as usual.
    const current = collect(client, RESUME, { id, since: 2 });
    await subscribed(p, id);
    await p.query(INGEST, { events: [play(id, episodeId('harbor-files', 3))] });
    await current.until(() => current.messages.length > 0);
    expect(current.messages.map((m) => m.data.profileUpdated.cause)).toEqual(['EVENTS']);
    expect(current.messages[0].data.profileUpdated.version).toBe(3);
    current.unsubscribe();
  });

  it('each applied event delivers the live profile and a row re-ranked on it', async () => {
    const sub = collect(client, LIVE, { id: 'live-1' });
    await subscribed(p, 'live-1');
    for (const n of [1, 2, 3]) {
      expect((await p.query(INGEST, { events: [play('live-1', episodeId('harbor-files', n))] })).data.ingestEvents.accepted).toBe(1);
      await sub.until(() => sub.messages.some((m) => m.data?.profileUpdated?.version === n));
    }
    const last = sub.messages.at(-1)!;
    expect(last.errors).toBeUndefined();
    const update = last.data.profileUpdated;
    expect(update.version).toBe(3);
    expect(update.changed).toEqual(expect.arrayContaining(['genreAffinities', 'series']));
    expect(update.user.profile.genreAffinities[0].key).toBe('Crime');
    expect(update.user.recommendedFor.profileVersion).toBe(3);
    expect(update.user.recommendedFor.items[0].item.id).toBe(episodeId('harbor-files', 4));
    expect(update.user.recommendedFor.items[0].reasons.join(' ')).toMatch(/watched 3 episodes/);
    sub.unsubscribe();
  });

  it('versions only increase under a burst (updates may be coalesced)', async () => {
    const sub = collect(client, LIVE, { id: 'burst-1' });
    await subscribed(p, 'burst-1');
    const ids = ['m-laugh-track', 'm-the-fence', 'm-stand-up-tonight', 'm-dead-drop', 'm-iron-tide', 'm-red-horizon', 'm-glass-city', 'm-river-kings'];
    await Promise.all(ids.map((id) => p.query(INGEST, { events: [play('burst-1', id)] })));
    await sub.until(() => sub.messages.some((m) => m.data?.profileUpdated?.version === ids.length));
    const versions = sub.messages.map((m) => m.data.profileUpdated.version);
    for (let i = 1; i < versions.length; i++) expect(versions[i]).toBeGreaterThan(versions[i - 1]);
    sub.unsubscribe();
  });

  it('a deletion is announced (version 0) and later updates count up again', async () => {
    const sub = collect(client, 'subscription { profileUpdated(userId: "del-1") { version cause } }', {});
    await subscribed(p, 'del-1');
    await p.query(INGEST, { events: [play('del-1', 'm-laugh-track')] });
    await sub.until(() => sub.messages.length === 1);
    await p.query(INGEST, { events: [play('del-1', 'm-the-fence')] });
    await sub.until(() => sub.messages.length === 2);
    await p.query(`mutation { deleteUser(id: "del-1") { deleted } }`);
    await sub.until(() => sub.messages.length === 3);
    await p.query(INGEST, { events: [play('del-1', 'm-dead-drop')] });
    await sub.until(() => sub.messages.length === 4);
    expect(sub.messages.map((m) => m.data.profileUpdated)).toEqual([
      { version: 1, cause: 'EVENTS' },
      { version: 2, cause: 'EVENTS' },
      { version: 0, cause: 'DELETE' },
      { version: 1, cause: 'EVENTS' },
    ]);
    sub.unsubscribe();
  });

  it('a client disconnect closes the upstream subscription (no listeners left)', async () => {
    const own = createClient({ url: p.gatewayUrl.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
    const sub = collect(own, LIVE, { id: 'leaver' });
    await subscribed(p, 'leaver');
    expect(listeners(p.profile.pubsub, 'leaver').attached).toBe(1);
    await own.dispose();
    await unsubscribed(p, 'leaver');
    expect(sub.messages).toEqual([]);
  });

  it('validates subscriptions against the API schema', async () => {
    const sub = collect(client, 'subscription { profileUpdated(userId: "x") { nope } }', {});
    await sub.until(() => sub.error() !== undefined || sub.completed());
    expect(JSON.stringify(sub.error())).toMatch(/nope/);
  });
});

describe('a subgraph restart', () => {
  it('ends the affected subscriptions with a clear error', async () => {
    const p = await startTestPlatform({ env: { SEED_RANKING_EXPERIMENT: 'false' } });
    const client = createClient({ url: p.gatewayUrl.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
    try {
      const sub = collect(client, LIVE, { id: 'orphan' });
      await subscribed(p, 'orphan');
      await p.profile.close();
      await sub.until(() => sub.messages.length > 0 || sub.error() !== undefined);
      const text = JSON.stringify(sub.messages.at(-1) ?? sub.error());
      expect(text).toMatch(/SUBSCRIPTION_UPSTREAM_CLOSED|ended the subscription/);
    } finally {
      await client.dispose();
      await p.gateway.close();
      await p.recommendations.close();
      await p.experiments.close();
    }
  });
});
