import type { PaymentKind, RefundReport } from '@metrivo/contracts';
import { assemble } from './assemble';
import { PayloadError } from './payload-error';
import {
  asObject,
  expandableId,
  fieldPath,
  isJsonObject,
  optionalListData,
  optionalObject,
  optionalString,
  optionalUnixTime,
  requiredAmount,
  requiredBoolean,
  requiredCurrency,
  requiredObject,
  requiredString,
  requiredUnixTime,
  type JsonObject,
} from './read';
import { emailSignals, idSignalsFrom, cleanSignalId } from './signals';
import type { HandlerOutcome, NormalizeContext, NormalizeResult, PaymentDraft, RefundDraft } from './types';

/**
 * Stripe snapshot events → normalized reports. One function per object type; every id the object names
 * goes into `refs` (expandable fields may be ids or expanded objects), whatever API version rendered it:
 * - before 2022-11-15: PaymentIntent.charges list (no latest_charge), Charge.refunds list;
 * - before 2025-03-31.basil: Invoice.payment_intent/charge/subscription/subscription_details, PaymentIntent.invoice,
 *   Charge.invoice;
 * - basil and later: Invoice.parent.subscription_details; the invoice ↔ PaymentIntent link only via invoice_payment.paid.
 */

interface StripeEventFacts {
  /** event.created as ISO: the fallback money time. */
  eventCreated: string;
  emailHashKey: string;
}

type Handler = (object: JsonObject, facts: StripeEventFacts) => HandlerOutcome;

const OBJECT_PATH = 'data.object';

export const STRIPE_HANDLED_EVENT_TYPES = [
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'payment_intent.succeeded',
  'charge.succeeded',
  'charge.captured',
  'charge.refunded',
  'refund.created',
  'refund.updated',
  'charge.refund.updated',
  'invoice.paid',
  'invoice.payment_succeeded',
  'invoice_payment.paid',
] as const;
export type StripeHandledEventType = (typeof STRIPE_HANDLED_EVENT_TYPES)[number];

const HANDLERS: Record<StripeHandledEventType, Handler> = {
  'checkout.session.completed': checkoutSession,
  'checkout.session.async_payment_succeeded': checkoutSession,
  'payment_intent.succeeded': paymentIntent,
  'charge.succeeded': charge,
  'charge.captured': charge,
  'charge.refunded': chargeRefunded,
  'refund.created': refundObject,
  'refund.updated': refundObject,
  'charge.refund.updated': refundObject,
  'invoice.paid': invoice,
  'invoice.payment_succeeded': invoice,
  'invoice_payment.paid': invoicePayment,
};

function isHandled(type: string): type is StripeHandledEventType {
  return Object.prototype.hasOwnProperty.call(HANDLERS, type);
}

/**
 * `event` is the verified, parsed Stripe Event (snapshot). Throws PayloadError when a used event type
 * lacks a field we need; unknown types come back as `{ events: [], ignored }`.
 */
export function normalizeStripeEvent(event: unknown, ctx: NormalizeContext): NormalizeResult {
  const envelope = asObject(event, 'body');
  const type = requiredString(envelope, 'type', '');
  const id = requiredString(envelope, 'id', '');
  if (!isHandled(type)) return { events: [], ignored: `Stripe event type ${type} is not used` };

  const livemode = requiredBoolean(envelope, 'livemode', '');
  const eventCreated = requiredUnixTime(envelope, 'created', '');
  const apiVersion = optionalString(envelope, 'api_version', '');
  const object = requiredObject(requiredObject(envelope, 'data', ''), 'object', 'data');

  const outcome = HANDLERS[type](object, { eventCreated, emailHashKey: ctx.emailHashKey });
  return assemble(outcome, { provider: 'stripe', providerEventId: id, eventType: type, apiVersion, livemode }, ctx);
}

function expectObjectType(object: JsonObject, expected: string): void {
  const actual = requiredString(object, 'object', OBJECT_PATH);
  if (actual !== expected) {
    throw new PayloadError(fieldPath(OBJECT_PATH, 'object'), `must be "${expected}" for this event type, got "${actual}"`);
  }
}

/**
 * checkout.session.completed / async_payment_succeeded.
 * - payment_status "unpaid" (delayed methods) → paid:false; "paid" → paid:true.
 * - payment_status "no_payment_required" (trials, 100 % coupons) → a paid report of amount_total (0): it
 *   moves no money but carries the session's visitor/session signals and the subscription id, so the
 *   subscription's later invoices inherit the right attribution. The fold treats 0 as not revenue.
 * - mode "setup" moves no money and is ignored.
 */
