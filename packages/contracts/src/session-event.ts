import { z } from 'zod';
import { emailHash, id, isoTimestamp, schemaVersion } from './common';

export const utmSchema = z.object({
  source: z.string().max(500).optional(),
  medium: z.string().max(500).optional(),
  campaign: z.string().max(500).optional(),
  term: z.string().max(500).optional(),
  content: z.string().max(500).optional(),
});
export type Utm = z.infer<typeof utmSchema>;

type WithoutNull<T> = { [K in keyof T]: Exclude<T[K], null> };

/**
 * Trackers write `document.referrer || null`: in a SessionEvent, null in an optional field means absent.
 * The key is dropped (not set to undefined, which MongoDB would store as null) so consumers see exactly
 * what they see when the field is absent, and their types stay `field?: string`.
 */
function withoutNulls<T extends Record<string, unknown>>(value: T): WithoutNull<T> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) if (v !== null) out[key] = v;
  return out as WithoutNull<T>;
}

/** `value` cut to at most `max` UTF-16 code units, never between the two halves of a surrogate pair. */
export function truncateText(value: string, max: number): string {
  if (value.length <= max) return value;
  const last = value.charCodeAt(max - 1);
  return value.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

/**
 * A descriptive tracker field (referrer, landing page, UTM tag, country, device): any length is accepted and cut to
 * `max`, the limit PaymentState keeps. Refusing it instead would dead-letter the whole session — visitor, session id
 * and times, the part attribution needs — because of, say, a landing page with a long ad-click query string.
 */
const trackerText = (max: number) => z.string().transform((value) => truncateText(value, max));

/** The tracker's UTM tags: like `utmSchema`, plus null meaning absent (PaymentState keeps `utmSchema`). */
const trackerUtmSchema = z
  .object({
    source: trackerText(500).nullish(),
    medium: trackerText(500).nullish(),
    campaign: trackerText(500).nullish(),
    term: trackerText(500).nullish(),
    content: trackerText(500).nullish(),
  })
  .transform(withoutNulls);

/** A visitor session as the tracker sends it; re-sent as it grows (same sessionId, later lastSeenAt). */
export const sessionRecordSchema = z
  .object({
    schemaVersion,
    type: z.literal('session'),
    websiteId: id,
    visitorId: id,
    sessionId: id,
    startedAt: isoTimestamp,
    lastSeenAt: isoTimestamp,
    referrer: trackerText(2048).nullish(),
    utm: trackerUtmSchema.nullish(),
    landingPage: trackerText(2048).nullish(),
    country: trackerText(64).nullish(),
    device: trackerText(64).nullish(),
  })
  .transform(withoutNulls);

/** The tracker learned the visitor's email (hashed with the shared key, never raw). */
export const identifyRecordSchema = z.object({
  schemaVersion,
  type: z.literal('identify'),
  websiteId: id,
  visitorId: id,
  emailHash,
  at: isoTimestamp,
});

export const sessionEventSchema = z.discriminatedUnion('type', [sessionRecordSchema, identifyRecordSchema]);
export type SessionRecord = z.infer<typeof sessionRecordSchema>;
export type IdentifyRecord = z.infer<typeof identifyRecordSchema>;
export type SessionEvent = z.infer<typeof sessionEventSchema>;
