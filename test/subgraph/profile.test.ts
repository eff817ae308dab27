/** The profile subgraph on its own: the events API over real HTTP, entity batching, production mode. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProfileServer } from '../../subgraphs/profile/src/server.js';
import type { ProfileServer } from '../../subgraphs/profile/src/server.js';
import { createMemoryStores } from '../../subgraphs/profile/src/store/memory.js';
import type { ProfileStores } from '../../subgraphs/profile/src/store/ports.js';
import { graphql, testProfileConfig } from '../helpers/platform.js';

const play = (userId: string, eventId: string, extra: Record<string, unknown> = {}) => ({
  eventId,
  userId,
  type: 'PLAY',
  occurredAt: new Date().toISOString(),
  item: { id: 'ep-flatmates-1', kind: 'EPISODE', genres: ['Comedy'], seriesId: 'series-flatmates', episode: 1 },
  ...extra,
});

async function postEvents(server: ProfileServer, body: string, contentType = 'application/json') {
  const res = await fetch(`${server.url}/v1/events`, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: res.status, body: (await res.json()) as any };
}

describe('POST /v1/events', () => {
  let server: ProfileServer;
  let getManyCalls: string[][];
  let stores: ProfileStores;

  beforeAll(async () => {
    stores = createMemoryStores({ dedupeTtlMs: 60_000 });
    getManyCalls = [];
    const getMany = stores.profiles.getMany.bind(stores.profiles);
    stores.profiles.getMany = async (ids) => {
      getManyCalls.push([...ids]);
      return getMany(ids);
    };
    server = await startProfileServer(testProfileConfig(), { stores });
  });
  afterAll(() => server?.close());

  it('accepts a valid batch', async () => {
    const res = await postEvents(server, JSON.stringify({ events: [play('h1', 'h-1'), play('h1', 'h-2')] }));
    expect(res).toEqual({ status: 200, body: { accepted: 2, duplicates: 0, rejected: [], applied: true } });
  });

  it('reports duplicates, and rejections per event while accepting the rest', async () => {
    const res = await postEvents(
      server,
      JSON.stringify({ events: [play('h1', 'h-1'), play('h2', 'h-3'), play('h2', 'h-3'), { ...play('h2', 'h-4'), type: 'NAP' }] }),
    );
    expect(res.status).toBe(200);
    expect(res.body.accepted).toBe(1);
    expect(res.body.duplicates).toBe(2);
    // Event ids are unique per user: another user's event with the same id is its own event.
    const other = await postEvents(server, JSON.stringify({ events: [play('h2', 'h-1')] }));
    expect(other.body).toMatchObject({ accepted: 1, duplicates: 0 });
    expect(res.body.rejected).toEqual([{ index: 3, eventId: 'h-4', code: 'TYPE_INVALID', message: expect.any(String) }]);
  });

  it('answers 400 with a reason per event when nothing is accepted', async () => {
    const res = await postEvents(server, JSON.stringify({ events: [{ eventId: 'x' }, 42] }));
    expect(res.status).toBe(400);
    expect(res.body.rejected.map((r: { code: string }) => r.code)).toEqual(['USER_ID_INVALID', 'EVENT_INVALID']);
  });

  it('rejects malformed JSON, wrong shapes and wrong media types clearly', async () => {
    expect(await postEvents(server, '{"events": [')).toMatchObject({ status: 400, body: { error: { code: 'MALFORMED_JSON' } } });
    expect(await postEvents(server, '[1,2]')).toMatchObject({ status: 400, body: { error: { code: 'BATCH_INVALID' } } });
    expect(await postEvents(server, '{"events": {}}')).toMatchObject({ status: 400, body: { error: { code: 'BATCH_INVALID' } } });
    expect(await postEvents(server, 'events=1', 'text/plain')).toMatchObject({ status: 415, body: { error: { code: 'UNSUPPORTED_MEDIA_TYPE' } } });
  });

  it('rejects batches over 1,000 events or 1 MB with 413', async () => {
    const many = Array.from({ length: 1001 }, (_, i) => play('h3', `big-${i}`));
    expect(await postEvents(server, JSON.stringify({ events: many }))).toMatchObject({
      status: 413,
      body: { error: { code: 'BATCH_TOO_LARGE' } },
    });
    const padding = 'x'.repeat(3000);
    const huge = Array.from({ length: 400 }, (_, i) => play('h3', `huge-${i}`, { properties: { padding } }));
    const res = await postEvents(server, JSON.stringify({ events: huge }));
    expect(res.status).toBe(413);
    expect(['PAYLOAD_TOO_LARGE', 'BATCH_TOO_LARGE']).toContain(res.body.error.code);
  });

  it('resolves many User entities with one store call (DataLoader)', async () => {
    getManyCalls.length = 0;
    const representations = ['h1', 'h2', 'h3', 'nobody'].map((id) => ({ __typename: 'User', id }));
    const res = await graphql(
      `${server.url}/graphql`,
      `query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { id profile { version } } } }`,
      { r: representations },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data._entities.map((u: any) => u.profile.version)).toEqual([2, 2, 0, 0]);
    expect(getManyCalls).toEqual([['h1', 'h2', 'h3', 'nobody']]);
  });

  it('rejects bad list limits with a code', async () => {
    const res = await graphql(`${server.url}/graphql`, `{ user(id: "h1") { profile { genreAffinities(limit: 1000) { key } } } }`);
    expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('production mode', () => {
  let server: ProfileServer;
  beforeAll(async () => {
    server = await startProfileServer(testProfileConfig({ production: true }));
  });
  afterAll(() => server?.close());

  it('turns off the landing page and introspection', async () => {
    const page = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(await page.text()).not.toMatch(/sandbox/i);
    const res = await graphql(`${server.url}/graphql`, '{ __schema { types { name } } }');
    expect(res.errors?.[0]?.message).toMatch(/introspection/i);
  });
});
