/** GraphQL POSTs to one gateway endpoint over a keep-alive pool, with the caller's credentials. */
import { Pool } from 'undici';

export interface GatewayClientOptions {
  /** Connections in the keep-alive pool. */
  connections: number;
  /** How much of the errors (or body) an error message quotes, in characters; all when unset. */
  errorChars?: number;
}

export function gatewayClient(url: string, caller: Record<string, string>, { connections, errorChars }: GatewayClientOptions) {
  const { origin, pathname } = new URL(url);
  const pool = new Pool(origin, { connections });
  const headers = { 'content-type': 'application/json', ...caller };
  return {
    async gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
      const res = await pool.request({ path: pathname, method: 'POST', headers, body: JSON.stringify({ query, variables }) });
      const body = (await res.body.json()) as { data?: T; errors?: { message: string }[] };
      if (res.statusCode !== 200 || body.errors?.length || !body.data) {
        const detail = JSON.stringify(body.errors ?? body);
        throw new Error(`gateway answered ${res.statusCode}: ${errorChars === undefined ? detail : detail.slice(0, errorChars)}`);
      }
      return body.data;
    },
    close: () => pool.close(),
  };
}

export type GatewayClient = ReturnType<typeof gatewayClient>;
