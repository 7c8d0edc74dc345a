import { paymentStateSchema, type PaymentState } from '@metrivo/contracts';
import { expectCountersMatchStats, testMeterProvider } from '@metrivo/testing';
import { BatchingProducer } from '@metrivo/kafka';
import type { Kafka } from 'kafkajs';
import { startLedger, type LedgerApp } from './main';
import { highSession, mediumVisitor, nextRevision, paymentState, unattributed } from './test-states';
import {
  apiFigures,
  dropDatabase,
  fastConsumer,
  getJson,
  publishStates,
  runId,
  startGroupAtEnd,
  testConfig,
  testKafka,
  testLogger,
  uniqueId,
  waitForRecorded,
} from './test-support/int-helpers';
import { expectedSummary, forWebsite, inOrder, latestOf, paymentHistories, shuffledPerKey } from './test-support/workload';

/** The ledger app as deployed (real consumer of the revenue topic, real MongoDB), driven through Kafka and HTTP. */
const prefix = `w_led_${runId}_app`;
const database = uniqueId('ledger_int_app');
const meters = testMeterProvider();
let kafka: Kafka;
let producer: BatchingProducer;
let app: LedgerApp;
let base: string;

beforeAll(async () => {
  kafka = testKafka('ledger-app');
  producer = new BatchingProducer(kafka);
  await producer.connect();
  const groupId = uniqueId('ledger-app');
  await startGroupAtEnd(kafka, groupId);
  // Small handler calls, so that a key's shuffled revisions really arrive in different calls (within one call
  // the store sorts a key's revisions, which would hide the disorder).
  app = await startLedger(testConfig({ MONGODB_DB: database, KAFKA_GROUP_ID: groupId, LEDGER_MAX_RECORDS_PER_BATCH: '4' }), {
    logger: testLogger(),
    consumer: fastConsumer,
    acceptState: (s) => s.websiteId.startsWith(prefix),
    meterProvider: meters.provider,
  });
  await app.consumer.joined;
  base = `http://127.0.0.1:${app.port}`;
}, 30_000);

afterAll(async () => {
  await app?.stop();
  await producer?.disconnect();
  await dropDatabase(database);
}, 30_000);

