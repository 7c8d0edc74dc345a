import { computeSetupHealth, GOOD_SIGNAL_SHARE, type DeliveryFact, type SetupHealthInput } from './setup-health';
import { REQUIRED_EVENTS } from './providers';

const now = new Date('2026-11-29T12:00:00.000Z');
const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000);

function delivery(over: Partial<DeliveryFact> & { at: number }): DeliveryFact {
  const { at, ...rest } = over;
  return { receivedAt: minutesAgo(at), eventType: 'payment_intent.succeeded', livemode: false, outcome: 'accepted', errorCode: null, httpStatus: 200, hadMetrivoSignals: true, ...rest };
}
const rejected = (at: number): DeliveryFact => delivery({ at, eventType: null, livemode: null, outcome: 'rejected', errorCode: 'invalid_signature', httpStatus: 400, hadMetrivoSignals: null });

function input(over: Partial<SetupHealthInput> = {}): SetupHealthInput {
  return { provider: 'stripe', status: 'active', secretSet: true, deliveries: [], windowFrom: minutesAgo(30 * 24 * 60), ledgerPayments: [], now, ...over };
}
const check = (h: ReturnType<typeof computeSetupHealth>, id: string) => h.checks.find((c) => c.id === id);

describe('computeSetupHealth', () => {
  it('a fresh integration without a secret fails on the secret and waits for everything else', () => {
    const h = computeSetupHealth(input({ secretSet: false }));
    expect(h.status).toBe('fail');
    expect(check(h, 'secret')?.status).toBe('fail');
    expect(check(h, 'last_delivery')?.status).toBe('pending');
    expect(h.lastDelivery).toBeNull();
    expect(h.requiredEvents.map((e) => e.type)).toEqual(REQUIRED_EVENTS.stripe);
    expect(h.requiredEvents.every((e) => !e.seen)).toBe(true);
    expect(h.metrivoSignals.share).toBeNull();
    expect(h.testPayment).toEqual({ seen: false, at: null, via: [] });
  });

  it('fails when the current secret was sealed with a key missing from METRIVO_SECRET_KEYS, warns for a previous one', () => {
    const current = computeSetupHealth(input({ secretsWithMissingKey: [{ current: true, keyId: 'k1' }] }));
    expect(check(current, 'secret')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/key "k1", which is not in METRIVO_SECRET_KEYS/) });
    expect(current.status).toBe('fail');
    const previous = computeSetupHealth(input({ secretsWithMissingKey: [{ current: false, keyId: 'k0' }] }));
    expect(check(previous, 'secret')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/previous secret .* key "k0"/) });
    expect(check(computeSetupHealth(input({ secretsWithMissingKey: [] })), 'secret')?.status).toBe('ok');
  });

  it('reports the newest delivery whatever the input order, and counts signature failures in the last 24 h only', () => {
    const deliveries = [rejected(60 * 25), rejected(30), delivery({ at: 90 }), rejected(5)];
    const h = computeSetupHealth(input({ deliveries }));
    expect(h.lastDelivery).toMatchObject({ at: minutesAgo(5).toISOString(), outcome: 'rejected', errorCode: 'invalid_signature' });
    expect(h.signatureFailures24h).toBe(2);
    // Nothing verified after the newest failure: the secret is probably wrong.
    expect(check(h, 'signature_failures')?.status).toBe('fail');
    expect(check(h, 'last_delivery')?.status).toBe('fail');
  });

  it('signature failures followed by verified deliveries are only a warning (secret fixed or roll in progress)', () => {
    const h = computeSetupHealth(input({ deliveries: [rejected(30), rejected(20), delivery({ at: 10 })] }));
    expect(h.signatureFailures24h).toBe(2);
    expect(check(h, 'signature_failures')?.status).toBe('warn');
    expect(check(h, 'last_delivery')?.status).toBe('ok');
  });

  it('marks which required event types arrived (verified deliveries only) with their latest time', () => {
    const deliveries = [
      delivery({ at: 50, eventType: 'checkout.session.completed' }),
      delivery({ at: 40, eventType: 'checkout.session.completed' }),
      delivery({ at: 30, eventType: 'charge.refunded', hadMetrivoSignals: null }),
      delivery({ at: 20, eventType: 'customer.created', outcome: 'ignored', hadMetrivoSignals: null }),
    ];
    const h = computeSetupHealth(input({ deliveries }));
    const seen = Object.fromEntries(h.requiredEvents.map((e) => [e.type, e.lastSeenAt]));
    expect(seen['checkout.session.completed']).toBe(minutesAgo(40).toISOString());
    expect(seen['charge.refunded']).toBe(minutesAgo(30).toISOString());
    expect(seen['invoice.paid']).toBeNull();
    expect(check(h, 'events')?.status).toBe('pending');
    expect(check(h, 'events')?.detail).toContain('invoice.paid');
    expect(check(h, 'events')?.detail).not.toContain('checkout.session.completed,');
  });

  it('all required events seen → events check ok', () => {
    const deliveries = REQUIRED_EVENTS.stripe.map((type, i) => delivery({ at: i + 1, eventType: type }));
    expect(check(computeSetupHealth(input({ deliveries })), 'events')?.status).toBe('ok');
  });

  it('estimates the metadata share from the best-carrying payment event type, not the per-webhook average', () => {
    // 4 Checkout payments: metadata on every session event, on none of the PaymentIntent/charge events.
    const deliveries: DeliveryFact[] = [];
    for (let i = 0; i < 4; i++) {
      deliveries.push(delivery({ at: 10 * i + 3, eventType: 'checkout.session.completed', hadMetrivoSignals: true }));
      deliveries.push(delivery({ at: 10 * i + 2, eventType: 'payment_intent.succeeded', hadMetrivoSignals: false }));
      deliveries.push(delivery({ at: 10 * i + 1, eventType: 'charge.succeeded', hadMetrivoSignals: false }));
    }
    const h = computeSetupHealth(input({ deliveries }));
    expect(h.metrivoSignals.share).toBe(1);
    expect(h.metrivoSignals.byEventType).toEqual([
      { type: 'checkout.session.completed', paymentWebhooks: 4, withSignals: 4 },
      { type: 'payment_intent.succeeded', paymentWebhooks: 4, withSignals: 0 },
      { type: 'charge.succeeded', paymentWebhooks: 4, withSignals: 0 },
    ]);
    expect(check(h, 'metadata')?.status).toBe('ok');
  });

  it('warns when few payments carry metadata; refunds, rejects and non-published deliveries do not count', () => {
    const deliveries = [
      delivery({ at: 1, eventType: 'checkout.session.completed', hadMetrivoSignals: true }),
      delivery({ at: 2, eventType: 'checkout.session.completed', hadMetrivoSignals: false }),
      delivery({ at: 3, eventType: 'checkout.session.completed', hadMetrivoSignals: false }),
      delivery({ at: 4, eventType: 'checkout.session.completed', hadMetrivoSignals: true, outcome: 'duplicate' }),
      delivery({ at: 5, eventType: 'charge.refunded', hadMetrivoSignals: null }),
    ];
    const h = computeSetupHealth(input({ deliveries }));
    expect(h.metrivoSignals).toMatchObject({ paymentWebhooks: 3, withSignals: 1 });
    expect(h.metrivoSignals.share).toBeCloseTo(1 / 3);
    expect(h.metrivoSignals.share!).toBeLessThan(GOOD_SIGNAL_SHARE);
    expect(check(h, 'metadata')?.status).toBe('warn');
  });

  it('test and live payments are seen via webhooks or the ledger (same provider only)', () => {
    const deliveries = [delivery({ at: 10, livemode: false, eventType: 'checkout.session.completed' })];
    const ledgerPayments = [
      { provider: 'stripe' as const, livemode: true, paidAt: minutesAgo(5).toISOString(), paymentKey: 'stripe:pi_live' },
      { provider: 'razorpay' as const, livemode: false, paidAt: minutesAgo(1).toISOString(), paymentKey: 'razorpay:pay_x' },
    ];
    const h = computeSetupHealth(input({ deliveries, ledgerPayments }));
    expect(h.testPayment).toEqual({ seen: true, at: minutesAgo(10).toISOString(), via: ['webhook'] });
    expect(h.livePayment).toEqual({ seen: true, at: minutesAgo(5).toISOString(), via: ['ledger'] });
    expect(check(h, 'test_payment')?.status).toBe('ok');
    expect(h.ledgerAvailable).toBe(true);
  });

  it('a webhook that was ignored or refused is not a payment', () => {
    const deliveries = [delivery({ at: 1, outcome: 'ignored', hadMetrivoSignals: null }), delivery({ at: 2, outcome: 'unavailable', httpStatus: 503 })];
    const h = computeSetupHealth(input({ deliveries, ledgerPayments: null }));
    expect(h.testPayment.seen).toBe(false);
    expect(h.ledgerAvailable).toBe(false);
  });

  it('everything in place → ok overall', () => {
    const deliveries = [
      ...REQUIRED_EVENTS.stripe.map((type, i) => delivery({ at: 100 + i, eventType: type, livemode: false })),
      delivery({ at: 1, eventType: 'checkout.session.completed', livemode: true }),
    ];
    const h = computeSetupHealth(input({ deliveries }));
    expect(h.checks.filter((c) => c.status !== 'ok')).toEqual([]);
    expect(h.status).toBe('ok');
  });

  it('a disabled integration is a warning; manual integrations check API keys instead of a secret', () => {
    expect(check(computeSetupHealth(input({ status: 'disabled' })), 'enabled')?.status).toBe('warn');
    const manual = computeSetupHealth(input({ provider: 'manual', secretSet: false, activeApiKeys: 0 }));
    expect(check(manual, 'secret')).toBeUndefined();
    expect(check(manual, 'api_key')?.status).toBe('fail');
    expect(check(manual, 'signature_failures')).toBeUndefined();
    expect(manual.requiredEvents).toEqual([]);
    const withKey = computeSetupHealth(input({ provider: 'manual', secretSet: false, activeApiKeys: 2, deliveries: [delivery({ at: 1, eventType: 'manual.payment' })] }));
    expect(check(withKey, 'api_key')?.status).toBe('ok');
    expect(withKey.testPayment.seen).toBe(true);
  });
});
