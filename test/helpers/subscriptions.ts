/** graphql-ws helpers for tests. */
import type { Client } from 'graphql-ws';

/** Subscribes and collects messages; `until` resolves when a predicate on them holds. */
export function collect(client: Client, query: string, variables: Record<string, unknown>) {
  const messages: any[] = [];
  let error: unknown;
  let completed = false;
  const waiters: Array<() => void> = [];
  const unsubscribe = client.subscribe(
    { query, variables },
    {
      next: (m) => {
        messages.push(m);
        waiters.splice(0).forEach((w) => w());
      },
      error: (e) => {
        error = e;
        waiters.splice(0).forEach((w) => w());
      },
      complete: () => {
        completed = true;
        waiters.splice(0).forEach((w) => w());
      },
    },
  );
  const until = async (check: () => boolean, timeoutMs = 5000) => {
    const end = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > end) throw new Error(`timed out; got ${JSON.stringify(messages).slice(0, 500)} error ${String(error)}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
  };
  return { messages, until, unsubscribe, error: () => error, completed: () => completed };
}

