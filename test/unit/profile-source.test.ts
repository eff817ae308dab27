/**
 * The audiences' ProfileSource against a real loopback HTTP server standing in for the profile
 * subgraph: what it sends (the service's internal token, the query) and how it reads each kind of
 * answer. A GraphQL error with a code reaches the caller as that code; anything else (an error
 * without a code, a non-JSON answer, a non-2xx status, no server at all) is STORE_UNAVAILABLE, so
 * the notice is delivered again.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDENTITY_HEADER, InternalTokens, loadAuthConfig } from '../../lib/auth.js';
import { ProfileSource } from '../../subgraphs/audiences/src/app/profile-source.js';

const auth = loadAuthConfig({});
type Handler = (body: { query: string; variables: Record<string, unknown> }, req: IncomingMessage, res: ServerResponse) => void;

describe('ProfileSource (the profile read through the graph)', () => {
  let server: Server;
  let url: string;
  let handler: Handler = () => undefined;
  let source: ProfileSource;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => handler(JSON.parse(text) as Parameters<Handler>[0], req, res));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    source = new ProfileSource({ url, auth, timeoutMs: 2000 });
  });
  afterAll(async () => {
    await source.close();
    await new Promise((r) => server.close(r));
  });

  const answer = (status: number, body: string, type = 'application/json'): Handler => (_b, _req, res) => res.writeHead(status, { 'content-type': type }).end(body);

  it('fetches the entities with the service identity and maps each to a view', async () => {
    let seen: { identity: string | undefined; variables: Record<string, unknown>; path: string | undefined } | null = null;
    handler = (body, req, res) => {
      seen = { identity: req.headers[IDENTITY_HEADER] as string | undefined, variables: body.variables, path: req.url };
      const doc = { version: 3, lastEventAt: 1000, traits: { plan: 'premium' }, computed: [{ name: 'plays-7d', value: 2 }], skus: [] };
      answer(200, JSON.stringify({ data: { _entities: [{ id: 'u1', profile: { ruleDocument: doc } }, null] } }))(body, req, res);
    };
    const views = await source.profiles(['u1', 'u2'], ['plays-7d'], 5000);
    expect(seen!.path).toBe('/graphql');
    expect(seen!.variables).toEqual({ representations: [{ __typename: 'User', id: 'u1' }, { __typename: 'User', id: 'u2' }], traits: ['plays-7d'] });
    expect(await new InternalTokens(auth).verify(seen!.identity)).toMatchObject({ sub: 'audiences-subgraph', roles: ['service'] });
    expect(views[0]).toMatchObject({ userId: 'u1', version: 3, lastEventAt: 1000, traits: { plan: 'premium' }, asOf: 5000 });
    expect(views[0]!.computed['plays-7d']).toEqual({ name: 'plays-7d', value: 2 });
    // No stored profile: version 0, nothing in it.
    expect(views[1]).toMatchObject({ userId: 'u2', version: 0, lastEventAt: null, traits: {} });
  });

  it('passes on the profile’s own coded errors, and makes everything else STORE_UNAVAILABLE', async () => {
    handler = answer(200, JSON.stringify({ errors: [{ message: 'window too long', extensions: { code: 'TRAIT_INVALID' } }] }));
    await expect(source.definedTraits()).rejects.toMatchObject({ code: 'TRAIT_INVALID', message: 'window too long' });
    handler = answer(200, JSON.stringify({ errors: [{ message: 'boom', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] }));
    await expect(source.definedTraits()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    handler = answer(502, 'Bad Gateway', 'text/plain');
    await expect(source.definedTraits()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    handler = answer(503, JSON.stringify({ data: null }));
    await expect(source.definedTraits()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    // The connection is still usable after those answers.
    handler = answer(200, JSON.stringify({ data: { computedTraitDefinitions: [{ name: 'a' }, { name: 'b' }] } }));
    expect(await source.definedTraits()).toEqual(new Set(['a', 'b']));
  });

  it('is STORE_UNAVAILABLE when nothing listens, and when the answer does not come in time', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const nowhere = new ProfileSource({ url: `http://127.0.0.1:${port}/graphql`, auth, timeoutMs: 2000 });
    await expect(nowhere.definedTraits()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await nowhere.close();
    const slow = new ProfileSource({ url, auth, timeoutMs: 200 });
    handler = () => undefined; // never answers
    await expect(slow.definedTraits()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await slow.close().catch(() => undefined);
  });
});
