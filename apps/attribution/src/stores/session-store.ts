import { createHash } from 'node:crypto';
import type { SessionRecord } from '@metrivo/contracts';
import type { AnyBulkWriteOperation, Collection, Db, Filter } from 'mongodb';
import { createSessionView, type EmailIdentity, type SessionView } from '../domain';
import type { SessionLookups } from '../domain';
import { stableStringify } from '../domain/util';
import { bulkWriteAllowingDuplicates, findByIds } from './bulk';
import type { LookupKeyStore } from './lookup-keys';

/**
 * The latest version of one tracker session. `_id` = `{websiteId}|{sessionId}`. The Date fields exist for
 * queries (contract timestamps may or may not carry milliseconds, so their text does not sort);
 * `rank` breaks ties between two versions with the same lastSeenAt so that every delivery order keeps
 * the same one.
 */
export interface SessionDocument {
  _id: string;
  websiteId: string;
  visitorId: string;
  startedAtDate: Date;
  lastSeenAtDate: Date;
  rank: string;
  /** Hash of the session without lastSeenAt: what attribution reads from it. */
  contentHash: string;
  session: SessionRecord;
}

/** One (website, email hash, visitor) sighting; `_id` = `{websiteId}|{emailHash}|{visitorId}`; the earliest `at` wins. */
export interface IdentityDocument extends EmailIdentity {
  _id: string;
  atDate: Date;
}

export const SESSIONS_COLLECTION = 'attribution_sessions';
export const IDENTITIES_COLLECTION = 'attribution_identities';

export const sessionDocumentId = (websiteId: string, sessionId: string): string => `${websiteId}|${sessionId}`;
export const identityDocumentId = (i: Pick<EmailIdentity, 'websiteId' | 'emailHash' | 'visitorId'>): string => `${i.websiteId}|${i.emailHash}|${i.visitorId}`;

const sha256 = (value: unknown): string => createHash('sha256').update(stableStringify(value)).digest('hex');

interface RankedSession {
  session: SessionRecord;
  lastSeenMs: number;
  rank: string;
  contentHash: string;
}

function ranked(session: SessionRecord): RankedSession {
  return { session, lastSeenMs: Date.parse(session.lastSeenAt), rank: sha256(session), contentHash: sha256({ ...session, lastSeenAt: undefined }) };
}

export interface SessionStoreOptions {
  /**
   * A re-sent session whose content (everything but lastSeenAt) is unchanged replaces the stored version
   * only when it is at least this much later. 0: exact latest-wins. Attribution never reads lastSeenAt
   * (only retention does), and on FerretDB every document modification costs a collection scan, so
   * skipping the "it is still going" re-sends keeps the tracker path fast there.
   */
  lastSeenResolutionMs?: number;
  /** Sessions whose stored version this instance remembers (to skip re-sends without a database round trip). Default 100 000. */
  cacheSize?: number;
}

/** What decides whether an incoming version replaces the stored one. */
interface StoredVersion {
  lastSeenMs: number;
  rank: string;
  contentHash: string;
}

/** The order the store keeps: later lastSeenAt, then higher rank (same rule inside a batch and in the database). */
function isNewer(a: RankedSession, b: RankedSession): boolean {
  return a.lastSeenMs !== b.lastSeenMs ? a.lastSeenMs > b.lastSeenMs : a.rank > b.rank;
}

/** `preferredIdentity` (domain/sessions.ts) as a strict order: an identify sighting over a payment one, then the earliest. */
function isPreferred(a: EmailIdentity, b: EmailIdentity): boolean {
  if (a.learnedFrom !== b.learnedFrom) return a.learnedFrom === 'identify';
  return Date.parse(a.at) < Date.parse(b.at);
}

function toIdentity(d: EmailIdentity): EmailIdentity {
  return { websiteId: d.websiteId, emailHash: d.emailHash, visitorId: d.visitorId, at: d.at, learnedFrom: d.learnedFrom };
}

/**
 * Tracker state shared by every instance: sessions (latest version wins) and email→visitor identities
 * (earliest sighting wins). All writes are conditional upserts, so replays, duplicates and any order
 * converge on the same documents. Bounded by `deleteSessionsLastSeenBefore` (FerretDB has no TTL indexes).
 */
