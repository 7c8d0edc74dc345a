import type { Collection, Db } from 'mongodb';
import { COLLECTIONS, type DeliveryDoc } from './documents';

export class DeliveryLog {
  readonly collection: Collection<DeliveryDoc>;

  constructor(db: Db) {
    this.collection = db.collection<DeliveryDoc>(COLLECTIONS.deliveries);
  }

  /** One index per command: FerretDB v1.24 drops the connection when one createIndexes names several existing indexes. */
  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ integrationId: 1, receivedAt: -1 });
    await this.collection.createIndex({ expireAt: 1 });
    // Admin reads Manual API calls by website (they are logged per API key, not per integration), alone or as the
    // second branch of an $or with integrationId, newest first; without it each poll scanned every merchant's log.
    await this.collection.createIndex({ websiteId: 1, provider: 1, receivedAt: -1 });
  }

  /** Bulk insert; duplicate ids (a retried flush) are ignored. */
  async insertMany(docs: DeliveryDoc[]): Promise<void> {
    if (docs.length === 0) return;
    try {
      await this.collection.insertMany(docs, { ordered: false });
    } catch (err) {
      if (!isOnlyDuplicateKeyErrors(err)) throw err;
    }
  }

  recent(integrationId: string, limit = 50, before?: Date): Promise<DeliveryDoc[]> {
    const filter = before ? { integrationId, receivedAt: { $lt: before } } : { integrationId };
    return this.collection.find(filter).sort({ receivedAt: -1 }).limit(limit).toArray();
  }

  since(integrationId: string, from: Date): Promise<DeliveryDoc[]> {
    return this.collection.find({ integrationId, receivedAt: { $gte: from } }).sort({ receivedAt: -1 }).limit(5000).toArray();
  }

  /** Bounded retention without relying on TTL-index support of the server (FerretDB v1). */
  async deleteExpired(now = new Date()): Promise<number> {
    const r = await this.collection.deleteMany({ expireAt: { $lte: now } });
    return r.deletedCount;
  }
}

function isOnlyDuplicateKeyErrors(err: unknown): boolean {
  const e = err as { code?: number; writeErrors?: Array<{ code?: number }> | { code?: number } };
  if (e.code === 11000) return true;
  const list = Array.isArray(e.writeErrors) ? e.writeErrors : e.writeErrors ? [e.writeErrors] : [];
  return list.length > 0 && list.every((w) => w.code === 11000);
}
