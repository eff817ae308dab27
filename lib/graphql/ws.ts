/** graphql-ws serving, shared by the gateway and the subgraphs. */
import type { FastifyInstance } from 'fastify';
import { GraphQLError } from 'graphql';
import type { Duplex } from 'node:stream';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { cachedParse, cachedValidate } from './documents.js';
import { SUGGESTION, withoutSuggestions } from './errors.js';
import { badVariables } from './variables.js';

/** How long graphql-ws clients get to answer the 1001 close before their sockets are destroyed. */
const WS_CLOSE_WAIT_MS = 2000;

/**
 * graphql-ws on the service's HTTP server at /graphql; its sockets close with the app. On close
 * every socket is closed with 1001 (Going away), so clients learn the server is leaving (and
 * graphql-ws clients with retries reconnect) rather than seeing the connection drop; sockets that
 * do not complete the close handshake within WS_CLOSE_WAIT_MS are destroyed.
 */
export interface WsLimits {
  /** Largest message in bytes (ws would otherwise take 100 MiB). */
  maxPayload: number;
  /** Most operations running at once on one connection. */
  maxOperations?: number;
  /** Production: no "Did you mean …?" in any error sent over the socket. */
  hideSuggestions?: boolean;
}

function hideSuggestionsIn<T extends { errors?: readonly { message: string }[] | undefined }>(result: T): T {
  if (!result.errors?.some((e) => SUGGESTION.test(e.message))) return result;
  return { ...result, errors: result.errors.map((e) => ({ ...e, message: withoutSuggestions(e.message) })) };
}

/**
 * What sending a `next` message costs, cut in two places (bench:fanout's gateway CPU profile had
 * graphql-ws's stringifyMessage at 6% and the write syscalls at 12% of the process):
 * - One serialization per result, however many subscriptions it goes to (the gateway hands one
 *   result to every subscriber of a shared subscription). `onNext` gives graphql-ws the result
 *   object itself (not a copy per message), and the message replacer, called first with the whole
 *   message, writes it from the result's cached JSON (`SERIALIZED`) and hands graphql-ws a
 *   placeholder (`PLACEHOLDER`) that the socket's send swaps back. graphql-ws stringifies and sends
 *   in one synchronous step, so the message prepared is always the one being sent; a send that
 *   does not follow (a socket that closed) leaves it to be replaced by the next one.
 * - One write per socket per turn of the event loop: the first frame of a turn corks the socket
 *   and the turn's end (setImmediate) uncorks it, so the frames of the results that one upstream
 *   read or one batched entity fetch completed go out in one writev, not one each. The busier the
 *   process, the more a turn holds, so this saves most where it matters.
 */
const SERIALIZED = new WeakMap<object, string>();
/** What the replacer hands graphql-ws for a prepared message, and the text graphql-ws then sends. */
const PLACEHOLDER = 0;
const PLACEHOLDER_TEXT = String(PLACEHOLDER);
let prepared: string | undefined;

function serializedResult(result: object): string {
  let json = SERIALIZED.get(result);
  if (json === undefined) {
    json = JSON.stringify(result);
    SERIALIZED.set(result, json);
  }
  return json;
}

/** graphql-ws's jsonMessageReplacer: see SERIALIZED. */
function messageReplacer(this: unknown, key: string, value: unknown): unknown {
  if (key !== '' || typeof value !== 'object' || value === null) return value;
  const message = value as { id?: unknown; type?: unknown; payload?: unknown };
  if (message.type !== 'next' || typeof message.id !== 'string' || typeof message.payload !== 'object' || message.payload === null) {
    prepared = undefined;
    return value;
  }
  prepared = `{"id":${JSON.stringify(message.id)},"type":"next","payload":${serializedResult(message.payload)}}`;
  return PLACEHOLDER;
}

/** Wraps a connection's send: prepared messages swapped in, frames of one loop turn written together. */
function batchedSends(socket: WebSocket): void {
  const raw = (socket as unknown as { _socket?: Duplex })._socket;
  const send = socket.send.bind(socket) as (data: unknown, cb?: (err?: Error) => void) => void;
  let corked = false;
  const uncork = () => {
    corked = false;
    raw?.uncork();
  };
  socket.send = ((data: unknown, cb?: (err?: Error) => void) => {
    if (data === PLACEHOLDER_TEXT && prepared !== undefined) {
      data = prepared;
      prepared = undefined;
    }
    if (raw && !corked && !raw.destroyed) {
      corked = true;
      raw.cork();
      setImmediate(uncork);
    }
    send(data, cb);
  }) as WebSocket['send'];
}

export function serveGraphqlWs<P extends Record<string, unknown>>(
  app: FastifyInstance,
  options: Parameters<typeof useServer<P>>[0],
  limits: WsLimits,
): void {
  const wss = new WebSocketServer({ server: app.server, path: '/graphql', maxPayload: limits.maxPayload });
  const maxOperations = limits.maxOperations ?? 200;
  // Before graphql-ws's own listener, so that its socket adapter calls the wrapped send.
  wss.on('connection', batchedSends);
  const server = useServer<P>(
    {
      // Documents come from the shared caches rather than a parse and validation per subscription.
      parse: (source) => cachedParse(source),
      validate: (schema, document) => cachedValidate(schema, document),
      ...options,
      jsonMessageReplacer: messageReplacer,
      // The result itself, so that one handed to several subscriptions is serialized once.
      onNext: async (ctx, id, payload, args, result) => (await options.onNext?.(ctx, id, payload, args, result)) ?? result,
      onSubscribe: async (ctx, id, payload) => {
        // The operation being started is already counted in ctx.subscriptions.
        if (Object.keys(ctx.subscriptions).length > maxOperations) {
          return [new GraphQLError(`at most ${maxOperations} operations at once on one connection`, { extensions: { code: 'TOO_MANY_OPERATIONS' } })];
        }
        const bad = badVariables(payload.variables);
        if (bad) return [bad];
        return options.onSubscribe?.(ctx, id, payload);
      },
      ...(limits.hideSuggestions
        ? {
            onNext: async (ctx, id, payload, args, result) => hideSuggestionsIn((await options.onNext?.(ctx, id, payload, args, result)) ?? result),
            onError: async (ctx, id, payload, errors) =>
              ((await options.onError?.(ctx, id, payload, errors)) ?? errors).map((e) => ({ ...e, message: withoutSuggestions(e.message) })),
          }
        : {}),
    },
    wss,
  );
  app.addHook('preClose', async () => {
    // dispose() sends close(1001, "Going away") to every client and resolves once all are closed.
    const timer = setTimeout(() => {
      for (const client of wss.clients) client.terminate();
    }, WS_CLOSE_WAIT_MS);
    try {
      await server.dispose();
    } finally {
      clearTimeout(timer);
    }
  });
}
