import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Webhook signing secrets are stored encrypted with AES-256-GCM. Each ciphertext names the key id
 * that sealed it, so keys can rotate: new writes use the active key, old records stay readable as
 * long as their key is still in the keyring.
 */
export interface Keyring {
  activeKeyId: string;
  keys: ReadonlyMap<string, Buffer>;
}

export interface EncryptedSecret {
  v: 1;
  alg: 'aes-256-gcm';
  kid: string;
  iv: string; // base64, 12 bytes
  tag: string; // base64, 16 bytes
  ct: string; // base64
}

/**
 * Parses "kid1:BASE64KEY,kid2:BASE64KEY" (each key 32 bytes). The first entry is the active key.
 * Throws a readable error for a malformed keyring so apps fail fast at start. The messages name the
 * entry by its position only, never by any of its text: an operator who swaps the two halves
 * ("BASE64KEY:kid") turns the key into the "id", and a start-up error must not print it to the logs.
 */
export function parseKeyring(spec: string): Keyring {
  const keys = new Map<string, Buffer>();
  const positions = new Map<string, number>();
  let activeKeyId: string | undefined;
  const entries = spec.split(',').map((p) => p.trim()).filter(Boolean);
  entries.forEach((part, i) => {
    const entry = `entry ${i + 1} of ${entries.length}`;
    const idx = part.indexOf(':');
    if (idx < 1) throw new Error(`${entry} must look like "keyId:base64Key"`);
    const kid = part.slice(0, idx);
    const key = Buffer.from(part.slice(idx + 1), 'base64');
    if (key.length !== 32) throw new Error(`${entry}: the key after ":" must be 32 bytes of base64 (got ${key.length} bytes)`);
    const first = positions.get(kid);
    if (first !== undefined) throw new Error(`${entry} has the same key id as entry ${first}`);
    keys.set(kid, key);
    positions.set(kid, i + 1);
    activeKeyId ??= kid;
  });
  if (!activeKeyId) throw new Error('keyring is empty: give at least one "keyId:base64Key"');
  return { activeKeyId, keys };
}

/** The reason `spec` is not a valid keyring (safe to print: see parseKeyring), or null. For env schemas. */
export function keyringProblem(spec: string): string | null {
  try {
    parseKeyring(spec);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

export function generateKeyringEntry(kid: string): string {
  return `${kid}:${randomBytes(32).toString('base64')}`;
}

/** `aad` binds the ciphertext to its record (e.g. the integration id) so it can't be swapped between rows. */
export function encryptSecret(plaintext: string, keyring: Keyring, aad: string): EncryptedSecret {
  const key = keyring.keys.get(keyring.activeKeyId);
  if (!key) throw new Error(`active key "${keyring.activeKeyId}" is not in the keyring`);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { v: 1, alg: 'aes-256-gcm', kid: keyring.activeKeyId, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ct: ct.toString('base64') };
}

export function decryptSecret(sealed: EncryptedSecret, keyring: Keyring, aad: string): string {
  const key = keyring.keys.get(sealed.kid);
  if (!key) throw new Error(`secret was sealed with key "${sealed.kid}", which is not in the keyring`);
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
  return Buffer.concat([decipher.update(Buffer.from(sealed.ct, 'base64')), decipher.final()]).toString('utf8');
}
