export { verifyStripeSignature } from './stripe';
export type { StripeWebhookEvent } from './stripe';
export { verifyRazorpaySignature } from './razorpay';
export type { RazorpayWebhookEvent } from './razorpay';
export { verifyDodoSignature, standardWebhooksKey } from './dodo';
export type { DodoWebhookEvent } from './dodo';
export { DEFAULT_TOLERANCE_SECONDS, headerValue } from './common';
export type {
  JsonObject,
  SignatureFailure,
  SignatureFailureCode,
  SignatureSuccess,
  VerificationResult,
  VerifyWebhookInput,
  WebhookHeaders,
} from './types';
