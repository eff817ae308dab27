/** Waiting for a condition in tests: readiness, never a fixed time. */
import { vi } from 'vitest';

/** Resolves once `check` holds (polled every 20 ms); fails after `timeoutMs` naming `what`. */
export function until(check: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'the condition'): Promise<void> {
  return vi.waitFor(
    async () => {
      if (!(await check())) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    },
    { timeout: timeoutMs, interval: 20 },
  );
}
