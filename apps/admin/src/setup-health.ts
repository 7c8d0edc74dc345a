import type { PaymentState } from '@metrivo/contracts';
import type { DeliveryDoc, IntegrationProvider } from '@metrivo/integration-store';
import { PAYMENT_EVENT_TYPES, REQUIRED_EVENTS } from './providers';

/**
 * Setup health of one integration: pure, from facts the caller gathered (the gateway's delivery log
 * and, when reachable, the ledger's payments). Support reads it top to bottom; every check says what
 * it saw and what to do next.
 */

export type DeliveryFact = Pick<DeliveryDoc, 'receivedAt' | 'eventType' | 'livemode' | 'outcome' | 'errorCode' | 'httpStatus' | 'hadMetrivoSignals'>;
export type LedgerPaymentFact = Pick<PaymentState, 'provider' | 'livemode' | 'paidAt' | 'paymentKey'>;

export interface SetupHealthInput {
  provider: IntegrationProvider;
  status: 'active' | 'disabled';
  secretSet: boolean;
  /** Delivery log entries of this integration in the window, any order. */
  deliveries: readonly DeliveryFact[];
  /** Start of the window the deliveries cover (shown to support; the log has bounded retention). */
  windowFrom: Date;
  /** Recent payments of the website from the ledger (both modes), or null when the ledger did not answer. */
  ledgerPayments: readonly LedgerPaymentFact[] | null;
  /**
   * Secrets that still verify but were sealed with a key id missing from admin's METRIVO_SECRET_KEYS (the gateway
   * is configured with the same keyring): the gateway cannot open them, so webhooks signed with them fail.
   */
  secretsWithMissingKey?: ReadonlyArray<{ current: boolean; keyId: string }>;
  /** Manual integrations only: active API keys of the website. */
  activeApiKeys?: number;
  now: Date;
}

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'pending';

export interface HealthCheck {
  id: 'secret' | 'enabled' | 'api_key' | 'last_delivery' | 'signature_failures' | 'events' | 'metadata' | 'test_payment' | 'live_payment';
  label: string;
  status: CheckStatus;
  detail: string;
}

export interface PaymentSeen {
  seen: boolean;
  /** Newest time seen (webhook receipt or ledger paidAt). */
  at: string | null;
  via: Array<'webhook' | 'ledger'>;
}

export interface SetupHealth {
  status: CheckStatus;
  secretSet: boolean;
  lastDelivery: { at: string; eventType: string | null; livemode: boolean | null; outcome: DeliveryFact['outcome']; httpStatus: number; errorCode: string | null } | null;
  signatureFailures24h: number;
  requiredEvents: Array<{ type: string; seen: boolean; lastSeenAt: string | null }>;
  metrivoSignals: {
    /** Estimated share of payments that carried Metrivo metadata, 0..1, or null before any payment webhook. */
    share: number | null;
    paymentWebhooks: number;
    withSignals: number;
    byEventType: Array<{ type: string; paymentWebhooks: number; withSignals: number }>;
  };
  testPayment: PaymentSeen;
  livePayment: PaymentSeen;
  ledgerAvailable: boolean;
  window: { from: string; deliveries: number };
  checks: HealthCheck[];
}

const DAY_MS = 86_400_000;
/** Below this share support should check the checkout integration passes metrivo_session_id/visitor id. */
export const GOOD_SIGNAL_SHARE = 0.8;

/** A delivery that passed signature verification: its event type is trustworthy. */
const verified = (d: DeliveryFact) => d.eventType !== null && (d.outcome === 'accepted' || d.outcome === 'ignored' || d.outcome === 'duplicate' || d.outcome === 'unavailable');
/** A delivery that produced a payment event Kafka took (hadMetrivoSignals is only set for those). */
const acceptedPayment = (d: DeliveryFact) => d.outcome === 'accepted' && d.hadMetrivoSignals !== null;

function latest(dates: Array<Date | string>): string | null {
  let best: number | null = null;
  for (const d of dates) {
    const t = typeof d === 'string' ? Date.parse(d) : d.getTime();
    if (!Number.isNaN(t) && (best === null || t > best)) best = t;
  }
  return best === null ? null : new Date(best).toISOString();
}

