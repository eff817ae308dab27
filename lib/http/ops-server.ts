/**
 * The operator endpoints of a process that serves no API (the profile updater run alone):
 * /health (alive), /ready (its dependencies answer) and /metrics (Prometheus), with the same
 * JSON logs and readiness semantics as the services' HTTP shell (server.ts).
 */
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { ServiceMetrics } from '../metrics.js';
import { traceFields, tracingActive } from '../tracing.js';
import { listen, metricsHandler, readyHandler } from './server.js';

export interface OpsServerOptions {
  name: string;
  metrics: ServiceMetrics;
  ready?: Record<string, () => Promise<unknown>>;
  health?: () => Record<string, unknown>;
  logLevel?: string;
}

export async function startOpsServer(opts: OpsServerOptions, port: number, host: string): Promise<{ url: string; app: FastifyInstance; close: () => Promise<void> }> {
  const app = Fastify({ logger: { level: opts.logLevel ?? 'warn', ...(tracingActive() ? { mixin: traceFields } : {}) }, forceCloseConnections: true });
  app.get('/health', async () => ({ status: 'ok', service: opts.name, ...opts.health?.() }));
  app.get('/ready', readyHandler(opts.name, opts.ready ?? {}));
  app.get('/metrics', metricsHandler(opts.metrics));
  const url = await listen(app, port, host);
  return { url, app, close: () => app.close() };
}
