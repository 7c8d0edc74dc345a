import { normalizedPaymentEventSchema, type NormalizedPaymentEvent, type PaymentReport, type RefundReport } from '@metrivo/contracts';
import { hashEmail } from '@metrivo/crypto';
import {
  STRIPE_API_VERSIONS,
  chargeObject,
  chargeRefunded,
  chargeSucceeded,
  checkoutAsyncPaymentSucceeded,
  checkoutCompleted,
  invoicePaid,
  invoicePaymentPaid,
  isBasilOrLater,
  hasLegacyChargeLists,
  oneTimeCheckoutScenario,
  paymentIntentSucceeded,
  refundEvent,
  refundObject,
  stripeEvent,
  subscriptionCheckoutScenario,
  subscriptionRenewalScenario,
  type StripeJson,
} from '../test-fixtures/stripe';
import { payloadErrorOf } from '../test-fixtures/payload-error-of';
import { normalizeStripeEvent } from './stripe';
import type { NormalizeContext } from './types';

const EMAIL_KEY = 'test-email-hash-key-0123456789';
const ctx: NormalizeContext = {
  websiteId: 'w_1',
  integrationId: 'int_stripe_1',
  receivedAt: new Date('2026-11-29T10:10:00.000Z'),
  emailHashKey: EMAIL_KEY,
};
const AT = Math.floor(Date.parse('2026-11-29T10:09:30.000Z') / 1000);
const iso = (unix: number) => new Date(unix * 1000).toISOString();

function normalize(event: StripeJson) {
  return normalizeStripeEvent(event, ctx);
}
function only(event: StripeJson): NormalizedPaymentEvent {
  const { events, ignored } = normalize(event);
  expect(ignored).toBeUndefined();
  expect(events).toHaveLength(1);
  return events[0]!;
}
function onlyPayment(event: StripeJson): PaymentReport {
  const e = only(event);
  if (e.type !== 'payment') throw new Error(`expected a payment report, got ${e.type}`);
  return e;
}
function byType(scenarioEvents: StripeJson[], type: string): StripeJson {
  const found = scenarioEvents.find((e) => e.type === type);
  if (!found) throw new Error(`scenario has no ${type}`);
  return found;
}

const EMAIL = 'Jane.Doe+shop@Example.com';
const SIGNALS = { metrivo_session_id: 's_3', metrivo_visitor_id: 'v_9' };

