import type { PaymentState } from '@metrivo/contracts';
import type { AnyBulkWriteOperation, Collection, Db } from 'mongodb';
import { recordDocumentId, type PaymentLoadRequest, type PaymentRecord, type RecordWrite } from '../domain';
import { bulkWriteAllowingDuplicates, findByIds } from './bulk';
import type { LookupKeyStore } from './lookup-keys';

export type PaymentRecordDocument = PaymentRecord & { _id: string };

/** `_id` = `{recordDocumentId}|{revision}`: that revision of that record was acknowledged by Kafka. */
export interface PublishedRevisionDocument {
  _id: string;
  publishedAt: Date;
}

export const PAYMENT_RECORDS_COLLECTION = 'attribution_payment_records';
/** One document: how far the outbox sweep has looked, shared by every instance and kept across restarts. */
export const OUTBOX_SWEEP_COLLECTION = 'attribution_outbox_sweep';
const SWEEP_POSITION_ID = 'position';
export const PUBLISHED_REVISIONS_COLLECTION = 'attribution_published_revisions';

const publishedId = (recordId: string, revision: number): string => `${recordId}|${revision}`;

export interface RecordWriteOutcome {
  /** Writes whose expected version no longer matched (or whose insert met an existing record). */
  conflicts: number;
  written: number;
}

/**
 * One document per published payment key: the last state and the bookkeeping to change it. Every write
 * is a compare-and-set on `version` (no transactions needed).
 *
 * The outbox: a record is written with `pendingPublish` = its new revision before the state is produced.
 * Once Kafka acknowledged it, an immutable "published revision" document is inserted instead of clearing
 * the field in place (an insert is cheap everywhere; on FerretDB every update scans the collection). Every
 * load resolves the field against those documents, so the domain sees `pendingPublish: null` for
 * published revisions; the next write of the record stores the cleared value.
 */
export class PaymentRecordStore {
  readonly collection: Collection<PaymentRecordDocument>;
  readonly published: Collection<PublishedRevisionDocument>;
  readonly sweep: Collection<{ _id: string; until: string }>;
  constructor(
    db: Db,
    private readonly lookups: LookupKeyStore,
  ) {
    this.collection = db.collection<PaymentRecordDocument>(PAYMENT_RECORDS_COLLECTION);
    this.published = db.collection<PublishedRevisionDocument>(PUBLISHED_REVISIONS_COLLECTION);
    this.sweep = db.collection<{ _id: string; until: string }>(OUTBOX_SWEEP_COLLECTION);
  }

  /**
   * Every record written before this instant (ISO) was looked at by a completed sweep window, of any instance;
   * null before the first one. A new process starts its sweep here instead of at the oldest record: after a crash
   * the stuck records are the recent ones, and walking the whole history first would delay them by hours.
   */
  async sweptUntil(): Promise<string | null> {
    return (await this.sweep.findOne({ _id: SWEEP_POSITION_ID }))?.until ?? null;
  }

  /** Moves the shared position forward only ($max): an instance finishing an older window never moves it back. */
  async recordSweptUntil(until: string): Promise<void> {
    await this.sweep.updateOne({ _id: SWEEP_POSITION_ID }, { $max: { until } }, { upsert: true });
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([
      this.collection.createIndex({ websiteId: 1, paymentKey: 1 }, { name: 'website_payment_key', unique: true }),
      this.collection.createIndex({ websiteId: 1, 'state.subscriptionKey': 1 }, { name: 'website_subscription' }),
      // The late-upgrade index: which payments may new tracker data (s:/v:/e: keys) still change.
      this.collection.createIndex({ websiteId: 1, 'upgrade.keys': 1, 'upgrade.until': 1 }, { name: 'website_upgrade_keys' }),
      // The outbox sweep: written-but-unconfirmed records by write time.
      // Named after its keys: an index whose keys change must get a new name, or existing databases refuse it at start.
      this.collection.createIndex({ pendingPublish: 1, 'state.updatedAt': 1 }, { name: 'pending_publish_updated_at', sparse: true }),
    ]);
  }

  /** Answers one round of the payment load planner (`nextPaymentLoad`). */
  async findForLoad(request: PaymentLoadRequest): Promise<PaymentRecord[]> {
    return (await this.findForLoadMany([request])).get(request.websiteId) ?? [];
  }

  /**
   * Load rounds of several websites, per website: records by `_id` (website + payment key), and the
   * members of the asked subscriptions through their lookup keys (re-checked on the loaded records).
   */
  async findForLoadMany(requests: readonly PaymentLoadRequest[]): Promise<Map<string, PaymentRecord[]>> {
    const bySub = requests.filter((r) => r.subscriptionKeys.length > 0);
    const members = await this.lookups.lookupMany('record-subscription', bySub.map((r) => ({ websiteId: r.websiteId, keys: r.subscriptionKeys })));
    const ids = new Set([
      ...requests.flatMap((r) => r.keys.map((paymentKey) => recordDocumentId({ websiteId: r.websiteId, paymentKey }))),
      ...[...members.values()].flatMap((byKey) => [...byKey.values()].flat()),
    ]);
    if (ids.size === 0) return new Map();
    const keysOf = new Map(requests.map((r) => [r.websiteId, new Set(r.keys)]));
    const subsOf = new Map(bySub.map((r) => [r.websiteId, new Set(r.subscriptionKeys)]));
    const docs = (await findByIds(this.collection, [...ids])).filter(
      (d) =>
        keysOf.get(d.websiteId)?.has(d.paymentKey) ||
        (d.state.status !== 'merged' && d.state.subscriptionKey !== null && subsOf.get(d.websiteId)?.has(d.state.subscriptionKey)),
    );
    return byWebsite(await this.resolved(docs));
  }

