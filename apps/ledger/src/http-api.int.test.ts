import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { paymentStateSchema } from '@metrivo/contracts';
import { createLedgerRouter } from './http-api';
import { createLedgerStore, type LedgerStore } from './ledger-store';
import { highSession, mediumVisitor, nextRevision, paymentState, unattributed } from './test-states';
import { openTestDb, type TestDb } from './test-db';

let testDb: TestDb;
let store: LedgerStore;
let server: Server;
let base: string;
const errors: unknown[] = [];

async function get(path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: await res.json() };
}

const NOW = new Date('2026-12-10T00:00:00.000Z');
const a1 = paymentState({ paymentKey: 'stripe:pi_a/1', attribution: unattributed, paidAt: '2026-11-29T10:00:00.000Z', eventIds: ['evt_a1'] });
const a2 = nextRevision(a1, { refundedMinor: 1000, refundedAt: '2026-12-01T09:00:00.000Z', eventIds: ['evt_a1', 'evt_r1'] });
const a3 = nextRevision(a2, { attribution: highSession });
const b1 = paymentState({ paymentKey: 'razorpay:pay_b', provider: 'razorpay', currency: 'inr', grossMinor: 50000, attribution: mediumVisitor, paidAt: '2026-11-30T05:00:00.000Z' });
const t1 = paymentState({ paymentKey: 'stripe:pi_t', livemode: false, grossMinor: 700, attribution: highSession });

beforeAll(async () => {
  testDb = await openTestDb();
  store = createLedgerStore(testDb.db);
  await store.ensureIndexes();
  await store.applyStates([a1, a2, b1, t1], NOW);
  await store.applyStates([a3, a2], NOW);
  const app = express();
  app.use(createLedgerRouter({ store, onError: (e) => errors.push(e) }));
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await testDb?.drop();
});

