import type { ApiKeyDoc } from '@metrivo/integration-store';
import { keyIssues, manualIds, manualPaymentEvent, manualPaymentSchema, manualRefundEvent, maxCallerIdLengths, requestMode } from './manual-api';

const key = (over: Partial<ApiKeyDoc> = {}): ApiKeyDoc => ({
  _id: 'key_1', websiteId: 'w_1', hash: 'h', prefix: 'mtv_live_abc', livemode: true, createdAt: new Date(), revokedAt: null, ...over,
});
const AT = new Date('2026-11-29T10:00:00.000Z');

describe('manualIds', () => {
  it('live ids are exactly the pre-test-mode ones; test ids carry test: wherever an id is derived', () => {
    expect(manualIds('payment', 'w_1', true, 'o_1', 'o_1')).toEqual({
      eventId: 'manual:w_1:payment:o_1', sourceEventId: 'payment:o_1', paymentRef: 'o_1', paymentKey: 'manual:o_1', requestId: 'w_1:payment:o_1',
    });
    expect(manualIds('refund', 'w_1', false, 'r_1', 'o_1')).toEqual({
      eventId: 'manual:w_1:refund:test:r_1', sourceEventId: 'refund:test:r_1', paymentRef: 'test:o_1', paymentKey: 'manual:test:o_1', requestId: 'w_1:refund:test:r_1',
    });
  });

  it('maxCallerIdLengths: every derived contract id of an id that long is exactly ≤ 255', () => {
    for (const livemode of [true, false]) {
      for (const kind of ['payment', 'refund'] as const) {
        const max = maxCallerIdLengths(kind, 'w_website', livemode);
        const ids = manualIds(kind, 'w_website', livemode, 'i'.repeat(max.id), 'p'.repeat(max.paymentId));
        expect(ids.eventId).toHaveLength(255);
        expect(ids.paymentRef.length).toBeLessThanOrEqual(255);
        expect(Math.max(ids.sourceEventId.length, ids.paymentRef.length)).toBeLessThanOrEqual(255);
      }
    }
  });
});

describe('requestMode and keyIssues', () => {
  it('the mode is the body livemode when it is a boolean, else the key mode', () => {
    expect(requestMode({ livemode: false }, key())).toBe(false);
    expect(requestMode({}, key({ livemode: false }))).toBe(false);
    expect(requestMode({ livemode: 'yes' }, key())).toBe(true);
    expect(requestMode(null, key())).toBe(true);
  });

  it('a field the schema already refused is not checked again; non-objects have nothing to check', () => {
    expect(keyIssues('payment', { id: 'x'.repeat(300) }, key(), new Set(['id']))).toEqual([]);
    expect(keyIssues('payment', 'not an object', key(), new Set())).toEqual([]);
  });

  it('a website id too long for any id: the message never says a negative length', () => {
    const [issue] = keyIssues('payment', { id: 'o' }, key({ websiteId: 'w'.repeat(255) }), new Set());
    expect(issue).toEqual({ path: 'id', message: expect.stringContaining('at most 0 characters') });
  });
});

describe('manualPaymentEvent / manualRefundEvent', () => {
  it('return the contract violation instead of throwing when a built value does not fit', () => {
    const long = key({ _id: 'k'.repeat(300) });
    const paid = manualPaymentEvent({ id: 'o_1', amount: 100, currency: 'eur' }, long, true, 'hash-key', AT);
    const refunded = manualRefundEvent({ id: 'r_1', paymentId: 'o_1', amount: 100, currency: 'eur' }, long, true, AT);
    for (const r of [paid, refunded]) {
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.issues.map((i) => i.path)).toEqual(['integrationId']);
    }
  });

  it('the event carries the mode it is given', () => {
    const r = manualRefundEvent({ id: 'r_1', paymentId: 'o_1', amount: 100, currency: 'eur' }, key(), false, AT);
    expect(r.ok && r.value).toMatchObject({ livemode: false, refs: { payment: 'test:o_1' }, eventId: 'manual:w_1:refund:test:r_1' });
  });
});

describe('manualPaymentSchema occurredAt', () => {
  const body = (occurredAt: string) => ({ id: 'order_1', amount: 4900, currency: 'eur', occurredAt });
  const hoursFromNow = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();

  it('accepts a money time up to a day ahead (clock skew) and refuses one further in the future or over 5 years back', () => {
    expect(manualPaymentSchema.safeParse(body(hoursFromNow(-1))).success).toBe(true);
    expect(manualPaymentSchema.safeParse(body(hoursFromNow(12))).success).toBe(true);
    for (const refused of [hoursFromNow(48), hoursFromNow(-6 * 365 * 24)]) {
      const r = manualPaymentSchema.safeParse(body(refused));
      expect(r.success).toBe(false);
      expect(r.error?.issues.map((i) => i.path.join('.'))).toEqual(['occurredAt']);
    }
  });
});
