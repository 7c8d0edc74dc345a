import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  attributionSourceSchema, currencyExponent, formatMinor, jsonSchemas, normalizedPaymentEventSchema, parseContract, paymentStateSchema,
  sessionEventSchema, topicCatalog, TOPICS, truncateText, type PaymentState,
} from './index';

const session = {
  schemaVersion: 1, type: 'session', websiteId: 'w_1', visitorId: 'v_9', sessionId: 's_3',
  startedAt: '2026-11-29T10:00:00.000Z', lastSeenAt: '2026-11-29T10:07:12.000Z',
  referrer: 'https://www.google.com/', utm: { source: 'google', medium: 'cpc', campaign: 'bf' },
  landingPage: '/pricing', country: 'DE', device: 'desktop',
};

const state: PaymentState = {
  schemaVersion: 1, websiteId: 'w_1', paymentKey: 'stripe:pi_3Q', revision: 2, provider: 'stripe', livemode: true,
  currency: 'eur', grossMinor: 4900, refundedMinor: 1000, netMinor: 3900, status: 'partially_refunded', mergedInto: null,
  paidAt: '2026-11-29T10:09:30.000Z', refundedAt: '2026-11-29T10:19:30.000Z', kind: 'one_time', subscriptionKey: null,
  attribution: {
    confidence: 'high', matchedBy: 'session', visitorId: 'v_9', sessionId: 's_3',
    source: { referrer: 'https://www.google.com/', channel: 'paid_search', utm: { source: 'google', medium: 'cpc', campaign: 'bf' }, landingPage: '/pricing', country: 'DE', device: 'desktop' },
  },
  refs: { paymentIntent: 'pi_3Q', invoice: null, checkoutSession: 'cs_1', charges: ['ch_1'], subscription: null },
  emailMasked: 'j***@example.com', eventIds: ['evt_1', 'evt_2'], updatedAt: '2026-11-29T10:20:00.000Z',
};

const payment = {
  schemaVersion: 1, eventId: 'stripe:evt_1:0', websiteId: 'w_1', integrationId: 'int_1', provider: 'stripe', livemode: true,
  occurredAt: '2026-11-29T10:09:30.000Z',
  source: { eventId: 'evt_1', eventType: 'payment_intent.succeeded', apiVersion: '2025-03-31.basil', receivedAt: '2026-11-29T10:09:31.000Z' },
  refs: { paymentIntent: 'pi_3Q' }, signals: {}, type: 'payment', amountMinor: 4900, currency: 'EUR', paid: true,
};

