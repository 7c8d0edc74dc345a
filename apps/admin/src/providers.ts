import type { IntegrationProvider } from '@metrivo/integration-store';

/**
 * What support tells a merchant per provider: the events to subscribe to, and which of them report a
 * payment (used by setup health). The lists mirror what the gateway normalizes (DESIGN.md §5,
 * PROVIDERS.md); an event the gateway does not use is harmless but creates noise.
 */
export const REQUIRED_EVENTS: Readonly<Record<IntegrationProvider, readonly string[]>> = {
  stripe: [
    'checkout.session.completed',
    'checkout.session.async_payment_succeeded',
    'payment_intent.succeeded',
    'charge.succeeded',
    'charge.refunded',
    'refund.created',
    'refund.updated',
    'invoice.paid',
    'invoice_payment.paid',
  ],
  razorpay: ['payment.captured', 'order.paid', 'refund.processed'],
  dodo: ['payment.succeeded', 'refund.succeeded'],
  manual: [],
};

/** Event types that report money coming in (as opposed to refunds); the gateway's delivery log names them. */
export const PAYMENT_EVENT_TYPES: Readonly<Record<IntegrationProvider, readonly string[]>> = {
  stripe: [
    'checkout.session.completed',
    'checkout.session.async_payment_succeeded',
    'payment_intent.succeeded',
    'charge.succeeded',
    'invoice.paid',
    'invoice_payment.paid',
  ],
  razorpay: ['payment.captured', 'order.paid'],
  dodo: ['payment.succeeded'],
  manual: ['manual.payment'],
};

export const PROVIDER_LABELS: Readonly<Record<IntegrationProvider, string>> = {
  stripe: 'Stripe',
  razorpay: 'Razorpay',
  dodo: 'Dodo Payments',
  manual: 'Manual Payment API',
};

export function hasWebhook(provider: IntegrationProvider): provider is Exclude<IntegrationProvider, 'manual'> {
  return provider !== 'manual';
}

/**
 * DESIGN.md §4: `{METRIVO_PUBLIC_GATEWAY_URL}/v1/webhooks/{provider}/{integrationId}`. The manual
 * provider receives no webhooks (the merchant calls the Manual Payment API with an API key): null.
 */
export function webhookUrlFor(gatewayUrl: string, provider: IntegrationProvider, integrationId: string): string | null {
  if (!hasWebhook(provider)) return null;
  return `${gatewayUrl.replace(/\/+$/, '')}/v1/webhooks/${provider}/${encodeURIComponent(integrationId)}`;
}

export function manualApiUrlFor(gatewayUrl: string): string {
  return `${gatewayUrl.replace(/\/+$/, '')}/v1/payments`;
}

/**
 * A readable reason when `secret` cannot be this provider's signing secret, else null. Catching a
 * pasted API key or a truncated secret here saves a round of failed test payments.
 */
export function secretFormatProblem(provider: IntegrationProvider, secret: string): string | null {
  if (secret !== secret.trim()) return 'must not start or end with spaces';
  if (/\s/.test(secret)) return 'must not contain spaces or line breaks';
  switch (provider) {
    case 'stripe':
      if (/^(sk|rk|pk)_(live|test)_/.test(secret)) return 'looks like a Stripe API key; use the webhook signing secret (whsec_…) instead';
      if (!/^whsec_[A-Za-z0-9+/=_-]{16,}$/.test(secret)) return 'a Stripe signing secret starts with "whsec_" followed by at least 16 characters';
      return null;
    case 'dodo': {
      const encoded = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || Buffer.from(encoded, 'base64').length < 16) {
        return 'a Dodo Payments signing secret looks like "whsec_" followed by base64 (at least 16 bytes)';
      }
      return null;
    }
    case 'razorpay':
      if (/^rzp_(live|test)_/.test(secret)) return 'looks like a Razorpay API key id; use the webhook secret entered in the webhook setup';
      if (secret.length < 8) return 'must be at least 8 characters (Razorpay lets the merchant choose it; prefer 32 random characters)';
      return null;
    case 'manual':
      return 'the Manual Payment API has no webhook secret; create an API key instead';
  }
}