function checkoutSession(session: JsonObject, facts: StripeEventFacts): HandlerOutcome {
  expectObjectType(session, 'checkout.session');
  const mode = requiredString(session, 'mode', OBJECT_PATH);
  if (mode === 'setup') return { ignored: 'a setup-mode Checkout Session moves no money' };
  const kind: PaymentKind | null = mode === 'payment' ? 'one_time' : mode === 'subscription' ? 'subscription_initial' : null;
  const paymentStatus = requiredString(session, 'payment_status', OBJECT_PATH);

  const customerDetails = optionalObject(session, 'customer_details', OBJECT_PATH);
  const email = (customerDetails && optionalString(customerDetails, 'email', fieldPath(OBJECT_PATH, 'customer_details')))
    ?? optionalString(session, 'customer_email', OBJECT_PATH);
  const ids = idSignalsFrom(session.metadata);

  const draft: PaymentDraft = {
    type: 'payment',
    // A session has no paid-at time; the completion event is created when the payment went through.
    occurredAt: facts.eventCreated,
    amountMinor: requiredAmount(session, 'amount_total', OBJECT_PATH),
    currency: requiredCurrency(session, 'currency', OBJECT_PATH),
    paid: paymentStatus === 'paid' || paymentStatus === 'no_payment_required',
    kind,
    refs: {
      checkoutSession: requiredString(session, 'id', OBJECT_PATH),
      paymentIntent: expandableId(session, 'payment_intent', OBJECT_PATH),
      subscription: expandableId(session, 'subscription', OBJECT_PATH),
      invoice: expandableId(session, 'invoice', OBJECT_PATH),
      customer: expandableId(session, 'customer', OBJECT_PATH),
    },
    signals: {
      sessionId: ids.sessionId,
      // client_reference_id is the tracker's documented way to pass the visitor id to Checkout.
      visitorId: ids.visitorId ?? cleanSignalId(session.client_reference_id),
      ...emailSignals(email, facts.emailHashKey),
    },
  };
  return [draft];
}

/** payment_intent.succeeded: amount_received; `invoice` before basil; charge from latest_charge or (before 2022-11-15) charges.data. */
function paymentIntent(intent: JsonObject, facts: StripeEventFacts): HandlerOutcome {
  expectObjectType(intent, 'payment_intent');
  const draft: PaymentDraft = {
    type: 'payment',
    occurredAt: facts.eventCreated,
    amountMinor: requiredAmount(intent, 'amount_received', OBJECT_PATH),
    currency: requiredCurrency(intent, 'currency', OBJECT_PATH),
    paid: true,
    // A PaymentIntent does not say what it pays for (on basil+ not even its invoice): the fold decides.
    kind: null,
    refs: {
      paymentIntent: requiredString(intent, 'id', OBJECT_PATH),
      invoice: expandableId(intent, 'invoice', OBJECT_PATH),
      charge: expandableId(intent, 'latest_charge', OBJECT_PATH) ?? chargeFromLegacyList(intent),
      customer: expandableId(intent, 'customer', OBJECT_PATH),
    },
    signals: {
      ...idSignalsFrom(intent.metadata),
      ...emailSignals(intent.receipt_email, facts.emailHashKey),
    },
  };
  return [draft];
}

/** Before 2022-11-15 a PaymentIntent lists its charges; the succeeded one is the money. */
function chargeFromLegacyList(intent: JsonObject): string | null {
  const charges = optionalListData(intent, 'charges', OBJECT_PATH);
  if (charges === null || charges.length === 0) return null;
  const succeeded = charges.findIndex((c) => c.status === 'succeeded');
  const index = succeeded >= 0 ? succeeded : charges.length - 1;
  return requiredString(charges[index] as JsonObject, 'id', `${OBJECT_PATH}.charges.data.${index}`);
}

function chargeRefs(ch: JsonObject): PaymentDraft['refs'] {
  return {
    charge: requiredString(ch, 'id', OBJECT_PATH),
    paymentIntent: expandableId(ch, 'payment_intent', OBJECT_PATH),
    invoice: expandableId(ch, 'invoice', OBJECT_PATH),
    customer: expandableId(ch, 'customer', OBJECT_PATH),
  };
}

function chargeSignals(ch: JsonObject, facts: StripeEventFacts): PaymentDraft['signals'] {
  const billing = optionalObject(ch, 'billing_details', OBJECT_PATH);
  const email = (billing && optionalString(billing, 'email', fieldPath(OBJECT_PATH, 'billing_details')))
    ?? optionalString(ch, 'receipt_email', OBJECT_PATH);
  return { ...idSignalsFrom(ch.metadata), ...emailSignals(email, facts.emailHashKey) };
}

