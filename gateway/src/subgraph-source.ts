/**
 * The gateway's data source for one subgraph: a GraphQL-over-HTTP POST on undici's connection
 * pool. It replaces @apollo/gateway's RemoteGraphQLDataSource, which builds node-fetch Headers
 * and a node-fetch Request (with a body stream) for every fetch on top of the fetch call itself;
 * on the gateway's hot path that was the largest source of garbage. Semantics kept from it: the
 * caller's identity, request id and trace context (W3C traceparent) are forwarded, a non-2xx answer becomes a GraphQLError
 * `<status>: <text>` (UNAUTHENTICATED / FORBIDDEN / PAYLOAD_TOO_LARGE for 401 / 403 / 413) unless
 * its body is a GraphQL answer (whose errors are passed on), and a body that is not a JSON object
 * is an error. A subgraph that cannot be reached or does not answer in time yields
 * SUBGRAPH_UNAVAILABLE / SUBGRAPH_TIMEOUT for that fetch only. Errors name the subgraph, never
 * its URL or address, nor repeat what it answered.
 */
import { STATUS_CODES } from 'node:http';
import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { GraphQLError } from 'graphql';
import type { Dispatcher, Pool } from 'undici';
import type { GatewayContext } from './gateway.js';
import { IDENTITY_HEADER } from '../../lib/auth.js';
import { endpointPool } from '../../lib/http/pool.js';
import { injectTraceHeaders } from '../../lib/tracing.js';

type Response = Awaited<ReturnType<GraphQLDataSource<GatewayContext>['process']>>;

/** Codes of a subgraph's non-GraphQL error answers (what the caller can act on). */
const STATUS_ERROR_CODES: Record<number, string> = { 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 413: 'PAYLOAD_TOO_LARGE' };

const isGraphQLResponse = (body: unknown): boolean =>
  typeof body === 'object' && body !== null && !Array.isArray(body) && Array.isArray((body as { errors?: unknown }).errors);

export interface SubgraphSourceOptions {
  /** The subgraph's name in the supergraph (named in errors). */
  name: string;
  /** The subgraph's GraphQL endpoint (http://host:port/path). */
  url: string;
  /** Most concurrent connections to this subgraph. */
  connections: number;
  /** Milliseconds to wait for the subgraph's answer before failing the fetch. */
  timeoutMs: number;
}

export class SubgraphSource implements GraphQLDataSource<GatewayContext> {
  private readonly pool: Pool;
  private readonly path: string;

  constructor(private readonly options: SubgraphSourceOptions) {
    ({ pool: this.pool, path: this.path } = endpointPool(options.url, options));
  }

  async process(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<Response> {
    const { request, context } = options;
    if (!request.query) throw new Error('Missing query');
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (request.http?.headers) for (const [name, value] of request.http.headers) headers[name.toLowerCase()] = value;
    if (context?.requestId) headers['x-request-id'] = context.requestId;
    // The active span (@apollo/gateway's gateway.fetch) as the subgraph's parent: W3C traceparent.
    injectTraceHeaders(headers);
    // The verified caller, as the internal token only the gateway can mint (lib/auth.ts).
    if (context?.identityToken) headers[IDENTITY_HEADER] = context.identityToken;
    const body = JSON.stringify({
      query: request.query,
      variables: request.variables,
      ...(request.operationName ? { operationName: request.operationName } : {}),
      ...(request.extensions ? { extensions: request.extensions } : {}),
    });
    let response: Dispatcher.ResponseData;
    let parsed: unknown;
    try {
      response = await this.pool.request({ path: this.path, method: 'POST', headers, body });
      const contentType = String(response.headers['content-type'] ?? '');
      const json = contentType.startsWith('application/json') || contentType.startsWith('application/graphql-response+json');
      parsed = json ? await response.body.json() : await response.body.text();
    } catch (err) {
      // Unreachable or too slow: an error for this fetch only (Apollo adds the service name and the
      // path), so the rest of the operation is still answered.
      return this.failure(err);
    }
    if (response.statusCode < 200 || response.statusCode >= 300) {
      // A GraphQL answer with an error status (a subgraph's 400 BAD_USER_INPUT, 401, 403): its errors, as sent.
      if (isGraphQLResponse(parsed)) return parsed as Response;
      const status = response.statusCode;
      const code = STATUS_ERROR_CODES[status];
      throw new GraphQLError(
        status === 413 ? `the request is larger than the ${this.options.name} subgraph accepts` : `${status}: ${STATUS_CODES[status] ?? ''}`,
        { extensions: { ...(code ? { code } : {}), serviceName: this.options.name, status } },
      );
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new GraphQLError(`subgraph "${this.options.name}" answered with a body that is not a JSON object`, { extensions: { serviceName: this.options.name } });
    }
    return parsed as Response;
  }

  private failure(err: unknown): Response {
    const code = (err as { code?: string }).code ?? '';
    const timeout = /TIMEOUT/.test(code);
    const message = timeout
      ? `subgraph "${this.options.name}" did not answer within ${this.options.timeoutMs} ms`
      : `subgraph "${this.options.name}" is unavailable (${code || 'unreachable'})`;
    return { data: null, errors: [new GraphQLError(message, { extensions: { code: timeout ? 'SUBGRAPH_TIMEOUT' : 'SUBGRAPH_UNAVAILABLE', serviceName: this.options.name } })] } as unknown as Response;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
