import { toStoredPaymentFact } from './payment-facts';
import { clusterPaymentFacts, foldPaymentCluster, survivorKey } from './payment-identity';
import { createSessionView, newerSession, preferredIdentity, type EmailIdentity } from './sessions';
import { emailHashOf, payment, refund, session, WEBSITE } from './test-support/builders';

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

describe('foldPaymentCluster: money rules', () => {
  const fold = (events: ReturnType<typeof payment>[]) => foldPaymentCluster(clusterPaymentFacts(events.map(toStoredPaymentFact)).clusters[0]!);
  const paid = payment({ evt: 'p', at: at(0), amount: 10000, refs: { paymentIntent: 'pi_1', charge: 'ch_1' } });

  it('gross is the largest paid report, whichever report is smaller', () => {
    const f = fold([
      payment({ evt: 'a', at: at(0), amount: 10000, refs: { paymentIntent: 'pi_1' } }),
      payment({ evt: 'b', at: at(1), amount: 6000, refs: { paymentIntent: 'pi_1', charge: 'ch_1' } }),
    ]);
    expect(f.money?.grossMinor).toBe(10000);
  });

  it('a running refund total counts only when its report says succeeded', () => {
    const f = fold([paid, refund({ evt: 'r', at: at(5), cumulative: 4000, status: 'pending', refs: { charge: 'ch_1' } })]);
    expect(f.money).toMatchObject({ refundedMinor: 0, refundedAt: null });
  });

  it('at the same instant a refund’s terminal status beats pending, and failure beats success', () => {
    for (const order of [1, -1]) {
      const reports = [
        refund({ evt: 'r1a', at: at(5), refundId: 're_1', amount: 1000, status: 'pending', refs: { charge: 'ch_1' } }),
        refund({ evt: 'r1b', at: at(5), refundId: 're_1', amount: 1000, status: 'succeeded', refs: { charge: 'ch_1' } }),
        refund({ evt: 'r2a', at: at(6), refundId: 're_2', amount: 2000, status: 'failed', refs: { charge: 'ch_1' } }),
        refund({ evt: 'r2b', at: at(6), refundId: 're_2', amount: 2000, status: 'succeeded', refs: { charge: 'ch_1' } }),
      ];
      const f = fold(order > 0 ? [paid, ...reports] : [...reports.reverse(), paid]);
      expect(f.money).toMatchObject({ refundedMinor: 1000, refundedAt: at(5) });
    }
  });

  it('refunds in another currency than the payment are ignored, not added', () => {
    const f = fold([
      paid,
      refund({ evt: 'r1', at: at(5), refundId: 're_1', amount: 1000, refs: { charge: 'ch_1' } }),
      refund({ evt: 'r2', at: at(6), refundId: 're_2', amount: 500, currency: 'usd', refs: { charge: 'ch_1' } }),
      refund({ evt: 'r3', at: at(7), cumulative: 700, currency: 'usd', refs: { charge: 'ch_1' } }),
    ]);
    expect(f.money).toMatchObject({ currency: 'eur', refundedMinor: 1000, refundedAt: at(5) });
  });

  it('a running total of 0 does not date the refund', () => {
    const f = fold([
      paid,
      refund({ evt: 'r1', at: at(5), refundId: 're_1', amount: 1000, refs: { charge: 'ch_1' } }),
      refund({ evt: 'r2', at: at(9), cumulative: 0, refs: { charge: 'ch_1' } }),
    ]);
    expect(f.money).toMatchObject({ refundedMinor: 1000, refundedAt: at(5) });
  });

  it('reports that disagree on the currency: the one most reports used wins, the lowest code on a tie', () => {
    const f = fold([
      payment({ evt: 'a', at: at(0), amount: 900, currency: 'usd', refs: { paymentIntent: 'pi_1' } }),
      payment({ evt: 'b', at: at(1), amount: 800, currency: 'eur', refs: { paymentIntent: 'pi_1' } }),
    ]);
    expect(f.money).toMatchObject({ currency: 'eur', grossMinor: 800 });
  });

  it('one test-mode paid report makes the payment test mode', () => {
    const f = fold([
      payment({ evt: 'a', at: at(0), amount: 800, refs: { paymentIntent: 'pi_1' } }),
      payment({ evt: 'b', at: at(1), amount: 800, livemode: false, refs: { paymentIntent: 'pi_1' } }),
    ]);
    expect(f.livemode).toBe(false);
  });

  it('refund reports contribute no session, visitor or email signal, and the masked email comes from a payment first', () => {
    const f = fold([
      payment({ evt: 'a', at: at(5), amount: 800, refs: { paymentIntent: 'pi_1' }, signals: { emailMasked: 'p***@example.com' } }),
      refund({
        evt: 'b', at: at(0), refundId: 're_1', amount: 100, refs: { paymentIntent: 'pi_1' },
        signals: { sessionId: 's_r', visitorId: 'v_r', emailHash: emailHashOf('refunder'), emailMasked: 'r***@example.com' },
      }),
    ]);
    expect(f.signals).toEqual({ sessionIds: [], visitorIds: [], emailHashes: [] });
    expect(f.emailMasked).toBe('p***@example.com');
  });
});

describe('preferredIdentity', () => {
  const sighting = (at: string, learnedFrom: EmailIdentity['learnedFrom']): EmailIdentity =>
    ({ websiteId: WEBSITE, emailHash: emailHashOf('jane'), visitorId: 'v_1', at, learnedFrom });

  it('keeps an identify sighting over a payment one, then the earliest, whatever the order', () => {
    const early = sighting(at(0), 'payment');
    const late = sighting(at(60), 'payment');
    expect(preferredIdentity(early, late)).toBe(early);
    expect(preferredIdentity(late, early)).toBe(early);
    const identified = sighting(at(120), 'identify');
    expect(preferredIdentity(early, identified)).toBe(identified);
    expect(preferredIdentity(identified, early)).toBe(identified);
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
