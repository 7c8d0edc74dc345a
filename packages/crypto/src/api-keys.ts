import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Manual Payment API keys: 32 random bytes, shown once. They have full entropy, so a plain SHA-256
 * is the right storage hash (a slow KDF protects low-entropy passwords, not random keys) and lets the
 * gateway look a key up by its hash in one indexed query.
 */
export function generateApiKey(livemode = true): string {
  return `mtv_${livemode ? 'live' : 'test'}_${randomBytes(32).toString('base64url')}`;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Constant-time comparison of two strings (false when lengths differ). */
export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/**
 * Secrets shorter than this (in UTF-8 bytes, i.e. characters for the ASCII secrets providers issue) show no suffix:
 * the last 4 characters of an 8-character secret (Razorpay lets merchants choose one that short) are half of it.
 */
export const MIN_SECRET_LENGTH_FOR_SUFFIX = 24;

/** The last 4 characters to show support, or null when the secret is too short to reveal any of it. */
export function lastFour(secret: string): string | null {
  return Buffer.byteLength(secret, 'utf8') >= MIN_SECRET_LENGTH_FOR_SUFFIX ? secret.slice(-4) : null;
}
