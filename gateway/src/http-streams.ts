/**
 * Subscriptions over plain HTTP responses: Server-Sent Events (the graphql-sse protocol's
 * distinct connections mode, which `EventSource` also reads) and Apollo's multipart subscription
 * protocol. Both write one operation's results until either side ends, with heartbeats, and both
 * end at the caller's token expiry with an UNAUTHENTICATED error (graphql-ws closes its socket
 * with 4401 then), so no stream outlives the credential that opened it.
 *
 * Resumable: an SSE `next` event of a subscription whose state has a version (profileUpdated)
 * carries that version as its event `id`. A client that reconnects sends it back as
 * `Last-Event-ID` (EventSource does so by itself), and `resumeDocument` turns it into the
 * subscription's `sinceVersion`: the current state is sent at once when it is newer.
 */
import type { FastifyReply } from 'fastify';
import { GraphQLError, Kind, visit } from 'graphql';
import type { DocumentNode, ExecutionResult, FieldNode, OperationDefinitionNode } from 'graphql';

/** Subscriptions that can resume from a version: the argument that takes it, and where results carry it. */
const RESUMABLE: Readonly<Record<string, { argument: string; version: (value: Record<string, unknown>) => unknown }>> = {
  profileUpdated: { argument: 'sinceVersion', version: (value) => value['version'] },
};

/** A subscription's root field (its first selection, when that is a field); none for other operations. */
export function subscriptionRootField(operation: OperationDefinitionNode | null | undefined): FieldNode | undefined {
  if (operation?.operation !== 'subscription') return undefined;
  const field = operation.selectionSet.selections[0];
  return field?.kind === Kind.FIELD ? field : undefined;
}

/** The operation's one root field, when it is a resumable subscription. */
function resumableRoot(operation: OperationDefinitionNode | null | undefined) {
  const field = subscriptionRootField(operation);
  if (!field || !RESUMABLE[field.name.value]) return undefined;
  return { field, responseKey: field.alias?.value ?? field.name.value, ...RESUMABLE[field.name.value]! };
}

/**
 * The event id of a result: the version of the state it carries (when the subscription has one
 * and the client selected `version`), else none.
 */
export function eventIdOf(operation: OperationDefinitionNode | null | undefined): (result: ExecutionResult) => string | undefined {
  const root = resumableRoot(operation);
  if (!root) return () => undefined;
  return (result) => {
    const value = result.data?.[root.responseKey];
    const version = value && typeof value === 'object' ? root.version(value as Record<string, unknown>) : undefined;
    return typeof version === 'number' && Number.isSafeInteger(version) ? String(version) : undefined;
  };
}

/**
 * The document with the resumable subscription's version argument set from a `Last-Event-ID`
 * (what the client last saw, so it wins over the argument the document was first sent with);
 * the document itself when the header is absent, not a version, or the operation cannot resume.
 */
export function resumeDocument(document: DocumentNode, operation: OperationDefinitionNode | null | undefined, lastEventId: string | undefined): DocumentNode {
  if (lastEventId === undefined || !/^\d{1,15}$/.test(lastEventId)) return document;
  const root = resumableRoot(operation);
  if (!root) return document;
  const argument = { kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: root.argument }, value: { kind: Kind.INT, value: String(Number(lastEventId)) } } as const;
  return visit(document, {
    Field: (node) =>
      node === root.field ? { ...node, arguments: [...(node.arguments ?? []).filter((a) => a.name.value !== root.argument), argument] } : undefined,
  });
}

/** How one protocol frames a stream. */
interface Framing {
  headers: Record<string, string>;
  /** Written once, first. */
  start: string;
  /** Written every heartbeatMs. */
  heartbeat: string;
  heartbeatMs: number;
  result(result: ExecutionResult, id: string | undefined): string;
  /** An error that ends the stream (the token expired, the subscription failed). */
  fatal(error: GraphQLError): string;
  /** The last thing written. */
  end: string;
}

