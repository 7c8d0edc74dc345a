import { decodeCursor, decodePaymentsCursor, encodeCursor, encodePaymentsCursor, InvalidQueryError, parseBound, parseGroupBy, parseLimit, parseLivemode, parseRange } from './http-api';

function paramOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof InvalidQueryError) return e.param;
    throw e;
  }
  throw new Error('did not throw');
}

describe('ledger query parsing', () => {
  it('defaults livemode to true and accepts only true/false', () => {
    expect(parseLivemode(undefined)).toBe(true);
    expect(parseLivemode('true')).toBe(true);
    expect(parseLivemode('false')).toBe(false);
    expect(paramOf(() => parseLivemode('0'))).toBe('livemode');
    expect(paramOf(() => parseLivemode(['true', 'false']))).toBe('livemode');
  });

  it('reads from/to as instants; a date-only to covers that whole UTC day', () => {
    expect(parseBound('from', '2026-11-29')!.toISOString()).toBe('2026-11-29T00:00:00.000Z');
    expect(parseBound('to', '2026-11-29')!.toISOString()).toBe('2026-11-30T00:00:00.000Z');
    expect(parseBound('from', '2026-11-29T10:00:00+01:00')!.toISOString()).toBe('2026-11-29T09:00:00.000Z');
    expect(parseBound('to', '2026-11-29T10:00:00.5Z')!.toISOString()).toBe('2026-11-29T10:00:00.500Z');
    expect(parseBound('to', undefined)).toBeUndefined();
  });

  it('rejects bad dates naming the parameter', () => {
    for (const bad of ['yesterday', '2026-02-30', '2026-11-29T10:00:00', '1700000000', '2026-13-01']) {
      expect(paramOf(() => parseBound('from', bad))).toBe('from');
    }
    expect(paramOf(() => parseRange({ from: '2026-12-01', to: '2026-11-01' }))).toBe('to');
    expect(parseRange({ from: '2026-12-01', to: '2026-12-01' })).toEqual({ from: new Date('2026-12-01T00:00:00Z'), to: new Date('2026-12-02T00:00:00Z') });
  });

  it('requires a known groupBy and a bounded limit', () => {
    expect(parseGroupBy('channel')).toBe('channel');
    expect(paramOf(() => parseGroupBy(undefined))).toBe('groupBy');
    expect(paramOf(() => parseGroupBy('country'))).toBe('groupBy');
    expect(parseLimit(undefined)).toBe(100);
    expect(parseLimit('5')).toBe(5);
    for (const bad of ['0', '1001', '2.5', '-1', 'ten']) expect(paramOf(() => parseLimit(bad))).toBe('limit');
  });

  it('round-trips cursors and rejects forged ones', () => {
    const position = { key: '2026-11-29', currency: 'eur' };
    expect(decodeCursor(encodeCursor(position))).toEqual(position);
    expect(decodeCursor(undefined)).toBeUndefined();
    expect(paramOf(() => decodeCursor('not-a-cursor'))).toBe('cursor');
    expect(paramOf(() => decodeCursor(Buffer.from('{"a":1}').toString('base64url')))).toBe('cursor');
  });

  it('round-trips payments cursors and rejects forged ones', () => {
    const position = { paidAt: new Date('2026-11-29T10:09:30.000Z'), id: 'abc_-1' };
    expect(decodePaymentsCursor(encodePaymentsCursor(position))).toEqual(position);
    expect(decodePaymentsCursor('')).toBeUndefined();
    expect(paramOf(() => decodePaymentsCursor(Buffer.from('["not a date","x"]').toString('base64url')))).toBe('cursor');
    expect(paramOf(() => decodePaymentsCursor(encodeCursor({ key: '2026-11-29', currency: 'eur' })))).toBe('cursor');
  });
});
