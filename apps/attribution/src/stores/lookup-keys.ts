import { RetryLaterError } from '@metrivo/kafka';
import type { AnyBulkWriteOperation, Collection, Db } from 'mongodb';
import { BULK_CHUNK, bulkWriteAllowingDuplicates } from './bulk';

/**
 * What a lookup key leads to. Each kind answers one question of the attribution stores by `_id` reads only:
 *  - `visitor-sessions`:   website + visitor id  → session document ids
 *  - `email-visitors`:     website + email hash  → visitor ids (identity documents are `{website}|{email}|{visitor}`)
 *  - `visitor-emails`:     website + visitor id  → email hashes
 *  - `fact-links`:         website + link key    → payment fact document ids
 *  - `record-subscription`: website + subscription key → payment record document ids
 *  - `record-upgrade`:     website + late-upgrade key  → payment record document ids
 *  - `trial-sessions`:     website + session id  → ids of trial-start facts naming it (retention keeps the session)
 */
export type LookupKind = 'visitor-sessions' | 'email-visitors' | 'visitor-emails' | 'fact-links' | 'record-subscription' | 'record-upgrade' | 'trial-sessions';

const KIND_PREFIX: Record<LookupKind, string> = {
  'visitor-sessions': 'vs',
  'email-visitors': 'ev',
  'visitor-emails': 've',
  'fact-links': 'fl',
  'record-subscription': 'rs',
  'record-upgrade': 'ru',
  'trial-sessions': 'ts',
};

/** `_id` = `{kind}|{websiteId}|{key}`; `ids` = what the key leads to (a set, kept by `$addToSet`). */
export interface LookupKeyDocument {
  _id: string;
  ids: string[];
}

export interface LookupEntry {
  kind: LookupKind;
  websiteId: string;
  key: string;
  id: string;
}

export const LOOKUP_KEYS_COLLECTION = 'attribution_lookup_keys';
/** Written once every existing document has its lookup keys (see `SessionStore`/`backfill` in index.ts). */
export const LOOKUP_KEYS_READY_ID = '_ready';
/**
 * Written once every stored fact has the lookup keys derived from its event today (not the link keys stored with
 * it): facts stored before `trial:` keys existed get them, and trial starts their `trial-sessions` entry, so trials
 * running at an upgrade keep their checkout's signals and session when they convert.
 */
export const FACT_KEYS_FROM_EVENTS_READY_ID = '_ready_fact_keys_from_events';

export const lookupDocumentId = (kind: LookupKind, websiteId: string, key: string): string => `${KIND_PREFIX[kind]}|${websiteId}|${key}`;

/**
 * Secondary keys of the attribution collections as documents read by `_id`.
 *
 * Why not secondary indexes on the collections themselves: FerretDB (the local MongoDB stand-in) only uses
 * an index for `_id`; a query on any other field reads the whole collection (5 s per payment batch at 15 000
 * sessions). With these documents every question a payment or a tracker batch asks is answered with `_id`
 * reads, on MongoDB as on FerretDB, at the cost of one write per new key/id pair (an insert for a new key,
 * an `$addToSet` for a known one).
 *
 * Entries are written BEFORE the documents they point to (a crash in between leaves an entry pointing at
 * nothing, which readers skip), and readers re-check every loaded document against their question, so an
 * entry that no longer applies (a record's subscription or upgrade keys moved on) is harmless. Session retention
 * removes the ids of the sessions it deletes (`remove`) and deletes keys left empty, so `visitor-sessions` keys
 * stay bounded like the sessions (ids of sessions deleted before that existed stay; readers skip them); the
 * other kinds point at documents that are kept (identities, payment facts and records) and are never removed.
 */
export class LookupKeyStore {
  readonly collection: Collection<LookupKeyDocument>;
  /**
   * Key documents known to exist and key/id pairs this instance has written, with when (insertion-ordered map
   * used as an LRU): re-sends cost no write, and a known key skips the insert attempt. Trusted for `trustMs`
   * only: session retention (possibly on another instance) removes ids of sessions idle far longer than that,
   * and a session that comes back after it must get its key written again.
   */
  private readonly written = new Map<string, number>();

  constructor(
    db: Db,
    private readonly cacheSize = 200_000,
    private readonly trustMs = 3_600_000,
  ) {
    this.collection = db.collection<LookupKeyDocument>(LOOKUP_KEYS_COLLECTION);
  }