export class SessionStore {
  readonly sessions: Collection<SessionDocument>;
  readonly identities: Collection<IdentityDocument>;

  private readonly lastSeenResolutionMs: number;
  /**
   * Recently stored versions by _id (insertion-ordered map used as an LRU). Each partition of the tracker
   * topic has one consumer, so this instance sees its sessions' re-sends and can drop those the stored
   * version wins without asking the database. A stored version only ever moves forward, so a remembered
   * one that wins still wins — unless another instance stored different content meanwhile (a rebalance
   * and a tracker that changes a session's source), which at worst keeps an older content of that session.
   */
  private readonly stored = new Map<string, StoredVersion>();
  private readonly cacheSize: number;

  constructor(
    db: Db,
    private readonly lookups: LookupKeyStore,
    options: SessionStoreOptions = {},
  ) {
    this.cacheSize = options.cacheSize ?? 100_000;
    this.lastSeenResolutionMs = options.lastSeenResolutionMs ?? 0;
    this.sessions = db.collection<SessionDocument>(SESSIONS_COLLECTION);
    this.identities = db.collection<IdentityDocument>(IDENTITIES_COLLECTION);
  }

  async ensureIndexes(): Promise<void> {
    await Promise.all([
      // Per-website session by id is the _id itself.
      this.sessions.createIndex({ websiteId: 1, visitorId: 1, startedAtDate: 1 }, { name: 'website_visitor_started' }),
      this.sessions.createIndex({ lastSeenAtDate: 1 }, { name: 'last_seen' }),
      this.identities.createIndex({ websiteId: 1, emailHash: 1 }, { name: 'website_email' }),
      this.identities.createIndex({ websiteId: 1, visitorId: 1 }, { name: 'website_visitor' }),
    ]);
  }

  /**
   * Stores each session unless the stored version is newer (or the same, or — with a lastSeenResolutionMs —
   * the same content seen less than that long before). Returns how many documents were inserted or replaced.
   */
  async storeSessions(input: readonly SessionRecord[]): Promise<number> {
    const latest = new Map<string, RankedSession>();
    for (const s of input) {
      const r = ranked(s);
      const id = sessionDocumentId(s.websiteId, s.sessionId);
      const cur = latest.get(id);
      if (!cur || isNewer(r, cur)) latest.set(id, r);
    }
    const candidates = [...latest].filter(([id, r]) => {
      const known = this.stored.get(id);
      // Same content, and not later than the remembered version plus the resolution: the stored one wins.
      return !(known && known.contentHash === r.contentHash && known.lastSeenMs >= r.lastSeenMs - this.lastSeenResolutionMs);
    });
    const writes = candidates.map(([id, r]) => {
      const lastSeenAtDate = new Date(r.lastSeenMs);
      const doc: SessionDocument = {
        _id: id,
        websiteId: r.session.websiteId,
        visitorId: r.session.visitorId,
        startedAtDate: new Date(r.session.startedAt),
        lastSeenAtDate,
        rank: r.rank,
        contentHash: r.contentHash,
        session: r.session,
      };
      const stale = new Date(r.lastSeenMs - this.lastSeenResolutionMs);
      const storedLoses: Filter<SessionDocument> = {
        $or: [
          { lastSeenAtDate: { $lt: stale } },
          { contentHash: { $ne: r.contentHash }, $or: [{ lastSeenAtDate: { $lt: lastSeenAtDate } }, { lastSeenAtDate, rank: { $lt: r.rank } }] },
        ],
      };
      // The same rule in code, to skip the write when the stored version wins (the filter still guards races).
      const loses = (stored: SessionDocument): boolean =>
        stored.lastSeenAtDate < stale ||
        (stored.contentHash !== r.contentHash &&
          (stored.lastSeenAtDate < lastSeenAtDate || (stored.lastSeenAtDate.getTime() === r.lastSeenMs && stored.rank < r.rank)));
      return { doc, storedLoses, loses };
    });
    // Lookup keys first: a crash before the session is stored leaves a key pointing at nothing (skipped).
    await this.lookups.add(writes.map(({ doc }) => ({ kind: 'visitor-sessions', websiteId: doc.websiteId, key: doc.visitorId, id: doc._id })));
    const { written, kept } = await this.storeWinners(this.sessions, writes);
    for (const [id, doc] of kept) this.remember(id, doc ? { lastSeenMs: doc.lastSeenAtDate.getTime(), rank: doc.rank, contentHash: doc.contentHash } : null);
    return written;
  }

