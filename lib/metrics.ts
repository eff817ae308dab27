/**
 * Prometheus metrics (prom-client), one registry per service: the platform runs every service
 * in one process, and each must expose only its own at its `/metrics`. Every service gets the
 * Node runtime metrics, HTTP request durations by route and status, GraphQL request durations by
 * operation name and outcome, and the process's Redis errors by kind; services add their own
 * through `counter`, `histogram` and `gauge`, and event-log gauges through `eventLogs`. Label values are bounded: routes are Fastify's route patterns, and
 * operation names beyond the first MAX_OPERATION_NAMES are counted as `other` (clients choose
 * them); no user id is ever a label.
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CounterConfiguration, GaugeConfiguration, HistogramConfiguration } from 'prom-client';
import type { EventLog, PartitionInfo } from './eventlog/port.js';
import { redisErrorCounts } from './redis/connection.js';

const MAX_OPERATION_NAMES = 100;
/** Seconds: from a fast in-memory answer to a slow fan-out. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class ServiceMetrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly graphqlDuration: Histogram<'operation' | 'outcome'>;
  private readonly operationNames = new Set<string>();

  constructor(readonly service: string) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry });
    this.httpDuration = this.histogram({ name: 'http_request_duration_seconds', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status_code'] });
    this.graphqlDuration = this.histogram({ name: 'graphql_request_duration_seconds', help: 'GraphQL requests by operation name and outcome (ok, error)', labelNames: ['operation', 'outcome'] });
    this.counter({
      name: 'redis_command_errors_total',
      help: 'Redis errors of this process by kind (connection, command: no answer, reply: an error answer); 0 without Redis',
      labelNames: ['kind'],
      collect() {
        this.reset();
        for (const [kind, n] of Object.entries(redisErrorCounts)) this.inc({ kind }, n);
      },
    });
  }

  /**
   * Gauges of event logs, read at each scrape: entries retained per partition, and per consumer
   * group and partition the entries pending (delivered, not acknowledged) and the lag (not yet
   * delivered). `logs` names each log (a bounded label, as are groups and partitions). The logs
   * are read once per scrape; a log that cannot be read (Redis away) is left out of that scrape.
   */
  eventLogs(logs: Record<string, EventLog<any>>): void {
    let reading: Promise<Array<[string, PartitionInfo[] | null]>> | undefined;
    // The three gauges are collected side by side: they share one read of the logs.
    const read = () =>
      (reading ??= Promise.all(Object.entries(logs).map(async ([name, log]) => [name, await log.info().catch(() => null)] as [string, PartitionInfo[] | null])).finally(() =>
        setImmediate(() => (reading = undefined)),
      ));
    this.gauge({ name: 'stream_length', help: 'Entries retained per event log partition', labelNames: ['log', 'partition'], async collect() {
      this.reset();
      for (const [log, parts] of await read()) for (const p of parts ?? []) this.set({ log, partition: String(p.partition) }, p.length);
    } });
    this.gauge({ name: 'stream_pending', help: 'Entries delivered to a consumer group and not yet acknowledged, per partition', labelNames: ['log', 'group', 'partition'], async collect() {
      this.reset();
      for (const [log, parts] of await read()) for (const p of parts ?? []) for (const g of p.groups) this.set({ log, group: g.group, partition: String(p.partition) }, g.pending);
    } });
    this.gauge({ name: 'stream_lag', help: 'Entries appended that a consumer group has not been delivered yet, per partition', labelNames: ['log', 'group', 'partition'], async collect() {
      this.reset();
      for (const [log, parts] of await read()) for (const p of parts ?? []) for (const g of p.groups) if (g.lag !== null) this.set({ log, group: g.group, partition: String(p.partition) }, g.lag);
    } });
  }

  counter<L extends string>(config: Omit<CounterConfiguration<L>, 'registers'>): Counter<L> {
    return new Counter({ ...config, registers: [this.registry] });
  }
  histogram<L extends string>(config: Omit<HistogramConfiguration<L>, 'registers'>): Histogram<L> {
    return new Histogram({ buckets: LATENCY_BUCKETS, ...config, registers: [this.registry] });
  }
  gauge<L extends string>(config: Omit<GaugeConfiguration<L>, 'registers'>): Gauge<L> {
    return new Gauge({ ...config, registers: [this.registry] });
  }

  /** An operation name as a label: the first MAX_OPERATION_NAMES seen, then `other`. */
  private operationLabel(name: string | null | undefined): string {
    if (!name) return 'anonymous';
    if (this.operationNames.has(name)) return name;
    if (this.operationNames.size >= MAX_OPERATION_NAMES) return 'other';
    this.operationNames.add(name);
    return name;
  }

  /** Times every GraphQL request by its operation name and whether it had errors. */
  apolloPlugin<Ctx extends BaseContext>(): ApolloServerPlugin<Ctx> {
    return {
      requestDidStart: async () => {
        const started = process.hrtime.bigint();
        return {
          willSendResponse: async (rc) => {
            const seconds = Number(process.hrtime.bigint() - started) / 1e9;
            const outcome = rc.errors?.length || (rc.response.body.kind === 'single' && rc.response.body.singleResult.errors?.length) ? 'error' : 'ok';
            this.graphqlDuration.observe({ operation: this.operationLabel(rc.operationName), outcome }, seconds);
          },
        };
      },
    };
  }
}
