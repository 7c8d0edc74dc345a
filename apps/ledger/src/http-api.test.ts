import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createLedgerRouter, decodeCursor, decodePaymentsCursor, encodeCursor, encodePaymentsCursor, InvalidQueryError, parseBound, parseGroupBy, parseLimit, parseLivemode, parseRange } from './http-api';
import type { LedgerStore } from './ledger-store';

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

  it('accepts dates of the first centuries (not read as 19xx)', () => {
    expect(parseBound('from', '0001-01-01')!.toISOString()).toBe('0001-01-01T00:00:00.000Z');
    expect(parseBound('to', '0099-12-31T00:00:00Z')!.toISOString()).toBe('0099-12-31T00:00:00.000Z');
    expect(parseBound('from', '0000-02-29')!.toISOString()).toBe('0000-02-29T00:00:00.000Z'); // year 0 is a leap year, 1900 is not
    expect(paramOf(() => parseBound('from', '0099-02-29'))).toBe('from');
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

describe('ledger router answers', () => {
  let server: Server;
  let base = '';
  const errors: unknown[] = [];
  beforeAll(async () => {
    const app = express();
    // No route below reaches the store: unknown paths and undecodable parameters are answered before.
    app.use(createLedgerRouter({ store: {} as LedgerStore, onError: (err) => errors.push(err) }));
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('answers an unknown path with a JSON 404 not_found (not unknown_payment)', async () => {
    const res = await fetch(`${base}/v1/websites/w_1/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'not_found', message: 'No ledger route for GET /v1/websites/w_1/nope.' } });
  });

  it('answers a payment key that is not valid percent-encoding with 400, not 500', async () => {
    const res = await fetch(`${base}/v1/websites/w_1/payments/stripe%3Api_%E0%A4`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('bad_request');
    expect(errors).toEqual([]);
  });
});

describe('ledger router when MongoDB fails', () => {
  let server: Server;
  let base = '';
  let failWith: Error = new Error('unset');
  const errors: unknown[] = [];
  const driverError = (name: string, code?: number) => Object.assign(new Error(`${name} happened`), { name }, code === undefined ? {} : { code });
  beforeAll(async () => {
    const app = express();
    const store = { getPayment: async () => { throw failWith; } } as unknown as LedgerStore;
    app.use(createLedgerRouter({ store, onError: (err) => errors.push(err) }));
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('MongoDB unreachable → 503 unavailable with Retry-After (callers retry), and the error is reported', async () => {
    failWith = driverError('MongoServerSelectionError');
    const res = await fetch(`${base}/v1/websites/w_1/payments/stripe%3Api_1`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unavailable');
    expect(errors).toContain(failWith);
  });

  it('another driver error (duplicate key) stays a 500 internal_error', async () => {
    failWith = driverError('MongoServerError', 11000);
    const res = await fetch(`${base}/v1/websites/w_1/payments/stripe%3Api_1`);
    expect(res.status).toBe(500);
    expect(res.headers.get('retry-after')).toBeNull();
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('internal_error');
  });
});
