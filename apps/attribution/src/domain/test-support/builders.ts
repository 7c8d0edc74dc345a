import { identifyRecordSchema, normalizedPaymentEventSchema, sessionRecordSchema } from '@metrivo/contracts';
import type { IdentifyRecord, NormalizedPaymentEvent, PaymentKind, PaymentRefs, PaymentSignals, Provider, RefundReport, SessionRecord, Utm } from '@metrivo/contracts';

/** Test builders: contract-valid events with short ids (validated through the contract schemas). */

export const WEBSITE = 'w_1';

/** A valid email hash for a short name: 64 hex characters. */
export function emailHashOf(name: string): string {
  let hex = '';
  for (const ch of name) hex += ch.charCodeAt(0).toString(16).padStart(2, '0');
  return hex.padEnd(64, '0').slice(0, 64);
}

interface Common {
  /** Provider event id (source.eventId), e.g. evt_1. */
  evt: string;
  /** n-th report of that provider event (default 0). */
  n?: number;
  eventType?: string;
  at: string;
  provider?: Provider;
  livemode?: boolean;
  websiteId?: string;
  refs?: Partial<PaymentRefs>;
  signals?: Partial<PaymentSignals>;
}

function envelope(c: Common) {
  const provider = c.provider ?? 'stripe';
  return {
    schemaVersion: 1 as const,
    eventId: `${provider}:${c.evt}:${c.n ?? 0}`,
    websiteId: c.websiteId ?? WEBSITE,
    integrationId: 'int_1',
    provider,
    livemode: c.livemode ?? true,
    occurredAt: c.at,
    source: { eventId: c.evt, eventType: c.eventType ?? 'test.event', apiVersion: null, receivedAt: c.at },
    refs: { ...c.refs },
    signals: { ...c.signals },
  };
}

export function payment(c: Common & { amount: number; currency?: string; paid?: boolean; kind?: PaymentKind | null }): NormalizedPaymentEvent {
  return normalizedPaymentEventSchema.parse({
    ...envelope(c),
    type: 'payment',
    amountMinor: c.amount,
    currency: c.currency ?? 'eur',
    paid: c.paid ?? true,
    kind: c.kind ?? null,
  });
}

export function refund(
  c: Common & { refundId?: string; amount?: number; cumulative?: number; currency?: string; status?: RefundReport['status'] },
): NormalizedPaymentEvent {
  return normalizedPaymentEventSchema.parse({
    ...envelope(c),
    type: 'refund',
    refundId: c.refundId ?? null,
    amountMinor: c.amount ?? null,
    cumulativeRefundedMinor: c.cumulative ?? null,
    currency: c.currency ?? 'eur',
    status: c.status ?? 'succeeded',
  });
}

export function session(s: {
  sessionId: string;
  visitorId: string;
  startedAt: string;
  lastSeenAt?: string;
  referrer?: string;
  utm?: Utm;
  landingPage?: string;
  websiteId?: string;
}): SessionRecord {
  return sessionRecordSchema.parse({
    schemaVersion: 1,
    type: 'session',
    websiteId: s.websiteId ?? WEBSITE,
    visitorId: s.visitorId,
    sessionId: s.sessionId,
    startedAt: s.startedAt,
    lastSeenAt: s.lastSeenAt ?? s.startedAt,
    ...(s.referrer !== undefined ? { referrer: s.referrer } : {}),
    ...(s.utm !== undefined ? { utm: s.utm } : {}),
    ...(s.landingPage !== undefined ? { landingPage: s.landingPage } : {}),
  });
}

export function identify(i: { visitorId: string; email: string; at: string; websiteId?: string }): IdentifyRecord {
  return identifyRecordSchema.parse({
    schemaVersion: 1,
    type: 'identify',
    websiteId: i.websiteId ?? WEBSITE,
    visitorId: i.visitorId,
    emailHash: emailHashOf(i.email),
    at: i.at,
  });
}
