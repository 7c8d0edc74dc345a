import { MAX_ID_LENGTH, type RefundReport } from '@metrivo/contracts';
import { assemble, eventIdOf } from './assemble';
import { PayloadError } from './payload-error';
import {
  asObject,
  isJsonObject,
  optionalBoolean,
  optionalIsoTime,
  optionalObject,
  optionalString,
  requiredAmount,
  requiredCurrency,
  requiredObject,
  requiredString,
  type JsonObject,
} from './read';
import { emailSignals, idSignalsFrom } from './signals';
import type { HandlerOutcome, NormalizeContext, NormalizeResult, PaymentDraft, RefundDraft, ReportDraft } from './types';

/**
 * Dodo Payments (Standard Webhooks) events → normalized reports. Body `{ business_id, type, timestamp, data }`.
 *
 * Choices:
 * - livemode: Dodo payloads carry no test/live flag that we know of (test mode is a different API host).
 *   A boolean `livemode` on the body or on `data` is honoured if Dodo ever sends one; otherwise
 *   `ctx.livemode` (the integration's configured mode), default true.
 * - kind: a payment without `subscription_id` is one_time; with one, the fold decides (initial vs renewal).
 * - `checkout_session_id` is not put into refs: no other event we use names it, and if Dodo repeats it on
 *   renewal payments a union on it would merge distinct payments.
 * - Dodo payloads carry the latest state at delivery time: a payment.succeeded delivered after a refund
 *   may list it in `data.refunds`; each succeeded one there is reported as a single refund (idempotent by id).
 *   One we cannot read (no amount or currency, both optional) is skipped: its refund.succeeded reports it.
 */

export const DODO_HANDLED_EVENT_TYPES = ['payment.succeeded', 'refund.succeeded'] as const;
type DodoHandledEventType = (typeof DODO_HANDLED_EVENT_TYPES)[number];

interface DodoFacts {
  /** Body `timestamp` as ISO, the fallback money time. */
  eventTime: string | null;
  emailHashKey: string;
  /** The webhook-id header: embedded refunds' event ids are built from it. */
  webhookId: string;
}

const HANDLERS: Record<DodoHandledEventType, (data: JsonObject, facts: DodoFacts) => HandlerOutcome> = {
  'payment.succeeded': paymentSucceeded,
  'refund.succeeded': refundSucceeded,
};

function isHandled(type: string): type is DodoHandledEventType {
  return Object.prototype.hasOwnProperty.call(HANDLERS, type);
}

/** `body` is the verified, parsed webhook body; `ctx.providerEventId` must be the webhook-id header. */
export function normalizeDodoEvent(body: unknown, ctx: NormalizeContext): NormalizeResult {
  const envelope = asObject(body, 'body');
  const type = requiredString(envelope, 'type', '');
  if (!isHandled(type)) return { events: [], ignored: `Dodo event type ${type} is not used` };
  const eventId = ctx.providerEventId?.trim();
  if (!eventId) throw new PayloadError('webhook-id', 'header is missing: it is the id of a Dodo event');

  const data = requiredObject(envelope, 'data', '');
  const livemode = optionalBoolean(envelope, 'livemode', '') ?? optionalBoolean(data, 'livemode', 'data') ?? ctx.livemode ?? true;
  const facts: DodoFacts = { eventTime: optionalIsoTime(envelope, 'timestamp', ''), emailHashKey: ctx.emailHashKey, webhookId: eventId };
  const outcome = HANDLERS[type](data, facts);
  return assemble(outcome, { provider: 'dodo', providerEventId: eventId, eventType: type, apiVersion: null, livemode }, ctx);
}

function occurredAt(obj: JsonObject, path: string, facts: DodoFacts): string {
  const at = optionalIsoTime(obj, 'created_at', path) ?? facts.eventTime;
  if (at === null) throw new PayloadError(`${path}.created_at`, 'is missing (and the body has no timestamp)');
  return at;
}

