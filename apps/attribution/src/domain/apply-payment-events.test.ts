import { paymentStateSchema, type PaymentState } from '@metrivo/contracts';
import { applyPaymentEvents, emptyPaymentSnapshot, nextPaymentLoad, ownAttribution, sessionLookups, withLoaded } from './apply-payment-events';
import { DEFAULT_ATTRIBUTION_SETTINGS } from './attribution';
import { reattributePayments } from './late-upgrade';
import { toStoredPaymentFact } from './payment-facts';
import type { PaymentRecord } from './payment-records';
import { createSessionView } from './sessions';
import { emailHashOf, identify, payment, refund, session, WEBSITE } from './test-support/builders';
import { createReferenceEdge, type ReferenceEdge } from './test-support/reference-edge';

const T0 = '2026-11-29T10:09:30.000Z';
const at = (seconds: number): string => new Date(Date.parse(T0) + seconds * 1000).toISOString();
const NOW = at(600);

function expectValid(states: Iterable<PaymentState>): void {
  for (const s of states) {
    const r = paymentStateSchema.safeParse(s);
    if (!r.success) throw new Error(`invalid state ${s.paymentKey}: ${JSON.stringify(r.error.issues)}`);
  }
}
function stateOf(edge: ReferenceEdge, key: string): PaymentState {
  const s = edge.latestStates().get(key);
  if (!s) throw new Error(`no state for ${key}; have ${[...edge.latestStates().keys()].join(', ')}`);
  return s;
}

// Stripe one-time Checkout: session.completed + payment_intent.succeeded + charge.succeeded.
const checkoutCompleted = payment({
  evt: 'evt_cs', eventType: 'checkout.session.completed', at: at(2), amount: 4900, kind: 'one_time',
  refs: { checkoutSession: 'cs_1', paymentIntent: 'pi_1', customer: 'cus_1' },
  signals: { sessionId: 's_3', visitorId: 'v_9', emailHash: emailHashOf('jane'), emailMasked: 'j***@example.com' },
});
const piSucceeded = payment({ evt: 'evt_pi', eventType: 'payment_intent.succeeded', at: at(0), amount: 4900, refs: { paymentIntent: 'pi_1', customer: 'cus_1' } });
const chargeSucceeded = payment({ evt: 'evt_ch', eventType: 'charge.succeeded', at: at(1), amount: 4900, refs: { charge: 'ch_1', paymentIntent: 'pi_1' } });
const googleSession = session({ sessionId: 's_3', visitorId: 'v_9', startedAt: at(-600), referrer: 'https://www.google.com/', utm: { source: 'google', medium: 'cpc' } });