describe('ledger HTTP API', () => {
  it('summarizes live money by currency and confidence (livemode defaults to true)', async () => {
    const { status, body } = await get('/v1/websites/w_1/summary');
    expect(status).toBe(200);
    expect(body).toEqual({
      currencies: {
        eur: { grossMinor: 4900, refundedMinor: 1000, netMinor: 3900, payments: 1 },
        inr: { grossMinor: 50000, refundedMinor: 0, netMinor: 50000, payments: 1 },
      },
      byConfidence: {
        high: { eur: 3900, inr: 0 },
        medium: { eur: 0, inr: 50000 },
        low: { eur: 0, inr: 0 },
        none: { eur: 0, inr: 0 },
      },
    });
    expect((await get('/v1/websites/w_1/summary?livemode=true')).body).toEqual(body);
  });

  it('keeps test mode apart', async () => {
    const { body } = await get('/v1/websites/w_1/summary?livemode=false');
    expect(body.currencies).toEqual({ eur: { grossMinor: 700, refundedMinor: 0, netMinor: 700, payments: 1 } });
    expect(body.byConfidence.high).toEqual({ eur: 700 });
  });

  it('filters on money time', async () => {
    const nov29 = await get('/v1/websites/w_1/summary?from=2026-11-29&to=2026-11-29');
    expect(nov29.body.currencies).toEqual({ eur: { grossMinor: 4900, refundedMinor: 0, netMinor: 4900, payments: 1 } });
    const refundOnly = await get(`/v1/websites/w_1/summary?from=${encodeURIComponent('2026-12-01T10:00:00+01:00')}`);
    expect(refundOnly.body.currencies).toEqual({ eur: { grossMinor: 0, refundedMinor: 1000, netMinor: -1000, payments: 0 } });
    const empty = await get('/v1/websites/w_1/summary?from=2030-01-01');
    expect(empty.body).toEqual({ currencies: {}, byConfidence: { high: {}, medium: {}, low: {}, none: {} } });
  });

  it('explains a payment (URL-encoded key) with its state and entries', async () => {
    const { status, body } = await get(`/v1/websites/w_1/payments/${encodeURIComponent('stripe:pi_a/1')}`);
    expect(status).toBe(200);
    expect(body.state).toMatchObject({ paymentKey: 'stripe:pi_a/1', revision: 3, netMinor: 3900, attribution: { confidence: 'high' } });
    expect(body.entries.map((e: any) => [e.revision, e.kind, e.component, e.amountMinor, e.attribution.confidence])).toEqual([
      [1, 'revenue', 'gross', 4900, 'none'],
      [2, 'refund', 'refunded', -1000, 'none'],
      [3, 'attribution_move', 'gross', -4900, 'none'],
      [3, 'attribution_move', 'gross', 4900, 'high'],
      [3, 'attribution_move', 'refunded', 1000, 'none'],
      [3, 'attribution_move', 'refunded', -1000, 'high'],
    ]);
    expect(body.entries[1]).toMatchObject({ eventIds: ['evt_r1'], rule: 'refund_increased', occurredAt: '2026-12-01T09:00:00.000Z' });
    expect(typeof body.entries[0].explanation).toBe('string');
    expect(body.entries[0].attributionKey).toBeUndefined();
  });

  it('answers 404 unknown_payment for a key without state', async () => {
    const { status, body } = await get('/v1/websites/w_1/payments/stripe%3Api_nope');
    expect(status).toBe(404);
    expect(body.error.code).toBe('unknown_payment');
    expect(typeof body.error.message).toBe('string');
    expect((await get(`/v1/websites/w_2/payments/${encodeURIComponent('stripe:pi_a/1')}`)).status).toBe(404);
  });

  it('groups net revenue per currency by day, channel, source and confidence', async () => {
    const day = await get('/v1/websites/w_1/revenue?groupBy=day');
    expect(day.status).toBe(200);
    expect(day.body).toEqual({
      groupBy: 'day',
      livemode: true,
      from: null,
      to: null,
      rows: [
        { key: '2026-11-29', currency: 'eur', grossMinor: 4900, refundedMinor: 0, netMinor: 4900 },
        { key: '2026-11-30', currency: 'inr', grossMinor: 50000, refundedMinor: 0, netMinor: 50000 },
        { key: '2026-12-01', currency: 'eur', grossMinor: 0, refundedMinor: 1000, netMinor: -1000 },
      ],
      nextCursor: null,
    });
    const channel = await get('/v1/websites/w_1/revenue?groupBy=channel');
    expect(channel.body.rows.map((r: any) => [r.key, r.currency, r.netMinor])).toEqual([
      ['paid_search', 'eur', 3900],
      ['referral', 'inr', 50000],
    ]);
    const source = await get('/v1/websites/w_1/revenue?groupBy=source');
    expect(source.body.rows.map((r: any) => [r.key, r.netMinor])).toEqual([
      ['google', 3900],
      ['news.ycombinator.com', 50000],
    ]);
    const confidence = await get('/v1/websites/w_1/revenue?groupBy=confidence&livemode=false');
    expect(confidence.body.rows).toEqual([{ key: 'high', currency: 'eur', grossMinor: 700, refundedMinor: 0, netMinor: 700 }]);
  });

  it('pages with limit and cursor', async () => {
    const first = await get('/v1/websites/w_1/revenue?groupBy=day&limit=2');
    expect(first.body.rows.map((r: any) => r.key)).toEqual(['2026-11-29', '2026-11-30']);
    expect(typeof first.body.nextCursor).toBe('string');
    const second = await get(`/v1/websites/w_1/revenue?groupBy=day&limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.rows.map((r: any) => r.key)).toEqual(['2026-12-01']);
    expect(second.body.nextCursor).toBeNull();
  });

  it('lists the latest recorded states newest paidAt first, per mode, in keyset pages (what admin parses)', async () => {
    const all = await get('/v1/websites/w_1/payments?livemode=true&limit=20');
    expect(all.status).toBe(200);
    expect(all.body.nextCursor).toBeNull();
    expect(all.body.payments.map((p: any) => [p.paymentKey, p.revision])).toEqual([
      ['razorpay:pay_b', 1],
      ['stripe:pi_a/1', 3],
    ]);
    // Exactly the contract's shape: admin's HttpLedgerClient drops anything that does not parse.
    for (const p of all.body.payments) expect(paymentStateSchema.safeParse(p).success).toBe(true);
    expect(all.body.payments[1]).toEqual(a3);

    const first = await get('/v1/websites/w_1/payments?limit=1');
    expect(first.body.payments.map((p: any) => p.paymentKey)).toEqual(['razorpay:pay_b']);
    expect(typeof first.body.nextCursor).toBe('string');
    const second = await get(`/v1/websites/w_1/payments?limit=1&cursor=${first.body.nextCursor}`);
    expect(second.body.payments.map((p: any) => p.paymentKey)).toEqual(['stripe:pi_a/1']);
    expect(second.body.nextCursor).toBeNull();

    const test = await get('/v1/websites/w_1/payments?livemode=false');
    expect(test.body).toEqual({ payments: [t1], nextCursor: null });
    expect((await get('/v1/websites/w_other/payments')).body).toEqual({ payments: [], nextCursor: null });
  });

  it('pages payments with equal paidAt without skipping or repeating', async () => {
    const same = ['x1', 'x2', 'x3', 'x4', 'x5'].map((id) =>
      paymentState({ websiteId: 'w_ties', paymentKey: `stripe:pi_${id}`, paidAt: '2026-11-29T10:00:00.000Z' }),
    );
    const newest = paymentState({ websiteId: 'w_ties', paymentKey: 'stripe:pi_new', paidAt: '2026-11-30T00:00:00.000Z' });
    await store.applyStates([...same, newest], NOW);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { body: any } = await get(`/v1/websites/w_ties/payments?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.body.payments.map((p: any) => p.paymentKey));
      cursor = page.body.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(seen[0]).toBe('stripe:pi_new');
    expect([...seen].sort()).toEqual([newest, ...same].map((s) => s.paymentKey).sort());
    expect(pages).toBe(3);
  });

  it.each([
    ['/v1/websites/w_1/payments?cursor=xyz', 'cursor'],
    ['/v1/websites/w_1/payments?limit=5000', 'limit'],
    ['/v1/reconciliation?websiteId=w_1&against=topic', 'against'],
    ['/v1/websites/w_1/revenue?groupBy=country', 'groupBy'],
    ['/v1/websites/w_1/revenue', 'groupBy'],
    ['/v1/websites/w_1/revenue?groupBy=day&limit=0', 'limit'],
    ['/v1/websites/w_1/revenue?groupBy=day&cursor=xyz', 'cursor'],
    ['/v1/websites/w_1/summary?from=yesterday', 'from'],
    ['/v1/websites/w_1/summary?to=2026-02-30', 'to'],
    ['/v1/websites/w_1/summary?from=2026-12-02&to=2026-12-01', 'to'],
    ['/v1/websites/w_1/summary?livemode=yes', 'livemode'],
    ['/v1/websites/w_1/summary?livemode=true&livemode=false', 'livemode'],
    ['/v1/reconciliation', 'websiteId'],
  ])('answers 400 invalid_query for %s naming %s', async (path, param) => {
    const { status, body } = await get(path);
    expect(status).toBe(400);
    expect(body.error.code).toBe('invalid_query');
    expect(body.error.message).toContain(param);
  });

  it('reports reconciliation of entries against the recorded states', async () => {
    const ok = await get('/v1/reconciliation?websiteId=w_1');
    expect(ok.body).toEqual({ ok: true, checked: 3, mismatches: [], pendingPayments: 0, rollups: { ok: true, checked: 7, mismatched: [], unlisted: [], skipped: 0 } });
    await store.entries.deleteOne({ paymentKey: 'razorpay:pay_b' });
    const broken = await get('/v1/reconciliation?websiteId=w_1');
    expect(broken.body.ok).toBe(false);
    expect(broken.body.mismatches).toEqual([
      expect.objectContaining({ paymentKey: 'razorpay:pay_b', expected: expect.objectContaining({ netMinor: 50000 }), actual: expect.objectContaining({ netMinor: 0 }) }),
    ]);
  });

  it('answers 500 internal_error when the store fails', async () => {
    const failing = express();
    const boom = new Error('db down');
    const reader = { ...store, summary: () => Promise.reject(boom) };
    const seen: unknown[] = [];
    failing.use(createLedgerRouter({ store: reader, onError: (e) => seen.push(e) }));
    const s = failing.listen(0, '127.0.0.1');
    await new Promise((resolve) => s.once('listening', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(s.address() as AddressInfo).port}/v1/websites/w_1/summary`);
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: { code: 'internal_error', message: expect.any(String) } });
      expect(seen).toEqual([boom]);
    } finally {
      await new Promise((resolve) => s.close(resolve));
    }
    expect(errors).toEqual([]);
  });
});
