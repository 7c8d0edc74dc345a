import { toStoredPaymentFact } from './payment-facts';
import { clusterPaymentFacts, foldPaymentCluster, survivorKey } from './payment-identity';
import { createSessionView, newerSession } from './sessions';
import { payment, refund, session, WEBSITE } from './test-support/builders';

const at = (s: number): string => new Date(Date.parse('2026-11-29T10:00:00.000Z') + s * 1000).toISOString();

describe('clusterPaymentFacts', () => {
  it('joins facts transitively through shared link keys, and only through them', () => {
    const facts = [
      payment({ evt: 'a', at: at(0), amount: 1, refs: { checkoutSession: 'cs_1', subscription: 'sub_1', invoice: 'in_1' } }),
      payment({ evt: 'b', at: at(0), amount: 1, refs: { invoice: 'in_1', paymentIntent: 'pi_1' } }),
      payment({ evt: 'c', at: at(0), amount: 1, refs: { charge: 'ch_1', paymentIntent: 'pi_1' } }),
      refund({ evt: 'd', at: at(0), refundId: 're_1', amount: 1, refs: { charge: 'ch_1' } }),
      payment({ evt: 'e', at: at(0), amount: 1, refs: { invoice: 'in_2', subscription: 'sub_1', customer: 'cus_1' } }),
      payment({ evt: 'f', at: at(0), amount: 1, refs: { customer: 'cus_1' } }),
    ].map(toStoredPaymentFact);
    const { clusters, unlinked } = clusterPaymentFacts(facts);
    expect(clusters.map((c) => [c.paymentKey, c.linkKeys, c.facts.map((f) => f.event.source.eventId)])).toEqual([
      ['stripe:in_1', ['stripe:ch_1', 'stripe:cs_1', 'stripe:in_1', 'stripe:pi_1'], ['a', 'b', 'c', 'd']],
      ['stripe:in_2', ['stripe:in_2'], ['e']],
    ]);
    expect(unlinked.map((f) => f.event.source.eventId)).toEqual(['f']);
  });

  it('names a cluster invoice > PaymentIntent > Checkout Session > Charge, lowest id first', () => {
    const f = (refs: Parameters<typeof payment>[0]['refs']) => toStoredPaymentFact(payment({ evt: 'x', at: at(0), amount: 1, refs }));
    expect(survivorKey('stripe', [f({ charge: 'ch_1', paymentIntent: 'pi_2' }), f({ paymentIntent: 'pi_1', checkoutSession: 'cs_0' })])).toBe('stripe:pi_1');
    expect(survivorKey('stripe', [f({ charge: 'ch_1' }), f({ checkoutSession: 'cs_9', charge: 'ch_1' })])).toBe('stripe:cs_9');
    expect(survivorKey('stripe', [f({ charge: 'ch_1' })])).toBe('stripe:ch_1');
    expect(survivorKey('stripe', [f({ paymentIntent: 'pi_1' }), f({ invoice: 'in_9', paymentIntent: 'pi_1' })])).toBe('stripe:in_9');
  });

  it('keeps one copy of a redelivered fact whatever the order', () => {
    const e = payment({ evt: 'a', at: at(0), amount: 5, refs: { paymentIntent: 'pi_1' } });
    const odd = { ...toStoredPaymentFact(e), event: { ...e, amountMinor: 7 } } as ReturnType<typeof toStoredPaymentFact>;
    const one = clusterPaymentFacts([toStoredPaymentFact(e), odd]).clusters[0]!;
    const two = clusterPaymentFacts([odd, toStoredPaymentFact(e)]).clusters[0]!;
    expect(one.facts).toHaveLength(1);
    expect(one.facts).toEqual(two.facts);
  });
});

describe('foldPaymentCluster', () => {
  const fold = (events: ReturnType<typeof payment>[]) => foldPaymentCluster(clusterPaymentFacts(events.map(toStoredPaymentFact)).clusters[0]!);

  it('takes the largest paid report as gross, the earliest paid report as paidAt, and holds refunds until paid', () => {
    const unpaidOnly = fold([
      payment({ evt: 'u', at: at(0), amount: 800, paid: false, refs: { paymentIntent: 'pi_1' } }),
      refund({ evt: 'r', at: at(5), refundId: 're_1', amount: 100, refs: { paymentIntent: 'pi_1' } }),
    ]);
    expect(unpaidOnly.money).toBeNull();
    const paid = fold([
      payment({ evt: 'u', at: at(0), amount: 800, paid: false, refs: { paymentIntent: 'pi_1' } }),
      payment({ evt: 'p', at: at(20), amount: 800, refs: { paymentIntent: 'pi_1' } }),
      payment({ evt: 'q', at: at(10), amount: 800, refs: { paymentIntent: 'pi_1', charge: 'ch_1' } }),
      refund({ evt: 'r', at: at(5), refundId: 're_1', amount: 100, refs: { paymentIntent: 'pi_1' } }),
    ]);
    expect(paid.money).toEqual({ currency: 'eur', grossMinor: 800, refundedMinor: 100, paidAt: at(10), refundedAt: at(5) });
  });

  it('collects signals only from payment reports, sorted and distinct', () => {
    const f = fold([
      payment({ evt: 'a', at: at(0), amount: 1, refs: { paymentIntent: 'pi_1' }, signals: { visitorId: 'v_2', sessionId: 's_1' } }),
      payment({ evt: 'b', at: at(0), amount: 1, refs: { paymentIntent: 'pi_1' }, signals: { visitorId: 'v_1' } }),
      refund({ evt: 'c', at: at(0), refundId: 're', amount: 1, refs: { paymentIntent: 'pi_1' }, signals: { visitorId: 'v_0' } }),
    ]);
    expect(f.signals).toEqual({ sessionIds: ['s_1'], visitorIds: ['v_1', 'v_2'], emailHashes: [] });
  });

  it('a stated kind wins; conflicting statements resolve initial > renewal > one_time', () => {
    expect(fold([payment({ evt: 'a', at: at(0), amount: 1, refs: { invoice: 'in_1' } })]).explicitKind).toBeNull();
    expect(fold([
      payment({ evt: 'a', at: at(0), amount: 1, kind: 'subscription_renewal', refs: { invoice: 'in_1' } }),
      payment({ evt: 'b', at: at(0), amount: 1, kind: 'subscription_initial', refs: { invoice: 'in_1' } }),
    ]).explicitKind).toBe('subscription_initial');
  });
});

describe('session versions', () => {
  it('the latest lastSeenAt wins whatever the order; timestamps compare as instants', () => {
    const a = session({ sessionId: 's', visitorId: 'v', startedAt: at(0), lastSeenAt: '2026-11-29T10:00:00Z' });
    const b = session({ sessionId: 's', visitorId: 'v', startedAt: at(0), lastSeenAt: '2026-11-29T10:00:00.500Z', landingPage: '/x' });
    expect(newerSession(a, b)).toBe(b);
    expect(newerSession(b, a)).toBe(b);
    expect(createSessionView(WEBSITE, [b, a]).getSession('s')?.landingPage).toBe('/x');
  });
});