function paymentSeen(livemode: boolean, deliveries: readonly DeliveryFact[], ledger: readonly LedgerPaymentFact[]): PaymentSeen {
  const viaWebhook = deliveries.filter((d) => acceptedPayment(d) && d.livemode === livemode).map((d) => d.receivedAt);
  const viaLedger = ledger.filter((p) => p.livemode === livemode).map((p) => p.paidAt);
  const via: PaymentSeen['via'] = [];
  if (viaWebhook.length) via.push('webhook');
  if (viaLedger.length) via.push('ledger');
  return { seen: via.length > 0, at: latest([...viaWebhook, ...viaLedger]), via };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
/** "2026-11-29 10:09:30 UTC": the detail sentences are read by people. */
const human = (iso: string) => `${iso.slice(0, 19).replace('T', ' ')} UTC`;
const percent = (share: number) => `${Math.round(share * 100)}%`;

export function computeSetupHealth(input: SetupHealthInput): SetupHealth {
  const { provider, now } = input;
  const deliveries = [...input.deliveries].sort((a, b) => b.receivedAt.getTime() - a.receivedAt.getTime());
  const ledger = (input.ledgerPayments ?? []).filter((p) => p.provider === provider);
  const webhook = provider !== 'manual';

  const last = deliveries[0];
  const lastDelivery = last
    ? { at: last.receivedAt.toISOString(), eventType: last.eventType, livemode: last.livemode, outcome: last.outcome, httpStatus: last.httpStatus, errorCode: last.errorCode }
    : null;

  const dayAgo = now.getTime() - DAY_MS;
  const signatureFailures = deliveries.filter((d) => d.errorCode === 'invalid_signature' && d.receivedAt.getTime() > dayAgo);
  const lastFailure = signatureFailures[0];
  const verifiedSinceFailure = lastFailure ? deliveries.some((d) => verified(d) && d.receivedAt.getTime() > lastFailure.receivedAt.getTime()) : false;

  const requiredEvents = REQUIRED_EVENTS[provider].map((type) => {
    const seenAt = deliveries.find((d) => verified(d) && d.eventType === type)?.receivedAt ?? null;
    return { type, seen: seenAt !== null, lastSeenAt: seenAt ? seenAt.toISOString() : null };
  });

  // A payment is reported by several events (Stripe Checkout: session + PaymentIntent + charge) and the
  // metadata usually sits on one of them, so the per-event share understates. The best share among the
  // provider's payment event types estimates "share of payments"; the breakdown shows the raw counts.
  const byEventType = PAYMENT_EVENT_TYPES[provider]
    .map((type) => {
      const payments = deliveries.filter((d) => acceptedPayment(d) && d.eventType === type);
      return { type, paymentWebhooks: payments.length, withSignals: payments.filter((d) => d.hadMetrivoSignals === true).length };
    })
    .filter((row) => row.paymentWebhooks > 0);
  const best = byEventType.reduce<(typeof byEventType)[number] | null>(
    (acc, row) => (acc === null || row.withSignals / row.paymentWebhooks > acc.withSignals / acc.paymentWebhooks ? row : acc),
    null,
  );
  const metrivoSignals = {
    share: best ? best.withSignals / best.paymentWebhooks : null,
    paymentWebhooks: best?.paymentWebhooks ?? 0,
    withSignals: best?.withSignals ?? 0,
    byEventType,
  };

  const testPayment = paymentSeen(false, deliveries, ledger);
  const livePayment = paymentSeen(true, deliveries, ledger);

  const checks: HealthCheck[] = [];
  if (webhook) {
    const missingKey = input.secretsWithMissingKey ?? [];
    const currentMissing = missingKey.find((m) => m.current);
    const keyIds = (list: typeof missingKey) => [...new Set(list.map((m) => `"${m.keyId}"`))].join(', ');
    if (!input.secretSet) {
      checks.push({ id: 'secret', label: 'Signing secret', status: 'fail', detail: 'No signing secret yet: every webhook will be refused. Paste the secret from the provider dashboard.' });
    } else if (currentMissing) {
      checks.push({
        id: 'secret', label: 'Signing secret', status: 'fail',
        detail: `The signing secret was encrypted with key ${keyIds([currentMissing])}, which is not in METRIVO_SECRET_KEYS: the gateway cannot verify webhooks (answered 503, logged as secret_unreadable). Put that key back into METRIVO_SECRET_KEYS of the gateway and admin, or paste the secret again.`,
      });
    } else if (missingKey.length > 0) {
      checks.push({
        id: 'secret', label: 'Signing secret', status: 'warn',
        detail: `A previous secret kept during a roll was encrypted with key ${keyIds(missingKey)}, which is not in METRIVO_SECRET_KEYS: webhooks still signed with it fail until the key is back or the roll window ends.`,
      });
    } else {
      checks.push({ id: 'secret', label: 'Signing secret', status: 'ok', detail: 'A signing secret is stored (encrypted).' });
    }
  } else {
    const keys = input.activeApiKeys ?? 0;
    checks.push(
      keys > 0
        ? { id: 'api_key', label: 'API key', status: 'ok', detail: `${plural(keys, 'active API key')} for this website.` }
        : { id: 'api_key', label: 'API key', status: 'fail', detail: 'No active API key: the merchant cannot call the Manual Payment API. Create one.' },
    );
  }
  checks.push(
    input.status === 'active'
      ? { id: 'enabled', label: 'Integration enabled', status: 'ok', detail: 'The gateway accepts events for this integration.' }
      : { id: 'enabled', label: 'Integration enabled', status: 'warn', detail: 'Disabled: the gateway refuses its events. Enable it to receive payments.' },
  );

  if (!lastDelivery) {
    checks.push({ id: 'last_delivery', label: 'Last delivery', status: 'pending', detail: webhook ? 'No webhook received yet. Ask the merchant to send a test event or make a test payment.' : 'No Manual Payment API call yet.' });
  } else {
    const what = `${lastDelivery.eventType ?? 'Unverified request'} at ${human(lastDelivery.at)}`;
    if (lastDelivery.outcome === 'rejected') {
      checks.push({ id: 'last_delivery', label: 'Last delivery', status: 'fail', detail: `${what} was refused (${lastDelivery.errorCode ?? `HTTP ${lastDelivery.httpStatus}`}).` });
    } else if (lastDelivery.outcome === 'unavailable') {
      checks.push({ id: 'last_delivery', label: 'Last delivery', status: 'warn', detail: `${what} got 503 (Metrivo was briefly unavailable); the provider retries.` });
    } else {
      checks.push({ id: 'last_delivery', label: 'Last delivery', status: 'ok', detail: `${what}: ${lastDelivery.outcome}.` });
    }
  }

  if (webhook) {
    const n = signatureFailures.length;
    if (n === 0) {
      checks.push({ id: 'signature_failures', label: 'Signature failures (24 h)', status: 'ok', detail: 'None.' });
    } else if (verifiedSinceFailure) {
      checks.push({ id: 'signature_failures', label: 'Signature failures (24 h)', status: 'warn', detail: `${plural(n, 'failure')}, but later webhooks verified: probably fixed (e.g. after a secret change).` });
    } else {
      checks.push({ id: 'signature_failures', label: 'Signature failures (24 h)', status: 'fail', detail: `${plural(n, 'failure')} and nothing verified since: the stored secret is probably wrong (test vs live endpoint?). Paste the secret again.` });
    }

    const missing = requiredEvents.filter((e) => !e.seen).map((e) => e.type);
    if (missing.length === 0) {
      checks.push({ id: 'events', label: 'Event types seen', status: 'ok', detail: 'Every event type Metrivo uses has arrived.' });
    } else {
      checks.push({
        id: 'events', label: 'Event types seen', status: 'pending',
        detail: `Not seen yet: ${missing.join(', ')}. Some only occur after a refund or a subscription invoice; if they never arrive, check the endpoint's event list.`,
      });
    }
  }

  if (metrivoSignals.share === null) {
    checks.push({ id: 'metadata', label: 'Payments with Metrivo metadata', status: 'pending', detail: 'No payment received yet.' });
  } else {
    const detail = `${percent(metrivoSignals.share)} (${metrivoSignals.withSignals} of ${metrivoSignals.paymentWebhooks} payment webhooks of the best-carrying event type).`;
    checks.push(
      metrivoSignals.share >= GOOD_SIGNAL_SHARE
        ? { id: 'metadata', label: 'Payments with Metrivo metadata', status: 'ok', detail }
        : { id: 'metadata', label: 'Payments with Metrivo metadata', status: 'warn', detail: `${detail} Payments without metrivo_session_id / metrivo_visitor_id can only match by email.` },
    );
  }

  checks.push(
    testPayment.seen
      ? { id: 'test_payment', label: 'Test-mode payment', status: 'ok', detail: `Seen (latest ${human(testPayment.at!)}, via ${testPayment.via.join(' and ')}).` }
      : { id: 'test_payment', label: 'Test-mode payment', status: 'pending', detail: 'None yet. Ask the merchant for a test payment, then watch "Test the connection".' },
    livePayment.seen
      ? { id: 'live_payment', label: 'Live payment', status: 'ok', detail: `Seen (latest ${human(livePayment.at!)}, via ${livePayment.via.join(' and ')}).` }
      : { id: 'live_payment', label: 'Live payment', status: 'pending', detail: 'None yet.' },
  );

  const statuses = new Set(checks.map((c) => c.status));
  const status: CheckStatus = statuses.has('fail') ? 'fail' : statuses.has('warn') ? 'warn' : statuses.has('pending') ? 'pending' : 'ok';

  return {
    status,
    secretSet: input.secretSet,
    lastDelivery,
    signatureFailures24h: signatureFailures.length,
    requiredEvents,
    metrivoSignals,
    testPayment,
    livePayment,
    ledgerAvailable: input.ledgerPayments !== null,
    window: { from: input.windowFrom.toISOString(), deliveries: deliveries.length },
    checks,
  };
}
