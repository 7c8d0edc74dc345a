import type { EncryptedSecret } from '@metrivo/crypto';

/**
 * MongoDB documents shared by exactly two apps (DESIGN.md section 2): admin writes integrations and
 * API keys, the gateway reads them; the gateway writes the delivery log, admin reads it.
 */
export const COLLECTIONS = {
  integrations: 'integrations',
  apiKeys: 'api_keys',
  deliveries: 'webhook_deliveries',
} as const;

export const integrationProviders = ['stripe', 'razorpay', 'dodo', 'manual'] as const;
export type IntegrationProvider = (typeof integrationProviders)[number];

export interface StoredSecret {
  sealed: EncryptedSecret;
  /** Null when the secret is too short to show any of it (see lastFour); read it through shownLast4. */
  last4: string | null;
  addedAt: Date;
  /** null for the current secret; set on a previous one kept valid during a roll. */
  expiresAt: Date | null;
}

export interface IntegrationDoc {
  _id: string; // int_…
  websiteId: string;
  provider: IntegrationProvider;
  status: 'active' | 'disabled';
  /**
   * Test or live: Razorpay and Dodo payloads do not say, and merchants register separate test and live
   * endpoints with separate secrets, so the integration carries the mode. Stripe events say it themselves.
   * Absent on documents written before the field existed → live.
   */
  livemode?: boolean;
  /** Current secret first, then previous secrets still valid during a roll. */
  secrets: StoredSecret[];
  createdAt: Date;
  updatedAt: Date;
}

export interface ApiKeyDoc {
  _id: string; // key_…
  websiteId: string;
  /** SHA-256 of the key (the key itself is shown once and never stored). */
  hash: string;
  /** First characters, e.g. "mtv_live_AbC", so support can tell keys apart. */
  prefix: string;
  livemode: boolean;
  createdAt: Date;
  revokedAt: Date | null;
}

export const deliveryOutcomes = ['accepted', 'ignored', 'duplicate', 'rejected', 'unavailable'] as const;
export type DeliveryOutcome = (typeof deliveryOutcomes)[number];

export interface DeliveryDoc {
  _id: string;
  integrationId: string;
  websiteId: string | null;
  provider: string;
  receivedAt: Date;
  providerEventId: string | null;
  eventType: string | null;
  livemode: boolean | null;
  outcome: DeliveryOutcome;
  httpStatus: number;
  errorCode: string | null;
  /** How many normalized events were published to Kafka. */
  published: number;
  /** Whether the payment carried Metrivo session or visitor metadata (setup health). */
  hadMetrivoSignals: boolean | null;
  durationMs: number;
  /** The request's trace id (logs of the gateway and of the apps downstream carry it); absent on older records. */
  traceId?: string | null;
  expireAt: Date;
}