describe.each(STRIPE_API_VERSIONS)('normalizeStripeEvent, API version %s', (apiVersion) => {
  describe('one-time Checkout payment', () => {
    const scenario = oneTimeCheckoutScenario({
      apiVersion, at: AT, amount: 4900, currency: 'eur', email: EMAIL,
      sessionMetadata: SIGNALS, paymentIntentMetadata: { metrivo_visitor_id: 'v_9' },
    });
    const results = scenario.events.map(normalize);
    const all = results.flatMap((r) => r.events);

    it('reports every event of the payment as a paid payment of the same amount', () => {
      expect(all).toHaveLength(3);
      for (const e of all) {
        expect(e).toMatchObject({ type: 'payment', provider: 'stripe', amountMinor: 4900, currency: 'eur', paid: true, livemode: false, websiteId: 'w_1', integrationId: 'int_stripe_1' });
        expect(e.source.apiVersion).toBe(apiVersion);
        expect(e.source.receivedAt).toBe('2026-11-29T10:10:00.000Z');
        expect(normalizedPaymentEventSchema.safeParse(e).success).toBe(true);
      }
    });

    it('session: kind one_time, its ids, session metadata and the hashed email', () => {
      const session = onlyPayment(byType(scenario.events, 'checkout.session.completed'));
      expect(session.kind).toBe('one_time');
      expect(session.refs).toMatchObject({ checkoutSession: scenario.ids.checkoutSession, paymentIntent: scenario.ids.paymentIntent, invoice: null, subscription: null });
      expect(session.signals).toEqual({ sessionId: 's_3', visitorId: 'v_9', emailHash: hashEmail(EMAIL, EMAIL_KEY), emailMasked: 'j***@example.com' });
    });

    it('payment_intent.succeeded: the PaymentIntent, its charge (latest_charge or the legacy charges list) and its own metadata', () => {
      const pi = onlyPayment(byType(scenario.events, 'payment_intent.succeeded'));
      expect(pi.kind).toBeNull();
      expect(pi.refs).toMatchObject({ paymentIntent: scenario.ids.paymentIntent, charge: scenario.ids.charge, invoice: null });
      expect(pi.signals).toMatchObject({ sessionId: null, visitorId: 'v_9', emailHash: null });
    });

    it('charge.succeeded: charge + PaymentIntent, billing email hashed, money time = charge.created', () => {
      const charge = onlyPayment(byType(scenario.events, 'charge.succeeded'));
      expect(charge.refs).toMatchObject({ charge: scenario.ids.charge, paymentIntent: scenario.ids.paymentIntent });
      expect(charge.signals.emailHash).toBe(hashEmail(EMAIL, EMAIL_KEY));
      expect(charge.occurredAt).toBe(iso(AT));
    });

    it('eventId is stripe:{evt id}:{n} and the raw email appears nowhere in the output', () => {
      for (const [i, r] of results.entries()) expect(r.events.map((e) => e.eventId)).toEqual([`stripe:${scenario.events[i]!.id}:0`]);
      const json = JSON.stringify(all);
      expect(json).not.toContain(EMAIL);
      expect(json.toLowerCase()).not.toContain(EMAIL.toLowerCase());
      expect(json).not.toContain('jane.doe');
    });
  });

  describe('subscription Checkout, first period', () => {
    const scenario = subscriptionCheckoutScenario({
      apiVersion, at: AT, amount: 1900, currency: 'usd', email: EMAIL,
      sessionMetadata: {}, clientReferenceId: 'v_42', subscriptionMetadata: { metrivo_session_id: 's_77' },
    });
    const basil = isBasilOrLater(apiVersion);
    const ids = scenario.ids;

    it('sends invoice_payment.paid exactly on basil and later', () => {
      expect(scenario.events.some((e) => e.type === 'invoice_payment.paid')).toBe(basil);
    });

    it('session: kind subscription_initial, subscription + invoice, no PaymentIntent, client_reference_id as visitor', () => {
      const session = onlyPayment(byType(scenario.events, 'checkout.session.completed'));
      expect(session).toMatchObject({ kind: 'subscription_initial', amountMinor: 1900, currency: 'usd', paid: true });
      expect(session.refs).toMatchObject({ checkoutSession: ids.checkoutSession, subscription: ids.subscription, invoice: ids.invoice, paymentIntent: null, customer: ids.customer });
      expect(session.signals).toMatchObject({ visitorId: 'v_42', sessionId: null });
    });

    it('invoice.paid: subscription_initial, subscription id and metadata from the version-specific place', () => {
      const inv = onlyPayment(byType(scenario.events, 'invoice.paid'));
      expect(inv).toMatchObject({ kind: 'subscription_initial', amountMinor: 1900, occurredAt: iso(AT) });
      expect(inv.refs).toMatchObject({ invoice: ids.invoice, subscription: ids.subscription, customer: ids.customer });
      expect(inv.signals).toMatchObject({ sessionId: 's_77', emailHash: hashEmail(EMAIL, EMAIL_KEY) });
      // Before basil the invoice names its PaymentIntent and charge; from basil it does not.
      expect(inv.refs.paymentIntent).toBe(basil ? null : ids.paymentIntent);
      expect(inv.refs.charge).toBe(basil ? null : ids.charge);
    });

    it('PaymentIntent and charge name the invoice only before basil', () => {
      const pi = onlyPayment(byType(scenario.events, 'payment_intent.succeeded'));
      const charge = onlyPayment(byType(scenario.events, 'charge.succeeded'));
      expect(pi.refs.invoice).toBe(basil ? null : ids.invoice);
      expect(charge.refs.invoice).toBe(basil ? null : ids.invoice);
    });

    it('on basil+ only invoice_payment.paid links the invoice to the PaymentIntent', () => {
      const reports = scenario.events.flatMap((e) => normalize(e).events);
      const linking = reports.filter((r) => r.refs.invoice === ids.invoice && r.refs.paymentIntent === ids.paymentIntent);
      expect(linking.map((r) => r.source.eventType)).toEqual(
        basil ? ['invoice_payment.paid'] : ['charge.succeeded', 'payment_intent.succeeded', 'invoice.paid'],
      );
      if (basil) {
        const link = onlyPayment(byType(scenario.events, 'invoice_payment.paid'));
        expect(link).toMatchObject({ amountMinor: 1900, currency: 'usd', paid: true, kind: null, occurredAt: iso(AT) });
      }
    });
  });

  it('renewal invoice: kind subscription_renewal with the subscription id', () => {
    const scenario = subscriptionRenewalScenario({ apiVersion, at: AT, subscription: 'sub_1Renew', customer: 'cus_Renew' });
    const inv = onlyPayment(byType(scenario.events, 'invoice.paid'));
    expect(inv).toMatchObject({ kind: 'subscription_renewal' });
    expect(inv.refs).toMatchObject({ subscription: 'sub_1Renew', customer: 'cus_Renew' });
    expect(scenario.events.some((e) => e.type === 'checkout.session.completed')).toBe(false);
  });

  it('invoice.payment_succeeded is read like invoice.paid; other billing reasons leave kind to the fold', () => {
    const inv = onlyPayment(invoicePaid({ apiVersion, type: 'invoice.payment_succeeded', billingReason: 'subscription_update', amountPaid: 700, subscription: 'sub_upd' }));
    expect(inv).toMatchObject({ kind: null, amountMinor: 700 });
    expect(inv.refs.subscription).toBe('sub_upd');
    expect(inv.source.eventType).toBe('invoice.payment_succeeded');
  });

  it('a 0-amount invoice is still a payment report (amount 0) so its links are learned', () => {
    const inv = onlyPayment(invoicePaid({ apiVersion, amountPaid: 0, subscription: 'sub_trial', customerEmail: EMAIL }));
    expect(inv).toMatchObject({ amountMinor: 0, paid: true });
    expect(inv.refs.subscription).toBe('sub_trial');
  });

  it('charge.refunded: a cumulative refund report; pre-2022-11-15 payloads also yield one report per succeeded embedded refund', () => {
    const ch = 'ch_Refunded1';
    const refunds = [
      refundObject({ apiVersion, id: 're_A', amount: 1000, charge: ch, paymentIntent: 'pi_R', created: AT + 10 }),
      refundObject({ apiVersion, id: 're_B', amount: 500, charge: ch, paymentIntent: 'pi_R', created: AT + 20 }),
      refundObject({ apiVersion, id: 're_C', amount: 300, charge: ch, status: 'pending' }),
    ];
    const event = chargeRefunded({ apiVersion, id: ch, amount: 4900, amountRefunded: 1500, paymentIntent: 'pi_R', refunds, event: { created: AT + 30 } });
    const { events } = normalize(event);
    const cumulative = events[0] as RefundReport;
    expect(cumulative).toMatchObject({ type: 'refund', refundId: null, amountMinor: null, cumulativeRefundedMinor: 1500, status: 'succeeded', currency: 'eur', occurredAt: iso(AT + 30) });
    expect(cumulative.refs).toMatchObject({ charge: ch, paymentIntent: 'pi_R' });
    if (hasLegacyChargeLists(apiVersion)) {
      expect(events.slice(1)).toMatchObject([
        { type: 'refund', refundId: 're_A', amountMinor: 1000, cumulativeRefundedMinor: null, status: 'succeeded', occurredAt: iso(AT + 10), refs: { charge: ch, paymentIntent: 'pi_R' } },
        { type: 'refund', refundId: 're_B', amountMinor: 500, status: 'succeeded' },
      ]);
      expect(events.map((e) => e.eventId)).toEqual([0, 1, 2].map((n) => `stripe:${event.id}:${n}`));
    } else {
      expect(event.data.object.refunds).toBeUndefined();
      expect(events).toHaveLength(1);
    }
  });
});

