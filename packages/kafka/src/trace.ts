import { context, isSpanContextValid, propagation, trace, type Context, type SpanContext } from '@opentelemetry/api';
import { TRACEPARENT_HEADER } from '@metrivo/contracts';
import type { IHeaders } from 'kafkajs';
import { headersToStrings, headerValue } from './headers';

// version-traceId-spanId-flags; version ff is forbidden, future versions may append fields.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

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
  const spanContext: SpanContext = {
    traceId: traceId!,
    spanId: spanId!,
    traceFlags: parseInt(flags!, 16),
    isRemote: true,
  };
  return isSpanContextValid(spanContext) ? spanContext : undefined;
}

/**
 * Adds the active trace context to `headers` (mutates and returns them). Uses the globally registered
 * propagator (the SDK set up by @metrivo/observability registers W3C trace context + baggage); without an
 * SDK, falls back to formatting the active span context by hand, and adds nothing when there is none.
 * Headers already present are kept: a caller may forward a traceparent it received.
 */
export function injectTraceparent<H extends Record<string, unknown>>(headers: H, ctx: Context = context.active()): H {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  const out = headers as Record<string, unknown>;
  for (const [name, value] of Object.entries(carrier)) {
    if (out[name] === undefined) out[name] = value;
  }
  if (out[TRACEPARENT_HEADER] === undefined) {
    const spanContext = trace.getSpanContext(ctx);
    if (spanContext && isSpanContextValid(spanContext)) out[TRACEPARENT_HEADER] = formatTraceparent(spanContext);
  }
  return headers;
}

/** The record's traceparent header when it holds a valid W3C value. */
export function extractTraceparent(headers: IHeaders | undefined): string | undefined {
  const value = headerValue(headers, TRACEPARENT_HEADER);
  return parseTraceparent(value) ? value!.trim() : undefined;
}

/**
 * An OpenTelemetry context whose parent is the record's remote span, for starting a consumer span:
 * `tracer.startActiveSpan('handle', {}, contextFromHeaders(record.headers), ...)`.
 */
export function contextFromHeaders(headers: IHeaders | Record<string, string> | undefined, base: Context = context.active()): Context {
  const carrier = headersToStrings(headers as IHeaders | undefined);
  const remote = parseTraceparent(carrier[TRACEPARENT_HEADER]);
  const extracted = propagation.extract(base, carrier);
  if (!remote) return extracted;
  // Without an SDK the no-op propagator returns `base` unchanged: set the span context ourselves.
  return trace.getSpanContext(extracted)?.spanId === remote.spanId ? extracted : trace.setSpanContext(extracted, remote);
}
