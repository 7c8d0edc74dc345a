import { randomBytes } from 'node:crypto';
import { TOPICS, type IdentifyRecord, type NormalizedPaymentEvent, type SessionEvent, type SessionRecord, type Utm } from '@metrivo/contracts';
import { hashEmail } from '@metrivo/crypto';
import type { BatchingProducer } from '@metrivo/kafka';

const MINUTE_MS = 60_000;
const iso = (msAgo: number): string => new Date(Date.now() - msAgo).toISOString();

export function trackerSession(
  websiteId: string,
  o: { sessionId: string; visitorId: string; startedMinutesAgo?: number; lastSeenMinutesAgo?: number; referrer?: string; utm?: Utm; landingPage?: string; country?: string; device?: string },
): SessionRecord {
  const started = o.startedMinutesAgo ?? 30;
  return {
    schemaVersion: 1,
    type: 'session',
    websiteId,
    visitorId: o.visitorId,
    sessionId: o.sessionId,
    startedAt: iso(started * MINUTE_MS),
    lastSeenAt: iso((o.lastSeenMinutesAgo ?? Math.max(0, started - 5)) * MINUTE_MS),
    ...(o.referrer !== undefined && { referrer: o.referrer }),
    ...(o.utm !== undefined && { utm: o.utm }),
    ...(o.landingPage !== undefined && { landingPage: o.landingPage }),
    ...(o.country !== undefined && { country: o.country }),
    ...(o.device !== undefined && { device: o.device }),
  };
}

export function trackerIdentify(websiteId: string, visitorId: string, email: string, emailHashKey: string, minutesAgo = 20): IdentifyRecord {
  return { schemaVersion: 1, type: 'identify', websiteId, visitorId, emailHash: hashEmail(email, emailHashKey), at: iso(minutesAgo * MINUTE_MS) };
}

export async function sendTracker(producer: BatchingProducer, events: readonly SessionEvent[]): Promise<void> {
  await Promise.all(events.map((e) => producer.publish(TOPICS.visitorSessions.name, { key: e.websiteId, value: e })));
}

export async function sendPayments(producer: BatchingProducer, events: readonly NormalizedPaymentEvent[]): Promise<void> {
  await Promise.all(events.map((e) => producer.publish(TOPICS.payments.name, { key: e.websiteId, value: e })));
}

export const shortId = (prefix: string): string => `${prefix}_${randomBytes(4).toString('hex')}`;
