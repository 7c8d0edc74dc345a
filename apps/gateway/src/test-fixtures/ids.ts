import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Random alphanumeric token, the character set providers use in their ids. */
export function randomToken(length = 24): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}

/** e.g. stripeLikeId('pi') → "pi_3QxY…" (24 random characters). */
export function prefixedId(prefix: string, length = 24): string {
  return `${prefix}_${randomToken(length)}`;
}

export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}
