/** Runs cleanup once on SIGINT/SIGTERM, then exits; a second signal exits at once. */
export function onShutdown(cleanup: () => Promise<void>, log: (msg: string) => void = console.log): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    log(`${signal} received, shutting down`);
    const timer = setTimeout(() => {
      log('shutdown timed out after 10 s');
      process.exit(1);
    }, 10_000);
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
