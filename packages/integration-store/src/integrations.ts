import { randomBytes } from 'node:crypto';
import { decryptSecret, encryptSecret, lastFour, MIN_SECRET_LENGTH_FOR_SUFFIX, type Keyring } from '@metrivo/crypto';
import type { Collection, Db } from 'mongodb';
import { COLLECTIONS, type IntegrationDoc, type IntegrationProvider, type StoredSecret } from './documents';

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}

/** The AAD binds a sealed secret to its integration: a ciphertext copied to another row won't open. */
const aadFor = (integrationId: string) => `integration:${integrationId}`;

/** Secrets that verify right now: the current one and any previous one whose roll window is open. */
export function liveSecrets(doc: Pick<IntegrationDoc, 'secrets'>, now: Date): StoredSecret[] {
  return doc.secrets.filter((s) => s.expiresAt === null || s.expiresAt.getTime() > now.getTime());
}

/**
 * The suffix support may see. Secrets stored before short ones lost their suffix still carry last4; AES-GCM
 * ciphertext is exactly as long as the plaintext, so their length is known without decrypting them.
 */
export function shownLast4(s: StoredSecret): string | null {
  if (s.last4 === null) return null;
  return Buffer.from(s.sealed.ct, 'base64').length >= MIN_SECRET_LENGTH_FOR_SUFFIX ? s.last4 : null;
}

export function openSecrets(doc: IntegrationDoc, keyring: Keyring, now: Date): string[] {
  return liveSecrets(doc, now).map((s) => decryptSecret(s.sealed, keyring, aadFor(doc._id)));
}

/** A stored secret that cannot be opened: its key id is not in the keyring, or it does not decrypt with that key. */
export interface UnreadableSecret {
  keyId: string;
  reason: 'key_missing' | 'decrypt_failed';
  expiresAt: Date | null;
}

function tryOpen(doc: IntegrationDoc, s: StoredSecret, keyring: Keyring): string | UnreadableSecret {
  if (!keyring.keys.has(s.sealed.kid)) return { keyId: s.sealed.kid, reason: 'key_missing', expiresAt: s.expiresAt };
  try {
    return decryptSecret(s.sealed, keyring, aadFor(doc._id));
  } catch {
    return { keyId: s.sealed.kid, reason: 'decrypt_failed', expiresAt: s.expiresAt };
  }
}

/**
 * The secrets that still verify at `now`, each decrypted once, with its expiry so a cache can re-check roll
 * windows without decrypting again. Expired secrets (kept in the document until the next roll) are skipped
 * without decrypting: they no longer verify, and their key may have been retired since. A secret that cannot be
 * opened is listed in `unreadable` instead of throwing, so the others still verify and the caller can say why.
 */
export function openSecretsWithExpiry(
  doc: IntegrationDoc,
  keyring: Keyring,
  now: Date,
): { secrets: Array<{ secret: string; expiresAt: Date | null }>; unreadable: UnreadableSecret[] } {
  const secrets: Array<{ secret: string; expiresAt: Date | null }> = [];
  const unreadable: UnreadableSecret[] = [];
  for (const s of liveSecrets(doc, now)) {
    const opened = tryOpen(doc, s, keyring);
    if (typeof opened === 'string') secrets.push({ secret: opened, expiresAt: s.expiresAt });
    else unreadable.push(opened);
  }
  return { secrets, unreadable };
}

/** Secrets that still verify but were sealed with a key id the keyring lacks (setup health; no decryption). */
export function secretsWithMissingKey(doc: Pick<IntegrationDoc, 'secrets'>, keyring: Keyring, now: Date): StoredSecret[] {
  return liveSecrets(doc, now).filter((s) => !keyring.keys.has(s.sealed.kid));
}

/**
 * Pure: the secrets list with every secret that still verifies sealed under the keyring's active key (for a key
 * rotation: afterwards the old key can leave METRIVO_SECRET_KEYS). Expired secrets are dropped; one that cannot
 * be opened is kept as it is and reported. Values, last4 and roll windows do not change.
 */
