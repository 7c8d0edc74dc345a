import type { PaymentState } from '@metrivo/contracts';

/**
 * Builders of PaymentState values for the ledger's tests (unit and integration). Not used by production code.
 * `paymentState()` returns a valid, paid, unattributed live payment; pass overrides for what a test is about.
 */

export const highSession: PaymentState['attribution'] = {
  confidence: 'high',
  matchedBy: 'session',
  visitorId: 'v_9',
  sessionId: 's_3',
  source: {
    referrer: 'https://www.google.com/',
    channel: 'paid_search',
    utm: { source: 'google', medium: 'cpc', campaign: 'bf' },
    landingPage: '/pricing',
    country: 'DE',
    device: 'desktop',
  },
};

export const mediumVisitor: PaymentState['attribution'] = {
  confidence: 'medium',
  matchedBy: 'visitor',
  visitorId: 'v_9',
  sessionId: 's_2',
  source: { referrer: 'https://news.ycombinator.com/item?id=1', channel: 'referral', utm: null, landingPage: '/', country: null, device: null },
};

export const unattributed: PaymentState['attribution'] = {
  confidence: 'none',
  matchedBy: 'none',
  visitorId: null,
  sessionId: null,
  source: null,
};

export function paymentState(overrides: Partial<PaymentState> = {}): PaymentState {
  const grossMinor = overrides.grossMinor ?? 4900;
  const refundedMinor = overrides.refundedMinor ?? 0;
  const status = overrides.status ?? (refundedMinor === 0 ? 'paid' : refundedMinor >= grossMinor ? 'refunded' : 'partially_refunded');
  const provider = overrides.provider ?? 'stripe';
  return {
    schemaVersion: 1,
    websiteId: 'w_1',
    paymentKey: `${provider}:pi_1`,
    revision: 1,
    provider,
    livemode: true,
    currency: 'eur',
    grossMinor,
    refundedMinor,
    netMinor: status === 'merged' ? 0 : grossMinor - refundedMinor,
    status,
    mergedInto: null,
    paidAt: '2026-11-29T10:09:30.000Z',
    refundedAt: null,
    kind: 'one_time',
    subscriptionKey: null,
    attribution: unattributed,
    refs: { paymentIntent: 'pi_1', invoice: null, checkoutSession: null, charges: ['ch_1'], subscription: null },
    emailMasked: null,
    eventIds: ['evt_1'],
    updatedAt: '2026-11-29T10:10:00.000Z',
    ...overrides,
  };
}

/** The next revision of `state` with `changes`; recomputes status and netMinor unless given. */
export function nextRevision(state: PaymentState, changes: Partial<PaymentState>, revisionStep = 1): PaymentState {
  const merged = { ...state, ...changes };
  const status =
    changes.status ??
    (state.status === 'merged'
      ? 'merged'
      : merged.refundedMinor === 0
        ? 'paid'
        : merged.refundedMinor >= merged.grossMinor
          ? 'refunded'
          : 'partially_refunded');
  return {
    ...merged,
    revision: state.revision + revisionStep,
    status,
    mergedInto: status === 'merged' ? merged.mergedInto : null,
    netMinor: status === 'merged' ? 0 : merged.grossMinor - merged.refundedMinor,
  };
}