  /** Adds the entries (idempotent; concurrent writers of the same key keep the union). */
  async add(entries: readonly LookupEntry[]): Promise<void> {
    const byDoc = new Map<string, Set<string>>();
    for (const e of entries) {
      const docId = lookupDocumentId(e.kind, e.websiteId, e.key);
      if (this.knows(`${docId}\u0000${e.id}`)) continue;
      const ids = byDoc.get(docId) ?? new Set<string>();
      ids.add(e.id);
      byDoc.set(docId, ids);
    }
    if (byDoc.size === 0) return;
    // A key seen for the first time is inserted (cheap everywhere; on FerretDB an update costs more); a key
    // that exists already (a duplicate key on insert, or one this instance wrote before) gets `$addToSet`.
    const fresh = [...byDoc].filter(([docId]) => !this.knows(docId));
    const inserted = await bulkWriteAllowingDuplicates(
      this.collection,
      fresh.map(([_id, ids]) => ({ insertOne: { document: { _id, ids: [...ids] } } }) as AnyBulkWriteOperation<LookupKeyDocument>),
    );
    const existing = new Set(inserted.duplicateIndexes.map((i) => fresh[i]![0]));
    const toUpdate = [...byDoc].filter(([docId]) => existing.has(docId) || this.knows(docId));
    const ops = toUpdate.map(
      ([_id, ids]) => ({ updateOne: { filter: { _id }, update: { $addToSet: { ids: { $each: [...ids] } } }, upsert: true } }) as AnyBulkWriteOperation<LookupKeyDocument>,
    );
    // Two writers upserting the same new key at once: one insert loses with a duplicate key; the key
    // exists now, so the same update applies to it on the second try.
    let pending = ops;
    for (let attempt = 0; pending.length > 0; attempt += 1) {
      if (attempt === 3) throw new RetryLaterError(`lookup keys: ${pending.length} upserts kept meeting concurrent inserts`);
      const outcome = await bulkWriteAllowingDuplicates(this.collection, pending);
      pending = outcome.duplicateIndexes.map((i) => pending[i]!);
    }
    for (const docId of byDoc.keys()) this.remember(docId);
    for (const [docId, ids] of byDoc) for (const id of ids) this.remember(`${docId}\u0000${id}`);
  }

  /**
   * Removes ids from their keys and deletes the keys left without any (returns how many). A writer adding an id
   * to such a key at the same time upserts it, so it is never lost: `$pullAll` and the empty-key delete are each
   * atomic on their document.
   */
  async remove(entries: readonly LookupEntry[]): Promise<number> {
    const byDoc = new Map<string, Set<string>>();
    for (const e of entries) {
      const docId = lookupDocumentId(e.kind, e.websiteId, e.key);
      const ids = byDoc.get(docId) ?? new Set<string>();
      ids.add(e.id);
      byDoc.set(docId, ids);
    }
    if (byDoc.size === 0) return 0;
    // $pullAll, not `$pull: {ids: {$in: …}}`: FerretDB 1.24 matches the latter, changes nothing and reports no error.
    const ops = [...byDoc].map(([_id, ids]) => ({ updateOne: { filter: { _id }, update: { $pullAll: { ids: [...ids] } } } }) as AnyBulkWriteOperation<LookupKeyDocument>);
    for (let i = 0; i < ops.length; i += BULK_CHUNK) await this.collection.bulkWrite(ops.slice(i, i + BULK_CHUNK), { ordered: false });
    // Forget them here too: a key this instance believes exists would otherwise get an update that finds nothing.
    for (const [docId, ids] of byDoc) {
      this.written.delete(docId);
      for (const id of ids) this.written.delete(`${docId}\u0000${id}`);
    }
    let deleted = 0;
    const docIds = [...byDoc.keys()];
    for (let i = 0; i < docIds.length; i += BULK_CHUNK * 20) {
      deleted += (await this.collection.deleteMany({ _id: { $in: docIds.slice(i, i + BULK_CHUNK * 20) }, ids: { $size: 0 } })).deletedCount;
    }
    return deleted;
  }

  /** What each key leads to (keys without a document are absent). */
  async lookup(kind: LookupKind, websiteId: string, keys: readonly string[]): Promise<Map<string, string[]>> {
    return (await this.lookupMany(kind, [{ websiteId, keys }])).get(websiteId) ?? new Map();
  }

  /** `lookup` for several websites with one read: websiteId → key → ids. */
  async lookupMany(kind: LookupKind, requests: ReadonlyArray<{ websiteId: string; keys: readonly string[] }>): Promise<Map<string, Map<string, string[]>>> {
    const wanted = new Map<string, { websiteId: string; key: string }>();
    for (const r of requests) for (const key of r.keys) wanted.set(lookupDocumentId(kind, r.websiteId, key), { websiteId: r.websiteId, key });
    const out = new Map<string, Map<string, string[]>>();
    if (wanted.size === 0) return out;
    const ids = [...wanted.keys()];
    for (let start = 0; start < ids.length; start += BULK_CHUNK * 20) {
      const docs = await this.collection.find({ _id: { $in: ids.slice(start, start + BULK_CHUNK * 20) } }).toArray();
      for (const d of docs) {
        const w = wanted.get(d._id);
        if (!w) continue;
        const site = out.get(w.websiteId) ?? new Map<string, string[]>();
        site.set(w.key, d.ids);
        out.set(w.websiteId, site);
      }
    }
    return out;
  }

  /** Whether a one-time backfill (`marker`: which one; default: every lookup key) has completed on this database. */
  async isReady(marker = LOOKUP_KEYS_READY_ID): Promise<boolean> {
    return (await this.collection.findOne({ _id: marker })) !== null;
  }

  async markReady(marker = LOOKUP_KEYS_READY_ID): Promise<void> {
    await this.collection.updateOne({ _id: marker }, { $set: { ids: [new Date().toISOString()] } }, { upsert: true });
  }

  private knows(pair: string): boolean {
    const at = this.written.get(pair);
    return at !== undefined && Date.now() - at < this.trustMs;
  }

  private remember(pair: string): void {
    if (this.cacheSize === 0) return;
    this.written.delete(pair);
    this.written.set(pair, Date.now());
    if (this.written.size > this.cacheSize) this.written.delete(this.written.keys().next().value!);
  }
}