describe('ledger app: states from the revenue topic → entries → read API', () => {
  const w = `${prefix}_a`;
  // The README's worked example, plus a second currency, a merge and a test-mode payment.
  const r1 = paymentState({ websiteId: w, paymentKey: 'stripe:pi_readme', attribution: unattributed, paidAt: '2026-11-29T10:09:30.000Z', updatedAt: '2026-11-29T10:10:00.000Z', eventIds: ['evt_1'] });
  const r2 = nextRevision(r1, { refundedMinor: 1000, refundedAt: '2026-12-01T09:00:00.000Z', updatedAt: '2026-12-01T09:00:05.000Z', eventIds: ['evt_1', 'evt_2'] });
  const r3 = nextRevision(r2, { attribution: highSession, updatedAt: '2026-12-01T10:00:00.000Z' });
  const inr = paymentState({ websiteId: w, paymentKey: 'razorpay:pay_b', provider: 'razorpay', currency: 'inr', grossMinor: 50000, attribution: mediumVisitor, paidAt: '2026-11-30T05:00:00.000Z', eventIds: ['pay_b'] });
  const dup1 = paymentState({ websiteId: w, paymentKey: 'stripe:pi_dup', grossMinor: 2000, attribution: mediumVisitor, paidAt: '2026-11-30T12:00:00.000Z', eventIds: ['evt_d'] });
  const dup2 = nextRevision(dup1, { status: 'merged', mergedInto: 'stripe:in_c', updatedAt: '2026-11-30T12:05:00.000Z' });
  const invoice = paymentState({ websiteId: w, paymentKey: 'stripe:in_c', grossMinor: 2000, attribution: highSession, kind: 'subscription_initial', paidAt: '2026-11-30T12:00:00.000Z', eventIds: ['evt_c'] });
  const test = paymentState({ websiteId: w, paymentKey: 'stripe:pi_test', livemode: false, grossMinor: 700, attribution: highSession, eventIds: ['evt_t'] });

  beforeAll(async () => {
    await publishStates(producer, [r1, inr, dup1, r2, invoice, dup2, test, r3]);
    await waitForRecorded(app.store, [r3, inr, dup2, invoice, test]);
  }, 40_000);

  it('answers the summary per currency and confidence, live and test apart', async () => {
    const live = await getJson(base, `/v1/websites/${w}/summary?livemode=true`);
    expect(live).toEqual({
      status: 200,
      body: {
        currencies: {
          eur: { grossMinor: 6900, refundedMinor: 1000, netMinor: 5900, payments: 2 },
          inr: { grossMinor: 50000, refundedMinor: 0, netMinor: 50000, payments: 1 },
        },
        byConfidence: {
          high: { eur: 5900, inr: 0 },
          medium: { eur: 0, inr: 50000 },
          low: { eur: 0, inr: 0 },
          none: { eur: 0, inr: 0 },
        },
      },
    });
    const testMode = await getJson(base, `/v1/websites/${w}/summary?livemode=false`);
    expect(testMode.body.currencies).toEqual({ eur: { grossMinor: 700, refundedMinor: 0, netMinor: 700, payments: 1 } });
  });

  it('answers revenue by confidence, day and channel', async () => {
    const rows = async (q: string) => (await getJson(base, `/v1/websites/${w}/revenue?${q}`)).body.rows;
    expect(await rows('groupBy=confidence')).toEqual([
      { key: 'high', currency: 'eur', grossMinor: 6900, refundedMinor: 1000, netMinor: 5900 },
      { key: 'medium', currency: 'inr', grossMinor: 50000, refundedMinor: 0, netMinor: 50000 },
    ]);
    expect(await rows('groupBy=day')).toEqual([
      { key: '2026-11-29', currency: 'eur', grossMinor: 4900, refundedMinor: 0, netMinor: 4900 },
      { key: '2026-11-30', currency: 'eur', grossMinor: 2000, refundedMinor: 0, netMinor: 2000 },
      { key: '2026-11-30', currency: 'inr', grossMinor: 50000, refundedMinor: 0, netMinor: 50000 },
      { key: '2026-12-01', currency: 'eur', grossMinor: 0, refundedMinor: 1000, netMinor: -1000 },
    ]);
    expect(await rows('groupBy=channel')).toEqual([
      { key: 'paid_search', currency: 'eur', grossMinor: 6900, refundedMinor: 1000, netMinor: 5900 },
      { key: 'referral', currency: 'inr', grossMinor: 50000, refundedMinor: 0, netMinor: 50000 },
    ]);
    expect(await rows('groupBy=day&from=2026-12-01&to=2026-12-01')).toEqual([{ key: '2026-12-01', currency: 'eur', grossMinor: 0, refundedMinor: 1000, netMinor: -1000 }]);
  });

  it('explains a payment: its state and the entries of every revision', async () => {
    const { status, body } = await getJson(base, `/v1/websites/${w}/payments/${encodeURIComponent('stripe:pi_readme')}`);
    expect(status).toBe(200);
    expect(body.state).toEqual(r3);
    expect(body.entries.map((e: any) => [e.revision, e.kind, e.component, e.amountMinor, e.attribution.confidence, e.occurredAt, e.eventIds])).toEqual([
      [1, 'revenue', 'gross', 4900, 'none', '2026-11-29T10:09:30.000Z', ['evt_1']],
      [2, 'refund', 'refunded', -1000, 'none', '2026-12-01T09:00:00.000Z', ['evt_2']],
      [3, 'attribution_move', 'gross', -4900, 'none', '2026-11-29T10:09:30.000Z', []],
      [3, 'attribution_move', 'gross', 4900, 'high', '2026-11-29T10:09:30.000Z', []],
      [3, 'attribution_move', 'refunded', 1000, 'none', '2026-12-01T09:00:00.000Z', []],
      [3, 'attribution_move', 'refunded', -1000, 'high', '2026-12-01T09:00:00.000Z', []],
    ]);
    expect(body.entries[3].explanation).toMatch(/session s_3/);
    const merged = await getJson(base, `/v1/websites/${w}/payments/${encodeURIComponent('stripe:pi_dup')}`);
    expect(merged.body.entries.map((e: any) => [e.revision, e.kind, e.amountMinor])).toEqual([
      [1, 'revenue', 2000],
      [2, 'merge_reversal', -2000],
    ]);
    expect((await getJson(base, `/v1/websites/${w}/payments/${encodeURIComponent('stripe:pi_none')}`)).body.error.code).toBe('unknown_payment');
  });

  it('lists the latest states newest first, as admin parses them', async () => {
    const { body } = await getJson(base, `/v1/websites/${w}/payments?livemode=true&limit=3`);
    // stripe:in_c and stripe:pi_dup share paidAt; the keyset orders ties by document id.
    expect(body.payments.slice(0, 2).map((p: PaymentState) => p.paymentKey).sort()).toEqual(['stripe:in_c', 'stripe:pi_dup']);
    expect(body.payments[2].paymentKey).toBe('razorpay:pay_b');
    for (const p of body.payments) expect(paymentStateSchema.safeParse(p).success).toBe(true);
    const rest = await getJson(base, `/v1/websites/${w}/payments?livemode=true&limit=3&cursor=${body.nextCursor}`);
    expect(rest.body).toEqual({ payments: [r3], nextCursor: null });
  });

  it('reconciles its entries with its recorded states and with the topic', async () => {
    expect((await getJson(base, `/v1/reconciliation?websiteId=${w}`)).body).toEqual({ ok: true, checked: 5, mismatches: [], pendingPayments: 0, rollups: { ok: true, checked: 7, mismatched: [], unlisted: [], skipped: 0 } });
    const topic = (await getJson(base, `/v1/reconciliation?websiteId=${w}&against=topic`)).body;
    expect(topic).toMatchObject({ ok: true, against: 'topic', checked: 5, mismatches: [], lagging: [] });
  });

  it('reports what it did on /metrics', async () => {
    const { body } = await getJson(base, '/metrics');
    expect(body).toMatchObject({ service: 'ledger', database, topic: 'metrivo.revenue.attributed.v1' });
    expect(body.apply.statesApplied).toBeGreaterThanOrEqual(8);
    expect(body.apply.entriesInserted).toBeGreaterThanOrEqual(11); // 6 + 1 + 2 + 1 + 1
    expect(body.consumer.recordsProcessed).toBeGreaterThanOrEqual(8);
    expect(body.consumer.running).toBe(true);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    // The same figures as OpenTelemetry metrics (an exporter sends them on).
    const points = await expectCountersMatchStats(meters, () => app.metrics(), {
      'metrivo.ledger.entries.inserted': (m) => m.apply.entriesInserted,
      'metrivo.ledger.states.applied': (m) => m.apply.statesApplied,
      'metrivo.consumer.records.processed': (m) => m.consumer.recordsProcessed,
    });
    expect(points.find((p) => p.name === 'metrivo.consumer.crashes')?.attributes).toEqual({ 'messaging.consumer.group.name': app.config.KAFKA_GROUP_ID });
  });
});

