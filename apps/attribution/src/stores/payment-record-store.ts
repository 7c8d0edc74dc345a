import type { PaymentState } from '@metrivo/contracts';
import type { AnyBulkWriteOperation, Collection, Db, Filter } from 'mongodb';
import { recordDocumentId, type PaymentLoadRequest, type PaymentRecord, type RecordWrite } from '../domain';
import { bulkWriteAllowingDuplicates, findByIds } from './bulk';

export type PaymentRecordDocument = PaymentRecord & { _id: string };

export const PAYMENT_RECORDS_COLLECTION = 'attribution_payment_records';

function toRecord(d: PaymentRecordDocument): PaymentRecord {
  const { _id: _ignored, ...record } = d;
  return record;
}

export interface RecordWriteOutcome {
  /** Writes whose expected version no longer matched (or whose insert met an existing record). */
  conflicts: number;
  written: number;
}

/**
 * One document per published payment key: the last state and the bookkeeping to change it. Every write
 * is a compare-and-set on `version` (no transactions needed); `pendingPublish` is the outbox marker.
 */
export class PaymentRecordStore {
  readonly collection: Collection<PaymentRecordDocument>;

  private readonly pointReads: boolean;

  /** `pointReads`: see IdLookupOptions (true on FerretDB). */
  constructor(db: Db, options: { pointReads?: boolean } = {}) {
    this.collection = db.collection<PaymentRecordDocument>(PAYMENT_RECORDS_COLLECTION);
    this.pointReads = options.pointReads ?? false;
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([
      this.collection.createIndex({ websiteId: 1, paymentKey: 1 }, { name: 'website_payment_key', unique: true }),
      this.collection.createIndex({ websiteId: 1, 'state.subscriptionKey': 1 }, { name: 'website_subscription' }),
      // The late-upgrade index: which payments may new tracker data (s:/v:/e: keys) still change.
      this.collection.createIndex({ websiteId: 1, 'upgrade.keys': 1, 'upgrade.until': 1 }, { name: 'website_upgrade_keys' }),
      this.collection.createIndex({ pendingPublish: 1 }, { name: 'pending_publish', sparse: true }),
    ]);
  }

  /** Answers one round of the payment load planner (`nextPaymentLoad`). */
  async findForLoad(request: PaymentLoadRequest): Promise<PaymentRecord[]> {
    const clauses: Filter<PaymentRecordDocument>[] = [];
    if (request.keys.length > 0) clauses.push({ paymentKey: { $in: request.keys } });
    if (request.subscriptionKeys.length > 0) clauses.push({ 'state.subscriptionKey': { $in: request.subscriptionKeys }, 'state.status': { $ne: 'merged' } });
    if (clauses.length === 0) return [];
    const docs = await this.collection.find({ websiteId: request.websiteId, ...(clauses.length === 1 ? clauses[0] : { $or: clauses }) }).toArray();
    return docs.map(toRecord);
  }

  async findByKeys(websiteId: string, keys: readonly string[]): Promise<PaymentRecord[]> {
    if (keys.length === 0) return [];
    const docs = await findByIds(this.collection, keys.map((paymentKey) => recordDocumentId({ websiteId, paymentKey })), { pointReads: this.pointReads });
    return docs.map(toRecord);
  }

  /** Non-merged records of these subscriptions (renewals that follow a re-attributed initial payment). */
  async findSubscriptionMembers(websiteId: string, subscriptionKeys: readonly string[]): Promise<PaymentRecord[]> {
    if (subscriptionKeys.length === 0) return [];
    return this.findForLoad({ websiteId, keys: [], subscriptionKeys: [...subscriptionKeys] });
  }

  /**
   * Records that late tracker data may still upgrade: any of the website's index keys, horizon not passed.
   * One query for every website of a batch.
   */
  async findUpgradeCandidates(keysByWebsite: ReadonlyMap<string, readonly string[]>, now: string): Promise<Map<string, PaymentRecord[]>> {
    const out = new Map<string, PaymentRecord[]>();
    const wanted = [...keysByWebsite].filter(([, keys]) => keys.length > 0);
    if (wanted.length === 0) return out;
    const allKeys = [...new Set(wanted.flatMap(([, keys]) => keys))];
    const docs = await this.collection
      .find({ websiteId: { $in: wanted.map(([w]) => w) }, 'upgrade.keys': { $in: allKeys }, 'upgrade.until': { $gte: now } })
      .toArray();
    const keySets = new Map(wanted.map(([w, keys]) => [w, new Set(keys)]));
    for (const d of docs) {
      const keys = keySets.get(d.websiteId);
      if (!keys || !d.upgrade?.keys.some((k) => keys.has(k))) continue; // another website's key
      out.set(d.websiteId, [...(out.get(d.websiteId) ?? []), toRecord(d)]);
    }
    return out;
  }

  /** Compare-and-set writes: insert when no version is expected, else replace only at the expected version. */
  async write(writes: readonly RecordWrite[]): Promise<RecordWriteOutcome> {
    if (writes.length === 0) return { conflicts: 0, written: 0 };
    const ops: AnyBulkWriteOperation<PaymentRecordDocument>[] = writes.map((w) => {
      const doc: PaymentRecordDocument = { _id: recordDocumentId(w.record), ...w.record };
      return w.expectedVersion === null
        ? { insertOne: { document: doc } }
        : { replaceOne: { filter: { _id: doc._id, version: w.expectedVersion }, replacement: doc } };
    });
    const outcome = await bulkWriteAllowingDuplicates(this.collection, ops);
    const written = outcome.insertedCount + outcome.matchedCount;
    return { written, conflicts: writes.length - written };
  }

  /**
   * Clears the outbox marker of published states (only if it still names that revision) and returns the
   * records that have moved on to a newer revision since: their newer state must be produced again
   * after ours, or a compacted topic could keep the older one as the last value of the key.
   */
  async clearPending(published: readonly PaymentState[]): Promise<PaymentRecord[]> {
    if (published.length === 0) return [];
    const revisionByKey = new Map<string, { websiteId: string; paymentKey: string; revision: number }>();
    for (const s of published) {
      const id = recordDocumentId(s);
      const cur = revisionByKey.get(id);
      if (!cur || s.revision > cur.revision) revisionByKey.set(id, { websiteId: s.websiteId, paymentKey: s.paymentKey, revision: s.revision });
    }
    const ops: AnyBulkWriteOperation<PaymentRecordDocument>[] = [...revisionByKey].map(([_id, s]) => ({
      updateOne: { filter: { _id, pendingPublish: s.revision }, update: { $set: { pendingPublish: null } } },
    }));
    const outcome = await bulkWriteAllowingDuplicates(this.collection, ops);
    if (outcome.matchedCount === ops.length) return [];
    const docs = await findByIds(this.collection, [...revisionByKey.keys()], { pointReads: this.pointReads });
    return docs.filter((d) => d.state.revision > revisionByKey.get(d._id)!.revision).map(toRecord);
  }

  /** Records written but not confirmed on Kafka for a while (a crash between write and produce). */
  async findStuckPending(writtenBefore: string, limit: number): Promise<PaymentRecord[]> {
    const docs = await this.collection
      .find({ pendingPublish: { $ne: null }, 'state.updatedAt': { $lt: writtenBefore } })
      .limit(limit)
      .toArray();
    return docs.map(toRecord);
  }
}
