/**
 * GraphQL over Server-Sent Events at the gateway (graphql-sse, distinct connections mode), driven
 * by graphql-sse's own client: the same auth, limits, plans and per-event fetches as graphql-ws.
 */
import { createClient } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoItemRef } from '../../demo/catalog.js';
import { startTestPlatform, tokenFor } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';
import { until } from '../helpers/wait.js';

const LIVE = `subscription Live($id: ID!) { profileUpdated(userId: $id) { version user { id recommendedFor(limit: 3) { model items { item { id } } } } } }`;
const INGEST = `mutation Ingest($events: [EventInput!]!) { ingestEvents(events: $events, wait: true) { accepted } }`;

describe('GraphQL over SSE through the gateway', () => {
  let p: TestPlatform;
  let service: string;
  beforeAll(async () => {
    p = await startTestPlatform({ env: { AUTH_DISABLED: '0' } });
    service = await tokenFor('sse-backend', 'service');
  });
  afterAll(async () => {
    await p?.close();
  });
  const streamUrl = () => p.gatewayUrl.replace(/\/graphql$/, '/graphql/stream');

  it('delivers a profile update with fields of other subgraphs to graphql-sse\'s client', async () => {
    const user = 'sse-user';
    const client = createClient({ url: streamUrl(), headers: { authorization: `Bearer ${await tokenFor(user, 'user')}` }, retryAttempts: 0 });
    const messages: any[] = [];
    let error: unknown;
    const stop = client.subscribe({ query: LIVE, variables: { id: user } }, { next: (m) => void messages.push(m), error: (e) => void (error = e), complete: () => undefined });
    try {
      // The stream is open once an event reaches it: keep ingesting until one arrives.
      let n = 0;
      await until(async () => {
        await p.query(INGEST, { events: [{ eventId: `sse-${++n}`, userId: user, type: 'PLAY', occurredAt: new Date().toISOString(), item: demoItemRef('m-dead-drop') }] }, { authorization: `Bearer ${service}` });
        return messages.length > 0 || error !== undefined;
      }, 10_000, 'an SSE message');
      expect(error).toBeUndefined();
      const update = messages[0].data.profileUpdated;
      expect(update.user.id).toBe(user);
      expect(update.user.recommendedFor.items.length).toBeGreaterThan(0);
    } finally {
      stop();
      client.dispose();
    }
  });

  it('answers queries too, and refuses a missing or bad token with 401 and a code, another user\'s data with FORBIDDEN', async () => {
    const res = await fetch(streamUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: LIVE, variables: { id: 'x' } }),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
    const bad = await fetch(streamUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: 'Bearer nope' },
      body: JSON.stringify({ query: '{ me { id } }' }),
    });
    expect(bad.status).toBe(401);

    const client = createClient({ url: streamUrl(), headers: { authorization: `Bearer ${await tokenFor('sse-reader', 'user')}` }, retryAttempts: 0 });
    try {
      const results: any[] = [];
      for await (const r of client.iterate({ query: '{ me { id } }' })) results.push(r);
      expect(results).toEqual([{ data: { me: { id: 'sse-reader' } } }]);
      const refused: any[] = [];
      for await (const r of client.iterate({ query: LIVE, variables: { id: 'someone-else' } })) refused.push(r);
      expect(JSON.stringify(refused)).toContain('FORBIDDEN');
    } finally {
      client.dispose();
    }
  });
});
