import { ROOT_CONTEXT, trace, TraceFlags, type SpanContext } from '@opentelemetry/api';
import { contextFromHeaders, extractTraceparent, formatTraceparent, injectTraceparent, parseTraceparent } from './trace';

const spanContext: SpanContext = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  traceFlags: TraceFlags.SAMPLED,
};
const header = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('traceparent format', () => {
  it('formats and parses W3C traceparent', () => {
    expect(formatTraceparent(spanContext)).toBe(header);
    expect(parseTraceparent(header)).toEqual({ ...spanContext, isRemote: true });
  });

  it('rejects malformed or invalid values', () => {
    for (const bad of [
      undefined,
      '',
      'garbage',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7', // no flags
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // zero trace id
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', // zero span id
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // forbidden version
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', // upper case
      `${header}-extra`, // version 00 has exactly four fields
    ]) {
      expect(parseTraceparent(bad)).toBeUndefined();
    }
    expect(parseTraceparent(`01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future`)).toBeDefined();
  });
});

describe('injectTraceparent', () => {
  it('adds the active span context (no SDK registered: formatted by hand)', () => {
    const headers = injectTraceparent({} as Record<string, unknown>, trace.setSpanContext(ROOT_CONTEXT, spanContext));
    expect(headers.traceparent).toBe(header);
  });

  it('adds nothing when there is no span', () => {
    expect(injectTraceparent({} as Record<string, unknown>, ROOT_CONTEXT)).toEqual({});
  });

  it('keeps a traceparent the caller forwards', () => {
    const forwarded = '00-11111111111111111111111111111111-2222222222222222-00';
    const headers = injectTraceparent({ traceparent: forwarded } as Record<string, unknown>, trace.setSpanContext(ROOT_CONTEXT, spanContext));
    expect(headers.traceparent).toBe(forwarded);
  });
});

describe('extractTraceparent / contextFromHeaders', () => {
  it('reads a valid header from Kafka bytes, ignoring invalid ones', () => {
    expect(extractTraceparent({ traceparent: Buffer.from(header) })).toBe(header);
    expect(extractTraceparent({ traceparent: Buffer.from('nonsense') })).toBeUndefined();
    expect(extractTraceparent(undefined)).toBeUndefined();
    expect(extractTraceparent({ traceparent: Buffer.from(` ${header}\n`) })).toBe(header); // surrounding whitespace is not part of it
  });

  it('builds a context whose parent is the remote span', () => {
    const ctx = contextFromHeaders({ traceparent: Buffer.from(header) }, ROOT_CONTEXT);
    expect(trace.getSpanContext(ctx)).toEqual({ ...spanContext, isRemote: true });
    expect(contextFromHeaders({}, ROOT_CONTEXT)).toBe(ROOT_CONTEXT);
  });

  it('round-trips through inject and extract', () => {
    const headers = injectTraceparent({} as Record<string, string>, trace.setSpanContext(ROOT_CONTEXT, spanContext));
    expect(trace.getSpanContext(contextFromHeaders(headers, ROOT_CONTEXT))?.traceId).toBe(spanContext.traceId);
  });
});
