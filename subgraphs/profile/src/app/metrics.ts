/**
 * The profile's own metrics, the same in the HTTP service and in a separate updater process
 * (`npm run start:profile-updater`): ingestion outcomes and the latency from an event's
 * acceptance to its profile's change.
 */
import type { ServiceMetrics } from '../../../../lib/metrics.js';
import type { ProfileServiceOptions } from './profile-service.js';

export function profileObserver(metrics: ServiceMetrics): NonNullable<ProfileServiceOptions['observe']> {
  const ingested = metrics.counter({ name: 'ingest_events_total', help: 'Events ingested, by outcome (accepted, duplicate, rejected) and rejection code', labelNames: ['outcome', 'code'] });
  const applyLatency = metrics.histogram({ name: 'profile_apply_latency_seconds', help: 'Event accepted → applied to its profile' });
  return {
    ingested: (accepted, duplicates, codes) => {
      if (accepted) ingested.inc({ outcome: 'accepted', code: '' }, accepted);
      if (duplicates) ingested.inc({ outcome: 'duplicate', code: '' }, duplicates);
      for (const code of codes) ingested.inc({ outcome: 'rejected', code });
    },
    applied: (latencies) => {
      for (const ms of latencies) applyLatency.observe(Math.max(0, ms) / 1000);
    },
  };
}
