import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import express from 'express';
import { createCapturingLogger } from './logger';
import { activeTraceId, requestTrace, traceRequests, withSpan } from './tracing';

const capture = () => createCapturingLogger({ service: 't' });

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = { traceId: TRACE_ID, spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED, isRemote: true };

describe('withSpan without an OpenTelemetry SDK (METRIVO_OTEL_EXPORTER=none)', () => {
  it('gives the work a trace id that every log line inside carries, across awaits; none outside', async () => {
    const { lines, logger } = capture();
    logger.info('before');
    const seen = await withSpan('work', {}, async () => {
      logger.info('start');
      await new Promise((resolve) => setTimeout(resolve, 5));
      logger.info('after a timer');
      return activeTraceId();
    });
    logger.info('after');
    expect(seen).toMatch(/^[0-9a-f]{32}$/);
    expect(lines.map((l) => l.trace_id)).toEqual([undefined, seen, seen, undefined]);
    expect(lines[1]!.span_id).toMatch(/^[0-9a-f]{16}$/);
  });

  it('continues the parent trace (a new span id), and two calls without a parent get two traces', async () => {
    const inParent = await withSpan('child', { parent: trace.setSpanContext(ROOT_CONTEXT, PARENT) }, async () => trace.getSpanContext(context.active()));
    expect(inParent?.traceId).toBe(TRACE_ID);
    expect(inParent?.spanId).not.toBe(PARENT.spanId);
    const [a, b] = await Promise.all([withSpan('a', {}, async () => activeTraceId()), withSpan('b', {}, async () => activeTraceId())]);
    expect(a).not.toBe(b);
  });

  it('keeps an unsampled parent\'s flags (downstream samplers must agree)', async () => {
    const unsampled = { ...PARENT, traceFlags: TraceFlags.NONE };
    const inner = await withSpan('child', { parent: trace.setSpanContext(ROOT_CONTEXT, unsampled) }, async () => trace.getSpanContext(context.active()));
    expect(inner?.traceFlags).toBe(TraceFlags.NONE);
  });

  it('rethrows the work\'s error', async () => {
    await expect(withSpan('fails', {}, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });
});

describe('traceRequests', () => {
  async function serve() {
    const { lines, logger } = capture();
    const app = express();
    app.use(traceRequests('test'));
    // The body parser resumes the chain from the socket's events: the trace must survive it.
    app.post('/p', express.raw({ type: () => true }), async (req, res) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      logger.info({ bytes: (req.body as Buffer).length }, 'handled');
      res.json({ traceId: activeTraceId() ?? null });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/p`;
    return { lines, url, close: () => new Promise((resolve) => server.close(resolve)) };
  }

  it('continues the caller\'s traceparent through the body parser into the handler\'s logs, and answers the trace id', async () => {
    const s = await serve();
    try {
      const res = await fetch(s.url, { method: 'POST', body: 'x'.repeat(100_000), headers: { traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` } });
      expect(await res.json()).toEqual({ traceId: TRACE_ID });
      expect(res.headers.get('metrivo-trace-id')).toBe(TRACE_ID);
      expect(s.lines).toEqual([expect.objectContaining({ msg: 'handled', bytes: 100_000, trace_id: TRACE_ID })]);
    } finally {
      await s.close();
    }
  });

  it('keeps the trace when the body arrives in parts, after the handler chain started waiting for it', async () => {
    const s = await serve();
    try {
      const body: string = await new Promise((resolve, reject) => {
        const req = http.request(s.url, { method: 'POST', headers: { 'content-length': '6', traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` } }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += String(c)));
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
        req.write('abc');
        setTimeout(() => req.end('def'), 50);
      });
      expect(JSON.parse(body)).toEqual({ traceId: TRACE_ID });
      expect(s.lines).toEqual([expect.objectContaining({ bytes: 6, trace_id: TRACE_ID })]);
    } finally {
      await s.close();
    }
  });

  it('starts a new trace per request without (or with an invalid) traceparent', async () => {
    const s = await serve();
    try {
      const first = await fetch(s.url, { method: 'POST', body: 'a' });
      const second = await fetch(s.url, { method: 'POST', body: 'b', headers: { traceparent: 'nonsense' } });
      const ids = [first.headers.get('metrivo-trace-id'), second.headers.get('metrivo-trace-id')];
      expect(ids[0]).toMatch(/^[0-9a-f]{32}$/);
      expect(ids[1]).toMatch(/^[0-9a-f]{32}$/);
      expect(ids[0]).not.toBe(ids[1]);
      expect(s.lines.map((l) => l.trace_id)).toEqual(ids);
    } finally {
      await s.close();
    }
  });
});

describe('traceRequests without an active context (the gateway)', () => {
  it('gives each request a trace for requestTrace(req) and Metrivo-Trace-Id, continuing a valid caller trace, without entering a context', async () => {
    const app = express();
    app.use(traceRequests('test', { activeContext: false }));
    app.post('/p', express.raw({ type: () => true }), (req, res) => {
      res.json({ trace: requestTrace(req) ?? null, active: activeTraceId() ?? null });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/p`;
    try {
      const continued = await fetch(url, { method: 'POST', body: 'a', headers: { traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` } });
      const body = (await continued.json()) as { trace: { traceId: string; spanId: string; traceparent: string }; active: string | null };
      expect(continued.headers.get('metrivo-trace-id')).toBe(TRACE_ID);
      expect(body.trace.traceId).toBe(TRACE_ID);
      expect(body.trace.spanId).not.toBe('00f067aa0ba902b7');
      expect(body.trace.traceparent).toBe(`00-${TRACE_ID}-${body.trace.spanId}-01`);
      expect(body.active).toBeNull();
      const unsampled = await fetch(url, { method: 'POST', body: 'a', headers: { traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-00` } });
      expect(((await unsampled.json()) as { trace: { traceparent: string } }).trace.traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-00$`));

      const fresh = await Promise.all([1, 2].map(async () => (await fetch(url, { method: 'POST', body: 'b', headers: { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' } })).headers.get('metrivo-trace-id')));
      for (const id of fresh) expect(id).toMatch(/^[0-9a-f]{32}$/);
      expect(fresh[0]).not.toBe(fresh[1]);
      expect(fresh).not.toContain('0'.repeat(32));
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