/**
 * charge.succeeded / charge.captured. An authorisation without capture (`captured: false`) is not money
 * yet → paid:false. A partial capture reports `amount_captured`.
 */
function charge(ch: JsonObject, facts: StripeEventFacts): HandlerOutcome {
  expectObjectType(ch, 'charge');
  const amount = requiredAmount(ch, 'amount', OBJECT_PATH);
  const captured = ch.captured !== false;
  const amountCaptured = typeof ch.amount_captured === 'number' && Number.isSafeInteger(ch.amount_captured) ? ch.amount_captured : 0;
  const draft: PaymentDraft = {
    type: 'payment',
    occurredAt: optionalUnixTime(ch, 'created', OBJECT_PATH) ?? facts.eventCreated,
    amountMinor: captured && amountCaptured > 0 && amountCaptured <= amount ? amountCaptured : amount,
    currency: requiredCurrency(ch, 'currency', OBJECT_PATH),
    paid: captured,
    kind: null,
    refs: chargeRefs(ch),
    signals: chargeSignals(ch, facts),
  };
  return [draft];
}

/**
 * charge.refunded: the charge's cumulative `amount_refunded` (combined by max downstream). Payloads rendered
 * before 2022-11-15 also embed `refunds.data`: each succeeded refund there becomes a single-refund report too,
 * so the refund ids are known even if the refund.* events never arrive.
 */
function chargeRefunded(ch: JsonObject, facts: StripeEventFacts): HandlerOutcome {
  expectObjectType(ch, 'charge');
  const currency = requiredCurrency(ch, 'currency', OBJECT_PATH);
  const refs = chargeRefs(ch);
  const signals = chargeSignals(ch, facts);
  const cumulative: RefundDraft = {
    type: 'refund',
    occurredAt: facts.eventCreated,
    refundId: null,
    amountMinor: null,
    cumulativeRefundedMinor: requiredAmount(ch, 'amount_refunded', OBJECT_PATH),
    currency,
    status: 'succeeded',
    refs,
    signals,
  };
  const embedded = optionalListData(ch, 'refunds', OBJECT_PATH) ?? [];
  const single = embedded
    .map((refund, i) => ({ refund, path: `${OBJECT_PATH}.refunds.data.${i}` }))
    .filter(({ refund }) => refund.status === 'succeeded')
    .map(({ refund, path }) => refundDraft(refund, path, facts, { ...refs }, signals));
  return [cumulative, ...single];
}

/** Stripe refund statuses → contract statuses. requires_action is still pending; unknown future ones are not counted. */
export function stripeRefundStatus(status: string): RefundReport['status'] {
  switch (status) {
    case 'succeeded':
      return 'succeeded';
    case 'failed':
      return 'failed';
    case 'canceled':
      return 'canceled';
    default:
      return 'pending';
  }
}

function refundDraft(
  refund: JsonObject,
  path: string,
  facts: StripeEventFacts,
  inheritedRefs: RefundDraft['refs'],
  inheritedSignals: RefundDraft['signals'],
): RefundDraft {
  const own = idSignalsFrom(refund.metadata);
  return {
    type: 'refund',
    occurredAt: optionalUnixTime(refund, 'created', path) ?? facts.eventCreated,
    refundId: requiredString(refund, 'id', path),
    amountMinor: requiredAmount(refund, 'amount', path),
    cumulativeRefundedMinor: null,
    currency: requiredCurrency(refund, 'currency', path),
    status: stripeRefundStatus(requiredString(refund, 'status', path)),
    refs: {
      ...inheritedRefs,
      charge: expandableId(refund, 'charge', path) ?? inheritedRefs.charge ?? null,
      paymentIntent: expandableId(refund, 'payment_intent', path) ?? inheritedRefs.paymentIntent ?? null,
    },
    signals: {
      ...inheritedSignals,
      sessionId: own.sessionId ?? inheritedSignals.sessionId ?? null,
      visitorId: own.visitorId ?? inheritedSignals.visitorId ?? null,
    },
  };
}

/** refund.created / refund.updated / charge.refund.updated: one refund, counted by its id downstream. */
function refundObject(refund: JsonObject, facts: StripeEventFacts): HandlerOutcome {
  expectObjectType(refund, 'refund');
  return [refundDraft(refund, OBJECT_PATH, facts, {}, {})];
}

/** billing_reason → kind; every other reason (manual, subscription_update, threshold, …) leaves it to the fold. */
const INVOICE_KIND: ReadonlyMap<string, PaymentKind> = new Map([
  ['subscription_create', 'subscription_initial'],
  ['subscription_cycle', 'subscription_renewal'],
]);

