/**
 * What serveGraphqlWs (lib/graphql/ws.ts) puts on the wire, over a real socket: a result handed to
 * several subscriptions (as the gateway's shared subscriptions do) is serialized once, and every
 * message is still exactly the one graphql-ws would have sent (ids with characters JSON escapes,
 * errors as GraphQLError's toJSON, messages of one loop turn written together arrive whole and in
 * order).
 */
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { buildSchema, GraphQLError } from 'graphql';
import type { ExecutionResult } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { serveGraphqlWs } from '../../lib/graphql/ws.js';

const schema = buildSchema(`type Query { ok: Boolean } type Subscription { tick: Int }`);

/** What the next subscription to start is handed: the results it yields, in order. */
let script: ExecutionResult[] = [];

let app: FastifyInstance;
let url: string;

beforeAll(async () => {
  app = Fastify();
  serveGraphqlWs(
    app,
    {
      schema,
      // Every subscription yields the very objects in `script`, as a shared subscription does.
      subscribe: () => {
        const results = script;
        return (async function* () {
          for (const r of results) yield r;
        })();
      },
    },
    { maxPayload: 1 << 20 },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address() as { port: number };
  url = `ws://127.0.0.1:${address.port}/graphql`;
});

afterAll(async () => {
  await app.close();
});

/** A raw graphql-transport-ws connection: the exact text of every message it receives. */
async function connect(): Promise<{ ws: WebSocket; messages: string[]; until(count: (m: string[]) => boolean): Promise<void> }> {
  const ws = new WebSocket(url, 'graphql-transport-ws');
  const messages: string[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (data) => {
    messages.push(String(data));
    for (const w of waiters.splice(0)) w();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const until = async (done: (m: string[]) => boolean) => {
    while (!done(messages)) await new Promise<void>((r) => waiters.push(r));
  };
  ws.send(JSON.stringify({ type: 'connection_init' }));
  await until((m) => m.some((x) => JSON.parse(x).type === 'connection_ack'));
  messages.length = 0;
  return { ws, messages, until };
}

const subscribe = (ws: WebSocket, id: string) => ws.send(JSON.stringify({ id, type: 'subscribe', payload: { query: 'subscription { tick }' } }));
const ofType = (messages: string[], type: string) => messages.filter((m) => JSON.parse(m).type === type);

describe('graphql-ws sends', () => {
  it('serializes a result handed to several subscriptions once, and sends it to each', async () => {
    let serialized = 0;
    const shared = { data: { tick: 1 }, toJSON: () => (serialized++, { data: { tick: 1 } }) } as unknown as ExecutionResult;
    script = [shared];
    const { ws, messages, until } = await connect();
    for (const id of ['a', 'b', 'c']) subscribe(ws, id);
    await until((m) => ofType(m, 'complete').length === 3);
    const nexts = ofType(messages, 'next').sort();
    expect(nexts).toEqual(['a', 'b', 'c'].map((id) => JSON.stringify({ id, type: 'next', payload: { data: { tick: 1 } } })));
    // graphql-ws would have serialized a copy per message (3).
    expect(serialized).toBe(1);
    ws.close();
  });

  it('sends exactly what graphql-ws would: ids JSON escapes, errors as their toJSON, then complete', async () => {
    const error = new GraphQLError('bad tick', { extensions: { code: 'BAD_TICK' }, path: ['tick'] });
    script = [{ data: { tick: 2 } }, { data: { tick: null }, errors: [error] }];
    const { ws, messages, until } = await connect();
    const id = 'quote" back\\slash \u2028 é \u0000';
    subscribe(ws, id);
    await until((m) => ofType(m, 'complete').length === 1);
    expect(messages).toEqual([
      JSON.stringify({ id, type: 'next', payload: { data: { tick: 2 } } }),
      JSON.stringify({ id, type: 'next', payload: { data: { tick: null }, errors: [error.toJSON()] } }),
      JSON.stringify({ id, type: 'complete' }),
    ]);
    ws.close();
  });

  it('delivers many messages sent in one turn whole and in order on every socket', async () => {
    script = Array.from({ length: 200 }, (_, i) => ({ data: { tick: i } }));
    const sockets = await Promise.all([connect(), connect()]);
    for (const s of sockets) for (let k = 0; k < 5; k++) subscribe(s.ws, `s${k}`);
    await Promise.all(sockets.map((s) => s.until((m) => ofType(m, 'complete').length === 5)));
    for (const s of sockets) {
      for (let k = 0; k < 5; k++) {
        const ticks = ofType(s.messages, 'next')
          .map((m) => JSON.parse(m) as { id: string; payload: { data: { tick: number } } })
          .filter((m) => m.id === `s${k}`)
          .map((m) => m.payload.data.tick);
        expect(ticks).toEqual(script.map((_, i) => i));
      }
      s.ws.close();
    }
  });
});