describe('normalizeStripeEvent: Checkout payment status', () => {
  const apiVersion = '2024-06-20';

  it('payment_status unpaid (delayed method) → paid:false; async_payment_succeeded → paid:true for the same session', () => {
    const base = { apiVersion, id: 'cs_test_delayed', paymentIntent: 'pi_Delayed', amountTotal: 2500 };
    const completed = onlyPayment(checkoutCompleted({ ...base, paymentStatus: 'unpaid' }));
    const succeeded = onlyPayment(checkoutAsyncPaymentSucceeded(base));
    expect(completed).toMatchObject({ paid: false, amountMinor: 2500, refs: { checkoutSession: 'cs_test_delayed', paymentIntent: 'pi_Delayed' } });
    expect(succeeded).toMatchObject({ paid: true, amountMinor: 2500, refs: { checkoutSession: 'cs_test_delayed', paymentIntent: 'pi_Delayed' } });
    expect(succeeded.source.eventType).toBe('checkout.session.async_payment_succeeded');
  });

  it('no_payment_required (e.g. a trial) → a paid report of 0 that carries the signals and the subscription', () => {
    const r = onlyPayment(checkoutCompleted({ apiVersion, mode: 'subscription', paymentStatus: 'no_payment_required', amountTotal: 0, subscription: 'sub_Trial', metadata: SIGNALS }));
    expect(r).toMatchObject({ paid: true, amountMinor: 0, kind: 'subscription_initial', refs: { subscription: 'sub_Trial' }, signals: { sessionId: 's_3', visitorId: 'v_9' } });
  });

  it('setup-mode sessions are ignored', () => {
    const result = normalize(checkoutCompleted({ apiVersion, mode: 'setup' }));
    expect(result.events).toEqual([]);
    expect(result.ignored).toMatch(/setup/);
  });

  it('the event livemode is carried; occurredAt of a session is the event time', () => {
    const r = onlyPayment(checkoutCompleted({ apiVersion, livemode: true, event: { created: AT } }));
    expect(r.livemode).toBe(true);
    expect(r.occurredAt).toBe(iso(AT));
  });
});

