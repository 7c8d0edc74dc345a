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

  /**
   * Bulk insert, unordered. Duplicate ids (a retried flush) count as written. Documents the server refuses one by one
   * (any other per-document write error) are answered in `refused`, not thrown: retrying them would fail the same way
   * and hold up every record queued behind them. Throws when the call as a whole failed (network, write concern).
   */
  async insertMany(docs: DeliveryDoc[]): Promise<{ refused: RefusedDelivery[] }> {
    if (docs.length === 0) return { refused: [] };
    try {
      await this.collection.insertMany(docs, { ordered: false });
      return { refused: [] };
    } catch (err) {
      const errors = perDocumentWriteErrors(err);
      if (errors === null) throw err;
      const refused = errors.filter((w) => w.code !== DUPLICATE_KEY);
      return { refused: refused.map((w) => ({ doc: docs[w.index ?? -1] ?? null, code: w.code ?? null, message: w.errmsg ?? '' })) };
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

const DUPLICATE_KEY = 11000;

/** A delivery record MongoDB refused (not a duplicate); `doc` is null if the error named no known position. */
export interface RefusedDelivery {
  doc: DeliveryDoc | null;
  code: number | null;
  message: string;
}

interface WriteErrorLike {
  index?: number;
  code?: number;
  errmsg?: string;
}

/**
 * The per-document errors of a failed unordered insert, or null when the call failed as a whole. Judged from
 * `writeErrors`: the driver copies only the first write error's code onto the bulk error, so `code === 11000` alone
 * would take a later error of another kind for a duplicate.
 */
function perDocumentWriteErrors(err: unknown): WriteErrorLike[] | null {
  if (typeof err !== 'object' || err === null) return null;
  const e = err as { code?: number; writeErrors?: WriteErrorLike[] | WriteErrorLike; writeConcernError?: unknown; errorResponse?: { writeConcernError?: unknown } };
  if (e.writeConcernError || e.errorResponse?.writeConcernError) return null;
  if (e.writeErrors === undefined) return e.code === DUPLICATE_KEY ? [] : null;
  const list = Array.isArray(e.writeErrors) ? e.writeErrors : [e.writeErrors];
  return list.length > 0 ? list : null;
}
