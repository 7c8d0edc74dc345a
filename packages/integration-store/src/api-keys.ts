import { generateApiKey, hashApiKey } from '@metrivo/crypto';
import type { Collection, Db } from 'mongodb';
import { COLLECTIONS, type ApiKeyDoc } from './documents';
import { newId } from './integrations';

export class ApiKeyStore {
  readonly collection: Collection<ApiKeyDoc>;

  constructor(db: Db) {
    this.collection = db.collection<ApiKeyDoc>(COLLECTIONS.apiKeys);
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ hash: 1 }, { unique: true });
    await this.collection.createIndex({ websiteId: 1, createdAt: -1 });
  }

  /** Creates a key; the plaintext is returned once and only its hash is stored. */
  async create(websiteId: string, livemode = true, now = new Date()): Promise<{ doc: ApiKeyDoc; key: string }> {
    const key = generateApiKey(livemode);
    const doc: ApiKeyDoc = { _id: newId('key'), websiteId, hash: hashApiKey(key), prefix: key.slice(0, 12), livemode, createdAt: now, revokedAt: null };
    await this.collection.insertOne(doc);
    return { doc, key };
  }

  /** The active (not revoked) key document for a presented key, or null. */
  findActive(key: string): Promise<ApiKeyDoc | null> {
    return this.collection.findOne({ hash: hashApiKey(key), revokedAt: null });
  }

  listForWebsite(websiteId: string): Promise<ApiKeyDoc[]> {
    return this.collection.find({ websiteId }, { projection: { hash: 0 } }).sort({ createdAt: -1 }).toArray();
  }

  async revoke(websiteId: string, id: string, now = new Date()): Promise<boolean> {
    const r = await this.collection.updateOne({ _id: id, websiteId, revokedAt: null }, { $set: { revokedAt: now } });
    return r.matchedCount === 1;
  }
}