describe('normalizeStripeEvent: signals', () => {
  const apiVersion = '2025-03-31.basil';

  it('metadata visitor id wins over client_reference_id; client_reference_id fills in when metadata has none', () => {
    const both = onlyPayment(checkoutCompleted({ apiVersion, metadata: { metrivo_visitor_id: 'v_meta' }, clientReferenceId: 'v_ref' }));
    const refOnly = onlyPayment(checkoutCompleted({ apiVersion, metadata: {}, clientReferenceId: 'v_ref' }));
    expect(both.signals.visitorId).toBe('v_meta');
    expect(refOnly.signals.visitorId).toBe('v_ref');
  });

  it('accepts camelCase metadata keys; snake_case wins when both are present', () => {
    const camel = onlyPayment(paymentIntentSucceeded({ apiVersion, metadata: { metrivoSessionId: 's_camel', metrivoVisitorId: 'v_camel' } }));
    expect(camel.signals).toMatchObject({ sessionId: 's_camel', visitorId: 'v_camel' });
    const mixed = onlyPayment(paymentIntentSucceeded({ apiVersion, metadata: { metrivoSessionId: 's_camel', metrivo_session_id: 's_snake' } }));
    expect(mixed.signals.sessionId).toBe('s_snake');
  });

  it('metadata on the PaymentIntent only reaches the PaymentIntent and charge reports, not the session report', () => {
    const scenario = oneTimeCheckoutScenario({ apiVersion, paymentIntentMetadata: SIGNALS });
    const session = onlyPayment(byType(scenario.events, 'checkout.session.completed'));
    const pi = onlyPayment(byType(scenario.events, 'payment_intent.succeeded'));
    const charge = onlyPayment(byType(scenario.events, 'charge.succeeded'));
    expect(session.signals).toMatchObject({ sessionId: null, visitorId: null });
    expect(pi.signals).toMatchObject({ sessionId: 's_3', visitorId: 'v_9' });
    expect(charge.signals).toMatchObject({ sessionId: 's_3', visitorId: 'v_9' });
  });

  it('invoice metadata wins over the subscription snapshot', () => {
    const inv = onlyPayment(invoicePaid({ apiVersion, metadata: { metrivo_session_id: 's_inv' }, subscriptionMetadata: { metrivo_session_id: 's_sub', metrivo_visitor_id: 'v_sub' } }));
    expect(inv.signals).toMatchObject({ sessionId: 's_inv', visitorId: 'v_sub' });
  });

  it('unusable metadata values (empty, too long, not strings) are dropped, never fatal', () => {
    const pi = paymentIntentSucceeded({ apiVersion });
    pi.data.object.metadata = { metrivo_session_id: '   ', metrivo_visitor_id: 'x'.repeat(300) };
    expect(onlyPayment(pi).signals).toMatchObject({ sessionId: null, visitorId: null });
  });

  it('emails: receipt_email on the PaymentIntent and customer_email on invoices are hashed and masked, never copied', () => {
    const pi = onlyPayment(paymentIntentSucceeded({ apiVersion, receiptEmail: 'buyer@shop.example' }));
    const inv = onlyPayment(invoicePaid({ apiVersion, customerEmail: 'buyer@shop.example' }));
    for (const r of [pi, inv]) {
      expect(r.signals).toMatchObject({ emailHash: hashEmail('buyer@shop.example', EMAIL_KEY), emailMasked: 'b***@shop.example' });
      expect(JSON.stringify(r)).not.toContain('buyer@shop.example');
    }
  });

  it('customer_email on the session is used when customer_details has none', () => {
    const event = checkoutCompleted({ apiVersion, email: null });
    event.data.object.customer_email = 'pre@fill.example';
    expect(onlyPayment(event).signals.emailHash).toBe(hashEmail('pre@fill.example', EMAIL_KEY));
  });
});

