import type { Db } from 'mongodb';
import { PaymentFactStore } from './payment-fact-store';
import { PaymentRecordStore } from './payment-record-store';
import { SessionStore, type SessionStoreOptions } from './session-store';

export { anyOf, bulkWriteAllowingDuplicates, findByIds, isDuplicateKeyError, BULK_CHUNK, DUPLICATE_KEY, POINT_READ_MAX, type BulkOutcome } from './bulk';
export { SessionStore, type SessionStoreOptions, SESSIONS_COLLECTION, IDENTITIES_COLLECTION, sessionDocumentId, identityDocumentId, type SessionDocument, type IdentityDocument } from './session-store';
export { PaymentFactStore, PAYMENT_FACTS_COLLECTION, type PaymentFactDocument } from './payment-fact-store';
export { PaymentRecordStore, PAYMENT_RECORDS_COLLECTION, PUBLISHED_REVISIONS_COLLECTION, type PaymentRecordDocument, type PublishedRevisionDocument, type RecordWriteOutcome } from './payment-record-store';

/** Every MongoDB collection the attribution app owns. */
export interface AttributionStores {
  sessions: SessionStore;
  facts: PaymentFactStore;
  records: PaymentRecordStore;
}

export interface StoreOptions {
  sessions?: SessionStoreOptions;
}

export function createStores(db: Db, options: StoreOptions = {}): AttributionStores {
  return { sessions: new SessionStore(db, options.sessions), facts: new PaymentFactStore(db), records: new PaymentRecordStore(db) };
}

/** FerretDB answers buildInfo with its own version: used to pick settings that suit its SQLite backend. */
export async function isFerretDb(db: Db): Promise<boolean> {
  const info = await db.admin().command({ buildInfo: 1 });
  return typeof info.ferretdbVersion === 'string';
}

export async function ensureIndexes(stores: AttributionStores): Promise<void> {
  await Promise.all([stores.sessions.ensureIndexes(), stores.facts.ensureIndexes(), stores.records.ensureIndexes()]);
}