describe('payment identity: one state per real-world payment', () => {
  it('folds a Checkout payment reported three times into one state under the PaymentIntent key', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestTracker([googleSession], NOW);
    edge.ingestPayments([checkoutCompleted, piSucceeded, chargeSucceeded], NOW);
    expectValid(edge.produced);
    expect([...edge.latestStates().keys()]).toEqual(['stripe:pi_1']);
    const s = stateOf(edge, 'stripe:pi_1');
    expect(s).toMatchObject({
      websiteId: WEBSITE, revision: 1, provider: 'stripe', livemode: true, currency: 'eur', grossMinor: 4900, refundedMinor: 0, netMinor: 4900,
      status: 'paid', mergedInto: null, paidAt: at(0), refundedAt: null, kind: 'one_time', subscriptionKey: null,
      refs: { paymentIntent: 'pi_1', invoice: null, checkoutSession: 'cs_1', charges: ['ch_1'], subscription: null },
      emailMasked: 'j***@example.com', eventIds: ['evt_ch', 'evt_cs', 'evt_pi'], updatedAt: NOW,
    });
    expect(s.attribution).toMatchObject({ confidence: 'high', matchedBy: 'session', visitorId: 'v_9', sessionId: 's_3' });
    expect(s.attribution.source?.channel).toBe('paid_search');
  });

  it('publishes a new revision only when the content changes: redelivered events publish nothing', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([checkoutCompleted], NOW);
    expect(edge.produced).toHaveLength(1);
    edge.ingestPayments([piSucceeded, chargeSucceeded], NOW);
    expect(edge.produced.map((s) => s.revision)).toEqual([1, 2]);
    expect(edge.ingestPayments([checkoutCompleted, piSucceeded, chargeSucceeded, chargeSucceeded], at(900))).toEqual([]);
    expect(edge.produced).toHaveLength(2);
  });

  it('an unpaid checkout is not revenue until the async payment succeeds', () => {
    const edge = createReferenceEdge(WEBSITE);
    const unpaid = payment({ evt: 'evt_u', at: at(0), amount: 9900, paid: false, refs: { checkoutSession: 'cs_9', paymentIntent: 'pi_9' }, signals: { visitorId: 'v_1' } });
    expect(edge.ingestPayments([unpaid], NOW)).toEqual([]);
    const succeeded = payment({ evt: 'evt_a', eventType: 'checkout.session.async_payment_succeeded', at: at(86400), amount: 9900, refs: { checkoutSession: 'cs_9', paymentIntent: 'pi_9' } });
    edge.ingestPayments([succeeded], at(86400 + 60));
    const s = stateOf(edge, 'stripe:pi_9');
    expect([s.grossMinor, s.paidAt, s.attribution.visitorId]).toEqual([9900, at(86400), 'v_1']);
  });

  it('a paid checkout without a PaymentIntent yet is keyed by the session, then merged into the PI key', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([payment({ evt: 'evt_c', at: at(0), amount: 1500, refs: { checkoutSession: 'cs_2' } })], NOW);
    expect(stateOf(edge, 'stripe:cs_2').grossMinor).toBe(1500);
    edge.ingestPayments([payment({ evt: 'evt_p', at: at(0), amount: 1500, refs: { checkoutSession: 'cs_2', paymentIntent: 'pi_2' } })], NOW);
    expect(stateOf(edge, 'stripe:cs_2')).toMatchObject({ status: 'merged', mergedInto: 'stripe:pi_2', netMinor: 0, grossMinor: 0 });
    expect(stateOf(edge, 'stripe:pi_2').grossMinor).toBe(1500);
    expectValid(edge.produced);
  });

  it('zero-amount invoices are not revenue', () => {
    const edge = createReferenceEdge(WEBSITE);
    expect(edge.ingestPayments([payment({ evt: 'evt_z', at: at(0), amount: 0, kind: 'subscription_initial', refs: { invoice: 'in_0', subscription: 'sub_1' } })], NOW)).toEqual([]);
  });

  it('subscription and customer ids never merge payments', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([
      payment({ evt: 'evt_1', at: at(0), amount: 1000, refs: { invoice: 'in_1', subscription: 'sub_1', customer: 'cus_1' } }),
      payment({ evt: 'evt_2', at: at(2_600_000), amount: 1000, refs: { invoice: 'in_2', subscription: 'sub_1', customer: 'cus_1' } }),
      payment({ evt: 'evt_3', at: at(10), amount: 500, refs: { paymentIntent: 'pi_x', customer: 'cus_1' } }),
    ], at(2_600_100));
    expect([...edge.latestStates().keys()].sort()).toEqual(['stripe:in_1', 'stripe:in_2', 'stripe:pi_x']);
  });

  it('Razorpay payment.captured and order.paid for one pay_ id count once; the order id does not merge', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([
      payment({ provider: 'razorpay', evt: 'e1', at: at(0), amount: 50000, currency: 'inr', refs: { payment: 'pay_1', order: 'order_1' } }),
      payment({ provider: 'razorpay', evt: 'e2', at: at(1), amount: 50000, currency: 'inr', refs: { payment: 'pay_1', order: 'order_1' } }),
      payment({ provider: 'razorpay', evt: 'e3', at: at(5), amount: 50000, currency: 'inr', refs: { payment: 'pay_2', order: 'order_1' } }),
    ], NOW);
    expect(stateOf(edge, 'razorpay:pay_1')).toMatchObject({ grossMinor: 50000, eventIds: ['e1', 'e2'], currency: 'inr' });
    expect(edge.latestStates().size).toBe(2);
  });
});

