import { z } from 'zod';
import { id, isoTimestamp, nullableId, provider, schemaVersion } from './common';
import { currencyCode, nonNegativeMinorUnits } from './money';
import { paymentKind } from './payment-event';
import { utmSchema } from './session-event';

export const confidences = ['high', 'medium', 'low', 'none'] as const;
export const confidence = z.enum(confidences);
export type Confidence = z.infer<typeof confidence>;

export const matchedByValues = ['session', 'visitor', 'email', 'subscription', 'none'] as const;
export const matchedBy = z.enum(matchedByValues);
export type MatchedBy = z.infer<typeof matchedBy>;

export const channels = ['direct', 'organic_search', 'paid_search', 'social', 'email', 'referral', 'other'] as const;
export const channel = z.enum(channels);
export type Channel = z.infer<typeof channel>;

export const attributionSourceSchema = z.object({
  referrer: z.string().max(2048).nullable(),
  channel,
  utm: utmSchema.nullable(),
  landingPage: z.string().max(2048).nullable(),
  country: z.string().max(64).nullable(),
  device: z.string().max(64).nullable(),
});
export type AttributionSource = z.infer<typeof attributionSourceSchema>;

export const attributionSchema = z.object({
  confidence,
  matchedBy,
  visitorId: nullableId,
  sessionId: nullableId,
  /** The credited session's traffic source; null when no session is credited. */
  source: attributionSourceSchema.nullable(),
});
export type Attribution = z.infer<typeof attributionSchema>;

export const paymentStatuses = ['paid', 'partially_refunded', 'refunded', 'merged'] as const;
export const paymentStatus = z.enum(paymentStatuses);
export type PaymentStatus = z.infer<typeof paymentStatus>;

/** `{provider}:{provider's id of the money movement}`, e.g. `stripe:pi_3Q…`, `razorpay:pay_…`. */
export const paymentKeySchema = z.string().regex(/^(stripe|razorpay|dodo|manual):.{1,255}$/, 'must be "{provider}:{id}"');

/** One record per real-world payment; re-published with a higher revision whenever it changes. */
export const paymentStateSchema = z
  .object({
    schemaVersion,
    websiteId: id,
    paymentKey: paymentKeySchema,
    revision: z.number().int().positive(),
    provider,
    livemode: z.boolean(),
    currency: currencyCode,
    grossMinor: nonNegativeMinorUnits,
    refundedMinor: nonNegativeMinorUnits,
    netMinor: nonNegativeMinorUnits,
    status: paymentStatus,
    mergedInto: paymentKeySchema.nullable(),
    paidAt: isoTimestamp,
    /** Money time of the latest refund increase (extension to the contract; null when never refunded). */
    refundedAt: isoTimestamp.nullable().default(null),
    kind: paymentKind,
    subscriptionKey: z.string().max(300).nullable(),
    attribution: attributionSchema,
    refs: z.object({
      paymentIntent: nullableId,
      invoice: nullableId,
      checkoutSession: nullableId,
      charges: z.array(id),
      subscription: nullableId,
    }),
    emailMasked: z.string().max(320).nullable(),
    eventIds: z.array(id),
    updatedAt: isoTimestamp,
  })
  .superRefine((s, ctx) => {
    if (s.status === 'merged') {
      if (s.mergedInto === null) ctx.addIssue({ code: 'custom', path: ['mergedInto'], message: 'a merged payment names the key it merged into' });
      if (s.netMinor !== 0) ctx.addIssue({ code: 'custom', path: ['netMinor'], message: 'a merged payment has netMinor 0' });
      return;
    }
    if (s.refundedMinor > s.grossMinor) ctx.addIssue({ code: 'custom', path: ['refundedMinor'], message: 'cannot exceed grossMinor' });
    if (s.netMinor !== s.grossMinor - s.refundedMinor) ctx.addIssue({ code: 'custom', path: ['netMinor'], message: 'must equal grossMinor - refundedMinor' });
    if (!s.paymentKey.startsWith(`${s.provider}:`)) ctx.addIssue({ code: 'custom', path: ['paymentKey'], message: 'must start with the provider' });
  });
export type PaymentState = z.infer<typeof paymentStateSchema>;
export type PaymentStateInput = z.input<typeof paymentStateSchema>;

/** Kafka key of a PaymentState record: `{websiteId}:{paymentKey}`. */
export function paymentStateKey(state: Pick<PaymentState, 'websiteId' | 'paymentKey'>): string {
  return `${state.websiteId}:${state.paymentKey}`;
}
