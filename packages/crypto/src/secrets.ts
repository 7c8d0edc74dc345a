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
 * Throws a readable error for a malformed keyring so apps fail fast at start.
 */
export function parseKeyring(spec: string): Keyring {
  const keys = new Map<string, Buffer>();
  let activeKeyId: string | undefined;
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const idx = part.indexOf(':');
    if (idx < 1) throw new Error(`keyring entry "${part.slice(0, 8)}…" must look like "keyId:base64Key"`);
    const kid = part.slice(0, idx);
    const key = Buffer.from(part.slice(idx + 1), 'base64');
    if (key.length !== 32) throw new Error(`keyring key "${kid}" must be 32 bytes of base64 (got ${key.length} bytes)`);
    if (keys.has(kid)) throw new Error(`keyring key id "${kid}" appears twice`);
    keys.set(kid, key);
    activeKeyId ??= kid;
  }
  if (!activeKeyId) throw new Error('keyring is empty: give at least one "keyId:base64Key"');
  return { activeKeyId, keys };
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