  private remember(id: string, version: StoredVersion | null): void {
    this.stored.delete(id);
    if (version === null || this.cacheSize === 0) return;
    this.stored.set(id, version);
    if (this.stored.size > this.cacheSize) this.stored.delete(this.stored.keys().next().value!);
  }

  /** Stores each identity unless the stored sighting is preferred (`isPreferred`: identify first, then the earliest). */
  async storeIdentities(input: readonly EmailIdentity[]): Promise<number> {
    const earliest = new Map<string, EmailIdentity>();
    for (const i of input) {
      const id = identityDocumentId(i);
      const cur = earliest.get(id);
      if (!cur || isPreferred(i, cur)) earliest.set(id, i);
    }
    const writes = [...earliest].map(([id, i]) => {
      const atDate = new Date(i.at);
      // The stored sighting loses to an earlier one of the same kind, and any payment sighting to an identify.
      const replaceable: Filter<IdentityDocument>[] = [{ learnedFrom: i.learnedFrom, atDate: { $gt: atDate } }];
      if (i.learnedFrom === 'identify') replaceable.push({ learnedFrom: 'payment' });
      const doc: IdentityDocument = { _id: id, ...toIdentity(i), atDate };
      const loses = (stored: IdentityDocument): boolean => isPreferred(i, stored);
      return { doc, storedLoses: { $or: replaceable } as Filter<IdentityDocument>, loses };
    });
    await this.lookups.add(
      [...earliest.values()].flatMap((i) => [
        { kind: 'email-visitors' as const, websiteId: i.websiteId, key: i.emailHash, id: i.visitorId },
        { kind: 'visitor-emails' as const, websiteId: i.websiteId, key: i.visitorId, id: i.emailHash },
      ]),
    );
    return (await this.storeWinners(this.identities, writes)).written;
  }

  /**
   * Insert; where the document exists, read it and replace it only if it loses, with a conditional upsert
   * (a duplicate key then means the stored one won meanwhile, e.g. a concurrent writer). Insert-first and
   * read-before-write matter on FerretDB, where inserts and `_id` reads are cheap but every update (even
   * one that matches nothing) scans the collection; on MongoDB they cost a round trip for re-sent sessions.
   */
  private async storeWinners<T extends { _id: string }>(
    collection: Collection<T>,
    writes: Array<{ doc: T; storedLoses: Filter<T>; loses: (stored: T) => boolean }>,
  ): Promise<{ written: number; kept: Map<string, T | null> }> {
    // kept: what is stored now as far as we know (null: unknown, another writer won a race).
    const kept = new Map<string, T | null>(writes.map(({ doc }) => [doc._id, doc]));
    const inserted = await bulkWriteAllowingDuplicates(
      collection,
      writes.map(({ doc }) => ({ insertOne: { document: doc } }) as AnyBulkWriteOperation<T>),
    );
    if (inserted.duplicateIndexes.length === 0) return { written: inserted.insertedCount, kept };
    const found = await findByIds(collection, inserted.duplicateIndexes.map((i) => writes[i]!.doc._id));
    const existing = new Map<string, T>(found.map((d) => [d._id as string, d as unknown as T]));
    const winners = inserted.duplicateIndexes.filter((i) => {
      const stored = existing.get(writes[i]!.doc._id);
      const wins = stored === undefined || writes[i]!.loses(stored);
      if (!wins) kept.set(writes[i]!.doc._id, stored);
      return wins;
    });
    if (winners.length === 0) return { written: inserted.insertedCount, kept };
    const updates = winners.map((i) => {
      const { doc, storedLoses } = writes[i]!;
      const { _id, ...fields } = doc;
      return { updateOne: { filter: { _id, ...storedLoses }, update: { $set: fields }, upsert: true } } as AnyBulkWriteOperation<T>;
    });
    const replaced = await bulkWriteAllowingDuplicates(collection, updates);
    for (const i of replaced.duplicateIndexes) kept.set(writes[winners[i]!]!.doc._id, null);
    return { written: inserted.insertedCount + replaced.modifiedCount + replaced.upsertedCount, kept };
  }

