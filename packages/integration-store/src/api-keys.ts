import { generateApiKey, hashApiKey } from '@metrivo/crypto';
import type { Collection, Db } from 'mongodb';
import { COLLECTIONS, type ApiKeyDoc } from './documents';
import { newId } from './integrations';

/** `ApiKeyStore.create` was given an id that an existing key already has (a form posted twice). */
export class ApiKeyIdTakenError extends Error {
  override name = 'ApiKeyIdTakenError';
  constructor(readonly id: string) {
    super(`an API key with id ${id} already exists`);
  }
}

export class ApiKeyStore {
  readonly collection: Collection<ApiKeyDoc>;

  constructor(db: Db) {
    this.collection = db.collection<ApiKeyDoc>(COLLECTIONS.apiKeys);
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ hash: 1 }, { unique: true });
    await this.collection.createIndex({ websiteId: 1, createdAt: -1 });
  }

  /**
   * Creates a key; the plaintext is returned once and only its hash is stored. A caller that must not create
   * two keys for one request passes the id: the unique _id makes a second insert fail with ApiKeyIdTakenError.
   */
  async create(websiteId: string, livemode = true, now = new Date(), id = newId('key')): Promise<{ doc: ApiKeyDoc; key: string }> {
    const key = generateApiKey(livemode);
    const doc: ApiKeyDoc = { _id: id, websiteId, hash: hashApiKey(key), prefix: key.slice(0, 12), livemode, createdAt: now, revokedAt: null };
    try {
      await this.collection.insertOne(doc);
    } catch (err) {
      // 11000 could also be the hash index (never in practice: 32 random bytes); only a taken _id is the caller's case.
      if ((err as { code?: number }).code === 11000 && (await this.collection.countDocuments({ _id: id })) > 0) throw new ApiKeyIdTakenError(id);
      throw err;
    }
    return { doc, key };
  }

  get(id: string): Promise<ApiKeyDoc | null> {
    return this.collection.findOne({ _id: id }, { projection: { hash: 0 } });
  }

  /** The active (not revoked) key document for a presented key, or null. */
  findActive(key: string): Promise<ApiKeyDoc | null> {
    return this.collection.findOne({ hash: hashApiKey(key), revokedAt: null });
  }

  listForWebsite(websiteId: string): Promise<ApiKeyDoc[]> {
    return this.collection.find({ websiteId }, { projection: { hash: 0 } }).sort({ createdAt: -1 }).toArray();
  }

  /** The revoked key (for the audit entry), or null when there was no active key with that id for the website. */
  revoke(websiteId: string, id: string, now = new Date()): Promise<ApiKeyDoc | null> {
    // No projection: FerretDB v1 refuses one on findAndModify.
    return this.collection.findOneAndUpdate({ _id: id, websiteId, revokedAt: null }, { $set: { revokedAt: now } }, { returnDocument: 'after' });
  }
}