describe('refunds', () => {
  const pay = payment({ evt: 'evt_p', at: at(0), amount: 10000, refs: { paymentIntent: 'pi_r', charge: 'ch_r' } });

  it('cumulative charge.refunded reports combine by max, never by sum', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([pay], NOW);
    edge.ingestPayments([refund({ evt: 'evt_r1', at: at(100), cumulative: 1000, refs: { charge: 'ch_r', paymentIntent: 'pi_r' } })], NOW);
    edge.ingestPayments([refund({ evt: 'evt_r2', at: at(200), cumulative: 2500, refs: { charge: 'ch_r', paymentIntent: 'pi_r' } })], NOW);
    edge.ingestPayments([refund({ evt: 'evt_r1', at: at(100), cumulative: 1000, refs: { charge: 'ch_r', paymentIntent: 'pi_r' } })], NOW);
    expect(stateOf(edge, 'stripe:pi_r')).toMatchObject({ refundedMinor: 2500, netMinor: 7500, status: 'partially_refunded', refundedAt: at(200) });
  });

  it('refund objects sum over distinct refund ids; only the latest status of each counts', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([pay], NOW);
    const r1 = refund({ evt: 'evt_a', at: at(100), refundId: 're_1', amount: 1000, refs: { charge: 'ch_r' } });
    const r2pending = refund({ evt: 'evt_b', at: at(150), refundId: 're_2', amount: 1500, status: 'pending', refs: { charge: 'ch_r' } });
    edge.ingestPayments([r1, r1, r2pending], NOW);
    expect(stateOf(edge, 'stripe:pi_r').refundedMinor).toBe(1000);
    const r2succeeded = refund({ evt: 'evt_c', eventType: 'refund.updated', at: at(160), refundId: 're_2', amount: 1500, refs: { charge: 'ch_r' } });
    edge.ingestPayments([r2succeeded], NOW);
    expect(stateOf(edge, 'stripe:pi_r').refundedMinor).toBe(2500);
    // charge.refunded for the same two refunds must not add up on top.
    edge.ingestPayments([refund({ evt: 'evt_d', at: at(161), cumulative: 2500, refs: { charge: 'ch_r', paymentIntent: 'pi_r' } })], NOW);
    expect(stateOf(edge, 'stripe:pi_r').refundedMinor).toBe(2500);
    // re_1 fails later: it no longer counts (the cumulative 2500 still holds: max of both views).
    edge.ingestPayments([refund({ evt: 'evt_e', at: at(300), refundId: 're_1', amount: 1000, status: 'failed', refs: { charge: 'ch_r' } })], NOW);
    expect(stateOf(edge, 'stripe:pi_r').refundedMinor).toBe(2500);
  });

  it('a failed refund stops counting when only refund objects report it', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([pay, refund({ evt: 'evt_a', at: at(100), refundId: 're_1', amount: 1000, refs: { charge: 'ch_r' } })], NOW);
    expect(stateOf(edge, 'stripe:pi_r').refundedMinor).toBe(1000);
    edge.ingestPayments([refund({ evt: 'evt_f', at: at(400), refundId: 're_1', amount: 1000, status: 'failed', refs: { charge: 'ch_r' } })], NOW);
    expect(stateOf(edge, 'stripe:pi_r')).toMatchObject({ refundedMinor: 0, status: 'paid', refundedAt: null });
  });

  it('a refund that arrives before its payment is held, then applied', () => {
    const edge = createReferenceEdge(WEBSITE);
    expect(edge.ingestPayments([refund({ evt: 'evt_early', at: at(100), refundId: 're_9', amount: 3000, refs: { charge: 'ch_r' } })], NOW)).toEqual([]);
    expect(edge.latestStates().size).toBe(0);
    edge.ingestPayments([pay], NOW);
    expect(stateOf(edge, 'stripe:pi_r')).toMatchObject({ grossMinor: 10000, refundedMinor: 3000, netMinor: 7000, status: 'partially_refunded' });
    expect(stateOf(edge, 'stripe:pi_r').revision).toBe(1);
  });

  it('refunds are capped at gross and a full refund says refunded; other currencies are ignored', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([
      pay,
      refund({ evt: 'evt_x', at: at(100), cumulative: 12000, refs: { charge: 'ch_r' } }),
      refund({ evt: 'evt_y', at: at(100), refundId: 're_usd', amount: 500, currency: 'usd', refs: { charge: 'ch_r' } }),
    ], NOW);
    expect(stateOf(edge, 'stripe:pi_r')).toMatchObject({ refundedMinor: 10000, netMinor: 0, status: 'refunded' });
  });

  it('cumulative totals of several charges of one payment are summed per charge', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([
      payment({ evt: 'evt_p', at: at(0), amount: 10000, refs: { invoice: 'in_m', paymentIntent: 'pi_a', charge: 'ch_a' } }),
      payment({ evt: 'evt_q', at: at(0), amount: 10000, refs: { invoice: 'in_m', paymentIntent: 'pi_b', charge: 'ch_b' } }),
      refund({ evt: 'evt_1', at: at(50), cumulative: 1000, refs: { charge: 'ch_a' } }),
      refund({ evt: 'evt_2', at: at(60), cumulative: 2000, refs: { charge: 'ch_b' } }),
      refund({ evt: 'evt_3', at: at(40), cumulative: 500, refs: { charge: 'ch_a' } }),
    ], NOW);
    expect(stateOf(edge, 'stripe:in_m').refundedMinor).toBe(3000);
  });

  it('a refund never changes attribution', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([payment({ evt: 'evt_p', at: at(0), amount: 10000, refs: { paymentIntent: 'pi_r', charge: 'ch_r' }, signals: { sessionId: 's_late' } })], NOW);
    // The session shows up after the late-upgrade horizon; a refund then must not re-attribute.
    const muchLater = at(10 * 86400);
    edge.ingestTracker([session({ sessionId: 's_late', visitorId: 'v_1', startedAt: at(-60) })], muchLater);
    edge.ingestPayments([refund({ evt: 'evt_r', at: muchLater, refundId: 're_1', amount: 100, refs: { charge: 'ch_r' } })], muchLater);
    const s = stateOf(edge, 'stripe:pi_r');
    expect([s.refundedMinor, s.attribution.confidence, s.attribution.sessionId]).toEqual([100, 'none', 's_late']);
  });
});