describe('SessionEvent', () => {
  it('accepts the contract examples', () => {
    expect(sessionEventSchema.parse(session)).toEqual(session);
    const identify = { schemaVersion: 1, type: 'identify', websiteId: 'w_1', visitorId: 'v_9', emailHash: 'a'.repeat(64), at: '2026-11-29T10:05:00.000Z' };
    expect(sessionEventSchema.parse(identify)).toEqual(identify);
  });
  it('accepts a session without the optional source fields', () => {
    const { referrer: _r, utm: _u, landingPage: _l, country: _c, device: _d, ...bare } = session;
    expect(sessionEventSchema.safeParse(bare).success).toBe(true);
  });
  it('null in an optional field means absent (a tracker sends `document.referrer || null`): accepted, and the key is dropped', () => {
    const withNulls = { ...session, referrer: null, utm: null, landingPage: null, country: null, device: null };
    const { referrer: _r, utm: _u, landingPage: _l, country: _c, device: _d, ...bare } = session;
    const parsed = sessionEventSchema.parse(withNulls);
    // Exactly what an absent field gives consumers: no key at all (MongoDB would store an `undefined` as null).
    expect(parsed).toStrictEqual(sessionEventSchema.parse(bare));
    for (const key of ['referrer', 'utm', 'landingPage', 'country', 'device']) expect(Object.keys(parsed)).not.toContain(key);
  });
  it('null utm members mean absent too; the other members are kept', () => {
    const parsed = sessionEventSchema.parse({ ...session, utm: { source: 'google', medium: null, campaign: null, term: null, content: null } });
    expect(parsed).toStrictEqual({ ...session, utm: { source: 'google' } });
  });
  it('null is still refused where a value is required, and a wrong type in an optional field is still refused', () => {
    expect(sessionEventSchema.safeParse({ ...session, visitorId: null }).success).toBe(false);
    expect(sessionEventSchema.safeParse({ ...session, referrer: 42 }).success).toBe(false);
    expect(sessionEventSchema.safeParse({ ...session, utm: { source: 7 } }).success).toBe(false);
  });
  it('the published JSON Schema says null is allowed in the optional fields', () => {
    const schema = jsonSchemas()['session-event.v1.schema.json'] as { oneOf: Array<{ properties: Record<string, unknown> }> };
    const props = schema.oneOf[0]!.properties;
    for (const key of ['referrer', 'utm', 'landingPage', 'country', 'device']) expect(JSON.stringify(props[key])).toContain('"null"');
  });
  it('over-long descriptive fields are cut to the PaymentState limits instead of refusing the session', () => {
    const longPage = `/pricing?gclid=${'x'.repeat(5000)}`;
    const parsed = sessionEventSchema.parse({
      ...session, landingPage: longPage, referrer: `https://ads.example/${'r'.repeat(3000)}`, country: 'C'.repeat(100), device: 'D'.repeat(65),
      utm: { source: 's'.repeat(501), campaign: 'spring' },
    });
    if (parsed.type !== 'session') throw new Error('not a session');
    expect(parsed.landingPage).toBe(longPage.slice(0, 2048));
    expect(parsed.referrer).toHaveLength(2048);
    expect([parsed.country, parsed.device]).toEqual(['C'.repeat(64), 'D'.repeat(64)]);
    expect(parsed.utm).toEqual({ source: 's'.repeat(500), campaign: 'spring' });
    // Whatever the session gives, its attribution fits the PaymentState contract.
    const source = { referrer: parsed.referrer ?? null, channel: 'paid_search', utm: parsed.utm ?? null, landingPage: parsed.landingPage ?? null, country: parsed.country ?? null, device: parsed.device ?? null };
    expect(attributionSourceSchema.safeParse(source).success).toBe(true);
  });
  it('truncateText never splits a surrogate pair', () => {
    expect(truncateText('ab😀', 3)).toBe('ab');
    expect(truncateText('ab😀', 4)).toBe('ab😀');
    expect(truncateText('abc', 2)).toBe('ab');
  });
  it('rejects with messages naming the field', () => {
    const r = parseContract(sessionEventSchema, 'SessionEvent', { ...session, visitorId: '', startedAt: 'yesterday' });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.message).toMatch(/visitorId: must not be empty/);
      expect(r.error.message).toMatch(/startedAt: must be an ISO-8601/);
      expect(r.error.issues.map((i) => i.path).sort()).toEqual(['startedAt', 'visitorId']);
    }
  });
  it('rejects a wrong schemaVersion and unknown type', () => {
    expect(sessionEventSchema.safeParse({ ...session, schemaVersion: 2 }).success).toBe(false);
    expect(sessionEventSchema.safeParse({ ...session, type: 'pageview' }).success).toBe(false);
  });
});