export function dodoRefundStatus(status: string | null): RefundReport['status'] {
  switch (status) {
    case null:
    case 'succeeded':
      return 'succeeded';
    case 'failed':
      return 'failed';
    case 'cancelled':
    case 'canceled':
      return 'canceled';
    default:
      return 'pending';
  }
}

function paymentSucceeded(data: JsonObject, facts: DodoFacts): HandlerOutcome {
  const paymentId = requiredString(data, 'payment_id', 'data');
  const customer = optionalObject(data, 'customer', 'data');
  const subscription = optionalString(data, 'subscription_id', 'data');
  const refs = {
    payment: paymentId,
    subscription,
    customer: customer && optionalString(customer, 'customer_id', 'data.customer'),
  };
  const signals = {
    ...idSignalsFrom(data.metadata),
    ...emailSignals(customer && optionalString(customer, 'email', 'data.customer'), facts.emailHashKey),
  };
  const payment: PaymentDraft = {
    type: 'payment',
    occurredAt: occurredAt(data, 'data', facts),
    amountMinor: requiredAmount(data, 'total_amount', 'data'),
    currency: requiredCurrency(data, 'currency', 'data'),
    paid: true,
    kind: subscription === null ? 'one_time' : null,
    refs,
    signals,
  };

  const embedded = Array.isArray(data.refunds) ? data.refunds : [];
  const refunds = embedded.flatMap((r, i) => embeddedRefund(r, `data.refunds.${i}`, facts, paymentId, refs, signals) ?? []);
  return [payment, ...refunds];
}

/**
 * A succeeded refund listed in a payment.succeeded, or null when there is none to report. The list is a
 * by-product of Dodo sending the latest state, and `amount` / `currency` are optional there: a refund we
 * cannot read is skipped rather than failing the whole delivery, because a 400 would repeat on every
 * retry and lose the payment. The refund is not lost either: its own refund.succeeded reports it.
 */
function embeddedRefund(
  value: unknown,
  path: string,
  facts: DodoFacts,
  paymentId: string,
  refs: RefundDraft['refs'],
  signals: RefundDraft['signals'],
): ReportDraft | null {
  if (!isJsonObject(value) || value.status !== 'succeeded') return null;
  let draft: RefundDraft;
  try {
    draft = refundDraft(value, path, facts, paymentId, refs, signals);
  } catch (err) {
    if (err instanceof PayloadError) return null;
    throw err;
  }
  // Dodo sends the latest state, so a redelivery of the same webhook-id may list other refunds, or the
  // same ones in another order: a positional id would then name a different refund, and attribution keeps
  // only the first version of an event id. The refund's own id is stable.
  const eventIdSuffix = `refund:${draft.refundId}`;
  if (eventIdOf('dodo', facts.webhookId, eventIdSuffix).length > MAX_ID_LENGTH) return null; // cannot fit the contract; skipped like above
  return { ...draft, eventIdSuffix };
}

function refundDraft(
  refund: JsonObject,
  path: string,
  facts: DodoFacts,
  paymentId: string,
  refs: RefundDraft['refs'],
  signals: RefundDraft['signals'],
): RefundDraft {
  return {
    type: 'refund',
    occurredAt: occurredAt(refund, path, facts),
    refundId: requiredString(refund, 'refund_id', path),
    // `amount` is optional in Dodo's schema; without it the refund cannot be counted, so a refund.succeeded
    // without it is an error (400) rather than a silently wrong total (an embedded one is skipped instead).
    amountMinor: requiredAmount(refund, 'amount', path),
    cumulativeRefundedMinor: null,
    currency: requiredCurrency(refund, 'currency', path),
    status: dodoRefundStatus(optionalString(refund, 'status', path)),
    refs: { ...refs, payment: paymentId },
    signals,
  };
}

/** refund.succeeded: one refund, counted by refund_id downstream. */
function refundSucceeded(data: JsonObject, facts: DodoFacts): HandlerOutcome {
  const paymentId = requiredString(data, 'payment_id', 'data');
  return [refundDraft(data, 'data', facts, paymentId, { payment: paymentId }, idSignalsFrom(data.metadata))];
}
