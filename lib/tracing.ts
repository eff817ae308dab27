/**
 * OpenTelemetry traces, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (then spans go to it over
 * OTLP/HTTP through a batch processor); tests install their own processors (an in-memory
 * exporter). W3C `traceparent` carries a trace from the client through the gateway to each
 * subgraph fetch, into the event log's entries and out of the updater's apply.
 *
 * Each service traces under its own name: in a process that runs several services (`npm start`,
 * the tests) every service gets a provider whose resource names it, all feeding the same
 * processors; OTEL_SERVICE_NAME, when set, names every span of the process instead. The global
 * provider (what @apollo/gateway's own spans use) is the process's default service's.
 * Sampling follows OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (parentbased_always_on by
 * default), as the SDK reads them.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Attributes, Context, Link, Span, Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

export { SpanKind, SpanStatusCode };

interface Installed {
  /** The processors of one provider (each provider needs its own instances). */
  processors: () => SpanProcessor[];
  /** OTEL_SERVICE_NAME: one name for every span of the process. */
  fixedName: string | undefined;
  defaultService: string;
  providers: Map<string, NodeTracerProvider>;
}

let installed: Installed | undefined;

function provider(state: Installed, service: string): NodeTracerProvider {
  const name = state.fixedName ?? service;
  let p = state.providers.get(name);
  if (!p) {
    p = new NodeTracerProvider({
      resource: defaultResource().merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: name })),
      spanProcessors: state.processors(),
    });
    state.providers.set(name, p);
  }
  return p;
}

export interface TracingSetup {
  /** The service this process runs (or the one @apollo/gateway's spans belong to). */
  service: string;
  /** Span processors for each provider; default: a batch processor to the OTLP/HTTP endpoint. */
  processors?: () => SpanProcessor[];
}

/**
 * Installs tracing for the process (once; later calls are ignored): the global provider, the
 * AsyncLocalStorage context manager and the W3C trace-context propagator. Returns false, and
 * installs nothing, when no processors are given and OTEL_EXPORTER_OTLP_ENDPOINT is not set.
 */
export function startTracing(env: NodeJS.ProcessEnv, setup: TracingSetup): boolean {
  if (installed) return true;
  const processors = setup.processors ?? (env['OTEL_EXPORTER_OTLP_ENDPOINT'] || env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ? () => [new BatchSpanProcessor(new OTLPTraceExporter())] : undefined);
  if (!processors) return false;
  const state: Installed = { processors, fixedName: env['OTEL_SERVICE_NAME'] || undefined, defaultService: setup.service, providers: new Map() };
  provider(state, setup.service).register({ propagator: new W3CTraceContextPropagator() });
  installed = state;
  return true;
}

/** Whether spans are recorded in this process. */
export function tracingActive(): boolean {
  return installed !== undefined;
}

/** Flushes and stops every provider (at shutdown; a test's teardown). */
export async function stopTracing(): Promise<void> {
  const state = installed;
  installed = undefined;
  if (!state) return;
  await Promise.allSettled([...state.providers.values()].map((p) => p.shutdown()));
  trace.disable();
  context.disable();
  propagation.disable();
}

/** The tracer of a service (a no-op tracer while tracing is off). */
export function tracerFor(service: string): Tracer {
  return installed ? provider(installed, service).getTracer(service) : trace.getTracer(service);
}

/** The `traceparent` of the active span, if tracing is on and a span is active. */
export function currentTraceparent(ctx: Context = context.active()): string | undefined {
  const carrier: Record<string, string> = {};
  injectTraceHeaders(carrier, ctx);
  return carrier['traceparent'];
}

/** Writes the active trace context into outgoing headers (`traceparent`, `tracestate`). */
export function injectTraceHeaders(headers: Record<string, string>, ctx: Context = context.active()): void {
  if (installed) propagation.inject(ctx, headers);
}

/** The trace context of incoming headers (the root context when they carry none). */
export function extractTraceContext(headers: Record<string, string | string[] | undefined>): Context {
  return installed ? propagation.extract(ROOT_CONTEXT, headers) : ROOT_CONTEXT;
}

/** The remote span context a `traceparent` names, as a context to parent or link to. */
export function contextOfTraceparent(traceparent: string): Context {
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/**
 * Runs `work` in a span of `service` that continues the traces of `traceparents` (the entries of
 * a stream batch): the span's parent is the first one's context, and it links to every one, so a
 * batch that gathered entries of several traces shows in each of them.
 */
export async function inLinkedSpan<T>(service: string, name: string, traceparents: readonly string[], attributes: Attributes, work: () => Promise<T>): Promise<T> {
  if (!installed) return work();
  const contexts = traceparents.map(contextOfTraceparent);
  const links: Link[] = contexts.flatMap((c) => {
    const sc = trace.getSpanContext(c);
    return sc ? [{ context: sc }] : [];
  });
  const parent = contexts[0] ?? ROOT_CONTEXT;
  return tracerFor(service).startActiveSpan(name, { kind: SpanKind.CONSUMER, links, attributes }, parent, (span) => settle(span, work));
}

async function settle<T>(span: Span, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    // The error's class only: messages can carry internal addresses.
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.name ?? 'error' });
    throw err;
  } finally {
    span.end();
  }
}

/** The active span's ids for a log line (pino mixin): nothing when no span is recording. */
export function traceFields(): { trace_id?: string; span_id?: string } {
  if (!installed) return {};
  const sc = trace.getSpan(context.active())?.spanContext();
  return sc && trace.isSpanContextValid(sc) ? { trace_id: sc.traceId, span_id: sc.spanId } : {};
}

/**
 * The trace of the event a live subscription is resolving now, per operation context: the
 * subgraph's subscription resolver notes the event's `traceparent`, and the subgraph's graphql-ws
 * onNext sends it to the gateway as the result's `extensions.traceparent` (lib/subgraph-service.ts).
 */
const liveTraces = new WeakMap<object, string>();

export function noteLiveTrace(operationContext: object, traceparent: string | undefined): void {
  if (traceparent) liveTraces.set(operationContext, traceparent);
  else liveTraces.delete(operationContext);
}

/** The noted trace of an operation's current event, once (then forgotten). */
export function takeLiveTrace(operationContext: unknown): string | undefined {
  if (typeof operationContext !== 'object' || operationContext === null) return undefined;
  const traceparent = liveTraces.get(operationContext);
  liveTraces.delete(operationContext);
  return traceparent;
}
