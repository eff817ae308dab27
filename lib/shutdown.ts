import { envInt } from './env.js';

/** Default of SHUTDOWN_GRACE_MS: how long a graceful shutdown may take before the process exits anyway. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

/**
 * Runs cleanup once on SIGINT/SIGTERM, then exits 0. Cleanup is the services' close(): they stop
 * accepting connections, let in-flight requests finish and close graphql-ws sockets with 1001
 * (see lib/http/drain.ts). If it has not finished after SHUTDOWN_GRACE_MS (or fails), the process
 * exits 1; a second signal exits 1 at once.
 */
export function onShutdown(
  cleanup: () => Promise<void>,
  log: (msg: string) => void = console.log,
  graceMs: number = envInt(process.env, 'SHUTDOWN_GRACE_MS', DEFAULT_SHUTDOWN_GRACE_MS, 0),
): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      log(`${signal} received again, exiting now`);
      process.exit(1);
    }
    stopping = true;
    log(`${signal} received, shutting down (grace period ${graceMs} ms)`);
    const timer = setTimeout(() => {
      log(`shutdown did not finish within ${graceMs} ms (SHUTDOWN_GRACE_MS), exiting`);
      process.exit(1);
    }, graceMs);
    timer.unref();
    cleanup().then(
      () => process.exit(0),
      (err) => {
        console.error('shutdown failed', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
