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

/** A visitor session as the tracker sends it; re-sent as it grows (same sessionId, later lastSeenAt). */
export const sessionRecordSchema = z.object({
  schemaVersion,
  type: z.literal('session'),
  websiteId: id,
  visitorId: id,
  sessionId: id,
  startedAt: isoTimestamp,
  lastSeenAt: isoTimestamp,
  referrer: z.string().max(2048).optional(),
  utm: utmSchema.optional(),
  landingPage: z.string().max(2048).optional(),
  country: z.string().max(64).optional(),
  device: z.string().max(64).optional(),
});

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