describe('subscriptions (basil: invoices and PaymentIntents linked only by invoice_payment.paid)', () => {
  const sessionCompleted = payment({
    evt: 'evt_cs', eventType: 'checkout.session.completed', at: at(0), amount: 2000, kind: 'subscription_initial',
    refs: { checkoutSession: 'cs_s', subscription: 'sub_1', invoice: 'in_1', customer: 'cus_1' }, signals: { sessionId: 's_3', visitorId: 'v_9' },
  });
  const invoicePaid = payment({ evt: 'evt_in', eventType: 'invoice.paid', at: at(1), amount: 2000, kind: 'subscription_initial', refs: { invoice: 'in_1', subscription: 'sub_1', customer: 'cus_1' } });
  const pi = payment({ evt: 'evt_pi', eventType: 'payment_intent.succeeded', at: at(0), amount: 2000, refs: { paymentIntent: 'pi_s', customer: 'cus_1' } });
  const ch = payment({ evt: 'evt_ch', eventType: 'charge.succeeded', at: at(0), amount: 2000, refs: { charge: 'ch_s', paymentIntent: 'pi_s' } });
  const link = payment({ evt: 'evt_ip', eventType: 'invoice_payment.paid', at: at(2), amount: 2000, refs: { invoice: 'in_1', paymentIntent: 'pi_s' } });

  it('a late invoice↔PI link merges the PI key into the invoice key', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestTracker([googleSession], NOW);
    edge.ingestPayments([pi, ch], NOW);
    edge.ingestPayments([sessionCompleted, invoicePaid], NOW);
    expect(stateOf(edge, 'stripe:pi_s').status).toBe('paid'); // double counted until linked: both published
    edge.ingestPayments([link], NOW);
    expectValid(edge.produced);
    expect(stateOf(edge, 'stripe:pi_s')).toMatchObject({ status: 'merged', mergedInto: 'stripe:in_1', grossMinor: 0, refundedMinor: 0, netMinor: 0 });
    expect(stateOf(edge, 'stripe:in_1')).toMatchObject({
      status: 'paid', grossMinor: 2000, kind: 'subscription_initial', subscriptionKey: 'stripe:sub_1',
      refs: { paymentIntent: 'pi_s', invoice: 'in_1', checkoutSession: 'cs_s', charges: ['ch_s'], subscription: 'sub_1' },
      eventIds: ['evt_ch', 'evt_cs', 'evt_in', 'evt_ip', 'evt_pi'],
    });
    const live = [...edge.latestStates().values()].filter((s) => s.status !== 'merged');
    expect(live.reduce((sum, s) => sum + s.netMinor, 0)).toBe(2000);
  });

  it('the surviving key is the invoice whatever the order', () => {
    const orders = [[pi, ch, link, sessionCompleted, invoicePaid], [link, pi, ch, invoicePaid, sessionCompleted], [invoicePaid, ch, link, pi, sessionCompleted]];
    const finals = orders.map((order) => {
      const edge = createReferenceEdge(WEBSITE);
      for (const e of order) edge.ingestPayments([e], NOW);
      const live = [...edge.latestStates().values()].filter((s) => s.status !== 'merged');
      return live.map(({ revision: _r, updatedAt: _u, ...content }) => content);
    });
    expect(finals[0]!.map((s) => s.paymentKey)).toEqual(['stripe:in_1']);
    expect(finals[1]).toEqual(finals[0]);
    expect(finals[2]).toEqual(finals[0]);
  });

  it('renewals inherit the initial payment attribution, also after a late upgrade of the initial', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([sessionCompleted, invoicePaid, pi, ch, link], NOW);
    expect(stateOf(edge, 'stripe:in_1').attribution.confidence).toBe('none');
    const renewalAt = at(3600);
    edge.ingestPayments([
      payment({ evt: 'evt_r', eventType: 'invoice.paid', at: renewalAt, amount: 2000, kind: 'subscription_renewal', refs: { invoice: 'in_2', subscription: 'sub_1' } }),
    ], at(3700));
    expect(stateOf(edge, 'stripe:in_2')).toMatchObject({ kind: 'subscription_renewal', attribution: { confidence: 'none', matchedBy: 'subscription' } });
    // The tracker data for the first payment arrives late: the initial goes to high, the renewal follows.
    edge.ingestTracker([googleSession], at(3800));
    expect(stateOf(edge, 'stripe:in_1').attribution).toMatchObject({ confidence: 'high', matchedBy: 'session', sessionId: 's_3' });
    expect(stateOf(edge, 'stripe:in_2').attribution).toMatchObject({ confidence: 'high', matchedBy: 'subscription', sessionId: 's_3', visitorId: 'v_9' });
    expectValid(edge.produced);
  });

  it('without stated kinds the earliest payment of a subscription is the initial, whatever arrives first', () => {
    const edge = createReferenceEdge(WEBSITE);
    const dodo = (id: string, t: number, visitor: string | null) =>
      payment({ provider: 'dodo', evt: `wh_${id}`, at: at(t), amount: 1200, currency: 'usd', refs: { payment: id, subscription: 'sub_d' }, signals: { visitorId: visitor } });
    edge.ingestTracker([session({ sessionId: 's_d', visitorId: 'v_d', startedAt: at(-100) })], NOW);
    edge.ingestPayments([dodo('pay_2', 2_600_000, null)], at(2_600_100));
    expect(stateOf(edge, 'dodo:pay_2').kind).toBe('subscription_initial');
    edge.ingestPayments([dodo('pay_1', 0, 'v_d')], at(2_600_200));
    expect(stateOf(edge, 'dodo:pay_1')).toMatchObject({ kind: 'subscription_initial', attribution: { confidence: 'medium', matchedBy: 'visitor' } });
    expect(stateOf(edge, 'dodo:pay_2')).toMatchObject({
      kind: 'subscription_renewal', subscriptionKey: 'dodo:sub_d', attribution: { confidence: 'medium', matchedBy: 'subscription', visitorId: 'v_d' },
    });
  });
});