/**
 * invoice.paid / invoice.payment_succeeded. amount_paid 0 (trials, credits) is still reported so the
 * invoice ↔ subscription ↔ customer links are learned; the fold does not count 0 as revenue.
 */
function invoice(inv: JsonObject, facts: StripeEventFacts): HandlerOutcome {
  expectObjectType(inv, 'invoice');
  const parentPath = fieldPath(OBJECT_PATH, 'parent');
  const parent = optionalObject(inv, 'parent', OBJECT_PATH);
  // basil+: parent.subscription_details; before basil: subscription + subscription_details.
  const parentSubscription = parent && optionalObject(parent, 'subscription_details', parentPath);
  const legacySubscription = optionalObject(inv, 'subscription_details', OBJECT_PATH);
  const subscription = expandableId(inv, 'subscription', OBJECT_PATH)
    ?? (parentSubscription && expandableId(parentSubscription, 'subscription', fieldPath(parentPath, 'subscription_details')));

  const billingReason = optionalString(inv, 'billing_reason', OBJECT_PATH);
  const statusTransitions = optionalObject(inv, 'status_transitions', OBJECT_PATH);
  const paidAt = statusTransitions && optionalUnixTime(statusTransitions, 'paid_at', fieldPath(OBJECT_PATH, 'status_transitions'));

  const draft: PaymentDraft = {
    type: 'payment',
    occurredAt: paidAt ?? facts.eventCreated,
    amountMinor: requiredAmount(inv, 'amount_paid', OBJECT_PATH),
    currency: requiredCurrency(inv, 'currency', OBJECT_PATH),
    paid: true,
    kind: (billingReason !== null ? INVOICE_KIND.get(billingReason) : undefined) ?? null,
    refs: {
      invoice: requiredString(inv, 'id', OBJECT_PATH),
      subscription,
      paymentIntent: expandableId(inv, 'payment_intent', OBJECT_PATH) ?? paymentIntentFromInvoicePayments(inv),
      charge: expandableId(inv, 'charge', OBJECT_PATH),
      customer: expandableId(inv, 'customer', OBJECT_PATH),
    },
    signals: {
      // The invoice's own metadata is the most specific; the subscription snapshot is what Checkout's
      // subscription_data.metadata ends up as.
      ...idSignalsFrom(inv.metadata, parentSubscription?.metadata, legacySubscription?.metadata),
      ...emailSignals(inv.customer_email, facts.emailHashKey),
    },
  };
  return [draft];
}

/** basil+ invoices may carry an expanded `payments` list (only when the merchant expanded it). */
function paymentIntentFromInvoicePayments(inv: JsonObject): string | null {
  const payments = optionalListData(inv, 'payments', OBJECT_PATH);
  if (payments === null) return null;
  const paid = payments.findIndex((p) => p.status === 'paid');
  if (paid < 0) return null;
  const payment = (payments[paid] as JsonObject).payment;
  if (!isJsonObject(payment)) return null;
  return expandableId(payment, 'payment_intent', `${OBJECT_PATH}.payments.data.${paid}.payment`);
}

/** invoice_payment.paid (basil+): the invoice ↔ PaymentIntent (and charge) link. */
function invoicePayment(ip: JsonObject, facts: StripeEventFacts): HandlerOutcome {
  expectObjectType(ip, 'invoice_payment');
  const paymentPath = fieldPath(OBJECT_PATH, 'payment');
  const payment = requiredObject(ip, 'payment', OBJECT_PATH);
  const invoiceId = expandableId(ip, 'invoice', OBJECT_PATH);
  if (invoiceId === null) throw new PayloadError(fieldPath(OBJECT_PATH, 'invoice'), 'is missing');
  const statusTransitions = optionalObject(ip, 'status_transitions', OBJECT_PATH);
  const paidAt = statusTransitions && optionalUnixTime(statusTransitions, 'paid_at', fieldPath(OBJECT_PATH, 'status_transitions'));

  const draft: PaymentDraft = {
    type: 'payment',
    occurredAt: paidAt ?? facts.eventCreated,
    amountMinor: requiredAmount(ip, 'amount_paid', OBJECT_PATH),
    currency: requiredCurrency(ip, 'currency', OBJECT_PATH),
    paid: true,
    kind: null,
    refs: {
      invoice: invoiceId,
      paymentIntent: expandableId(payment, 'payment_intent', paymentPath),
      charge: expandableId(payment, 'charge', paymentPath),
    },
    signals: {},
  };
  return [draft];
}
