import type { NormalizedPaymentEvent, PaymentRefs, Provider } from '@metrivo/contracts';
import { sortedDistinct } from './util';

/**
 * One normalized payment event as the attribution app stores it: immutable, one document per
 * (websiteId, factId), inserted if absent. Facts are the only source of money truth; everything else
 * (PaymentRecords, published states) is derived from them and can be recomputed.
 *
 * MongoDB shape: `{ _id: factDocumentId(fact), ...fact }`, indexes `{ websiteId: 1, linkKeys: 1 }`.
 */
export interface StoredPaymentFact {
  websiteId: string;
  /** NormalizedPaymentEvent.eventId (`{provider}:{provider event id}:{n}`): redeliveries repeat it. */
  factId: string;
  /**
   * The payment keys this event reveals (`stripe:pi_…`, `stripe:in_…`, `stripe:cs_…`, `stripe:ch_…`,
   * `razorpay:pay_…`). Events sharing a link key report the same money; a cluster's PaymentState is
   * published under one of its link keys. Subscription and customer ids are deliberately NOT link keys:
   * a subscription or a customer has many payments. One exception, which is not a payment id: a report
   * that starts a subscription with 0 (a free trial, see `isTrialStartReport`) also carries
   * `trialStartKey(subscription)`, so that the subscription's first paid payment can find the signals of its
   * trial start by the same link-key lookup (the 0 reports never make a state of their own).
   */
  linkKeys: string[];
  event: NormalizedPaymentEvent;
}

export function factDocumentId(fact: Pick<StoredPaymentFact, 'websiteId' | 'factId'>): string {
  return `${fact.websiteId}|${fact.factId}`;
}

/** Priority of Stripe ids when naming a cluster: invoice payments are keyed by invoice (DESIGN §3). */
export const STRIPE_LINK_FIELDS = ['invoice', 'paymentIntent', 'checkoutSession', 'charge', 'payment'] as const satisfies readonly (keyof PaymentRefs)[];

export function paymentKeyOf(provider: Provider, id: string): string {
  return `${provider}:${id}`;
}

/** Link keys of one event's refs (see StoredPaymentFact.linkKeys). */
export function linkKeysOf(provider: Provider, refs: PaymentRefs): string[] {
  const ids: (string | null)[] =
    provider === 'stripe' ? STRIPE_LINK_FIELDS.map((f) => refs[f]) : [refs.payment];
  return sortedDistinct(ids.filter((id): id is string => id !== null).map((id) => paymentKeyOf(provider, id)));
}

/**
 * A report of 0 stated as a subscription's initial payment: the start of a free trial (or of a first period
 * discounted to 0). Stripe sends checkout.session.completed (payment_status no_payment_required) and the 0
 * invoice of billing_reason subscription_create. It is not revenue (DESIGN §5), but it carries the session,
 * visitor and email of the checkout that won the subscription.
 */
export function isTrialStartReport(event: NormalizedPaymentEvent): boolean {
  return event.type === 'payment' && event.kind === 'subscription_initial' && event.amountMinor === 0 && event.refs.subscription !== null;
}

/** The link key shared by the trial-start reports of one subscription (`subscriptionKey` as from subscriptionKeyOf). */
export function trialStartKey(subscriptionKey: string): string {
  return `trial:${subscriptionKey}`;
}

export function toStoredPaymentFact(event: NormalizedPaymentEvent): StoredPaymentFact {
  const keys = linkKeysOf(event.provider, event.refs);
  const subscriptionKey = subscriptionKeyOf(event.provider, event.refs.subscription);
  if (isTrialStartReport(event) && subscriptionKey !== null) keys.push(trialStartKey(subscriptionKey));
  return { websiteId: event.websiteId, factId: event.eventId, linkKeys: sortedDistinct(keys), event };
}

export function subscriptionKeyOf(provider: Provider, subscriptionId: string | null): string | null {
  return subscriptionId === null ? null : `${provider}:${subscriptionId}`;
}