describe('NormalizedPaymentEvent', () => {
  it('fills defaults and lower-cases the currency', () => {
    const parsed = normalizedPaymentEventSchema.parse(payment);
    expect(parsed.type === 'payment' && parsed.currency).toBe('eur');
    expect(parsed.refs.invoice).toBeNull();
    expect(parsed.signals).toEqual({ sessionId: null, visitorId: null, emailHash: null, emailMasked: null });
  });
  it('rejects floats, unknown currencies and negative amounts, naming each field', () => {
    const r = parseContract(normalizedPaymentEventSchema, 'payment', { ...payment, amountMinor: 49.5, currency: 'xxq' });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.message).toContain('amountMinor: must be an integer amount in minor units');
      expect(r.error.message).toContain('currency: is not a known ISO 4217 currency code');
    }
    expect(normalizedPaymentEventSchema.safeParse({ ...payment, amountMinor: -1 }).success).toBe(false);
  });
  it('requires a refund to be either one refund or a cumulative total', () => {
    const { amountMinor: _paid, paid: _p, ...rest } = payment;
    const refund = { ...rest, type: 'refund', status: 'succeeded', eventId: 'stripe:evt_2:0' };
    const r = parseContract(normalizedPaymentEventSchema, 'refund', refund);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toMatch(/refundId: a refund report needs/);
    expect(normalizedPaymentEventSchema.safeParse({ ...refund, refundId: 're_1', amountMinor: 100 }).success).toBe(true);
    expect(normalizedPaymentEventSchema.safeParse({ ...refund, cumulativeRefundedMinor: 300 }).success).toBe(true);
    expect(normalizedPaymentEventSchema.safeParse({ ...refund, refundId: 're_1' }).success).toBe(false);
  });
});

describe('PaymentState', () => {
  it('accepts the contract example', () => {
    expect(paymentStateSchema.parse(state)).toEqual(state);
  });
  it('keeps the money identities', () => {
    const r = parseContract(paymentStateSchema, 'PaymentState', { ...state, netMinor: 4000 });
    expect(!r.ok && r.error.message).toMatch(/netMinor: must equal grossMinor - refundedMinor/);
    const m = parseContract(paymentStateSchema, 'PaymentState', { ...state, status: 'merged', mergedInto: null });
    expect(!m.ok && m.error.message).toMatch(/mergedInto/);
    expect(paymentStateSchema.safeParse({ ...state, status: 'merged', mergedInto: 'stripe:in_1', grossMinor: 0, refundedMinor: 0, netMinor: 0 }).success).toBe(true);
    expect(paymentStateSchema.safeParse({ ...state, paymentKey: 'paypal:x' }).success).toBe(false);
    expect(paymentStateSchema.safeParse({ ...state, attribution: { ...state.attribution, confidence: 'certain' } }).success).toBe(false);
  });
});

describe('topic catalog', () => {
  it('holds the contract topics and a DLQ for each', () => {
    const names = topicCatalog().map((t) => t.name);
    expect(names).toEqual([
      'metrivo.payments.v1', 'metrivo.visitor-sessions.v1', 'metrivo.revenue.attributed.v1',
      'metrivo.payments.v1.dlq', 'metrivo.visitor-sessions.v1.dlq', 'metrivo.revenue.attributed.v1.dlq',
    ]);
    expect(TOPICS.revenueAttributed.cleanupPolicy).toBe('compact');
    expect(TOPICS.visitorSessions.retentionMs).toBe(90 * 24 * 3600 * 1000);
    expect(topicCatalog().find((t) => t.name.endsWith('.dlq'))?.retentionMs).toBe(30 * 24 * 3600 * 1000);
  });
});

describe('money display', () => {
  it('uses provider exponents', () => {
    expect(currencyExponent('JPY')).toBe(0);
    expect(currencyExponent('kwd')).toBe(3);
    expect(currencyExponent('isk')).toBe(2);
    expect(formatMinor(4900, 'eur')).toBe('49.00 EUR');
    expect(formatMinor(5, 'eur')).toBe('0.05 EUR');
    expect(formatMinor(-1050, 'kwd')).toBe('-1.050 KWD');
    expect(formatMinor(1234, 'tnd')).toBe('1.234 TND');
    expect(formatMinor(500, 'jpy')).toBe('500 JPY');
  });
});

describe('generated JSON Schemas', () => {
  it('are up to date (run `npm run generate -w @metrivo/contracts` after changing a schema)', () => {
    for (const [file, schema] of Object.entries(jsonSchemas())) {
      const onDisk = readFileSync(join(__dirname, '..', 'schemas', file), 'utf8');
      expect(JSON.parse(onDisk)).toEqual(JSON.parse(JSON.stringify(schema)));
    }
  });
});
