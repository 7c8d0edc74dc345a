import { normalizeDodoEvent, normalizeRazorpayEvent, normalizeStripeEvent } from './normalizers';
import type { ProviderAdapter, WebhookProvider } from './http/webhook-route';
import { verifyDodoSignature, verifyRazorpaySignature, verifyStripeSignature, type JsonObject } from './signatures';

export { isPayloadError } from './normalizers';

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Verification + normalization per provider; the route itself is provider-agnostic. */
export const providerAdapters: Record<WebhookProvider, ProviderAdapter> = {
  stripe: {
    verify: (input) => verifyStripeSignature(input) as ReturnType<ProviderAdapter['verify']>,
    normalize: (event, ctx) => normalizeStripeEvent(event, ctx),
    describe: (event: JsonObject) => ({ eventType: str(event.type), livemode: typeof event.livemode === 'boolean' ? event.livemode : null }),
  },
  razorpay: {
    verify: (input) => verifyRazorpaySignature(input) as ReturnType<ProviderAdapter['verify']>,
    normalize: (event, ctx) => normalizeRazorpayEvent(event, ctx),
    describe: (event: JsonObject) => ({ eventType: str(event.event), livemode: null }),
  },
  dodo: {
    verify: (input) => verifyDodoSignature(input) as ReturnType<ProviderAdapter['verify']>,
    normalize: (event, ctx) => normalizeDodoEvent(event, ctx),
    describe: (event: JsonObject) => ({ eventType: str(event.type), livemode: null }),
  },
};