describe('normalizeStripeEvent: expanded objects', () => {
  it('reads ids from expanded objects as well as from id strings', () => {
    const apiVersion = '2024-06-20';
    const session = onlyPayment(checkoutCompleted({ apiVersion, paymentIntent: { id: 'pi_Expanded', object: 'payment_intent' }, customer: 'cus_1' }));
    expect(session.refs.paymentIntent).toBe('pi_Expanded');

    const charge = chargeObject({ apiVersion, id: 'ch_Expanded', paymentIntent: 'pi_X' });
    const pi = onlyPayment(paymentIntentSucceeded({ apiVersion, id: 'pi_X', latestCharge: charge, invoice: { id: 'in_Expanded', object: 'invoice' } }));
    expect(pi.refs).toMatchObject({ charge: 'ch_Expanded', invoice: 'in_Expanded' });

    const inv = onlyPayment(invoicePaid({ apiVersion, subscription: { id: 'sub_Expanded', object: 'subscription' }, paymentIntent: { id: 'pi_Y', object: 'payment_intent' } }));
    expect(inv.refs).toMatchObject({ subscription: 'sub_Expanded', paymentIntent: 'pi_Y' });
  });

  it('basil: expanded parent subscription and invoice_payment.payment.payment_intent', () => {
    const apiVersion = '2026-10-28.endive';
    const inv = onlyPayment(invoicePaid({ apiVersion, subscription: { id: 'sub_Basil', object: 'subscription' } }));
    expect(inv.refs.subscription).toBe('sub_Basil');
    const link = onlyPayment(invoicePaymentPaid({ apiVersion, invoice: { id: 'in_Basil', object: 'invoice' }, paymentIntent: { id: 'pi_Basil', object: 'payment_intent' } }));
    expect(link.refs).toMatchObject({ invoice: 'in_Basil', paymentIntent: 'pi_Basil' });
  });

  it('basil invoices with an expanded payments list name the paid PaymentIntent', () => {
    const event = invoicePaid({ apiVersion: '2025-03-31.basil' });
    event.data.object.payments = { object: 'list', data: [{ id: 'inpay_1', status: 'paid', payment: { type: 'payment_intent', payment_intent: 'pi_FromList' } }], has_more: false };
    expect(onlyPayment(event).refs.paymentIntent).toBe('pi_FromList');
  });

  it('invoice_payment.paid paid by a bare charge names the charge', () => {
    const link = onlyPayment(invoicePaymentPaid({ apiVersion: '2025-03-31.basil', invoice: 'in_C', charge: 'ch_Bare' }));
    expect(link.refs).toMatchObject({ invoice: 'in_C', charge: 'ch_Bare', paymentIntent: null });
  });
});

describe('normalizeStripeEvent: charges and refunds', () => {
  const apiVersion = '2026-10-28.endive';

  it('an uncaptured charge is not paid yet; charge.captured is; a partial capture reports the captured amount', () => {
    expect(onlyPayment(chargeSucceeded({ apiVersion, amount: 3000, captured: false })).paid).toBe(false);
    const captured = chargeObject({ apiVersion, amount: 3000 });
    captured.amount_captured = 2000;
    const r = onlyPayment(stripeEvent({ apiVersion, type: 'charge.captured', object: captured }));
    expect(r).toMatchObject({ paid: true, amountMinor: 2000 });
  });

  it('a pre-2022-11-15 PaymentIntent names its succeeded charge, not a failed earlier attempt listed after it', () => {
    const legacy = '2020-08-27';
    const event = paymentIntentSucceeded({ apiVersion: legacy, id: 'pi_L', latestCharge: 'ch_ok' });
    const failed = chargeObject({ apiVersion: legacy, id: 'ch_failed', paymentIntent: 'pi_L' });
    failed.status = 'failed';
    failed.paid = false;
    const charges = (event.data as StripeJson).object.charges as StripeJson;
    charges.data = [...(charges.data as StripeJson[]), failed];
    expect(onlyPayment(event).refs).toMatchObject({ paymentIntent: 'pi_L', charge: 'ch_ok' });
  });

  it.each([
    ['succeeded', 'succeeded'],
    ['pending', 'pending'],
    ['requires_action', 'pending'],
    ['failed', 'failed'],
    ['canceled', 'canceled'],
    ['some_future_status', 'pending'],
  ] as const)('refund status %s → %s', (stripeStatus, status) => {
    const event = refundEvent('refund.updated', { apiVersion, id: 're_S', amount: 700, charge: 'ch_S', paymentIntent: 'pi_S', created: AT });
    event.data.object.status = stripeStatus;
    const r = only(event);
    expect(r).toMatchObject({ type: 'refund', refundId: 're_S', amountMinor: 700, cumulativeRefundedMinor: null, status, occurredAt: iso(AT), refs: { charge: 'ch_S', paymentIntent: 'pi_S' } });
  });

  it.each(['refund.created', 'refund.updated', 'charge.refund.updated'] as const)('%s yields one single-refund report', (type) => {
    const r = only(refundEvent(type, { apiVersion: '2020-08-27', id: 're_T', amount: 100 }));
    expect(r).toMatchObject({ type: 'refund', refundId: 're_T', amountMinor: 100 });
    expect(r.source.eventType).toBe(type);
  });
});

