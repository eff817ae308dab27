/**
 * The Health view: ingest rate, stream backlog per consumer group, live subscriptions and event
 * loop lag, read from each service's Prometheus /metrics (the graph has no operator fields), which
 * the console server passes through in development. Rates are differences between two scrapes.
 */
import { useEffect, useState } from 'react';
import type { ConsoleConfig } from '../config-types';
import { Empty, ErrorNote, Loading, Panel } from '../ui/status';
import { parsePrometheus, sum } from './prometheus';
import type { Sample } from './prometheus';

const SCRAPE_EVERY_MS = 2000;

interface Scrape {
  at: number;
  services: Record<string, Sample[] | string>;
}

function useScrapes(services: string[]): { current: Scrape | null; previous: Scrape | null } {
  const [scrapes, setScrapes] = useState<{ current: Scrape | null; previous: Scrape | null }>({ current: null, previous: null });
  useEffect(() => {
    let stopped = false;
    const scrape = async () => {
      const entries = await Promise.all(
        services.map(async (s) => {
          const res = await fetch(`/metrics/${encodeURIComponent(s)}`).catch(() => null);
          return [s, res?.ok ? parsePrometheus(await res.text()) : `no answer${res ? ` (HTTP ${res.status})` : ''}`] as const;
        }),
      );
      if (!stopped) setScrapes((prev) => ({ previous: prev.current, current: { at: performance.now(), services: Object.fromEntries(entries) } }));
    };
    void scrape();
    const timer = setInterval(() => void scrape(), SCRAPE_EVERY_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [services.join(',')]);
  return scrapes;
}

function samplesOf(scrape: Scrape | null, service: string): Sample[] {
  const s = scrape?.services[service];
  return Array.isArray(s) ? s : [];
}

/** Per second between two scrapes of a counter; null until there are two. */
function rate(current: Scrape | null, previous: Scrape | null, service: string, name: string, where: Record<string, string> = {}): number | null {
  if (!current || !previous) return null;
  const now = sum(samplesOf(current, service), name, where);
  const before = sum(samplesOf(previous, service), name, where);
  if (now == null || before == null) return null;
  return Math.max(0, now - before) / ((current.at - previous.at) / 1000);
}

/** Series about stream backlog: any metric with a consumer group label whose name speaks of lag or pending entries. */
function backlogSeries(samples: Sample[]): Sample[] {
  return samples.filter((s) => ('group' in s.labels || 'consumer_group' in s.labels) && /lag|pending|backlog/.test(s.name));
}

export function HealthView({ config }: { config: ConsoleConfig }) {
  if (config.metricsServices.length === 0) {
    return <Empty>The console reads metrics only in development. In production scrape each service's /metrics with Prometheus.</Empty>;
  }
  return <HealthPanels services={config.metricsServices} />;
}

function HealthPanels({ services }: { services: string[] }) {
  const { current, previous } = useScrapes(services);
  if (!current) return <Loading what="metrics" />;
  const failed = Object.entries(current.services).filter(([, v]) => typeof v === 'string');
  const fmt = (v: number | null, unit: string) => (v == null ? '—' : `${v.toFixed(1)} ${unit}`);
  const backlog = backlogSeries(samplesOf(current, 'profile')).concat(backlogSeries(samplesOf(current, 'audiences')));
  return (
    <div className="health">
      {failed.map(([s, why]) => <ErrorNote key={s} title={s} error={why} />)}
      <Panel title="Throughput" labelId="throughput">
        <dl className="tiles">
          <div><dt>events ingested</dt><dd data-testid="ingest-rate">{fmt(rate(current, previous, 'profile', 'ingest_events_total', { outcome: 'accepted' }), '/s')}</dd></div>
          <div><dt>events rejected</dt><dd>{fmt(rate(current, previous, 'profile', 'ingest_events_total', { outcome: 'rejected' }), '/s')}</dd></div>
          <div><dt>unit events</dt><dd>{fmt(rate(current, previous, 'experiments', 'unit_events_total', { outcome: 'accepted' }), '/s')}</dd></div>
          <div><dt>audience changes</dt><dd>{fmt(rate(current, previous, 'audiences', 'audience_membership_changes_total'), '/s')}</dd></div>
          <div><dt>live subscriptions (gateway)</dt><dd data-testid="live-subscriptions">{sum(samplesOf(current, 'gateway'), 'live_subscriptions') ?? '—'}</dd></div>
        </dl>
      </Panel>
      <Panel title="Stream backlog per consumer group" labelId="backlog">
        {backlog.length === 0 ? (
          <p className="empty">No consumer group reports a backlog yet (stream_lag and stream_pending appear once a group reads a stream).</p>
        ) : (
          <table>
            <thead><tr><th scope="col">metric</th><th scope="col">group</th><th scope="col">labels</th><th scope="col">value</th></tr></thead>
            <tbody>
              {backlog.map((s, i) => (
                <tr key={i}><th scope="row">{s.name}</th><td>{s.labels['group'] ?? s.labels['consumer_group']}</td><td>{Object.entries(s.labels).filter(([k]) => !['group', 'consumer_group', 'service'].includes(k)).map(([k, v]) => `${k}=${v}`).join(' ')}</td><td>{s.value}</td></tr>
              ))}
            </tbody>
          </table>
        )}
      </Panel>
      <Panel title="Event loop lag" labelId="loop-lag">
        <table>
          <thead><tr><th scope="col">service</th><th scope="col">lag</th><th scope="col">p99</th></tr></thead>
          <tbody>
            {services.map((s) => {
              const samples = samplesOf(current, s);
              const ms = (v: number | null) => (v == null ? '—' : `${(v * 1000).toFixed(1)} ms`);
              return <tr key={s}><th scope="row">{s}</th><td>{ms(sum(samples, 'nodejs_eventloop_lag_seconds'))}</td><td>{ms(sum(samples, 'nodejs_eventloop_lag_p99_seconds'))}</td></tr>;
            })}
          </tbody>
        </table>
      </Panel>
    </div>
  );
}
