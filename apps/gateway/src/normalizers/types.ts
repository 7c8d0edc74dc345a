import type { NormalizedPaymentEvent, PaymentKind, PaymentRefs, PaymentSignals, RefundReport } from '@metrivo/contracts';

/** What the route knows about a verified delivery besides its body. */
export interface NormalizeContext {
  websiteId: string;
  integrationId: string;
  /** When the gateway received the webhook (source.receivedAt). */
  receivedAt: Date;
  /** METRIVO_EMAIL_HASH_KEY: emails are hashed with it before anything leaves the normalizer. */
  emailHashKey: string;
  /**
   * The provider's delivery id when it is not in the body: Razorpay `x-razorpay-event-id` header, Dodo
   * `webhook-id` header (both required for those providers). Stripe ignores it and uses the body's `evt_…` id.
   */
  providerEventId?: string | null;
  /**
   * Razorpay and Dodo payloads do not say whether they are test or live (Stripe's do): the integration's
   * configured mode is used. Default true.
   */
  livemode?: boolean;
}

/** `events` may be empty; `ignored` says why when the event type carries nothing we use (route: 200 ignored). */
export interface NormalizeResult {
  events: NormalizedPaymentEvent[];
  ignored?: string;
}

/** A report before the envelope fields (eventId, websiteId, source, …) are added. */
export interface PaymentDraft {
  type: 'payment';
  occurredAt: string;
  amountMinor: number;
  currency: string;
  paid: boolean;
  kind: PaymentKind | null;
  refs: Partial<PaymentRefs>;
  signals: Partial<PaymentSignals>;
}

export interface RefundDraft {
  type: 'refund';
  occurredAt: string;
  refundId: string | null;
  amountMinor: number | null;
  cumulativeRefundedMinor: number | null;
  currency: string;
  status: RefundReport['status'];
  refs: Partial<PaymentRefs>;
  signals: Partial<PaymentSignals>;
}

export type ReportDraft = (PaymentDraft | RefundDraft) & {
  /**
   * Replaces the positional `n` of the event id (`{provider}:{provider event id}:{eventIdSuffix}`) for a
   * report whose position is not stable across redeliveries (Dodo's embedded refunds: the list changes).
   */
  eventIdSuffix?: string;
};

/** A handler either yields drafts or explains why this instance carries nothing to report. */
export type HandlerOutcome = ReportDraft[] | { ignored: string };
