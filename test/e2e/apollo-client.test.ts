/**
 * Apollo Client 4 against the gateway: subscriptions over Apollo's multipart HTTP protocol with a
 * plain HttpLink (what Apollo Router serves), and the normalized cache staying correct: a
 * subscription update changes what a cached query returns, and two users' profile items never
 * merge into one cache entry.
 */
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoItemRef } from '../../demo/catalog.js';
import { startTestPlatform, tokenFor } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';
import { until } from '../helpers/wait.js';

const PROFILE = gql`query Profile($id: ID!) { user(id: $id) { id profile { version recentItems(limit: 5) { item { itemId title } } } } }`;
const LIVE = gql`subscription Live($id: ID!) { profileUpdated(userId: $id) { version user { id profile { version recentItems(limit: 5) { item { itemId title } } } } } }`;
const INGEST = `mutation Ingest($events: [EventInput!]!) { ingestEvents(events: $events, wait: true) { accepted } }`;

describe('Apollo Client through the gateway', () => {
  let p: TestPlatform;
  let service: string;
  let seq = 0;
  beforeAll(async () => {
    p = await startTestPlatform({ env: { AUTH_DISABLED: '0' } });
    service = await tokenFor('ac-backend', 'service');
  });
  afterAll(async () => {
    await p?.close();
  });
  const play = (userId: string, itemId: string, title?: string) =>
    p.query(INGEST, { events: [{ eventId: `ac-${++seq}`, userId, type: 'PLAY', occurredAt: new Date().toISOString(), item: { ...demoItemRef(itemId), ...(title ? { title } : {}) } }] }, { authorization: `Bearer ${service}` });
  const clientFor = (token: string) => new ApolloClient({ link: new HttpLink({ uri: p.gatewayUrl, headers: { authorization: `Bearer ${token}` } }), cache: new InMemoryCache() });

  it('a multipart subscription update changes what the cached query returns', async () => {
    const user = 'ac-live';
    await play(user, 'm-dead-drop');
    const client = clientFor(service);
    const first = await client.query<any>({ query: PROFILE, variables: { id: user } });
    expect(first.data!.user.profile.version).toBe(1);
    const seen: number[] = [];
    let error: unknown;
    const sub = client.subscribe<any>({ query: LIVE, variables: { id: user } }).subscribe({ next: (r) => r.data && seen.push(r.data.profileUpdated.version), error: (e) => (error = e) });
    try {
      await until(async () => {
        await play(user, 'm-the-fence');
        return seen.length > 0 || error !== undefined;
      }, 10_000, 'a multipart message');
      expect(error).toBeUndefined();
      // The update was normalized into User:ac-live: the cached query sees the new version.
      const cached = client.readQuery<any>({ query: PROFILE, variables: { id: user } });
      expect(cached!.user.profile.version).toBe(Math.max(...seen));
    } finally {
      sub.unsubscribe();
      client.stop();
    }
  });

  it('two users\' items with the same id stay apart in one cache', async () => {
    await play('ac-alice', 'ep-harbor-files-1', 'Alice sees this title');
    await play('ac-bob', 'ep-harbor-files-1', 'Bob sees another');
    const client = clientFor(service);
    try {
      const alice = await client.query<any>({ query: PROFILE, variables: { id: 'ac-alice' } });
      await client.query<any>({ query: PROFILE, variables: { id: 'ac-bob' } });
      const again = client.readQuery<any>({ query: PROFILE, variables: { id: 'ac-alice' } });
      expect(again!.user.profile.recentItems[0].item.title).toBe(alice.data!.user.profile.recentItems[0].item.title);
      expect(again!.user.profile.recentItems[0].item.title).toBe('Alice sees this title');
    } finally {
      client.stop();
    }
  });

  it('refuses a multipart subscription without a token with 401 UNAUTHENTICATED', async () => {
    const res = await fetch(p.gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'multipart/mixed;subscriptionSpec="1.0",application/json' },
      body: JSON.stringify({ query: 'subscription { profileUpdated(userId: "x") { version } }' }),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
  });
});