describe('free trials: the subscription starts with a 0 checkout/invoice', () => {
  const DAY_S = 86_400;
  // Stripe trial: checkout.session.completed (no_payment_required → a paid report of 0) and the 0 invoice
  // (billing_reason subscription_create), both stated initial; the paid invoices come later as subscription_cycle.
  const trialCheckout = payment({
    evt: 'evt_tcs', eventType: 'checkout.session.completed', at: at(0), amount: 0, kind: 'subscription_initial',
    refs: { checkoutSession: 'cs_t', invoice: 'in_0', subscription: 'sub_t', customer: 'cus_t' },
    signals: { sessionId: 's_1', visitorId: 'v_1', emailHash: emailHashOf('tia'), emailMasked: 't***@example.com' },
  });
  const trialInvoice = payment({ evt: 'evt_in0', eventType: 'invoice.paid', at: at(1), amount: 0, kind: 'subscription_initial', refs: { invoice: 'in_0', subscription: 'sub_t', customer: 'cus_t' } });
  const cycle = (n: number, days: number) =>
    payment({ evt: `evt_in${n}`, eventType: 'invoice.paid', at: at(days * DAY_S), amount: 2000, kind: 'subscription_renewal', refs: { invoice: `in_${n}`, subscription: 'sub_t', customer: 'cus_t' } });
  const trialSession = session({ sessionId: 's_1', visitorId: 'v_1', startedAt: at(-600), referrer: 'https://www.google.com/' });

  it('the first paid invoice is the first payment and carries the trial checkout’s signals; later ones inherit it', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestTracker([trialSession], at(0));
    edge.ingestPayments([trialCheckout, trialInvoice], at(10));
    expect([...edge.latestStates().keys()]).toEqual([]); // 0 is not revenue
    edge.ingestPayments([cycle(1, 14)], at(14 * DAY_S + 10));
    edge.ingestPayments([cycle(2, 44)], at(44 * DAY_S + 10));
    expectValid(edge.produced);
    expect(stateOf(edge, 'stripe:in_1')).toMatchObject({
      kind: 'subscription_initial', grossMinor: 2000,
      attribution: { confidence: 'high', matchedBy: 'session', sessionId: 's_1', visitorId: 'v_1', source: { channel: 'organic_search' } },
    });
    expect(stateOf(edge, 'stripe:in_2')).toMatchObject({
      kind: 'subscription_renewal', attribution: { confidence: 'high', matchedBy: 'subscription', sessionId: 's_1', visitorId: 'v_1' },
    });
    expect(edge.latestStates().has('stripe:in_0')).toBe(false);
  });

  it('the same final states whatever order the trial start, the invoices and the tracker data arrive in', () => {
    const canonical = createReferenceEdge(WEBSITE);
    canonical.ingestTracker([trialSession], NOW);
    canonical.ingestPayments([trialCheckout, trialInvoice, cycle(1, 14), cycle(2, 44)], NOW);
    const contents = (edge: ReferenceEdge) =>
      [...edge.latestStates().values()].filter((s) => s.status !== 'merged').sort((a, b) => (a.paymentKey < b.paymentKey ? -1 : 1)).map(({ revision: _r, updatedAt: _u, ...c }) => c);
    const orders = [
      [[cycle(2, 44)], [cycle(1, 14)], [trialInvoice], [trialCheckout]],
      [[cycle(1, 14), cycle(2, 44)], [trialCheckout], [trialInvoice]],
      [[trialInvoice], [cycle(2, 44)], [trialCheckout], [cycle(1, 14)]],
    ];
    for (const order of orders) {
      for (const trackerFirst of [true, false]) {
        const edge = createReferenceEdge(WEBSITE);
        if (trackerFirst) edge.ingestTracker([trialSession], NOW);
        for (const batch of order) edge.ingestPayments(batch, NOW);
        if (!trackerFirst) edge.ingestTracker([trialSession], NOW);
        expect(contents(edge)).toEqual(contents(canonical));
      }
    }
    expect(contents(canonical).map((s) => [s.paymentKey, s.kind, s.attribution.confidence, s.attribution.matchedBy])).toEqual([
      ['stripe:in_1', 'subscription_initial', 'high', 'session'],
      ['stripe:in_2', 'subscription_renewal', 'high', 'subscription'],
    ]);
  });

  it('a 0 renewal invoice (paid from credit) is not a trial start: the stated renewals keep their kind', () => {
    const creditRenewal = payment({ evt: 'evt_inc', eventType: 'invoice.paid', at: at(7 * DAY_S), amount: 0, kind: 'subscription_renewal', refs: { invoice: 'in_c', subscription: 'sub_t', customer: 'cus_t' } });
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([creditRenewal, cycle(1, 14), cycle(2, 44)], NOW);
    expect(stateOf(edge, 'stripe:in_1')).toMatchObject({ kind: 'subscription_renewal', attribution: { matchedBy: 'none' } });
    expect(stateOf(edge, 'stripe:in_2')).toMatchObject({ kind: 'subscription_renewal', attribution: { matchedBy: 'none' } });
  });

  const subscriptionRecords = () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestTracker([trialSession], at(0));
    edge.ingestPayments([trialCheckout, trialInvoice, cycle(1, 14), cycle(2, 44)], at(44 * DAY_S + 10));
    return (key: string) => edge.records().find((r) => r.paymentKey === key)!;
  };

  it('the first payment stays in the late-upgrade index until its horizon even when its attribution is settled', () => {
    const initial = subscriptionRecords()('stripe:in_1');
    expect(initial.state.attribution).toMatchObject({ confidence: 'high', sessionId: 's_1' });
    expect(initial.upgrade?.keys).toContain('s:s_1');
  });

  it('a renewal that stops inheriting is attributed on its own signals, not on the attribution it inherited', () => {
    const renewal = subscriptionRecords()('stripe:in_2');
    expect(renewal.inheritsFrom).toBe('stripe:in_1');
    const view = createSessionView(WEBSITE, [trialSession]);
    expect(ownAttribution(renewal, renewal.attributionBasis!, view, DEFAULT_ATTRIBUTION_SETTINGS)).toMatchObject({ confidence: 'none', matchedBy: 'none' });
  });

  it('without a known trial start, stated renewals keep their kind and their own attribution (e.g. subscriptions older than the integration)', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([cycle(1, 14), cycle(2, 44)], NOW);
    expect(stateOf(edge, 'stripe:in_1')).toMatchObject({ kind: 'subscription_renewal', attribution: { matchedBy: 'none' } });
    expect(stateOf(edge, 'stripe:in_2')).toMatchObject({ kind: 'subscription_renewal', attribution: { matchedBy: 'none' } });
  });
});

