import { MAX_ID_LENGTH } from '@metrivo/contracts';
import { hashEmail, maskEmail } from '@metrivo/crypto';
import { isJsonObject } from './read';

/**
 * Metadata keys that carry Metrivo's ids. The contract names are snake_case (DESIGN.md section 6); the
 * camelCase spellings are accepted too because JavaScript merchants write `{ metrivoSessionId }` by habit
 * and a silently lost signal costs attribution. Snake case wins when both are present.
 */
export const SESSION_ID_KEYS = ['metrivo_session_id', 'metrivoSessionId'] as const;
export const VISITOR_ID_KEYS = ['metrivo_visitor_id', 'metrivoVisitorId'] as const;

/** Contract ids are 1–255 characters; anything else is not a usable signal (but never a reason to drop money). */
export function cleanSignalId(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const trimmed = value.trim();
  return trimmed.length >= 1 && trimmed.length <= MAX_ID_LENGTH ? trimmed : null;
}

function firstKey(source: Record<string, unknown>, keys: readonly string[]): string | null {
  for (const key of keys) {
    const value = cleanSignalId(source[key]);
    if (value !== null) return value;
  }
  return null;
}

export interface IdSignals {
  sessionId: string | null;
  visitorId: string | null;
}

/**
 * Session and visitor ids from metadata-like maps (Stripe metadata, Razorpay notes, Dodo metadata), most
 * specific source first: the first source naming an id wins. Non-objects (Razorpay's empty notes `[]`,
 * null) contribute nothing.
 */
export function idSignalsFrom(...sources: unknown[]): IdSignals {
  let sessionId: string | null = null;
  let visitorId: string | null = null;
  for (const source of sources) {
    if (!isJsonObject(source)) continue;
    sessionId ??= firstKey(source, SESSION_ID_KEYS);
    visitorId ??= firstKey(source, VISITOR_ID_KEYS);
  }
  return { sessionId, visitorId };
}

export interface EmailSignals {
  emailHash: string | null;
  emailMasked: string | null;
}

/**
 * The only place a raw email is touched: it becomes an HMAC (for matching) and a mask (for support).
 * `placeholders` are provider stand-ins for "no email collected" that must not link unrelated buyers.
 */
export function emailSignals(email: unknown, emailHashKey: string, placeholders: readonly string[] = []): EmailSignals {
  if (typeof email !== 'string' || email.trim() === '') return { emailHash: null, emailMasked: null };
  const normal = email.trim().toLowerCase();
  if (placeholders.includes(normal)) return { emailHash: null, emailMasked: null };
  const masked = maskEmail(email);
  return {
    emailHash: hashEmail(email, emailHashKey),
    emailMasked: masked !== null && masked.length <= 320 ? masked : null,
  };
}
