import { randomBytes } from 'node:crypto';
import { decryptSecret, encryptSecret, lastFour, type Keyring } from '@metrivo/crypto';
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

export function openSecrets(doc: IntegrationDoc, keyring: Keyring, now: Date): string[] {
  return liveSecrets(doc, now).map((s) => decryptSecret(s.sealed, keyring, aadFor(doc._id)));
}

/** Every stored secret decrypted, with its expiry, so a cache can re-check roll windows without decrypting again. */
export function openSecretsWithExpiry(doc: IntegrationDoc, keyring: Keyring): Array<{ secret: string; expiresAt: Date | null }> {
  return doc.secrets.map((s) => ({ secret: decryptSecret(s.sealed, keyring, aadFor(doc._id)), expiresAt: s.expiresAt }));
}

/**
 * Pure: the secrets list after setting `secret`. Every earlier secret that still verifies keeps verifying for at
 * most `keepPreviousForHours` from now (never longer than its own window): 0 retires all of them at once, which
 * is what replacing a leaked or wrong secret needs, even in the middle of an earlier roll. Expired ones are pruned.
 */
export function rollSecrets(doc: IntegrationDoc, secret: string, keyring: Keyring, now: Date, keepPreviousForHours: number): StoredSecret[] {
  const next: StoredSecret = { sealed: encryptSecret(secret, keyring, aadFor(doc._id)), last4: lastFour(secret), addedAt: now, expiresAt: null };
  const keepUntil = now.getTime() + keepPreviousForHours * 3600_000;
  const previous = liveSecrets(doc, now)
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

  async setStatus(id: string, status: IntegrationDoc['status'], now = new Date()): Promise<boolean> {
    const r = await this.collection.updateOne({ _id: id }, { $set: { status, updatedAt: now } });
    return r.matchedCount === 1;
  }
}
