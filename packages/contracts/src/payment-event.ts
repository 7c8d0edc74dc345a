import { z } from 'zod';
import { emailHash, id, isoTimestamp, nullableId, provider, schemaVersion } from './common';
import { currencyCode, minorUnits, nonNegativeMinorUnits } from './money';

/**
 * Every provider id an event reveals. The attribution app unions these across events to find out
 * which events report the same real-world money (PaymentIntent ↔ invoice ↔ charge ↔ checkout session).
 * For Razorpay, Dodo and the Manual API, `payment` is the provider's own payment id (pay_…, payment_id,
 * the caller's id); Stripe ids live in the Stripe-specific fields.
 */
export const paymentRefsSchema = z.object({
  paymentIntent: nullableId.default(null),
  invoice: nullableId.default(null),
  checkoutSession: nullableId.default(null),
  charge: nullableId.default(null),
  subscription: nullableId.default(null),
  customer: nullableId.default(null),
  order: nullableId.default(null),
  payment: nullableId.default(null),
});
export type PaymentRefs = z.infer<typeof paymentRefsSchema>;

/** Attribution signals the payment carried (metadata, client_reference_id, notes, API fields, email). */
export const paymentSignalsSchema = z.object({
  sessionId: nullableId.default(null),
  visitorId: nullableId.default(null),
  emailHash: emailHash.nullable().default(null),
  /** e.g. "j***@example.com": for support screens only. */
  emailMasked: z.string().max(320).nullable().default(null),
});
export type PaymentSignals = z.infer<typeof paymentSignalsSchema>;

/** Which provider event this came from: the explain trail and the dedupe key start here. */
export const eventSourceSchema = z.object({
  eventId: id,
  eventType: z.string().min(1).max(255),
  apiVersion: z.string().max(64).nullable().default(null),
  receivedAt: isoTimestamp,
});

const base = {
  schemaVersion,
  /**
   * Unique per normalized event: `{provider}:{provider event id}:{n}` (refunds inside a Dodo payment:
   * `dodo:{webhook-id}:refund:{refund_id}`; Manual API: `manual:{websiteId}:payment|refund:…`). Redeliveries repeat it.
   */
  eventId: id,
  websiteId: id,
  integrationId: id,
  provider,
  livemode: z.boolean(),
  /** Money time: when the provider says the payment or refund happened. */
  occurredAt: isoTimestamp,
  source: eventSourceSchema,
  refs: paymentRefsSchema,
  signals: paymentSignalsSchema,
};

export const paymentKinds = ['one_time', 'subscription_initial', 'subscription_renewal'] as const;
export const paymentKind = z.enum(paymentKinds);
export type PaymentKind = z.infer<typeof paymentKind>;

/**
 * A report that money was (or will be) paid. Several reports may describe the same money
 * (checkout.session.completed + payment_intent.succeeded + charge.succeeded).
 */
export const paymentReportSchema = z.object({
  ...base,
  type: z.literal('payment'),
  amountMinor: nonNegativeMinorUnits,
  currency: currencyCode,
  /** false for delayed methods not yet settled (checkout `payment_status: "unpaid"`). */
  paid: z.boolean(),
  /** Known when the event says so (invoice billing_reason, checkout mode); null when the fold must decide. */
  kind: paymentKind.nullable().default(null),
});

/**
 * A report about refunded money. Either one refund (`refundId` + `amountMinor`, summed over distinct ids)
 * or a cumulative total for the payment (`cumulativeRefundedMinor`, combined by max): never summed.
 */
export const refundReportSchema = z.object({
  ...base,
  type: z.literal('refund'),
  refundId: nullableId.default(null),
  amountMinor: nonNegativeMinorUnits.nullable().default(null),
  cumulativeRefundedMinor: nonNegativeMinorUnits.nullable().default(null),
  currency: currencyCode,
  status: z.enum(['succeeded', 'pending', 'failed', 'canceled']),
}).refine((r) => r.refundId !== null || r.cumulativeRefundedMinor !== null, {
  message: 'a refund report needs refundId (one refund) or cumulativeRefundedMinor (running total)',
  path: ['refundId'],
}).refine((r) => r.refundId === null || r.amountMinor !== null, {
  message: 'a refund with a refundId needs its amountMinor',
  path: ['amountMinor'],
});

export const normalizedPaymentEventSchema = z.discriminatedUnion('type', [paymentReportSchema, refundReportSchema]);

export type PaymentReport = z.infer<typeof paymentReportSchema>;
export type RefundReport = z.infer<typeof refundReportSchema>;
export type NormalizedPaymentEvent = z.infer<typeof normalizedPaymentEventSchema>;
/** What a producer writes (defaults may be omitted). */
export type NormalizedPaymentEventInput = z.input<typeof normalizedPaymentEventSchema>;

// Keep the signed minor-unit schema exported for ledger entries.
export { minorUnits };
