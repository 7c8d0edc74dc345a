import { formatTraceparent, parseTraceparent } from '@metrivo/observability';
import { context, isSpanContextValid, propagation, trace, type Context } from '@opentelemetry/api';
import { TRACEPARENT_HEADER } from '@metrivo/contracts';
import type { IHeaders } from 'kafkajs';
import { headersToStrings, headerValue } from './headers';

// The W3C format itself lives in @metrivo/observability (HTTP requests use it too).
export { formatTraceparent, parseTraceparent };

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
