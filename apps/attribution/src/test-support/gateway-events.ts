// Realistic NormalizedPaymentEvents for the integration tests: Stripe fixtures (built from Stripe's own
// OpenAPI objects) run through the gateway's real normalizer. Loaded with require() so that this app's
// typecheck (rootDir src) does not pull the gateway's sources in; the slice used is typed here.
import type { NormalizedPaymentEvent } from '@metrivo/contracts';

type StripeJson = Record<string, unknown>;

interface StripeScenario {
  ids: { checkoutSession: string | null; paymentIntent: string; charge: string; invoice: string | null; subscription: string | null; customer: string | null };
  events: StripeJson[];
}

interface ScenarioOptions {
  apiVersion: string;
  livemode?: boolean;
  amount?: number;
  currency?: string;
  email?: string | null;
  sessionMetadata?: Record<string, string>;
  paymentIntentMetadata?: Record<string, string>;
  subscriptionMetadata?: Record<string, string>;
  clientReferenceId?: string | null;
  at?: number;
}

interface StripeFixtures {
  oneTimeCheckoutScenario(o: ScenarioOptions): StripeScenario;
  subscriptionCheckoutScenario(o: ScenarioOptions): StripeScenario;
  subscriptionRenewalScenario(o: ScenarioOptions & { subscription: string; customer: string }): StripeScenario;
  chargeRefunded(o: { apiVersion: string; id: string; amount: number; amountRefunded: number; paymentIntent: string; currency?: string; livemode?: boolean; created?: number; event?: { id?: string; created?: number } }): StripeJson;
  refundEvent(
    type: 'refund.created' | 'refund.updated' | 'charge.refund.updated',
    o: { apiVersion: string; id?: string; amount: number; charge: string; paymentIntent: string; status?: 'succeeded' | 'pending' | 'failed' | 'canceled'; currency?: string; livemode?: boolean; created?: number; event?: { id?: string; created?: number } },
  ): StripeJson;
}

interface NormalizeContext {
  websiteId: string;
  integrationId: string;
  receivedAt: Date;
  emailHashKey: string;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const fixtures = (require('../../../gateway/src/test-fixtures') as { stripeFixtures: StripeFixtures }).stripeFixtures;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const normalizers = require('../../../gateway/src/normalizers') as { normalizeStripeEvent(event: unknown, ctx: NormalizeContext): { events: NormalizedPaymentEvent[] } };

export const stripe = fixtures;
export const API_VERSIONS = { legacy: '2024-06-20', basil: '2025-03-31.basil' } as const;

/** Normalizes Stripe webhook bodies the way the gateway does for this website. */
export function normalizeStripe(websiteId: string, emailHashKey: string, events: readonly StripeJson[]): NormalizedPaymentEvent[] {
  return events.flatMap((e) => normalizers.normalizeStripeEvent(e, { websiteId, integrationId: `int_${websiteId}`, receivedAt: new Date(), emailHashKey }).events);
}