describe('late tracker data', () => {
  const pay = payment({ evt: 'evt_p', at: at(0), amount: 3000, refs: { paymentIntent: 'pi_l' }, signals: { sessionId: 's_3', visitorId: 'v_9' } });

  it('payment first, session later: none, then high in a new revision', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([pay], NOW);
    expect(stateOf(edge, 'stripe:pi_l').attribution).toMatchObject({ confidence: 'none', matchedBy: 'none', sessionId: 's_3', visitorId: 'v_9' });
    const out = edge.ingestTracker([googleSession], at(3600));
    expect(out.map((s) => [s.paymentKey, s.revision, s.attribution.confidence])).toEqual([['stripe:pi_l', 2, 'high']]);
    // The same session re-sent as it grows changes nothing.
    expect(edge.ingestTracker([{ ...googleSession, lastSeenAt: at(-10) }], at(3700))).toEqual([]);
  });

  it('visitor-only data upgrades none to medium, then the named session to high', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([pay], NOW);
    edge.ingestTracker([session({ sessionId: 's_old', visitorId: 'v_9', startedAt: at(-86400), referrer: 'https://t.co/x' })], at(60));
    expect(stateOf(edge, 'stripe:pi_l').attribution).toMatchObject({ confidence: 'medium', sessionId: 's_old' });
    edge.ingestTracker([googleSession], at(120));
    expect(stateOf(edge, 'stripe:pi_l').attribution).toMatchObject({ confidence: 'high', sessionId: 's_3' });
    expect(stateOf(edge, 'stripe:pi_l').revision).toBe(3);
  });

  it('an identify event upgrades an email-only payment to low', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([payment({ evt: 'evt_e', at: at(0), amount: 3000, refs: { paymentIntent: 'pi_e' }, signals: { emailHash: emailHashOf('jane') } })], NOW);
    edge.ingestTracker([{ schemaVersion: 1, type: 'identify', websiteId: WEBSITE, visitorId: 'v_j', emailHash: emailHashOf('jane'), at: at(30) }], at(60));
    expect(stateOf(edge, 'stripe:pi_e').attribution).toMatchObject({ confidence: 'low', matchedBy: 'email', visitorId: 'v_j', sessionId: null });
    edge.ingestTracker([session({ sessionId: 's_j', visitorId: 'v_j', startedAt: at(-300) })], at(90));
    expect(stateOf(edge, 'stripe:pi_e').attribution).toMatchObject({ confidence: 'low', visitorId: 'v_j', sessionId: 's_j' });
  });

  it('a payment with email and visitor teaches email→visitor to other payments', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestTracker([session({ sessionId: 's_k', visitorId: 'v_k', startedAt: at(-300) })], NOW);
    edge.ingestPayments([payment({ evt: 'evt_1', at: at(0), amount: 100, refs: { paymentIntent: 'pi_1' }, signals: { emailHash: emailHashOf('kim') } })], NOW);
    expect(stateOf(edge, 'stripe:pi_1').attribution.confidence).toBe('none');
    // Processed later, but paid earlier (-50 s) than pi_1: it vouches for pi_1 (a payment paid after it).
    edge.ingestPayments([payment({ evt: 'evt_2', at: at(-50), amount: 100, refs: { paymentIntent: 'pi_2' }, signals: { emailHash: emailHashOf('kim'), visitorId: 'v_k' } })], NOW);
    expect(edge.lastPaymentResult()?.learnedIdentities).toEqual([{ websiteId: WEBSITE, emailHash: emailHashOf('kim'), visitorId: 'v_k', at: at(-50), learnedFrom: 'payment' }]);
    expect(stateOf(edge, 'stripe:pi_2').attribution).toMatchObject({ confidence: 'medium', visitorId: 'v_k' });
    expect(stateOf(edge, 'stripe:pi_1').attribution).toMatchObject({ confidence: 'low', matchedBy: 'email', visitorId: 'v_k', sessionId: 's_k' });
  });

  it('a second report of the same payment naming the identified visitor keeps low/email (was lowered to none)', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestTracker([identify({ visitorId: 'v_2', email: 'jane', at: at(-50 * 86_400) })], NOW);
    edge.ingestPayments([payment({ evt: 'evt_inv', eventType: 'invoice.paid', at: at(0), amount: 2000, refs: { invoice: 'in_9', paymentIntent: 'pi_9' }, signals: { emailHash: emailHashOf('jane') } })], NOW);
    expect(stateOf(edge, 'stripe:in_9').attribution).toMatchObject({ confidence: 'low', matchedBy: 'email', visitorId: 'v_2' });
    edge.ingestPayments([payment({ evt: 'evt_pi9', eventType: 'payment_intent.succeeded', at: at(0), amount: 2000, refs: { paymentIntent: 'pi_9' }, signals: { visitorId: 'v_2' } })], NOW);
    expect(stateOf(edge, 'stripe:in_9').attribution).toMatchObject({ confidence: 'low', matchedBy: 'email', visitorId: 'v_2' });
  });

  it('a payment does not vouch for itself, also when an earlier report moves its paid time back', () => {
    const edge = createReferenceEdge(WEBSITE);
    // The checkout report (naming visitor and email) comes first: the pair is learned at its time, +2 s.
    edge.ingestPayments([checkoutCompleted], NOW);
    expect(stateOf(edge, 'stripe:pi_1').attribution.confidence).toBe('none');
    // The PaymentIntent report moves paidAt back to +0 s; the pair learned at +2 s is still this payment's own.
    edge.ingestPayments([piSucceeded], NOW);
    expect(stateOf(edge, 'stripe:pi_1')).toMatchObject({ paidAt: at(0), attribution: { confidence: 'none', matchedBy: 'none', visitorId: 'v_9' } });
  });

  it('a payment with email and visitor teaches only payments paid after it, whatever the arrival order', () => {
    const jane = emailHashOf('jane');
    const early = payment({ provider: 'manual', evt: 'm_early', at: at(0), amount: 1000, refs: { payment: 'early' }, signals: { emailHash: jane } });
    const teacher = payment({ provider: 'manual', evt: 'm_teach', at: at(86_400), amount: 1000, refs: { payment: 'teach' }, signals: { emailHash: jane, visitorId: 'v_t' } });
    const late = payment({ provider: 'manual', evt: 'm_late', at: at(2 * 86_400), amount: 1000, refs: { payment: 'late' }, signals: { emailHash: jane } });
    for (const order of [[early, teacher, late], [teacher, late, early], [late, early, teacher]]) {
      const edge = createReferenceEdge(WEBSITE);
      edge.ingestTracker([session({ sessionId: 's_t', visitorId: 'v_t', startedAt: at(-600) })], NOW);
      for (const e of order) edge.ingestPayments([e], NOW);
      expect(stateOf(edge, 'manual:early').attribution).toMatchObject({ confidence: 'none', matchedBy: 'none' });
      expect(stateOf(edge, 'manual:late').attribution).toMatchObject({ confidence: 'low', matchedBy: 'email', visitorId: 'v_t', sessionId: 's_t' });
    }
  });

  it('no upgrade after the horizon (configurable)', () => {
    const edge = createReferenceEdge(WEBSITE, { windowDays: 30, lateUpgradeHours: 24 });
    edge.ingestPayments([pay], NOW);
    expect(edge.ingestTracker([googleSession], at(25 * 3600))).toEqual([]);
    expect(stateOf(edge, 'stripe:pi_l').attribution.confidence).toBe('none');
    const edge72 = createReferenceEdge(WEBSITE);
    edge72.ingestPayments([pay], NOW);
    expect(edge72.ingestTracker([googleSession], at(25 * 3600)).map((s) => s.attribution.confidence)).toEqual(['high']);
  });
});

