/**
 * A keep-alive undici connection pool to one HTTP endpoint, for the services' own requests to
 * each other (the gateway's subgraph fetches, the audiences' profile reads): undici's pool instead
 * of the global fetch, which builds a Request, a Response, Headers and an abort signal with its
 * timer for every call. One timeout bounds connecting, the headers and the body.
 */
import { Pool } from 'undici';

export interface EndpointPool {
  pool: Pool;
  /** The endpoint's path and query, to request on the pool. */
  path: string;
}

export function endpointPool(endpoint: string, options: { connections: number; timeoutMs: number }): EndpointPool {
  const url = new URL(endpoint);
  const { connections, timeoutMs } = options;
  return {
    pool: new Pool(url.origin, { connections, keepAliveTimeout: 30_000, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connect: { timeout: timeoutMs } }),
    path: `${url.pathname}${url.search}`,
  };
}
