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
let sdkRunning = false;

/** Called by startTelemetry when an SDK exports spans: requests then always run in real, active spans. */
export function markTracingSdkRunning(): void {
  sdkRunning = true;
}

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

/** Random bytes drawn 6 KiB at a time: one RNG call per 256 ids instead of one per request. */
const ID_POOL = Buffer.alloc(24 * 256);
let idPoolOffset = ID_POOL.length;

/** Random W3C ids (never all zeros: an all-zero id is invalid). */
function newIds(): { traceId: string; spanId: string } {
  for (;;) {
    if (idPoolOffset + 24 > ID_POOL.length) {
      randomFillSync(ID_POOL);
      idPoolOffset = 0;
    }
    const at = idPoolOffset;
    idPoolOffset += 24;
    const traceId = ID_POOL.toString('hex', at, at + 16);
    const spanId = ID_POOL.toString('hex', at + 16, at + 24);
    if (traceId !== ZERO_TRACE_ID && spanId !== ZERO_SPAN_ID) return { traceId, spanId };
  }
}
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

// version-traceId-spanId-flags; version ff is forbidden, future versions may append fields.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** W3C `traceparent` of a span context. */
export function formatTraceparent(spanContext: SpanContext): string {
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}

/** A remote span context from a W3C traceparent value, or undefined when the value is not a valid one. */
export function parseTraceparent(value: string | undefined): SpanContext | undefined {
  if (value === undefined) return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  const spanContext: SpanContext = { traceId: traceId!, spanId: spanId!, traceFlags: parseInt(flags!, 16), isRemote: true };
  return isSpanContextValid(spanContext) ? spanContext : undefined;
}

/**
 * A span for `name` under `parent`: the SDK's when one runs — recording or not: a span its sampler dropped keeps the
 * SDK's ids and unsampled flag, so downstream samplers agree —; without an SDK the API hands out a non-recording span
 * with no ids of its own (or the parent's), and we give it ids (the parent's trace id when there is a parent, else a
 * new trace), so that the trace id still reaches logs and Kafka headers.
 */
function startSpan(name: string, parent: Context, kind: SpanKind, links: Link[]): { ctx: Context; end(error?: unknown): void } {
  if (sdkRunning) {
    const span = trace.getTracer('metrivo').startSpan(name, { kind, links }, parent);
    if (isSpanContextValid(span.spanContext())) {
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
  }
  return { ctx: trace.setSpanContext(parent, childSpanContext(trace.getSpanContext(parent))), end: () => {} };
}

/** Our own ids for a span without an SDK: the parent's trace id and flags when it has a valid one, else a new trace. */
function childSpanContext(parent: SpanContext | undefined): SpanContext {
  const generated = newIds();
  const valid = parent !== undefined && isSpanContextValid(parent);
  return { traceId: valid ? parent.traceId : generated.traceId, spanId: generated.spanId, traceFlags: valid ? parent.traceFlags : TraceFlags.SAMPLED };
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

/** The trace a request runs in (set by traceRequests). */
export interface RequestTrace {
  traceId: string;
  spanId: string;
  /** To send the trace on (e.g. as a Kafka record header). */
  traceparent: string;
}

const requestTraces = new WeakMap<IncomingMessage, RequestTrace>();

/** The trace traceRequests gave this request, if it ran. */
export function requestTrace(req: IncomingMessage): RequestTrace | undefined {
  return requestTraces.get(req);
}

function remember(req: IncomingMessage, res: ServerResponse, spanContext: SpanContext): void {
  requestTraces.set(req, { traceId: spanContext.traceId, spanId: spanContext.spanId, traceparent: formatTraceparent(spanContext) });
  if (!res.headersSent) res.setHeader('Metrivo-Trace-Id', spanContext.traceId);
}

export interface TraceRequestsOptions {
  /**
   * Run the rest of the chain inside the trace's context, so that every log line and outgoing call of the request
   * carries it by itself (default). On Node 20 that AsyncLocalStorage context costs a hook on every promise of the
   * process (visible in the gateway benchmark's CPU profile), so the gateway, whose speed is measured, turns it off
   * and hands its trace on explicitly (`requestTrace(req)`). Always on while an SDK exports spans.
   */
  activeContext?: boolean;
}

/**
 * Express/connect middleware: every request gets a trace, continuing the caller's W3C `traceparent` when it sends a
 * valid one, else a new one; `requestTrace(req)` tells which, and answers carry the trace id in `Metrivo-Trace-Id`
 * so a caller or support can quote it. With `activeContext` the rest of the chain runs inside the span (body parsers
 * included: the body is read from inside the context, so its events resume there; tested with a body sent in parts).
 */
export function traceRequests(name = 'http', options: TraceRequestsOptions = {}) {
  const activeContext = options.activeContext ?? true;
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    if (!activeContext && !sdkRunning) {
      const header = req.headers.traceparent;
      remember(req, res, childSpanContext(parseTraceparent(typeof header === 'string' ? header : undefined)));
      next();
      return;
    }
    enableTraceContext();
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = startSpan(`${name} ${req.method ?? ''}`, parent, SpanKind.SERVER, []);
    remember(req, res, trace.getSpanContext(span.ctx)!);
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
