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

export function lastFour(secret: string): string {
  return secret.slice(-4);
}
