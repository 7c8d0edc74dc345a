import type { Db } from 'mongodb';
import { FACT_KEYS_FROM_EVENTS_READY_ID, type LookupEntry } from './lookup-keys';
import { factLookupEntries, PaymentFactStore, type PaymentFactDocument } from './payment-fact-store';
import { PaymentRecordStore } from './payment-record-store';
import { LookupKeyStore } from './lookup-keys';
import { SessionStore, type SessionStoreOptions } from './session-store';

export { anyOf, bulkWriteAllowingDuplicates, findByIds, isDuplicateKeyError, BULK_CHUNK, DUPLICATE_KEY, POINT_READ_MAX, type BulkOutcome } from './bulk';
export { SessionStore, type SessionStoreOptions, SESSIONS_COLLECTION, IDENTITIES_COLLECTION, sessionDocumentId, identityDocumentId, type SessionDocument, type IdentityDocument } from './session-store';
export { LookupKeyStore, LOOKUP_KEYS_COLLECTION, lookupDocumentId, type LookupKind, type LookupEntry, type LookupKeyDocument } from './lookup-keys';
export { PaymentFactStore, PAYMENT_FACTS_COLLECTION, type PaymentFactDocument } from './payment-fact-store';
export { PaymentRecordStore, PAYMENT_RECORDS_COLLECTION, PUBLISHED_REVISIONS_COLLECTION, type PaymentRecordDocument, type PublishedRevisionDocument, type RecordWriteOutcome } from './payment-record-store';

/** Every MongoDB collection the attribution app owns. */
export interface AttributionStores {
  /** Secondary keys of the other collections, read by `_id` (see lookup-keys.ts). */
  lookups: LookupKeyStore;
  sessions: SessionStore;
  facts: PaymentFactStore;
  records: PaymentRecordStore;
}

export interface StoreOptions {
  sessions?: SessionStoreOptions;
}

export function createStores(db: Db, options: StoreOptions = {}): AttributionStores {
  const lookups = new LookupKeyStore(db);
  return { lookups, sessions: new SessionStore(db, lookups, options.sessions), facts: new PaymentFactStore(db, lookups), records: new PaymentRecordStore(db, lookups) };
}

/** FerretDB answers buildInfo with its own version: used to pick settings that suit its SQLite backend. */
export async function isFerretDb(db: Db): Promise<boolean> {
  const info = await db.admin().command({ buildInfo: 1 });
  return typeof info.ferretdbVersion === 'string';
}

/** Indexes, and the lookup keys of documents written before lookup keys existed (returned when it ran). */
export async function ensureIndexes(stores: AttributionStores): Promise<{ lookupKeysBackfilled: { documents: number; ms: number } | null }> {
  await Promise.all([stores.sessions.ensureIndexes(), stores.facts.ensureIndexes(), stores.records.ensureIndexes()]);
  const started = Date.now();
  if (!(await stores.lookups.isReady())) {
    const { documents } = await backfillLookupKeys(stores);
    await stores.lookups.markReady(FACT_KEYS_FROM_EVENTS_READY_ID);
    await stores.lookups.markReady();
    return { lookupKeysBackfilled: { documents, ms: Date.now() - started } };
  }
  if (!(await stores.lookups.isReady(FACT_KEYS_FROM_EVENTS_READY_ID))) {
    const documents = await backfillFactKeys(stores);
    await stores.lookups.markReady(FACT_KEYS_FROM_EVENTS_READY_ID);
    return { lookupKeysBackfilled: { documents, ms: Date.now() - started } };
  }
  return { lookupKeysBackfilled: null };
}

/** Fact lookup keys derived from each stored fact's event (see FACT_KEYS_FROM_EVENTS_READY_ID). Idempotent. */
async function backfillFactKeys(stores: AttributionStores, batchSize = 500): Promise<number> {
  return drainInto(stores, batchSize, stores.facts.collection.find({}), factEntries);
}

const factEntries = (d: PaymentFactDocument): LookupEntry[] => factLookupEntries(d._id, d);

/** Adds the lookup entries of every document of a cursor, `batchSize` at a time; returns how many documents. */
async function drainInto<T>(stores: AttributionStores, batchSize: number, cursor: AsyncIterable<T>, entries: (doc: T) => LookupEntry[]): Promise<number> {
  let documents = 0;
  let batch: LookupEntry[] = [];
  for await (const doc of cursor) {
    documents += 1;
    batch.push(...entries(doc));
    if (batch.length >= batchSize) {
      await stores.lookups.add(batch);
      batch = [];
    }
  }
  await stores.lookups.add(batch);
  return documents;
}

/**
 * Writes the lookup keys of every stored document: for a database written before lookup keys existed
 * (or whose lookup collection was dropped). Runs once, at start, before consuming; reads each collection
 * once in `_id` order. Idempotent, so two instances starting together or a crash halfway are harmless
 * (the ready marker is written only at the end).
 */
export async function backfillLookupKeys(stores: AttributionStores, batchSize = 500): Promise<{ documents: number }> {
  let documents = 0;
  const drain = async <T>(cursor: AsyncIterable<T>, entries: (doc: T) => LookupEntry[]): Promise<void> => {
    documents += await drainInto(stores, batchSize, cursor, entries);
  };
  await drain(stores.sessions.sessions.find({}, { projection: { websiteId: 1, visitorId: 1 } }), (d) => [
    { kind: 'visitor-sessions', websiteId: d.websiteId, key: d.visitorId, id: d._id },
  ]);
  await drain(stores.sessions.identities.find({}, { projection: { websiteId: 1, visitorId: 1, emailHash: 1 } }), (d) => [
    { kind: 'email-visitors', websiteId: d.websiteId, key: d.emailHash, id: d.visitorId },
    { kind: 'visitor-emails', websiteId: d.websiteId, key: d.visitorId, id: d.emailHash },
  ]);
  await drain(stores.facts.collection.find({}), factEntries);
  await drain(stores.records.collection.find({}, { projection: { websiteId: 1, 'state.subscriptionKey': 1, upgrade: 1 } }), (d) => [
    ...(d.state?.subscriptionKey ? [{ kind: 'record-subscription' as const, websiteId: d.websiteId, key: d.state.subscriptionKey, id: d._id }] : []),
    ...(d.upgrade?.keys ?? []).map((key) => ({ kind: 'record-upgrade' as const, websiteId: d.websiteId, key, id: d._id })),
  ]);
  return { documents };
}
