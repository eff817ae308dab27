/** graphql-ws serving, shared by the gateway and the subgraphs. */
import type { FastifyInstance } from 'fastify';
import { GraphQLError } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
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

export function serveGraphqlWs<P extends Record<string, unknown>>(
  app: FastifyInstance,
  options: Parameters<typeof useServer<P>>[0],
  limits: WsLimits,
): void {
  const wss = new WebSocketServer({ server: app.server, path: '/graphql', maxPayload: limits.maxPayload });
  const maxOperations = limits.maxOperations ?? 200;
  const server = useServer<P>(
    {
      // Documents come from the shared caches rather than a parse and validation per subscription.
      parse: (source) => cachedParse(source),
      validate: (schema, document) => cachedValidate(schema, document),
      ...options,
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
