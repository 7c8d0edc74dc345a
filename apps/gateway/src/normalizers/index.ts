export { normalizeStripeEvent, STRIPE_HANDLED_EVENT_TYPES, stripeRefundStatus } from './stripe';
export type { StripeHandledEventType } from './stripe';
export { normalizeRazorpayEvent, RAZORPAY_HANDLED_EVENT_TYPES, RAZORPAY_PLACEHOLDER_EMAILS } from './razorpay';
export { normalizeDodoEvent, DODO_HANDLED_EVENT_TYPES, dodoRefundStatus } from './dodo';
export { PayloadError, isPayloadError } from './payload-error';
export { SESSION_ID_KEYS, VISITOR_ID_KEYS } from './signals';
export type { NormalizeContext, NormalizeResult } from './types';
