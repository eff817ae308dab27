/**
 * Click → re-ranked row on screen: started when an event is sent, stopped on the first animation
 * frame after a row ranked on a newer profile version was committed to the DOM (so the time
 * includes ingest, apply, the push through the gateway, the re-rank and React's render).
 */
import { useCallback, useLayoutEffect, useRef, useState } from 'react';

export interface RerankTiming {
  /** Milliseconds of the last completed measurement. */
  lastMs: number | null;
  waiting: boolean;
  start(versionAtClick: number): void;
}

export function useRerankTimer(rowVersion: number | null): RerankTiming {
  const pending = useRef<{ startedAt: number; version: number } | null>(null);
  const [lastMs, setLastMs] = useState<number | null>(null);
  const [waiting, setWaiting] = useState(false);
  const start = useCallback((versionAtClick: number) => {
    pending.current = { startedAt: performance.now(), version: versionAtClick };
    setWaiting(true);
  }, []);
  useLayoutEffect(() => {
    const p = pending.current;
    if (!p || rowVersion == null || rowVersion <= p.version) return;
    pending.current = null;
    requestAnimationFrame(() => {
      setLastMs(performance.now() - p.startedAt);
      setWaiting(false);
    });
  }, [rowVersion]);
  return { lastMs, waiting, start };
}
