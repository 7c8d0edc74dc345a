import { randomFillSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Context,
  type Link,
  type SpanContext,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

let contextReady = false;

/**
 * Makes the active trace context follow async work even when no OpenTelemetry SDK runs (METRIVO_OTEL_EXPORTER=none,
 * the default): without a context manager the API's `context.with` is a no-op, so log lines (createLogger's mixin)
 * and produced records (injectTraceparent) would never see a trace. Registers an AsyncLocalStorage context manager
 * and the W3C propagator unless the SDK registered its own (the API refuses a second registration; ours then stays
 * unused). Idempotent; called by startTelemetry and lazily by withSpan / traceRequests.
 */
export function enableTraceContext(): void {
  if (contextReady) return;
  contextReady = true;
  const manager = new AsyncLocalStorageContextManager().enable();
  if (!context.setGlobalContextManager(manager)) manager.disable();
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
}

const ids = Buffer.alloc(24);
/** Random W3C ids (never all zeros: an all-zero id is invalid). */
function newIds(): { traceId: string; spanId: string } {
  do randomFillSync(ids);
  while (ids.subarray(0, 16).every((b) => b === 0) || ids.subarray(16).every((b) => b === 0));
  return { traceId: ids.toString('hex', 0, 16), spanId: ids.toString('hex', 16, 24) };
}

/**
 * A span for `name` under `parent`: a real one when the SDK runs; otherwise the API hands out a non-recording span
 * without ids, and we give it ids of our own (the parent's trace id when there is a parent, else a new trace), so
 * that the trace id still reaches logs and Kafka headers.
 */
function startSpan(name: string, parent: Context, kind: SpanKind, links: Link[]): { ctx: Context; end(error?: unknown): void } {
  const span = trace.getTracer('metrivo').startSpan(name, { kind, links }, parent);
  if (isSpanContextValid(span.spanContext()) && span.isRecording()) {
    return {
      ctx: trace.setSpan(parent, span),
      end: (error) => {
        if (error !== undefined) {
          span.recordException(error instanceof Error ? error : String(error));
          span.setStatus({ code: SpanStatusCode.ERROR });
        }
        span.end();
      },
    };
  }
  const generated = newIds();
  const inherited = trace.getSpanContext(parent);
  const own: SpanContext = {
    traceId: inherited && isSpanContextValid(inherited) ? inherited.traceId : generated.traceId,
    spanId: generated.spanId,
    traceFlags: inherited?.traceFlags ?? TraceFlags.SAMPLED,
  };
  return { ctx: trace.setSpanContext(parent, own), end: () => {} };
}

export interface WithSpanOptions {
  /** The parent context (e.g. `contextFromHeaders(record.headers)`); default: a new trace. */
  parent?: Context;
  kind?: SpanKind;
  /** Other traces this work belongs to (e.g. every record of a consumed batch); recorded by the SDK only. */
  links?: Link[];
}

/** Runs `fn` in a new span (see startSpan): logs written and records produced inside carry its trace id. */
export async function withSpan<T>(name: string, options: WithSpanOptions, fn: () => Promise<T>): Promise<T> {
  enableTraceContext();
  const span = startSpan(name, options.parent ?? ROOT_CONTEXT, options.kind ?? SpanKind.INTERNAL, options.links ?? []);
  try {
    const result = await context.with(span.ctx, fn);
    span.end();
    return result;
  } catch (error) {
    span.end(error);
    throw error;
  }
}

/** The trace id of the active span, when there is one (e.g. to show support which trace to look up). */
export function activeTraceId(): string | undefined {
  const spanContext = trace.getSpanContext(context.active());
  return spanContext && isSpanContextValid(spanContext) ? spanContext.traceId : undefined;
}

/** Headers that carry the active trace to another service over HTTP (W3C `traceparent`); empty without a trace. */
export function outgoingTraceHeaders(): Record<string, string> {
  enableTraceContext();
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

/**
 * Express/connect middleware: every request runs in a server span, continuing the caller's W3C `traceparent` when
 * it sends a valid one, else a new trace. The rest of the chain runs inside it (body parsers included: the request
 * body is read from inside the context, so its events resume there; tested with a body sent in two parts). Answers
 * carry the trace id in `Metrivo-Trace-Id`, so a caller or support can quote it.
 */
export function traceRequests(name = 'http') {
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    enableTraceContext();
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = startSpan(`${name} ${req.method ?? ''}`, parent, SpanKind.SERVER, []);
    const traceId = trace.getSpanContext(span.ctx)!.traceId;
    if (!res.headersSent) res.setHeader('Metrivo-Trace-Id', traceId);
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      span.end(res.statusCode >= 500 ? new Error(`HTTP ${res.statusCode}`) : undefined);
    };
    res.once('finish', end);
    res.once('close', end);
    context.with(span.ctx, next);
  };
}