describe('ledger app: the same history delivered twice and shuffled per key', () => {
  const histories = paymentHistories({ websiteId: `${prefix}_ordered`, payments: 20, seed: 7 });
  const ordered = inOrder(histories);
  const messy = forWebsite(histories, `${prefix}_messy`);
  const latestOrdered = latestOf(histories);
  const latestMessy = latestOf(messy);

  beforeAll(async () => {
    await publishStates(producer, [...ordered, ...shuffledPerKey(messy, 1), ...shuffledPerKey(messy, 2)]);
    await waitForRecorded(app.store, [...latestOrdered, ...latestMessy], 60_000);
  }, 70_000);

  it('gives the totals the final states imply', async () => {
    for (const livemode of [true, false]) {
      const { body } = await getJson(base, `/v1/websites/${prefix}_ordered/summary?livemode=${livemode}`);
      expect(body).toEqual(expectedSummary(latestOrdered, livemode));
    }
    // The workload has refunds, upgrades and merges in both modes (a test that cannot fail proves nothing).
    expect(latestOrdered.some((s) => s.status === 'merged')).toBe(true);
    expect(latestOrdered.some((s) => s.refundedMinor > 0 && s.status !== 'merged')).toBe(true);
    expect(histories.some((h) => h.some((s, i) => i > 0 && s.attribution.confidence !== h[0]!.attribution.confidence))).toBe(true);
  });

  it('gives identical totals in order once and shuffled twice', async () => {
    // Refund money days can differ: a revision skipped as stale books its refund at the later revision's refund
    // time (documented); every total and every attribution grouping is the same.
    const a = await apiFigures(base, `${prefix}_ordered`, { byDay: false });
    const b = await apiFigures(base, `${prefix}_messy`, { byDay: false });
    expect(b).toEqual(a);
    for (const site of ['ordered', 'messy']) {
      expect((await getJson(base, `/v1/reconciliation?websiteId=${prefix}_${site}`)).body).toMatchObject({ ok: true, pendingPayments: 0 });
    }
    const { body } = await getJson(base, '/metrics');
    expect(body.apply.staleRevisions).toBeGreaterThan(0);
  });
});
