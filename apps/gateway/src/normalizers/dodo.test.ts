import { normalizedPaymentEventSchema, type PaymentReport, type RefundReport } from '@metrivo/contracts';
import { hashEmail } from '@metrivo/crypto';
import { dodoEvent, dodoPaymentSucceeded, dodoRefundData, dodoRefundSucceeded } from '../test-fixtures/dodo';
import { normalizeDodoEvent } from './dodo';
import { payloadErrorOf } from '../test-fixtures/payload-error-of';
import type { NormalizeContext } from './types';

const EMAIL_KEY = 'test-email-hash-key-0123456789';
const ctx: NormalizeContext = {
  websiteId: 'w_1',
  integrationId: 'int_dodo_1',
  receivedAt: new Date('2026-11-29T10:10:00.000Z'),
  emailHashKey: EMAIL_KEY,
  providerEventId: 'msg_2k7YwPp3',
};
const AT = Math.floor(Date.parse('2026-11-29T10:09:30.000Z') / 1000);
const EMAIL = 'Max.Mustermann@Example.de';


describe('normalizeDodoEvent', () => {
  it('payment.succeeded: total_amount, lower-cased currency, ids, metadata signals, hashed email', () => {
    const body = dodoPaymentSucceeded({
      paymentId: 'pay_Dodo1', totalAmount: 2999, currency: 'EUR', email: EMAIL, customerId: 'cus_Dodo1',
      metadata: { metrivo_session_id: 's_3', metrivo_visitor_id: 'v_9' }, checkoutSessionId: 'cks_1', createdAt: AT,
    });
    const { events, ignored } = normalizeDodoEvent(body, ctx);
    expect(ignored).toBeUndefined();
    expect(events).toHaveLength(1);
    const r = events[0] as PaymentReport;
    expect(r).toMatchObject({
      type: 'payment', provider: 'dodo', eventId: 'dodo:msg_2k7YwPp3:0', amountMinor: 2999, currency: 'eur', paid: true,
      kind: 'one_time', livemode: true, occurredAt: new Date(AT * 1000).toISOString(),
      refs: { payment: 'pay_Dodo1', customer: 'cus_Dodo1', subscription: null, checkoutSession: null },
      signals: { sessionId: 's_3', visitorId: 'v_9', emailHash: hashEmail(EMAIL, EMAIL_KEY), emailMasked: 'm***@example.de' },
      source: { eventId: 'msg_2k7YwPp3', eventType: 'payment.succeeded', apiVersion: null },
    });
    expect(normalizedPaymentEventSchema.safeParse(r).success).toBe(true);
    expect(JSON.stringify(events).toLowerCase()).not.toContain(EMAIL.toLowerCase());
  });

  it('a subscription payment names the subscription and leaves kind to the fold', () => {
    const r = normalizeDodoEvent(dodoPaymentSucceeded({ subscriptionId: 'sub_Dodo1' }), ctx).events[0] as PaymentReport;
    expect(r).toMatchObject({ kind: null, refs: { subscription: 'sub_Dodo1' } });
  });

  it('a payment.succeeded delivered after a refund also reports its succeeded embedded refunds', () => {
    const refunds = [
      dodoRefundData({ paymentId: 'pay_Late', refundId: 'ref_1', amount: 500, currency: 'USD' }),
      dodoRefundData({ paymentId: 'pay_Late', refundId: 'ref_2', amount: 700, status: 'pending' }),
    ];
    const { events } = normalizeDodoEvent(dodoPaymentSucceeded({ paymentId: 'pay_Late', refunds }), ctx);
    expect(events.map((e) => e.type)).toEqual(['payment', 'refund']);
    expect(events[1]).toMatchObject({ eventId: 'dodo:msg_2k7YwPp3:refund:ref_1', refundId: 'ref_1', amountMinor: 500, currency: 'usd', status: 'succeeded', refs: { payment: 'pay_Late' } });
  });

  it('embedded refunds get event ids from their refund id: a redelivery listing [B, A] instead of [A] keeps A\'s id and gives B its own', () => {
    const a = dodoRefundData({ paymentId: 'pay_Re', refundId: 'ref_A', amount: 500 });
    const b = dodoRefundData({ paymentId: 'pay_Re', refundId: 'ref_B', amount: 700 });
    const first = normalizeDodoEvent(dodoPaymentSucceeded({ paymentId: 'pay_Re', refunds: [a] }), ctx).events;
    const redelivered = normalizeDodoEvent(dodoPaymentSucceeded({ paymentId: 'pay_Re', refunds: [b, a] }), ctx).events;
    const ids = (events: typeof first) => Object.fromEntries(events.map((e) => [e.type === 'refund' ? e.refundId : 'payment', e.eventId]));
    expect(ids(first)).toEqual({ payment: 'dodo:msg_2k7YwPp3:0', ref_A: 'dodo:msg_2k7YwPp3:refund:ref_A' });
    expect(ids(redelivered)).toEqual({ payment: 'dodo:msg_2k7YwPp3:0', ref_A: 'dodo:msg_2k7YwPp3:refund:ref_A', ref_B: 'dodo:msg_2k7YwPp3:refund:ref_B' });
    // The same eventId always carries the same refund.
    expect(redelivered.find((e) => e.eventId === first[1]!.eventId)).toMatchObject({ refundId: 'ref_A', amountMinor: 500 });
  });

  it('an embedded refund whose derived event id would exceed 255 characters is skipped, never failing the payment', () => {
    const long = dodoRefundData({ paymentId: 'pay_Long', refundId: `ref_${'x'.repeat(240)}`, amount: 100 });
    const { events } = normalizeDodoEvent(dodoPaymentSucceeded({ paymentId: 'pay_Long', refunds: [long] }), ctx);
    expect(events.map((e) => e.type)).toEqual(['payment']);
  });

  it('refund.succeeded keeps its id {provider}:{webhook-id}:0', () => {
    const { events } = normalizeDodoEvent(dodoRefundSucceeded({ paymentId: 'pay_1', refundId: 'ref_1' }), ctx);
    expect(events.map((e) => e.eventId)).toEqual(['dodo:msg_2k7YwPp3:0']);
  });

  it.each([
    ['amount', { amount: null }],
    ['currency', { currency: null }],
    ['amount and currency', { amount: null, currency: null }],
  ])('an embedded succeeded refund without %s is skipped (its own refund.succeeded reports it); the payment still publishes', (_what, over) => {
    const refunds = [
      dodoRefundData({ paymentId: 'pay_Opt', refundId: 'ref_bare', ...over }),
      dodoRefundData({ paymentId: 'pay_Opt', refundId: 'ref_full', amount: 300, currency: 'USD' }),
    ];
    const { events } = normalizeDodoEvent(dodoPaymentSucceeded({ paymentId: 'pay_Opt', totalAmount: 4900, refunds }), ctx);
    expect(events.map((e) => e.type)).toEqual(['payment', 'refund']);
    expect(events[0]).toMatchObject({ type: 'payment', amountMinor: 4900, refs: { payment: 'pay_Opt' } });
    expect(events[1]).toMatchObject({ refundId: 'ref_full', amountMinor: 300 });
  });

  it('an embedded refund that cannot be read at all (no refund_id, not an object, garbled amount) is skipped too', () => {
    const noId = dodoRefundData({ paymentId: 'pay_Odd', amount: 100 });
    delete noId.refund_id;
    const garbled = { ...dodoRefundData({ paymentId: 'pay_Odd' }), amount: '1.00' };
    const { events } = normalizeDodoEvent(dodoPaymentSucceeded({ paymentId: 'pay_Odd', refunds: [noId, 'ref_x', null, garbled] as never }), ctx);
    expect(events.map((e) => e.type)).toEqual(['payment']);
  });

  it('refund.succeeded: one refund by refund_id', () => {
    const body = dodoRefundSucceeded({ paymentId: 'pay_Dodo1', refundId: 'ref_Dodo1', amount: 1000, currency: 'USD', isPartial: true, createdAt: AT });
    const { events } = normalizeDodoEvent(body, ctx);
    expect(events).toHaveLength(1);
    const r = events[0] as RefundReport;
    expect(r).toMatchObject({
      type: 'refund', refundId: 'ref_Dodo1', amountMinor: 1000, cumulativeRefundedMinor: null, currency: 'usd', status: 'succeeded',
      occurredAt: new Date(AT * 1000).toISOString(), refs: { payment: 'pay_Dodo1' },
    });
  });

  it('refund.succeeded without a status field is a succeeded refund (counted), not a pending one', () => {
    const body = dodoRefundSucceeded({ paymentId: 'pay_Dodo1', refundId: 'ref_Dodo2', amount: 1000, isPartial: true, createdAt: AT });
    delete (body.data as Record<string, unknown>).status;
    const r = normalizeDodoEvent(body, ctx).events[0] as RefundReport;
    expect(r).toMatchObject({ type: 'refund', refundId: 'ref_Dodo2', amountMinor: 1000, status: 'succeeded' });
  });

  it('refund.succeeded without amount cannot be counted: PayloadError naming data.amount', () => {
    const body = dodoRefundSucceeded({ paymentId: 'pay_Dodo1', amount: null, isPartial: false });
    expect(payloadErrorOf(() => normalizeDodoEvent(body, ctx)).field).toBe('data.amount');
  });

  it('livemode: a boolean in the payload wins, otherwise the integration decides (default true)', () => {
    const body = dodoPaymentSucceeded();
    expect(normalizeDodoEvent(body, { ...ctx, livemode: false }).events[0]!.livemode).toBe(false);
    expect(normalizeDodoEvent({ ...body, livemode: true }, { ...ctx, livemode: false }).events[0]!.livemode).toBe(true);
    expect(normalizeDodoEvent(body, ctx).events[0]!.livemode).toBe(true);
  });

  it('falls back to the body timestamp when data.created_at is absent', () => {
    const body = dodoPaymentSucceeded();
    delete body.data.created_at;
    expect(normalizeDodoEvent(body, ctx).events[0]!.occurredAt).toBe(new Date(body.timestamp).toISOString());
  });

  it('ignores unused types, even without webhook-id', () => {
    expect(normalizeDodoEvent(dodoEvent('subscription.active', {}), { ...ctx, providerEventId: null })).toEqual({ events: [], ignored: expect.stringContaining('subscription.active') });
  });

  it('requires the webhook-id (ctx.providerEventId) for used events', () => {
    expect(payloadErrorOf(() => normalizeDodoEvent(dodoPaymentSucceeded(), { ...ctx, providerEventId: '' })).field).toBe('webhook-id');
  });

  it.each([
    ['data.total_amount', (d: Record<string, unknown>) => { delete d.total_amount; }],
    ['data.total_amount', (d: Record<string, unknown>) => { d.total_amount = '29.99'; }],
    ['data.currency', (d: Record<string, unknown>) => { d.currency = 'EURO'; }],
    ['data.payment_id', (d: Record<string, unknown>) => { delete d.payment_id; }],
    ['data.created_at', (d: Record<string, unknown>) => { d.created_at = 'last tuesday'; }],
    ['data.customer', (d: Record<string, unknown>) => { d.customer = 'cus_1'; }],
  ])('a payment.succeeded with a bad %s throws a PayloadError naming it', (field, patch) => {
    const body = dodoPaymentSucceeded();
    patch(body.data);
    expect(payloadErrorOf(() => normalizeDodoEvent(body, ctx)).field).toBe(field);
  });

  it('a body without data names it', () => {
    expect(payloadErrorOf(() => normalizeDodoEvent({ type: 'payment.succeeded' }, ctx)).field).toBe('data');
  });
});
