/**
 * SubgraphSource (gateway/src/subgraph-source.ts) against a real local HTTP server standing in for
 * a subgraph (node:http on 127.0.0.1, port 0): what it sends, and how each kind of answer, a
 * subgraph that does not answer in time and one that cannot be reached become results or errors
 * that name the subgraph but never its URL or address, nor repeat what it answered.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { GraphQLError } from 'graphql';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayContext } from '../../gateway/src/gateway.js';
import { SubgraphSource } from '../../gateway/src/subgraph-source.js';
import { IDENTITY_HEADER } from '../../lib/auth.js';

const NAME = 'profile';
const QUERY = 'query Me($id: ID!) { user(id: $id) { id } }';
/** Text a subgraph answers that must never reach the caller in an error. */
const SECRET = 'internal-stack-trace-at-10.0.0.7';

interface Seen {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingMessage['headers'];
  body: any;
}

/** How the fake subgraph answers the next requests (set per test). */
let respond: (res: ServerResponse, seen: Seen) => void;
const seen: Seen[] = [];
/** Answers a test left hanging, ended after it. */
const held: ServerResponse[] = [];
let server: Server;
let url: string;

const json = (status: number, body: unknown, contentType = 'application/json') => (res: ServerResponse) => {
  res.writeHead(status, { 'content-type': contentType });
  res.end(JSON.stringify(body));
};
const text = (status: number, body: string, contentType = 'text/plain') => (res: ServerResponse) => {
  res.writeHead(status, { 'content-type': contentType });
  res.end(body);
};

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (raw += chunk));
    req.on('end', () => {
      const entry: Seen = { method: req.method, url: req.url, headers: req.headers, body: raw ? JSON.parse(raw) : undefined };
      seen.push(entry);
      respond(res, entry);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql?from=gateway`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const sources: SubgraphSource[] = [];
const source = (options: Partial<{ url: string; timeoutMs: number }> = {}) => {
  const s = new SubgraphSource({ name: NAME, url, connections: 4, timeoutMs: 5_000, ...options });
  sources.push(s);
  return s;
};

afterEach(async () => {
  for (const res of held.splice(0)) res.destroy();
  await Promise.all(sources.splice(0).map((s) => s.close()));
  seen.length = 0;
});

const request = (context: Partial<GatewayContext> = { requestId: 'req-1', identity: null }, http?: Map<string, string>) =>
  ({
    request: { query: QUERY, operationName: 'Me', variables: { id: 'u1' }, ...(http ? { http: { headers: http } } : {}) },
    kind: 'INCOMING_OPERATION',
    context,
    incomingRequestContext: {},
  }) as unknown as GraphQLDataSourceProcessOptions<GatewayContext>;

/** The GraphQLError `promise` is rejected with. */
async function thrown(promise: Promise<unknown>): Promise<GraphQLError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GraphQLError);
  return err as GraphQLError;
}

/** Neither the subgraph's URL or address nor what it answered appears in `error`. */
function expectNoLeak(error: unknown) {
  const port = String((server.address() as AddressInfo).port);
  const shown = JSON.stringify(error) + String((error as { message?: string }).message ?? '');
  expect(shown).not.toContain('127.0.0.1');
  expect(shown).not.toContain(port);
  expect(shown).not.toContain('http://');
  expect(shown).not.toContain('/graphql');
  expect(shown).not.toContain(SECRET);
}

describe('SubgraphSource', () => {
  it("POSTs the operation to the subgraph's path, forwarding the identity token and the request id", async () => {
    respond = json(200, { data: { user: { id: 'u1' } } });
    const result = await source().process(
      request({ requestId: 'req-42', identity: { sub: 'alice', roles: ['user'] }, identityToken: 'signed.identity.token' }, new Map([['X-Trace-Id', 'trace-7']])),
    );
    expect(result).toEqual({ data: { user: { id: 'u1' } } });
    expect(seen).toHaveLength(1);
    const [req] = seen;
    expect(req!.method).toBe('POST');
    expect(req!.url).toBe('/graphql?from=gateway');
    expect(req!.headers[IDENTITY_HEADER]).toBe('signed.identity.token');
    expect(req!.headers['x-request-id']).toBe('req-42');
    expect(req!.headers['x-trace-id']).toBe('trace-7');
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.body).toEqual({ query: QUERY, variables: { id: 'u1' }, operationName: 'Me' });
  });

  it('sends no identity header for a caller without an identity', async () => {
    respond = json(200, { data: { user: null } });
    await source().process(request({ requestId: 'req-2', identity: null }));
    expect(seen[0]!.headers[IDENTITY_HEADER]).toBeUndefined();
    expect(seen[0]!.headers['x-request-id']).toBe('req-2');
  });

  it('reads application/graphql-response+json answers as JSON', async () => {
    respond = json(200, { data: { user: { id: 'u1' } } }, 'application/graphql-response+json; charset=utf-8');
    expect(await source().process(request())).toEqual({ data: { user: { id: 'u1' } } });
  });

  it.each([
    [401, 'UNAUTHENTICATED', '401: Unauthorized'],
    [403, 'FORBIDDEN', '403: Forbidden'],
    [413, 'PAYLOAD_TOO_LARGE', `the request is larger than the ${NAME} subgraph accepts`],
  ])('maps a non-GraphQL %i answer to %s, without the URL or the body', async (status, code, message) => {
    respond = text(status, `<html>${SECRET}</html>`, 'text/html');
    const error = await thrown(source().process(request()));
    expect(error.message).toBe(message);
    expect(error.extensions).toEqual({ code, serviceName: NAME, status });
    expectNoLeak(error);
  });

  it('maps other non-GraphQL error answers to "<status>: <text>" without a code', async () => {
    respond = json(502, { message: SECRET });
    const error = await thrown(source().process(request()));
    expect(error.message).toBe('502: Bad Gateway');
    expect(error.extensions).toEqual({ serviceName: NAME, status: 502 });
    expectNoLeak(error);
  });

  it('passes on the errors of a GraphQL answer with an error status, as sent', async () => {
    const body = { errors: [{ message: 'Variable "$id" got invalid value', extensions: { code: 'BAD_USER_INPUT' } }] };
    respond = json(400, body);
    expect(await source().process(request())).toEqual(body);
    const denied = { data: null, errors: [{ message: 'not yours', extensions: { code: 'FORBIDDEN' } }] };
    respond = json(403, denied);
    expect(await source().process(request())).toEqual(denied);
  });

  it('passes on the errors of a 200 GraphQL answer with its data', async () => {
    const body = { data: { user: null }, errors: [{ message: 'no such user', path: ['user'] }] };
    respond = json(200, body);
    expect(await source().process(request())).toEqual(body);
  });

  it.each([
    ['a text body', text(200, SECRET)],
    ['an HTML body', text(200, `<p>${SECRET}</p>`, 'text/html')],
    ['a JSON array', json(200, [SECRET])],
    ['JSON null', json(200, null)],
  ])('fails on %s: not a JSON object', async (_, answer) => {
    respond = answer;
    const error = await thrown(source().process(request()));
    expect(error.message).toBe(`subgraph "${NAME}" answered with a body that is not a JSON object`);
    expect(error.extensions).toEqual({ serviceName: NAME });
    expectNoLeak(error);
  });

  it('answers SUBGRAPH_TIMEOUT for this fetch when the subgraph sends no answer in time', async () => {
    respond = (res) => void held.push(res);
    const result = await source({ timeoutMs: 150 }).process(request());
    expect(result.data).toBeNull();
    expect(result.errors).toHaveLength(1);
    const [error] = result.errors!;
    expect(error!.message).toBe(`subgraph "${NAME}" did not answer within 150 ms`);
    expect(error!.extensions).toEqual({ code: 'SUBGRAPH_TIMEOUT', serviceName: NAME });
    expectNoLeak(error);
  });

  it('answers SUBGRAPH_TIMEOUT when the body stops coming', async () => {
    respond = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"data":');
      held.push(res);
    };
    const result = await source({ timeoutMs: 150 }).process(request());
    expect(result.data).toBeNull();
    expect(result.errors!.map((e) => e.extensions?.['code'])).toEqual(['SUBGRAPH_TIMEOUT']);
    expectNoLeak(result.errors);
  });

  it('answers SUBGRAPH_UNAVAILABLE for this fetch when the subgraph cannot be reached', async () => {
    // A port that was just free: nothing listens there.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const result = await source({ url: `http://127.0.0.1:${port}/graphql` }).process(request());
    expect(result.data).toBeNull();
    expect(result.errors).toHaveLength(1);
    const [error] = result.errors!;
    expect(error!.message).toBe(`subgraph "${NAME}" is unavailable (ECONNREFUSED)`);
    expect(error!.extensions).toEqual({ code: 'SUBGRAPH_UNAVAILABLE', serviceName: NAME });
    const shown = JSON.stringify(error) + error!.message;
    expect(shown).not.toContain('127.0.0.1');
    expect(shown).not.toContain(String(port));
  });

  it('answers SUBGRAPH_UNAVAILABLE when the subgraph drops the connection', async () => {
    respond = (res) => res.socket?.destroy();
    const result = await source().process(request());
    expect(result.data).toBeNull();
    expect(result.errors!.map((e) => e.extensions?.['code'])).toEqual(['SUBGRAPH_UNAVAILABLE']);
    expect(result.errors![0]!.message).toMatch(new RegExp(`^subgraph "${NAME}" is unavailable \\(`));
    expectNoLeak(result.errors);
  });

  it('refuses a request without a query', async () => {
    const options = request();
    (options.request as { query?: string }).query = undefined;
    await expect(source().process(options)).rejects.toThrow('Missing query');
    expect(seen).toHaveLength(0);
  });
});