  /** Identities of these visitors, per website (for the late-upgrade index keys of new sessions). */
  async identitiesOfVisitors(visitorsByWebsite: ReadonlyMap<string, readonly string[]>): Promise<Map<string, EmailIdentity[]>> {
    const emails = await this.lookups.lookupMany(
      'visitor-emails',
      [...visitorsByWebsite].map(([websiteId, visitorIds]) => ({ websiteId, keys: visitorIds })),
    );
    const ids = [...emails].flatMap(([websiteId, byVisitor]) =>
      [...byVisitor].flatMap(([visitorId, emailHashes]) => emailHashes.map((emailHash) => identityDocumentId({ websiteId, emailHash, visitorId }))),
    );
    const out = new Map<string, EmailIdentity[]>();
    for (const d of await findByIds(this.identities, ids)) out.set(d.websiteId, [...(out.get(d.websiteId) ?? []), toIdentity(d)]);
    return out;
  }

  /**
   * A SessionView holding everything `sessionLookups` says a computation may ask (see its doc comment):
   * the named sessions (any age), the identities of the named emails, and for every visitor involved
   * their sessions since `lookups.since` plus their latest session.
   */
  async loadView(websiteId: string, lookups: SessionLookups): Promise<SessionView> {
    return (await this.loadViews(new Map([[websiteId, lookups]]))).get(websiteId)!;
  }

  /**
   * `loadView` for several websites with a few reads by `_id` (lookup keys, then the documents they name):
   * no query on any other field, which FerretDB would answer by reading the whole collection.
   */
  async loadViews(requests: ReadonlyMap<string, SessionLookups>): Promise<Map<string, SessionView>> {
    const all = [...requests];
    const emailVisitors = await this.lookups.lookupMany(
      'email-visitors',
      all.map(([websiteId, l]) => ({ websiteId, keys: l.emailHashes })),
    );
    const identityIds = [...emailVisitors].flatMap(([websiteId, byEmail]) =>
      [...byEmail].flatMap(([emailHash, visitorIds]) => visitorIds.map((visitorId) => identityDocumentId({ websiteId, emailHash, visitorId }))),
    );
    const [named, identityDocs] = await Promise.all([
      findByIds(this.sessions, all.flatMap(([websiteId, l]) => l.sessionIds.map((s) => sessionDocumentId(websiteId, s)))),
      findByIds(this.identities, identityIds),
    ]);
    const loaded = new Map<string, Map<string, SessionDocument>>(all.map(([w]) => [w, new Map()]));
    for (const d of named) loaded.get(d.websiteId)?.set(d._id, d);
    const visitors = new Map<string, string[]>();
    for (const [websiteId, l] of all) {
      const ids = new Set(l.visitorIds);
      for (const d of loaded.get(websiteId)!.values()) ids.add(d.visitorId);
      for (const d of identityDocs) if (d.websiteId === websiteId) ids.add(d.visitorId);
      visitors.set(websiteId, [...ids]);
    }
    // Every stored session of the visitors involved (retention bounds them), then the same selection the
    // domain expects: those started since `since`, and the latest one of a visitor none of whose loaded
    // sessions is recent (so they still count as known).
    const visitorSessions = await this.lookups.lookupMany(
      'visitor-sessions',
      [...visitors].map(([websiteId, visitorIds]) => ({ websiteId, keys: visitorIds })),
    );
    const sessionIds = [...visitorSessions].flatMap(([websiteId, byVisitor]) => [...byVisitor.values()].flat().filter((id) => !loaded.get(websiteId)?.has(id)));
    const visitorSets = new Map([...visitors].map(([w, ids]) => [w, new Set(ids)]));
    const candidates = new Map<string, SessionDocument[]>();
    for (const d of await findByIds(this.sessions, sessionIds)) {
      if (!visitorSets.get(d.websiteId)?.has(d.visitorId)) continue;
      candidates.set(d.websiteId, [...(candidates.get(d.websiteId) ?? []), d]);
    }
    for (const [websiteId, l] of all) {
      const site = loaded.get(websiteId)!;
      const docs = candidates.get(websiteId) ?? [];
      if (l.since !== null) {
        const since = new Date(l.since);
        for (const d of docs) if (d.startedAtDate >= since) site.set(d._id, d);
      }
      const seen = new Set([...site.values()].map((d) => d.visitorId));
      const latest = new Map<string, SessionDocument>();
      for (const d of docs) {
        if (seen.has(d.visitorId)) continue;
        const cur = latest.get(d.visitorId);
        if (!cur || d.startedAtDate > cur.startedAtDate) latest.set(d.visitorId, d);
      }
      for (const d of latest.values()) site.set(d._id, d);
    }
    return new Map(
      all.map(([websiteId]) => [
        websiteId,
        createSessionView(
          websiteId,
          [...loaded.get(websiteId)!.values()].map((d) => d.session),
          identityDocs.filter((d) => d.websiteId === websiteId).map(toIdentity),
        ),
      ]),
    );
  }