export function resealSecrets(doc: IntegrationDoc, keyring: Keyring, now: Date): { secrets: StoredSecret[]; resealed: number; pruned: number; unreadable: UnreadableSecret[] } {
  const live = liveSecrets(doc, now);
  const unreadable: UnreadableSecret[] = [];
  let resealed = 0;
  const secrets = live.map((s) => {
    if (s.sealed.kid === keyring.activeKeyId) return s;
    const opened = tryOpen(doc, s, keyring);
    if (typeof opened !== 'string') {
      unreadable.push(opened);
      return s;
    }
    resealed += 1;
    return { ...s, sealed: encryptSecret(opened, keyring, aadFor(doc._id)) };
  });
  return { secrets, resealed, pruned: doc.secrets.length - live.length, unreadable };
}

/**
 * Pure: the secrets list after setting `secret`. Every earlier secret that still verifies keeps verifying for at
 * most `keepPreviousForHours` from now (never longer than its own window): 0 retires all of them at once, which
 * is what replacing a leaked or wrong secret needs, even in the middle of an earlier roll. Expired ones are pruned.
 * The ones kept are re-sealed under the active key like `resealSecrets` does: a write that read the list before a
 * concurrent `secrets reseal` then cannot put a secret sealed with the retiring key back.
 */
export function rollSecrets(doc: IntegrationDoc, secret: string, keyring: Keyring, now: Date, keepPreviousForHours: number): StoredSecret[] {
  const next: StoredSecret = { sealed: encryptSecret(secret, keyring, aadFor(doc._id)), last4: lastFour(secret), addedAt: now, expiresAt: null };
  const keepUntil = now.getTime() + keepPreviousForHours * 3600_000;
  const previous = resealSecrets(doc, keyring, now).secrets
    .map((s) => ({ ...s, expiresAt: new Date(Math.min(s.expiresAt?.getTime() ?? keepUntil, keepUntil)) }))
    .filter((s) => s.expiresAt.getTime() > now.getTime());
  return [next, ...previous];
}

export class IntegrationStore {
  readonly collection: Collection<IntegrationDoc>;

  constructor(db: Db) {
    this.collection = db.collection<IntegrationDoc>(COLLECTIONS.integrations);
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ websiteId: 1, provider: 1 });
  }

  async create(websiteId: string, provider: IntegrationProvider, now = new Date(), livemode = true): Promise<IntegrationDoc> {
    const doc: IntegrationDoc = { _id: newId('int'), websiteId, provider, status: 'active', livemode, secrets: [], createdAt: now, updatedAt: now };
    await this.collection.insertOne(doc);
    return doc;
  }

  get(id: string): Promise<IntegrationDoc | null> {
    return this.collection.findOne({ _id: id });
  }

  listForWebsite(websiteId: string): Promise<IntegrationDoc[]> {
    return this.collection.find({ websiteId }).sort({ createdAt: -1 }).toArray();
  }

  list(limit = 200): Promise<IntegrationDoc[]> {
    return this.collection.find({}).sort({ createdAt: -1 }).limit(limit).toArray();
  }

  /** Returns the updated document, or null when the integration does not exist. */
  async setSecret(id: string, secret: string, keyring: Keyring, keepPreviousForHours = 0, now = new Date()): Promise<IntegrationDoc | null> {
    const doc = await this.get(id);
    if (!doc) return null;
    const secrets = rollSecrets(doc, secret, keyring, now, keepPreviousForHours);
    await this.collection.updateOne({ _id: id }, { $set: { secrets, updatedAt: now } });
    return { ...doc, secrets, updatedAt: now };
  }

  /**
   * Writes the result of `resealSecrets` unless the integration changed since `doc` was read (then false: read
   * it again). updatedAt is left alone: the secrets' values did not change.
   */
  async replaceSecretsIfUnchanged(doc: IntegrationDoc, secrets: StoredSecret[]): Promise<boolean> {
    const r = await this.collection.updateOne({ _id: doc._id, updatedAt: doc.updatedAt }, { $set: { secrets } });
    return r.matchedCount === 1;
  }

  async setStatus(id: string, status: IntegrationDoc['status'], now = new Date()): Promise<boolean> {
    const r = await this.collection.updateOne({ _id: id }, { $set: { status, updatedAt: now } });
    return r.matchedCount === 1;
  }
}
