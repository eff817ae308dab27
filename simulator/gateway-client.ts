/**
 * How the simulator calls the gateway: GraphQL over HTTP with a bearer token, waiting as long as
 * the gateway says when its per-caller rate limit refuses a call (RATE_LIMITED, retryAfterMs), as
 * a real client would, and giving up at once when the run is aborted.
 */
import { setTimeout } from 'node:timers/promises';

/** How often a call refused by the gateway's per-caller rate limit is tried again. */
export const RATE_LIMIT_RETRIES = 50;

interface GraphQLBody<T> {
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string; retryAfterMs?: number } }>;
}

export type GraphQLCall = <T = any>(query: string, variables: Record<string, unknown>, token: string) => Promise<T>;

/** Only a gateway on this machine: synthetic traffic never goes to a shared or production API. */
export function assertLoopback(gatewayUrl: string): void {
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(new URL(gatewayUrl).hostname)) {
    throw new Error(`the simulator drives only loopback gateways, not ${gatewayUrl}`);
  }
}

/**
 * fetch() leaves its listener on the signal it is given until that signal is collected: each call
 * gets a signal of its own, aborted with the run's, so a long run does not pile listeners onto one.
 */
async function post<T>(url: string, init: RequestInit, signal: AbortSignal | undefined): Promise<GraphQLBody<T>> {
  if (!signal) return (await (await fetch(url, init)).json()) as GraphQLBody<T>;
  signal.throwIfAborted();
  const call = new AbortController();
  const abort = () => call.abort(signal.reason);
  signal.addEventListener('abort', abort, { once: true });
  try {
    return (await (await fetch(url, { ...init, signal: call.signal })).json()) as GraphQLBody<T>;
  } finally {
    signal.removeEventListener('abort', abort);
  }
}

export function gatewayClient(gatewayUrl: string, signal?: AbortSignal): GraphQLCall {
  return async function gql<T>(query: string, variables: Record<string, unknown>, token: string): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const init = {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      };
      const body = await post<T>(gatewayUrl, init, signal);
      const limited = body.errors?.find((e) => e.extensions?.code === 'RATE_LIMITED');
      if (limited && attempt < RATE_LIMIT_RETRIES) {
        await setTimeout(Math.max(1, limited.extensions?.retryAfterMs ?? 10), undefined, signal ? { signal } : {});
        continue;
      }
      if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join('; '));
      return body.data as T;
    }
  };
}
