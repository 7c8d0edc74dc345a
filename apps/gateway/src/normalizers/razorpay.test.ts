import { normalizedPaymentEventSchema, type PaymentReport, type RefundReport } from '@metrivo/contracts';
import { hashEmail } from '@metrivo/crypto';
import {
  razorpayEvent,
  razorpayOrderEntity,
  razorpayOrderPaid,
  razorpayPaymentCaptured,
  razorpayPaymentEntity,
  razorpayRefundEntity,
  razorpayRefundProcessed,
} from '../test-fixtures/razorpay';
import { payloadErrorOf } from '../test-fixtures/payload-error-of';
import { normalizeRazorpayEvent } from './razorpay';
import type { NormalizeContext } from './types';

const EMAIL_KEY = 'test-email-hash-key-0123456789';
const ctx: NormalizeContext = {
  websiteId: 'w_1',
  integrationId: 'int_rzp_1',
  receivedAt: new Date('2026-11-29T10:10:00.000Z'),
  emailHashKey: EMAIL_KEY,
  providerEventId: 'Jb6KpQmF1yQ0xv',
};
const AT = Math.floor(Date.parse('2026-11-29T10:09:30.000Z') / 1000);
const EMAIL = 'Priya.Sharma@Example.in';


describe('normalizeRazorpayEvent', () => {
  const payment = razorpayPaymentEntity({
    id: 'pay_29QQoUBi66xm2f', amount: 49900, currency: 'INR', email: EMAIL, orderId: 'order_9A33XWu170gUtm',
    customerId: 'cust_1Aa00000000001', notes: { metrivo_session_id: 's_3' }, createdAt: AT,
  });

  it('payment.captured: one paid report keyed by the pay_ id, currency lower-cased, email hashed', () => {
    const { events, ignored } = normalizeRazorpayEvent(razorpayPaymentCaptured(payment), ctx);
    expect(ignored).toBeUndefined();
    expect(events).toHaveLength(1);
    const r = events[0] as PaymentReport;
    expect(r).toMatchObject({
      type: 'payment', provider: 'razorpay', eventId: 'razorpay:Jb6KpQmF1yQ0xv:0', amountMinor: 49900, currency: 'inr',
      paid: true, kind: null, livemode: true, occurredAt: new Date(AT * 1000).toISOString(),
      refs: { payment: 'pay_29QQoUBi66xm2f', order: 'order_9A33XWu170gUtm', customer: 'cust_1Aa00000000001', invoice: null, paymentIntent: null },
      signals: { sessionId: 's_3', visitorId: null, emailHash: hashEmail(EMAIL, EMAIL_KEY), emailMasked: 'p***@example.in' },
      source: { eventId: 'Jb6KpQmF1yQ0xv', eventType: 'payment.captured', apiVersion: null, receivedAt: '2026-11-29T10:10:00.000Z' },
    });
    expect(normalizedPaymentEventSchema.safeParse(r).success).toBe(true);
    expect(JSON.stringify(events).toLowerCase()).not.toContain(EMAIL.toLowerCase());
  });

  it('order.paid reports the same money (same pay_ id and amount) and adds the order notes as signals', () => {
    const order = razorpayOrderEntity({ id: 'order_9A33XWu170gUtm', amount: 49900, notes: { metrivo_visitor_id: 'v_9', metrivo_session_id: 's_order' } });
    const captured = normalizeRazorpayEvent(razorpayPaymentCaptured(payment), ctx).events[0] as PaymentReport;
    const paid = normalizeRazorpayEvent(razorpayOrderPaid(payment, order), ctx).events[0] as PaymentReport;
    expect(paid.refs).toEqual(captured.refs);
    expect(paid).toMatchObject({ amountMinor: captured.amountMinor, occurredAt: captured.occurredAt, currency: 'inr' });
    // The payment's own notes win; the order fills in what the payment lacks.
    expect(paid.signals).toMatchObject({ sessionId: 's_3', visitorId: 'v_9' });
  });

  it('order.paid takes the order id from the order when the payment does not name it', () => {
    const p = razorpayPaymentEntity({ orderId: null });
    const r = normalizeRazorpayEvent(razorpayOrderPaid(p, razorpayOrderEntity({ id: 'order_FromOrder' })), ctx).events[0]!;
    expect(r.refs.order).toBe('order_FromOrder');
  });

  it('empty notes arrive as [] and give no signals', () => {
    const p = razorpayPaymentEntity({ notes: [] });
    expect(p.notes).toEqual([]);
    const r = normalizeRazorpayEvent(razorpayPaymentCaptured(p), ctx).events[0]!;
    expect(r.signals).toMatchObject({ sessionId: null, visitorId: null });
  });

  it("Razorpay's void@razorpay.com placeholder is not an email", () => {
    const r = normalizeRazorpayEvent(razorpayPaymentCaptured(razorpayPaymentEntity({})), ctx).events[0]!;
    expect(r.signals).toMatchObject({ emailHash: null, emailMasked: null });
  });

  it('the placeholder is recognised whatever its case and surrounding spaces', () => {
    const entity = { ...razorpayPaymentEntity({}), email: ' Void@Razorpay.COM ' };
    const r = normalizeRazorpayEvent(razorpayPaymentCaptured(entity), ctx).events[0]!;
    expect(r.signals).toMatchObject({ emailHash: null, emailMasked: null });
  });

  it('livemode comes from the integration (ctx), default true', () => {
    const body = razorpayPaymentCaptured(payment);
    expect(normalizeRazorpayEvent(body, { ...ctx, livemode: false }).events[0]!.livemode).toBe(false);
    expect(normalizeRazorpayEvent(body, ctx).events[0]!.livemode).toBe(true);
  });

  it('refund.processed: one refund by rfnd_ id plus the cumulative amount_refunded of the payment', () => {
    const refunded = { ...payment, amount_refunded: 15000, refund_status: 'partial' };
    const refund = razorpayRefundEntity({ id: 'rfnd_FP8DDKxqJif6ca', paymentId: payment.id, amount: 5000, createdAt: AT + 60 });
    const { events } = normalizeRazorpayEvent(razorpayRefundProcessed(refund, refunded), ctx);
    const [single, cumulative] = events as RefundReport[];
    expect(events).toHaveLength(2);
    expect(single).toMatchObject({
      type: 'refund', eventId: 'razorpay:Jb6KpQmF1yQ0xv:0', refundId: 'rfnd_FP8DDKxqJif6ca', amountMinor: 5000, cumulativeRefundedMinor: null,
      currency: 'inr', status: 'succeeded', occurredAt: new Date((AT + 60) * 1000).toISOString(), refs: { payment: payment.id },
    });
    expect(cumulative).toMatchObject({ type: 'refund', eventId: 'razorpay:Jb6KpQmF1yQ0xv:1', refundId: null, amountMinor: null, cumulativeRefundedMinor: 15000, refs: { payment: payment.id } });
    expect(JSON.stringify(events).toLowerCase()).not.toContain(EMAIL.toLowerCase());
  });

  it('refund.processed without the payment entity yields the single refund only', () => {
    const refund = razorpayRefundEntity({ paymentId: 'pay_Only', amount: 100 });
    const { events } = normalizeRazorpayEvent(razorpayRefundProcessed(refund, null), ctx);
    expect(events).toMatchObject([{ refundId: refund.id, amountMinor: 100, refs: { payment: 'pay_Only' } }]);
  });

  it('refund.processed whose payment entity is another payment is malformed', () => {
    const refund = razorpayRefundEntity({ paymentId: 'pay_A' });
    const error = payloadErrorOf(() => normalizeRazorpayEvent(razorpayRefundProcessed(refund, razorpayPaymentEntity({ id: 'pay_B' })), ctx));
    expect(error.field).toBe('payload.payment.entity.id');
  });

  it('ignores event types it does not use, even without an event id', () => {
    const result = normalizeRazorpayEvent(razorpayEvent('payment.authorized', { payment: { entity: payment } }), { ...ctx, providerEventId: null });
    expect(result).toEqual({ events: [], ignored: expect.stringContaining('payment.authorized') });
  });

  it('requires the x-razorpay-event-id (ctx.providerEventId) for used events', () => {
    const error = payloadErrorOf(() => normalizeRazorpayEvent(razorpayPaymentCaptured(payment), { ...ctx, providerEventId: undefined }));
    expect(error.field).toBe('x-razorpay-event-id');
  });

  it.each([
    ['payload.payment.entity.amount', (p: Record<string, unknown>) => { delete p.amount; }],
    ['payload.payment.entity.amount', (p: Record<string, unknown>) => { p.amount = 499.0 + 0.5; }],
    ['payload.payment.entity.currency', (p: Record<string, unknown>) => { delete p.currency; }],
    ['payload.payment.entity.id', (p: Record<string, unknown>) => { delete p.id; }],
    ['payload.payment.entity.created_at', (p: Record<string, unknown>) => { delete p.created_at; }],
  ])('a payment.captured with a bad %s throws a PayloadError naming it', (field, patch) => {
    const p = razorpayPaymentEntity();
    patch(p);
    expect(payloadErrorOf(() => normalizeRazorpayEvent(razorpayPaymentCaptured(p), ctx)).field).toBe(field);
  });

  it('a payment.captured without payload.payment names it', () => {
    expect(payloadErrorOf(() => normalizeRazorpayEvent(razorpayEvent('payment.captured', {}), ctx)).field).toBe('payload.payment');
  });

  it('a refund.processed without the refund amount names it', () => {
    const refund = razorpayRefundEntity({ paymentId: 'pay_A' });
    delete refund.amount;
    expect(payloadErrorOf(() => normalizeRazorpayEvent(razorpayRefundProcessed(refund, null), ctx)).field).toBe('payload.refund.entity.amount');
  });
});