  async findByKeys(websiteId: string, keys: readonly string[]): Promise<PaymentRecord[]> {
    if (keys.length === 0) return [];
    const docs = await findByIds(this.collection, keys.map((paymentKey) => recordDocumentId({ websiteId, paymentKey })));
    return this.resolved(docs);
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
    const wanted = [...keysByWebsite].filter(([, keys]) => keys.length > 0);
    if (wanted.length === 0) return new Map();
    const found = await this.lookups.lookupMany('record-upgrade', wanted.map(([websiteId, keys]) => ({ websiteId, keys })));
    const ids = [...new Set([...found.values()].flatMap((byKey) => [...byKey.values()].flat()))];
    const keySets = new Map(wanted.map(([w, keys]) => [w, new Set(keys)]));
    // A lookup key outlives the record's upgrade window and keys: keep what still applies now.
    const own = (await findByIds(this.collection, ids)).filter((d) => d.upgrade !== null && d.upgrade.until >= now && d.upgrade.keys.some((k) => keySets.get(d.websiteId)?.has(k)));
    return byWebsite(await this.resolved(own));
  }

  /** Compare-and-set writes: insert when no version is expected, else replace only at the expected version. */
  async write(writes: readonly RecordWrite[]): Promise<RecordWriteOutcome> {
    if (writes.length === 0) return { conflicts: 0, written: 0 };
    // Lookup keys first (a crash before the record write leaves keys that readers re-check and skip).
    await this.lookups.add(
      writes.flatMap(({ record }) => {
        const id = recordDocumentId(record);
        return [
          ...(record.state.subscriptionKey === null ? [] : [{ kind: 'record-subscription' as const, websiteId: record.websiteId, key: record.state.subscriptionKey, id }]),
          ...(record.upgrade?.keys ?? []).map((key) => ({ kind: 'record-upgrade' as const, websiteId: record.websiteId, key, id })),
        ];
      }),
    );
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
   * Records the acknowledged revisions (idempotent) and returns the records that have moved on to a newer
   * revision meanwhile: their newer state must be produced again after ours, or a compacted topic could
   * keep the older one as the last value of the key.
   */
  async markPublished(states: readonly PaymentState[], at: Date = new Date()): Promise<PaymentRecord[]> {
    if (states.length === 0) return [];
    const revisionById = new Map<string, number>();
    for (const s of states) {
      const id = recordDocumentId(s);
      revisionById.set(id, Math.max(revisionById.get(id) ?? 0, s.revision));
    }
    await bulkWriteAllowingDuplicates(
      this.published,
      states.map((s) => ({ insertOne: { document: { _id: publishedId(recordDocumentId(s), s.revision), publishedAt: at } } })),
    );
    const current = await findByIds(this.collection, [...revisionById.keys()]);
    return this.resolved(current.filter((d) => d.state.revision > revisionById.get(d._id)!));
  }

  /**
   * A page of records written before `before` and from `from` on (by state.updatedAt, then id: sorted), that were
   * stored with a pending revision, resolved: those still `pendingPublish` were never acknowledged (a crash
   * between the write and the produce). `from.id` null: every record written at `from.updatedAt`; else only those
   * after that id (the rest of a full page's last instant).
   */
  async findPendingCandidates(from: { updatedAt: string; id: string | null }, before: string, limit: number): Promise<PaymentRecord[]> {
    const time = from.id === null
      ? { 'state.updatedAt': { $gte: from.updatedAt, $lt: before } }
      : { $or: [{ 'state.updatedAt': { $gt: from.updatedAt, $lt: before } }, { 'state.updatedAt': from.updatedAt, _id: { $gt: from.id } }] };
    const docs = await this.collection
      .find({ pendingPublish: { $ne: null }, ...time })
      .sort({ 'state.updatedAt': 1, _id: 1 })
      .limit(limit)
      .toArray();
    return this.resolved(docs);
  }

  /** Plain records with `pendingPublish` resolved against the published revisions. */
  private async resolved(docs: readonly PaymentRecordDocument[]): Promise<PaymentRecord[]> {
    const records = docs.map(toRecord);
    const pending = records.filter((r) => r.pendingPublish !== null);
    if (pending.length === 0) return records;
    const ids = pending.map((r) => publishedId(recordDocumentId(r), r.pendingPublish!));
    const done = new Set((await findByIds(this.published, ids)).map((d) => d._id));
    return records.map((r) => (r.pendingPublish !== null && done.has(publishedId(recordDocumentId(r), r.pendingPublish)) ? { ...r, pendingPublish: null } : r));
  }
}

function toRecord(d: PaymentRecordDocument): PaymentRecord {
  const { _id: _ignored, ...record } = d;
  return record;
}

function byWebsite(records: readonly PaymentRecord[]): Map<string, PaymentRecord[]> {
  const out = new Map<string, PaymentRecord[]>();
  for (const r of records) out.set(r.websiteId, [...(out.get(r.websiteId) ?? []), r]);
  return out;
}
