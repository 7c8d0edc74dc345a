import { DLQ_HEADERS } from '@metrivo/contracts';
import { buildDlqHeaders, headersToStrings, headerValue, readDlqHeaders, type DeadLetterInfo } from './headers';

const info: DeadLetterInfo = {
  reason: 'schema_validation',
  error: 'invalid metrivo.payments.v1: websiteId: must not be empty',
  sourceTopic: 'metrivo.payments.v1',
  sourcePartition: 3,
  sourceOffset: '42',
  consumerGroup: 'attribution',
  failedAt: new Date('2026-11-29T10:00:00.000Z'),
};

describe('headerValue / headersToStrings', () => {
  it('decodes buffers and takes the first of repeated headers', () => {
    const headers = { a: Buffer.from('x'), b: 'y', c: [Buffer.from('first'), Buffer.from('second')], d: undefined };
    expect(headerValue(headers, 'a')).toBe('x');
    expect(headerValue(headers, 'c')).toBe('first');
    expect(headerValue(headers, 'missing')).toBeUndefined();
    expect(headersToStrings(headers)).toEqual({ a: 'x', b: 'y', c: 'first' });
    expect(headersToStrings(undefined)).toEqual({});
  });
  it('reads a header without a value (null from kafkajs) as absent instead of throwing', () => {
    const headers = { a: null, b: [null, Buffer.from('x')], c: 'y' } as unknown as Parameters<typeof headerValue>[0];
    expect(headerValue(headers, 'a')).toBeUndefined();
    expect(headerValue(headers, 'b')).toBeUndefined();
    expect(headersToStrings(headers)).toEqual({ c: 'y' });
  });
});

describe('buildDlqHeaders', () => {
  it('drops original headers without a value (kafkajs cannot send them) and keeps the rest', () => {
    const original = { a: null, b: [null, Buffer.from('x')], c: 'y', d: [null] } as unknown as Parameters<typeof buildDlqHeaders>[0];
    const built = buildDlqHeaders(original, info);
    const dlqNames = new Set<string>(Object.values(DLQ_HEADERS));
    expect(Object.keys(built).filter((k) => !dlqNames.has(k))).toEqual(['b', 'c']);
    expect(built.b).toEqual([Buffer.from('x')]);
    expect(built.c).toBe('y');
  });

  it('keeps the original headers and adds every DLQ header as a string', () => {
    const headers = buildDlqHeaders({ traceparent: Buffer.from('00-abc'), other: 'v' }, info);
    expect(headerValue(headers, 'traceparent')).toBe('00-abc');
    expect(headerValue(headers, 'other')).toBe('v');
    expect(headers[DLQ_HEADERS.reason]).toBe('schema_validation');
    expect(headers[DLQ_HEADERS.error]).toBe(info.error);
    expect(headers[DLQ_HEADERS.sourceTopic]).toBe('metrivo.payments.v1');
    expect(headers[DLQ_HEADERS.sourcePartition]).toBe('3');
    expect(headers[DLQ_HEADERS.sourceOffset]).toBe('42');
    expect(headers[DLQ_HEADERS.consumerGroup]).toBe('attribution');
    expect(headers[DLQ_HEADERS.failedAt]).toBe('2026-11-29T10:00:00.000Z');
  });

  it('replaces DLQ headers of a record dead-lettered before', () => {
    const once = buildDlqHeaders({}, { ...info, reason: 'invalid_json' });
    const twice = buildDlqHeaders(once, info);
    expect(twice[DLQ_HEADERS.reason]).toBe('schema_validation');
  });

  it('truncates an enormous error text', () => {
    const headers = buildDlqHeaders(undefined, { ...info, error: 'x'.repeat(10_000) });
    expect((headers[DLQ_HEADERS.error] as string).length).toBe(2000);
  });

  it('reads back what it wrote', () => {
    const read = readDlqHeaders(buildDlqHeaders({}, info));
    expect(read).toEqual({
      reason: 'schema_validation',
      error: info.error,
      sourceTopic: 'metrivo.payments.v1',
      sourcePartition: '3',
      sourceOffset: '42',
      consumerGroup: 'attribution',
      failedAt: '2026-11-29T10:00:00.000Z',
    });
  });
});
