import type { Collection, Db } from 'mongodb';
import { factDocumentId, type StoredPaymentFact } from '../domain';
import { bulkWriteAllowingDuplicates } from './bulk';

export type PaymentFactDocument = StoredPaymentFact & { _id: string };

export const PAYMENT_FACTS_COLLECTION = 'attribution_payment_facts';

function toFact(d: PaymentFactDocument): StoredPaymentFact {
  const { _id: _ignored, ...fact } = d;
  return fact;
}

/**
 * Normalized payment events as immutable facts (the money truth everything else is derived from).
 * Inserted if absent under a deterministic _id, so a redelivered event is a no-op.
 */
export class PaymentFactStore {
  readonly collection: Collection<PaymentFactDocument>;

  constructor(db: Db) {
    this.collection = db.collection<PaymentFactDocument>(PAYMENT_FACTS_COLLECTION);
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ websiteId: 1, linkKeys: 1 }, { name: 'website_link_keys' });
  }

  /** Returns how many facts were new. */
  async insertIfAbsent(facts: readonly StoredPaymentFact[]): Promise<number> {
    const byId = new Map(facts.map((f) => [factDocumentId(f), f]));
    const outcome = await bulkWriteAllowingDuplicates(
      this.collection,
      [...byId].map(([_id, fact]) => ({ insertOne: { document: { _id, ...fact } } })),
    );
    return outcome.insertedCount;
  }

  async findByLinkKeys(websiteId: string, keys: readonly string[]): Promise<StoredPaymentFact[]> {
    return (await this.findByLinkKeysMany([{ websiteId, keys }])).get(websiteId) ?? [];
  }

  /** Facts of several websites' link keys with one query, per website. */
  async findByLinkKeysMany(requests: ReadonlyArray<{ websiteId: string; keys: readonly string[] }>): Promise<Map<string, StoredPaymentFact[]>> {
    const wanted = requests.filter((r) => r.keys.length > 0);
    const out = new Map<string, StoredPaymentFact[]>();
    if (wanted.length === 0) return out;
    // One flat condition (cheaper to evaluate than an $or per website); each website keeps its own keys' facts.
    const keysOf = new Map(wanted.map((r) => [r.websiteId, new Set(r.keys)]));
    const docs = await this.collection
      .find({ websiteId: { $in: wanted.map((r) => r.websiteId) }, linkKeys: { $in: [...new Set(wanted.flatMap((r) => r.keys))] } })
      .toArray();
    for (const d of docs) {
      const keys = keysOf.get(d.websiteId);
      if (!keys || !d.linkKeys.some((k) => keys.has(k))) continue;
      out.set(d.websiteId, [...(out.get(d.websiteId) ?? []), toFact(d)]);
    }
    return out;
  }
}