  /**
   * Retention: sessions last seen before `cutoff` can no longer be credited (window + late-upgrade horizon passed).
   * Deleted page by page, then their ids leave their visitors' lookup keys (a visitor left without sessions loses
   * the key). Sessions first: a crash in between leaves keys pointing at nothing (readers skip those), never a
   * live session without its key. A session re-sent meanwhile (lastSeenAt moved on) is not deleted and keeps it.
   */
  async deleteSessionsLastSeenBefore(cutoff: Date, pageSize = 2000): Promise<{ sessions: number; lookupKeys: number; kept: number }> {
    const out = { sessions: 0, lookupKeys: 0, kept: 0 };
    let after: string | null = null; // kept sessions stay behind: page on by _id
    for (;;) {
      const page: Array<Pick<SessionDocument, '_id' | 'websiteId' | 'visitorId'> & { session: { sessionId: string } }> = await this.sessions
        .find(
          { lastSeenAtDate: { $lt: cutoff }, ...(after === null ? {} : { _id: { $gt: after } }) },
          { projection: { _id: 1, websiteId: 1, visitorId: 1, 'session.sessionId': 1 } },
        )
        .sort({ _id: 1 })
        .limit(pageSize)
        .toArray();
      if (page.length === 0) break;
      after = page[page.length - 1]!._id;
      // A session a trial start names is kept: the trial converts with it, possibly long after the retention period.
      const sessionIdsByWebsite = new Map<string, string[]>();
      for (const d of page) {
        const list = sessionIdsByWebsite.get(d.websiteId);
        if (list) list.push(d.session.sessionId);
        else sessionIdsByWebsite.set(d.websiteId, [d.session.sessionId]);
      }
      const named = await this.lookups.lookupMany('trial-sessions', [...sessionIdsByWebsite].map(([websiteId, keys]) => ({ websiteId, keys })));
      const expired = page.filter((d) => !named.get(d.websiteId)?.get(d.session.sessionId)?.length);
      out.kept += page.length - expired.length;
      if (expired.length === 0) {
        if (page.length < pageSize) break;
        continue;
      }
      const ids = expired.map((d) => d._id);
      const r = await this.sessions.deleteMany({ _id: { $in: ids }, lastSeenAtDate: { $lt: cutoff } });
      out.sessions += r.deletedCount;
      this.stored.clear(); // never vouch for a deleted version
      const kept = new Set((await this.sessions.find({ _id: { $in: ids } }, { projection: { _id: 1 } }).toArray()).map((d) => d._id));
      const removed = expired.filter((d) => !kept.has(d._id)).map((d) => ({ kind: 'visitor-sessions' as const, websiteId: d.websiteId, key: d.visitorId, id: d._id }));
      out.lookupKeys += await this.lookups.remove(removed);
      // A session stored again while its key was being cleaned (re-sent after retention) gets its key back.
      const back = await this.sessions.find({ _id: { $in: removed.map((r) => r.id) } }, { projection: { _id: 1 } }).toArray();
      if (back.length > 0) {
        const again = new Set(back.map((d) => d._id));
        await this.lookups.add(removed.filter((r) => again.has(r.id)));
      }
      if (page.length < pageSize) break;
    }
    return out;
  }
}