describe('applyPaymentEvents as the edge calls it', () => {
  it('refuses an incomplete snapshot', () => {
    expect(() =>
      applyPaymentEvents({ websiteId: WEBSITE, events: [piSucceeded], snapshot: emptyPaymentSnapshot(WEBSITE), sessions: createSessionView(WEBSITE, []), now: NOW }),
    ).toThrow(/incomplete/);
  });

  it('plans the load: link-key closure first, then subscriptions', () => {
    const batch = [toStoredPaymentFact(payment({ evt: 'e', at: at(0), amount: 1, refs: { invoice: 'in_1', subscription: 'sub_1' } }))];
    let snap = emptyPaymentSnapshot(WEBSITE);
    const first = nextPaymentLoad(batch, snap)!;
    expect(first).toEqual({ websiteId: WEBSITE, keys: ['stripe:in_1'], subscriptionKeys: [] });
    const stored = toStoredPaymentFact(payment({ evt: 'f', at: at(0), amount: 1, refs: { invoice: 'in_1', paymentIntent: 'pi_1' } }));
    snap = withLoaded(snap, first, { facts: [stored], records: [] });
    const second = nextPaymentLoad(batch, snap)!;
    expect(second.keys).toEqual(['stripe:pi_1']);
    snap = withLoaded(snap, second, { facts: [], records: [] });
    const third = nextPaymentLoad(batch, snap)!;
    // The subscription's other records, and the facts of its 0 trial start (if any) by their shared key.
    expect(third).toEqual({ websiteId: WEBSITE, keys: ['trial:stripe:sub_1'], subscriptionKeys: ['stripe:sub_1'] });
    snap = withLoaded(snap, third, { facts: [], records: [] });
    expect(nextPaymentLoad(batch, snap)).toBeNull();
  });

  it('re-running a batch after a crash converges: pending publishes are re-emitted, nothing else changes', () => {
    const sessions = createSessionView(WEBSITE, []);
    const events = [checkoutCompleted, piSucceeded];
    const load = (records: ReturnType<typeof applyPaymentEvents>['recordWrites'][number]['record'][]) => {
      const batch = events.map(toStoredPaymentFact);
      let snap = emptyPaymentSnapshot(WEBSITE);
      for (let r = nextPaymentLoad(batch, snap); r; r = nextPaymentLoad(batch, snap)) {
        snap = withLoaded(snap, r, { facts: batch.filter((f) => f.linkKeys.some((k) => r!.keys.includes(k))), records: records.filter((x) => r!.keys.includes(x.paymentKey)) });
      }
      return snap;
    };
    const first = applyPaymentEvents({ websiteId: WEBSITE, events, snapshot: load([]), sessions, now: NOW });
    expect(first.toPublish).toHaveLength(1);
    // Crash after the record write, before producing: the record is still pending.
    const written = first.recordWrites.map((w) => w.record);
    const rerun = applyPaymentEvents({ websiteId: WEBSITE, events, snapshot: load(written), sessions, now: at(700) });
    expect(rerun.recordWrites).toEqual([]);
    expect(rerun.toPublish).toEqual(first.toPublish);
    // After the produce was confirmed, a rerun does nothing at all.
    const confirmed = written.map((r) => ({ ...r, pendingPublish: null }));
    const again = applyPaymentEvents({ websiteId: WEBSITE, events, snapshot: load(confirmed), sessions, now: at(800) });
    expect([again.recordWrites, again.toPublish]).toEqual([[], []]);
  });

  it('reports events without any payment id instead of guessing', () => {
    const orphan = payment({ evt: 'evt_o', at: at(0), amount: 100, refs: { customer: 'cus_1', subscription: 'sub_9' } });
    const edge = createReferenceEdge(WEBSITE);
    expect(edge.ingestPayments([orphan], NOW)).toEqual([]);
    expect(edge.lastPaymentResult()?.unlinkedEventIds).toEqual(['stripe:evt_o:0']);
  });
});