describe('normalizeStripeEvent: ignored and malformed events', () => {
  const apiVersion = '2024-06-20';

  it('ignores event types it does not use, without reading their data', () => {
    expect(normalize({ id: 'evt_1', object: 'event', type: 'customer.created', data: {} })).toEqual({ events: [], ignored: expect.stringContaining('customer.created') });
    expect(normalize(stripeEvent({ apiVersion, type: 'checkout.session.async_payment_failed', object: {} })).events).toEqual([]);
  });

  it.each([
    ['data.object.amount_total', (e: StripeJson) => { delete e.data.object.amount_total; }],
    ['data.object.currency', (e: StripeJson) => { e.data.object.currency = null; }],
    ['data.object.currency', (e: StripeJson) => { e.data.object.currency = 'xyz'; }],
    ['data.object.amount_total', (e: StripeJson) => { e.data.object.amount_total = '4900'; }],
    ['data.object.amount_total', (e: StripeJson) => { e.data.object.amount_total = 49.5; }],
    ['data.object.amount_total', (e: StripeJson) => { e.data.object.amount_total = -1; }],
    ['data.object.mode', (e: StripeJson) => { delete e.data.object.mode; }],
    ['data.object.object', (e: StripeJson) => { e.data.object.object = 'payment_intent'; }],
    ['data.object.payment_intent', (e: StripeJson) => { e.data.object.payment_intent = 42; }],
    ['data.object.payment_intent.id', (e: StripeJson) => { e.data.object.payment_intent = { object: 'payment_intent' }; }],
    ['data.object', (e: StripeJson) => { delete e.data.object; }],
    ['livemode', (e: StripeJson) => { delete e.livemode; }],
    ['created', (e: StripeJson) => { e.created = 'yesterday'; }],
  ])('a checkout.session.completed with a bad %s throws a PayloadError naming it', (field, patch) => {
    const event = checkoutCompleted({ apiVersion });
    patch(event);
    const error = payloadErrorOf(() => normalize(event));
    expect(error.field).toBe(field);
    expect(error.code).toBe('invalid_payload');
    expect(error.message).toContain(field);
  });

  it.each([
    ['payment_intent.succeeded', () => paymentIntentSucceeded({ apiVersion }), 'amount_received'],
    ['charge.succeeded', () => chargeSucceeded({ apiVersion }), 'amount'],
    ['charge.refunded', () => chargeRefunded({ apiVersion, amountRefunded: 100 }), 'amount_refunded'],
    ['refund.created', () => refundEvent('refund.created', { apiVersion }), 'amount'],
    ['invoice.paid', () => invoicePaid({ apiVersion }), 'amount_paid'],
    ['invoice_payment.paid', () => invoicePaymentPaid({ apiVersion: '2025-03-31.basil', invoice: 'in_1' }), 'amount_paid'],
    ['invoice_payment.paid', () => invoicePaymentPaid({ apiVersion: '2025-03-31.basil', invoice: 'in_1' }), 'invoice'],
  ])('%s without %s throws a PayloadError naming data.object.%s', (_type, build, key) => {
    const event = build();
    delete event.data.object[key];
    expect(payloadErrorOf(() => normalize(event)).field).toBe(`data.object.${key}`);
  });

  it('a body that is not an event object throws a PayloadError', () => {
    expect(payloadErrorOf(() => normalizeStripeEvent('nope', ctx)).field).toBe('body');
    expect(payloadErrorOf(() => normalizeStripeEvent({ id: 'evt_1' }, ctx)).field).toBe('type');
  });
});
