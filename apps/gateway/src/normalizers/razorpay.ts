import { assemble } from './assemble';
import { PayloadError } from './payload-error';
import {
  asObject,
  optionalAmount,
  optionalObject,
  optionalString,
  optionalUnixTime,
  requiredAmount,
  requiredCurrency,
  requiredObject,
  requiredString,
  type JsonObject,
} from './read';
import { emailSignals, idSignalsFrom } from './signals';
import type { HandlerOutcome, NormalizeContext, NormalizeResult, PaymentDraft, RefundDraft } from './types';

/**
 * Razorpay events → normalized reports. The money is identified by the `pay_` id (refs.payment), so
 * payment.captured and order.paid for the same payment report the same money.
 *
 * Choices:
 * - livemode: Razorpay payloads do not say whether they are test or live, so `ctx.livemode` (the
 *   integration's configured mode) decides; default true.
 * - The payment's `invoice_id` (Razorpay invoices can be paid in parts) is NOT put into refs.invoice: the
 *   attribution app unions reports by refs.invoice, which would merge distinct partial payments.
 * - `void@razorpay.com` is Razorpay's stand-in when no email was collected: treated as no email.
 * - occurredAt is the payment's (or refund's) own `created_at`, so both events of one payment agree.
 */

export const RAZORPAY_PLACEHOLDER_EMAILS = ['void@razorpay.com'] as const;

export const RAZORPAY_HANDLED_EVENT_TYPES = ['payment.captured', 'order.paid', 'refund.processed'] as const;
type RazorpayHandledEventType = (typeof RAZORPAY_HANDLED_EVENT_TYPES)[number];

type Handler = (payload: JsonObject, emailHashKey: string) => HandlerOutcome;

const HANDLERS: Record<RazorpayHandledEventType, Handler> = {
  'payment.captured': (payload, key) => [paymentDraft(entity(payload, 'payment'), null, key)],
  'order.paid': (payload, key) => [paymentDraft(entity(payload, 'payment'), entity(payload, 'order'), key)],
  'refund.processed': refundProcessed,
};

function isHandled(type: string): type is RazorpayHandledEventType {
  return Object.prototype.hasOwnProperty.call(HANDLERS, type);
}

const PAYMENT_PATH = 'payload.payment.entity';
const ORDER_PATH = 'payload.order.entity';
const REFUND_PATH = 'payload.refund.entity';

/** `body` is the verified, parsed webhook body; `ctx.providerEventId` must be the x-razorpay-event-id header. */
export function normalizeRazorpayEvent(body: unknown, ctx: NormalizeContext): NormalizeResult {
  const envelope = asObject(body, 'body');
  const type = requiredString(envelope, 'event', '');
  if (!isHandled(type)) return { events: [], ignored: `Razorpay event type ${type} is not used` };
  const eventId = ctx.providerEventId?.trim();
  if (!eventId) {
    throw new PayloadError('x-razorpay-event-id', 'header is missing: it is the only id of a Razorpay event');
  }
  const payload = requiredObject(envelope, 'payload', '');
  const outcome = HANDLERS[type](payload, ctx.emailHashKey);
  return assemble(outcome, { provider: 'razorpay', providerEventId: eventId, eventType: type, apiVersion: null, livemode: ctx.livemode ?? true }, ctx);
}

function entity(payload: JsonObject, name: 'payment' | 'order' | 'refund'): JsonObject {
  return requiredObject(requiredObject(payload, name, 'payload'), 'entity', `payload.${name}`);
}

function paymentEmail(payment: JsonObject, key: string) {
  return emailSignals(optionalString(payment, 'email', PAYMENT_PATH), key, RAZORPAY_PLACEHOLDER_EMAILS);
}

function paymentDraft(payment: JsonObject, order: JsonObject | null, key: string): PaymentDraft {
  const paymentId = requiredString(payment, 'id', PAYMENT_PATH);
  return {
    type: 'payment',
    occurredAt: requiredCreatedAt(payment, PAYMENT_PATH),
    amountMinor: requiredAmount(payment, 'amount', PAYMENT_PATH),
    currency: requiredCurrency(payment, 'currency', PAYMENT_PATH),
    paid: true,
    // Nothing in a payment says whether it is a one-off or a subscription charge.
    kind: null,
    refs: {
      payment: paymentId,
      order: optionalString(payment, 'order_id', PAYMENT_PATH) ?? (order && requiredString(order, 'id', ORDER_PATH)),
      customer: optionalString(payment, 'customer_id', PAYMENT_PATH),
    },
    signals: {
      // `notes` is `[]` when empty: idSignalsFrom ignores arrays. The payment's own notes win over the order's.
      ...idSignalsFrom(payment.notes, order?.notes),
      ...paymentEmail(payment, key),
    },
  };
}

function requiredCreatedAt(obj: JsonObject, path: string): string {
  const created = optionalUnixTime(obj, 'created_at', path);
  if (created === null) throw new PayloadError(`${path}.created_at`, 'is missing');
  return created;
}

/**
 * refund.processed: the refund itself (one refund, by rfnd_ id) and, when the payment entity is included,
 * the payment's cumulative amount_refunded.
 */
function refundProcessed(payload: JsonObject, key: string): HandlerOutcome {
  const refund = entity(payload, 'refund');
  const paymentWrapper = optionalObject(payload, 'payment', 'payload');
  const payment = paymentWrapper && optionalObject(paymentWrapper, 'entity', 'payload.payment');
  const paymentId = requiredString(refund, 'payment_id', REFUND_PATH);
  const embeddedId = payment && optionalString(payment, 'id', PAYMENT_PATH);
  if (embeddedId && embeddedId !== paymentId) {
    throw new PayloadError(`${PAYMENT_PATH}.id`, `is ${embeddedId} but the refund is for ${paymentId}`);
  }
  const signals = {
    ...idSignalsFrom(refund.notes, payment?.notes),
    ...(payment ? paymentEmail(payment, key) : {}),
  };
  const single: RefundDraft = {
    type: 'refund',
    occurredAt: requiredCreatedAt(refund, REFUND_PATH),
    refundId: requiredString(refund, 'id', REFUND_PATH),
    amountMinor: requiredAmount(refund, 'amount', REFUND_PATH),
    cumulativeRefundedMinor: null,
    currency: requiredCurrency(refund, 'currency', REFUND_PATH),
    status: 'succeeded',
    refs: { payment: paymentId },
    signals,
  };
  const cumulativeMinor = payment && optionalAmount(payment, 'amount_refunded', PAYMENT_PATH);
  if (!payment || cumulativeMinor === null) return [single];
  const cumulative: RefundDraft = {
    ...single,
    refundId: null,
    amountMinor: null,
    cumulativeRefundedMinor: cumulativeMinor,
    currency: requiredCurrency(payment, 'currency', PAYMENT_PATH),
    refs: {
      payment: paymentId,
      order: optionalString(payment, 'order_id', PAYMENT_PATH),
      customer: optionalString(payment, 'customer_id', PAYMENT_PATH),
    },
  };
  return [single, cumulative];
}