describe('sessionLookups', () => {
  it('lists the ids and the earliest session start the rules may need', () => {
    const facts = [checkoutCompleted, piSucceeded, refund({ evt: 'r', at: at(-99999), refundId: 're', amount: 1, refs: { paymentIntent: 'pi_1' }, signals: { visitorId: 'v_refund' } })].map(toStoredPaymentFact);
    expect(sessionLookups({ facts }, { windowDays: 1, lateUpgradeHours: 72 })).toEqual({
      sessionIds: ['s_3'], visitorIds: ['v_9'], emailHashes: [emailHashOf('jane')], since: new Date(Date.parse(at(0)) - 86_400_000).toISOString(),
    });
    expect(sessionLookups({})).toEqual({ sessionIds: [], visitorIds: [], emailHashes: [], since: null });
  });
});

describe('concurrent writers (payment path and late-upgrade path) with compare-and-set', () => {
  it('the loser of a version race recomputes from the winner’s record and keeps both changes', () => {
    const pay = payment({ evt: 'evt_p', at: at(0), amount: 5000, refs: { paymentIntent: 'pi_c', charge: 'ch_c' }, signals: { sessionId: 's_3' } });
    const rf = refund({ evt: 'evt_r', at: at(60), refundId: 're_1', amount: 1000, refs: { charge: 'ch_c' } });
    const snapshotWith = (records: PaymentRecord[], events: typeof pay[]) => {
      const facts = [pay, ...events].map(toStoredPaymentFact);
      let snap = emptyPaymentSnapshot(WEBSITE);
      for (let r = nextPaymentLoad(facts, snap); r; r = nextPaymentLoad(facts, snap)) {
        const req = r;
        snap = withLoaded(snap, req, { facts: facts.filter((f) => f.linkKeys.some((k) => req.keys.includes(k))), records: records.filter((x) => req.keys.includes(x.paymentKey)) });
      }
      return snap;
    };
    const first = applyPaymentEvents({ websiteId: WEBSITE, events: [pay], snapshot: snapshotWith([], []), sessions: createSessionView(WEBSITE, []), now: NOW });
    const stored = { ...first.recordWrites[0]!.record, pendingPublish: null };
    expect(stored.state.attribution.confidence).toBe('none');

    // Both paths read version 1.
    const late = reattributePayments({ websiteId: WEBSITE, candidates: [stored], subscriptionMembers: [], sessions: createSessionView(WEBSITE, [googleSession]), now: at(700) });
    const refundPath = applyPaymentEvents({ websiteId: WEBSITE, events: [rf], snapshot: snapshotWith([stored], [rf]), sessions: createSessionView(WEBSITE, []), now: at(701) });
    expect(late.recordWrites[0]!.expectedVersion).toBe(stored.version);
    expect(refundPath.recordWrites[0]!.expectedVersion).toBe(stored.version);

    // The late path wins; the refund path's CAS fails, so the edge reloads and recomputes.
    const winner = late.recordWrites[0]!.record;
    const retry = applyPaymentEvents({ websiteId: WEBSITE, events: [rf], snapshot: snapshotWith([winner], [rf]), sessions: createSessionView(WEBSITE, []), now: at(702) });
    const final = retry.recordWrites[0]!;
    expect(final.expectedVersion).toBe(winner.version);
    expect(final.record.state).toMatchObject({ revision: 3, refundedMinor: 1000, attribution: { confidence: 'high', sessionId: 's_3' } });
  });
});