/**
 * A multipart part ends with the boundary that follows it: a reader can only tell a part is
 * complete when it sees the next boundary, so each part is written with its closing one (as
 * Apollo Router does), and a message is never held back until the next event or heartbeat.
 */
const multipartPart = (json: string) => `\r\ncontent-type: application/json; charset=utf-8\r\n\r\n${json}\r\n--graphql`;

/** Apollo's multipart subscriptions: a JSON part per result, `{}` as heartbeat (every 5 s). */
export const MULTIPART: Framing = {
  headers: { 'content-type': 'multipart/mixed;boundary="graphql";subscriptionSpec="1.0"' },
  start: `\r\n--graphql${multipartPart('{}')}`,
  heartbeat: multipartPart('{}'),
  heartbeatMs: 5000,
  result: (result, _id) => multipartPart(JSON.stringify({ payload: result })),
  // A transport-level error in Apollo's spec: Apollo Client ends the subscription with it.
  fatal: (error) => multipartPart(JSON.stringify({ payload: null, errors: [error] })),
  // After the last part's boundary: `--` makes it the closing one.
  end: '--\r\n',
};

/**
 * graphql-sse's distinct connections mode: `next` events, then `complete`; a comment line every
 * 12 s (as graphql-sse's own server), and `retry` tells EventSource to reconnect after 1 s.
 */
export const SSE: Framing = {
  headers: { 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive', 'x-accel-buffering': 'no' },
  start: 'retry: 1000\n:\n\n',
  heartbeat: ':\n\n',
  heartbeatMs: 12_000,
  result: (result, id) => `${id === undefined ? '' : `id: ${id}\n`}event: next\ndata: ${JSON.stringify(result)}\n\n`,
  fatal: (error) => SSE.result({ errors: [error] }, undefined),
  end: 'event: complete\ndata: \n\n',
};

export interface StreamOptions {
  /** When the caller's token (or stream ticket) expires, epoch ms. */
  expiresAt?: number | undefined;
  eventId?: (result: ExecutionResult) => string | undefined;
}

/** setTimeout's longest delay (about 24.8 days); longer ones would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Calls `fn` at epoch time `at`, however far away; returns what cancels it. */
export function callAt(at: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const left = at - Date.now();
    if (left <= 0) return fn();
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    timer.unref();
  };
  timer = setTimeout(arm, 0);
  timer.unref();
  return () => clearTimeout(timer);
}

const expired = () => new GraphQLError('token expired: subscribe again with a fresh token', { extensions: { code: 'UNAUTHENTICATED' } });

/**
 * Writes a subscription's results in a protocol's framing until the results end, the client
 * goes away, or the caller's token expires. The reply's headers so far (CORS) are kept.
 */
export async function streamResults(reply: FastifyReply, results: AsyncIterableIterator<ExecutionResult>, framing: Framing, options: StreamOptions = {}): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { ...(reply.getHeaders() as Record<string, string>), 'cache-control': 'no-cache', ...framing.headers });
  const write = (chunk: string) => void (res.writableEnded || res.write(chunk));
  write(framing.start);
  const heartbeat = setInterval(() => write(framing.heartbeat), framing.heartbeatMs);
  heartbeat.unref();
  const closed = () => void results.return?.();
  res.once('close', closed);
  let stopExpiry = () => undefined as void;
  if (options.expiresAt !== undefined) {
    stopExpiry = callAt(options.expiresAt, () => {
      write(framing.fatal(expired()));
      void results.return?.();
    });
  }
  const idOf = options.eventId ?? (() => undefined);
  try {
    for await (const result of results) write(framing.result(result, idOf(result)));
  } catch (err) {
    write(framing.fatal(err instanceof GraphQLError ? err : new GraphQLError('the subscription failed; subscribe again')));
  } finally {
    clearInterval(heartbeat);
    stopExpiry();
    res.off('close', closed);
    if (!res.writableEnded) res.end(framing.end);
  }
}
