import { createHmac } from 'node:crypto';

/** Normal form used everywhere an email is compared: trimmed, lower-cased. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * DESIGN.md section 6: lowercase hex HMAC-SHA256 of the trimmed, lower-cased email, keyed with
 * METRIVO_EMAIL_HASH_KEY (shared with the tracker so both sides produce the same hash).
 */
export function hashEmail(email: string, key: string | Buffer): string {
  return createHmac('sha256', key).update(normalizeEmail(email), 'utf8').digest('hex');
}

/** "jane.doe@example.com" → "j***@example.com": enough for support to recognise, useless to harvest. */
export function maskEmail(email: string): string | null {
  const e = normalizeEmail(email);
  const at = e.lastIndexOf('@');
  if (at < 1 || at === e.length - 1) return null;
  return `${e[0]}***${e.slice(at)}`;
}

/** Loose syntactic check: something@something.tld, no spaces. */
export function looksLikeEmail(email: string): boolean {
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email.trim());
}
