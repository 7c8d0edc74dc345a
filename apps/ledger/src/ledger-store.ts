import { createHash } from 'node:crypto';
import type { AnyBulkWriteOperation, Collection, Db, Document, IndexDescription } from 'mongodb';
import { confidences, type Confidence, type PaymentState } from '@metrivo/contracts';
import { RetryLaterError } from '@metrivo/kafka';
import { computeLedgerChain, type Holding, type LedgerEntry, type RecordedPayment } from './ledger-entries';
import { reconcilePayments, type LedgerGroupTotals, type ReconciliationReport } from './reconcile';

/**
 * MongoDB store of the ledger. Works on MongoDB and on FerretDB v1 (SQLite backend), so it uses no
 * multi-document transactions, no change streams, and only simple aggregation stages
 * ($match, $group with $sum, $sort, $limit).
 *
 * Collections:
 *  - `ledger_entries`: append-only; `_id` is the entry's deterministic id, so re-inserting is a no-op.
 *  - `ledger_payment_states`: one document per (websiteId, paymentKey) with the latest applied PaymentState,
 *    the holdings it implies, and a write-ahead `pending` chain (see applyStates).
 *
 * Crash safety without transactions (applyStates, per consumer batch):
 *   1. read the state documents of the batch's keys (one find);
 *   2. intent: record on each document the chain of new revisions about to be applied (`pending`), conditional on
 *      the revision and pending revision just read (bulkWrite in chunks of STATE_WRITES_PER_CALL; a conflict means another consumer moved it);
 *   3. insert the entries of every transition, unordered, ignoring duplicate ids (one insertMany);
 *   4. finalize: set state + holdings to the chain's last revision and clear `pending`, conditional on the
 *      pending revision (bulkWrite, chunked likewise).
 * A crash after 2 leaves `pending`; the next batch touching the key, or completePending() at startup, recomputes
 * the same transitions from the same recorded state (same ids → no duplicates) and finalizes. Recording the chain
 * first matters because the revenue topic is compacted: the re-delivered batch may no longer contain the revision
 * whose entries were written, and computing from a later one would count the difference twice.
 */

export const LEDGER_ENTRIES = 'ledger_entries';
export const LEDGER_PAYMENT_STATES = 'ledger_payment_states';

/** A LedgerEntry as stored: `_id` = its id, Dates for range queries, and per-component amounts for `$sum`. */
export type LedgerEntryDoc = Omit<LedgerEntry, 'id' | 'occurredAt' | 'recordedAt'> & {
  _id: string;
  occurredAt: Date;
  recordedAt: Date;
  /** amountMinor when component is gross, else 0: lets $group use plain $sum. */
  grossMinor: number;
  /** −amountMinor when component is refunded, else 0. */
  refundedMinor: number;
};

export interface LedgerStateDoc {
  _id: string;
  websiteId: string;
  paymentKey: string;
  /** Revision of `state`; 0 until a first revision is finalized. */
  revision: number;
  state: PaymentState | null;
  holdings: Holding[];
  /** Revisions being applied (write-ahead), oldest first; null when none. */
  pending: PaymentState[] | null;
  pendingRevision: number | null;
  livemode: boolean | null;
  /** paidAt of `state` as a date (null until a first revision is finalized): orders the payments list. */
  paidAt: Date | null;
  recordedAt: Date;
}

export interface ApplyResult {
  /** Payments whose recorded state advanced. */
  paymentsAdvanced: number;
  /** Revisions that were stale or repeated (≤ what is recorded or pending) and changed nothing. */
  staleRevisions: number;
  /** Entries newly inserted (replayed ones that already existed are not counted). */
  entriesInserted: number;
  /** Entries that already existed (replays). */
  entriesAlreadyPresent: number;
}

/** Another writer changed a payment's record between our read and our write: retry the batch. */
export class LedgerConflictError extends RetryLaterError {
  readonly retryable = true;
  constructor(readonly conflicts: number) {
    super(`${conflicts} payment record(s) changed concurrently; retry the batch`);
    this.name = 'LedgerConflictError';
  }
}

export interface TimeRange {
  /** Inclusive lower bound on occurredAt. */
  from?: Date | undefined;
  /** Exclusive upper bound on occurredAt. */
  to?: Date | undefined;
}

export interface SummaryQuery extends TimeRange {
  websiteId: string;
  livemode: boolean;
}

export interface CurrencySummary {
  grossMinor: number;
  refundedMinor: number;
  netMinor: number;
  /** Distinct payments whose revenue (gross held) in the range is positive. */
  payments: number;
}

export interface Summary {
  currencies: Record<string, CurrencySummary>;
  /** Net per confidence per currency; every confidence and every currency of `currencies` is present. */
  byConfidence: Record<Confidence, Record<string, number>>;
}

export const revenueGroupings = ['day', 'channel', 'source', 'confidence'] as const;
export type RevenueGrouping = (typeof revenueGroupings)[number];

export interface RevenueQuery extends TimeRange {
  websiteId: string;
  livemode: boolean;
  groupBy: RevenueGrouping;
  limit: number;
  /** Resume after this (key, currency), from a previous page's nextCursor. */
  after?: { key: string; currency: string } | undefined;
}

export interface RevenueRow {
  key: string;
  currency: string;
  grossMinor: number;
  refundedMinor: number;
  netMinor: number;
}

export interface RevenuePage {
  rows: RevenueRow[];
  /** Position of the last row when more rows follow, else null. */
  next: { key: string; currency: string } | null;
}

export interface PaymentsQuery {
  websiteId: string;
  livemode: boolean;
  limit: number;
  /** Resume after this position, from a previous page's `next`. */
  after?: PaymentsPosition | undefined;
}

/** Keyset position in the payments list: the last payment's paidAt and document id. */
export interface PaymentsPosition {
  paidAt: Date;
  id: string;
}

export interface PaymentsPage {
  /** Latest recorded states, newest paidAt first (ties: document id, descending). */
  payments: PaymentState[];
  /** Position of the last payment when more follow, else null. */
  next: PaymentsPosition | null;
}

export interface PaymentExplanation {
  state: PaymentState;
  entries: LedgerEntry[];
}

export interface LedgerStore {
  readonly entries: Collection<LedgerEntryDoc>;
  readonly states: Collection<LedgerStateDoc>;
  ensureIndexes(): Promise<void>;
  /** Applies a consumer batch of PaymentStates (any order, duplicates, several revisions per key). Idempotent. */
  applyStates(states: readonly PaymentState[], now?: Date): Promise<ApplyResult>;
  /** Finishes transitions a crash left pending (call at startup); returns how many payments it finalized. */
  completePending(limit?: number, now?: Date): Promise<number>;
  getPayment(websiteId: string, paymentKey: string): Promise<PaymentExplanation | null>;
  summary(query: SummaryQuery): Promise<Summary>;
  revenue(query: RevenueQuery): Promise<RevenuePage>;
  /** Entry sums per (payment, currency, livemode, attribution), for reconciliation. */
  ledgerTotals(filter: { websiteId?: string; paymentKeys?: readonly string[] }): Promise<LedgerGroupTotals[]>;
  /** Compares entries with the given states (e.g. read from the compacted topic); only their keys are checked. */
  reconcileStates(states: readonly PaymentState[]): Promise<ReconciliationReport>;
  /** Compares entries with the recorded states of a website (every key with entries or a recorded state). */
  reconcileRecorded(websiteId: string): Promise<ReconciliationReport & { pendingPayments: number }>;
  /** Latest recorded states of a website in one mode, newest paidAt first, keyset-paginated. */
  listPayments(query: PaymentsQuery): Promise<PaymentsPage>;
  ping(): Promise<void>;
}

export interface LedgerStoreOptions {
  entriesCollection?: string;
  statesCollection?: string;
}

/** Stable `_id` of a payment's state document (hash: websiteIds and payment keys may both contain ':'). */
export function paymentDocId(websiteId: string, paymentKey: string): string {
  return createHash('sha256').update(JSON.stringify([websiteId, paymentKey])).digest('base64url');
}

export function toEntryDoc(e: LedgerEntry): LedgerEntryDoc {
  const { id, occurredAt, recordedAt, ...rest } = e;
  return {
    _id: id,
    ...rest,
    grossMinor: e.component === 'gross' ? e.amountMinor : 0,
    refundedMinor: e.component === 'refunded' ? -e.amountMinor : 0,
    occurredAt: new Date(occurredAt),
    recordedAt: new Date(recordedAt),
  };
}

export function fromEntryDoc(d: LedgerEntryDoc): LedgerEntry {
  return {
    id: d._id,
    websiteId: d.websiteId,
    paymentKey: d.paymentKey,
    revision: d.revision,
    fromRevision: d.fromRevision,
    seq: d.seq,
    kind: d.kind,
    leg: d.leg,
    component: d.component,
    currency: d.currency,
    amountMinor: d.amountMinor,
    livemode: d.livemode,
    occurredAt: d.occurredAt.toISOString(),
    occurredDay: d.occurredDay,
    recordedAt: d.recordedAt.toISOString(),
    attribution: d.attribution,
    attributionKey: d.attributionKey,
    eventIds: d.eventIds,
    rule: d.rule,
    explanation: d.explanation,
  };
}

const DUPLICATE_KEY = 11000;

/**
 * Update statements per bulkWrite call. FerretDB v1.24 (SQLite) hangs on an `update` command carrying 100 or
 * more statements (99 still answers); MongoDB has no such limit, but small chunks cost it little.
 */
export const STATE_WRITES_PER_CALL = 50;

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * createIndexes, one index per command, skipping the ones that exist. FerretDB v1.24 drops the connection
 * (a panic: "slice bounds out of range") when one createIndexes command names two or more indexes that already
 * exist, i.e. on every restart of an app against an existing database; one index per command works.
 */
async function createIndexesOneByOne<T extends Document>(collection: Collection<T>, specs: IndexDescription[]): Promise<void> {
  const existing = new Set<string>();
  try {
    for (const index of await collection.listIndexes().toArray()) existing.add(String(index.name));
  } catch (err) {
    // A collection that does not exist yet has no indexes (NamespaceNotFound).
    if ((err as { code?: number }).code !== 26) throw err;
  }
  for (const spec of specs) {
    if (spec.name && existing.has(spec.name)) continue;
    await collection.createIndexes([spec]);
  }
}

interface WriteErrorLike {
  code?: number;
}

/** insertMany(ordered:false) that treats duplicate ids as "already there"; any other error is thrown. */
async function insertIgnoringDuplicates(collection: Collection<LedgerEntryDoc>, docs: LedgerEntryDoc[]): Promise<{ inserted: number; duplicates: number }> {
  if (docs.length === 0) return { inserted: 0, duplicates: 0 };
  try {
    const r = await collection.insertMany(docs, { ordered: false });
    return { inserted: r.insertedCount, duplicates: 0 };
  } catch (err) {
    const writeErrors = duplicateOnlyWriteErrors(err);
    if (writeErrors === null) throw err;
    return { inserted: docs.length - writeErrors, duplicates: writeErrors };
  }
}

/** Number of write errors when all of them are duplicate-key errors (and nothing else failed), else null. */
function duplicateOnlyWriteErrors(err: unknown): number | null {
  if (typeof err !== 'object' || err === null) return null;
  const e = err as { writeErrors?: WriteErrorLike | WriteErrorLike[]; writeConcernError?: unknown; errorResponse?: { writeConcernError?: unknown } };
  if (e.writeConcernError || e.errorResponse?.writeConcernError) return null;
  if (e.writeErrors === undefined) return null;
  const list = Array.isArray(e.writeErrors) ? e.writeErrors : [e.writeErrors];
  if (list.length === 0 || !list.every((w) => w.code === DUPLICATE_KEY)) return null;
  return list.length;
}

interface IncomingKey {
  websiteId: string;
  paymentKey: string;
  /** Sorted by revision, one per revision. */
  states: PaymentState[];
}

function groupIncoming(states: readonly PaymentState[]): Map<string, IncomingKey> {
  const byKey = new Map<string, IncomingKey>();
  for (const s of states) {
    const id = paymentDocId(s.websiteId, s.paymentKey);
    const k = byKey.get(id) ?? { websiteId: s.websiteId, paymentKey: s.paymentKey, states: [] };
    // One state per revision: a producer republishing a revision sends the same content.
    if (!k.states.some((x) => x.revision === s.revision)) k.states.push(s);
    byKey.set(id, k);
  }
  for (const k of byKey.values()) k.states.sort((a, b) => a.revision - b.revision);
  return byKey;
}

function rangeFilter(range: TimeRange): Document | undefined {
  if (!range.from && !range.to) return undefined;
  const f: Document = {};
  if (range.from) f.$gte = range.from;
  if (range.to) f.$lt = range.to;
  return f;
}

const groupField: Record<RevenueGrouping, string> = {
  day: '$occurredDay',
  channel: '$attribution.channel',
  source: '$attribution.sourceName',
  confidence: '$attribution.confidence',
};

export function createLedgerStore(db: Db, options: LedgerStoreOptions = {}): LedgerStore {
  const entries = db.collection<LedgerEntryDoc>(options.entriesCollection ?? LEDGER_ENTRIES);
  const states = db.collection<LedgerStateDoc>(options.statesCollection ?? LEDGER_PAYMENT_STATES);

  async function ensureIndexes(): Promise<void> {
    await createIndexesOneByOne(entries, [
      // summary / revenue: one website, one mode, a money-time range
      { key: { websiteId: 1, livemode: 1, occurredAt: 1 }, name: 'website_mode_occurredAt' },
      // explain trail and reconciliation of one payment
      { key: { websiteId: 1, paymentKey: 1, revision: 1, seq: 1 }, name: 'website_payment_revision_seq' },
    ]);
    await createIndexesOneByOne(states, [
      { key: { websiteId: 1, paymentKey: 1 }, name: 'website_payment_unique', unique: true },
      { key: { pendingRevision: 1 }, name: 'pendingRevision' },
      // payments list: one website, one mode, newest money first (keyset on paidAt, _id)
      { key: { websiteId: 1, livemode: 1, paidAt: -1, _id: -1 }, name: 'website_mode_paidAt' },
    ]);
  }

  /** Steps 2–4 of the protocol for the given keys, their incoming states and their current documents. */
  async function settle(incoming: Map<string, IncomingKey>, docs: Map<string, LedgerStateDoc>, now: Date): Promise<ApplyResult> {
    const nowIso = now.toISOString();
    const result: ApplyResult = { paymentsAdvanced: 0, staleRevisions: 0, entriesInserted: 0, entriesAlreadyPresent: 0 };
    const intents: AnyBulkWriteOperation<LedgerStateDoc>[] = [];
    let expectedInserts = 0;
    let expectedMatches = 0;
    const finals: AnyBulkWriteOperation<LedgerStateDoc>[] = [];
    const newEntries: LedgerEntryDoc[] = [];

    for (const [id, key] of incoming) {
      const doc = docs.get(id) ?? null;
      const recorded: RecordedPayment | null = doc?.state ? { state: doc.state, holdings: doc.holdings } : null;
      const pending = doc?.pending ?? [];
      const highWater = Math.max(doc?.revision ?? 0, doc?.pendingRevision ?? 0);
      const fresh = key.states.filter((s) => s.revision > highWater);
      result.staleRevisions += key.states.length - fresh.length;
      const chain = [...pending, ...fresh];
      if (chain.length === 0) continue;
      const transition = computeLedgerChain(recorded, chain, nowIso);
      if (!transition) continue;
      const last = transition.recorded.state;
      if (fresh.length > 0) {
        if (doc) {
          expectedMatches += 1;
          intents.push({
            updateOne: {
              filter: { _id: id, revision: doc.revision, pendingRevision: doc.pendingRevision ?? null },
              update: { $set: { pending: chain, pendingRevision: last.revision } },
            },
          });
        } else {
          expectedInserts += 1;
          intents.push({
            insertOne: {
              document: {
                _id: id,
                websiteId: key.websiteId,
                paymentKey: key.paymentKey,
                revision: 0,
                state: null,
                holdings: [],
                pending: chain,
                pendingRevision: last.revision,
                livemode: null,
                paidAt: null,
                recordedAt: now,
              },
            },
          });
        }
      }
      newEntries.push(...transition.entries.map(toEntryDoc));
      finals.push({
        updateOne: {
          filter: { _id: id, pendingRevision: last.revision },
          update: {
            $set: {
              revision: last.revision,
              state: last,
              holdings: transition.recorded.holdings,
              pending: null,
              pendingRevision: null,
              livemode: last.livemode,
              paidAt: new Date(last.paidAt),
              recordedAt: now,
            },
          },
        },
      });
      result.paymentsAdvanced += 1;
    }

    if (intents.length > 0) {
      let matched = 0;
      let insertedDocs = 0;
      let duplicates = 0;
      for (const part of chunk(intents, STATE_WRITES_PER_CALL)) {
        try {
          const r = await states.bulkWrite(part, { ordered: false });
          matched += r.matchedCount;
          insertedDocs += r.insertedCount;
        } catch (err) {
          const dup = duplicateOnlyWriteErrors(err);
          if (dup === null) throw err;
          const r = (err as { result?: { matchedCount?: number; insertedCount?: number } }).result;
          duplicates += dup;
          matched += r?.matchedCount ?? 0;
          insertedDocs += r?.insertedCount ?? 0;
        }
      }
      const conflicts = expectedMatches - matched + (expectedInserts - insertedDocs);
      // Intents that did land stay pending and are completed by the retry (or completePending).
      if (conflicts > 0 || duplicates > 0) throw new LedgerConflictError(Math.max(conflicts, duplicates));
    }
    const inserted = await insertIgnoringDuplicates(entries, newEntries);
    result.entriesInserted = inserted.inserted;
    result.entriesAlreadyPresent = inserted.duplicates;
    for (const part of chunk(finals, STATE_WRITES_PER_CALL)) await states.bulkWrite(part, { ordered: false });
    return result;
  }

  async function applyStates(batch: readonly PaymentState[], now: Date = new Date()): Promise<ApplyResult> {
    const incoming = groupIncoming(batch);
    if (incoming.size === 0) return { paymentsAdvanced: 0, staleRevisions: 0, entriesInserted: 0, entriesAlreadyPresent: 0 };
    const found = await states.find({ _id: { $in: [...incoming.keys()] } }).toArray();
    return settle(incoming, new Map(found.map((d) => [d._id, d])), now);
  }

  async function completePending(limit = 500, now: Date = new Date()): Promise<number> {
    const found = await states.find({ pendingRevision: { $gt: 0 } }).limit(limit).toArray();
    if (found.length === 0) return 0;
    const incoming = new Map(found.map((d) => [d._id, { websiteId: d.websiteId, paymentKey: d.paymentKey, states: [] as PaymentState[] }]));
    const r = await settle(incoming, new Map(found.map((d) => [d._id, d])), now);
    return r.paymentsAdvanced;
  }

  async function getPayment(websiteId: string, paymentKey: string): Promise<PaymentExplanation | null> {
    const doc = await states.findOne({ _id: paymentDocId(websiteId, paymentKey) });
    if (!doc?.state) return null;
    const docs = await entries.find({ websiteId, paymentKey }).sort({ revision: 1, seq: 1 }).toArray();
    return { state: doc.state, entries: docs.map(fromEntryDoc) };
  }

  function baseMatch(q: SummaryQuery): Document {
    const match: Document = { websiteId: q.websiteId, livemode: q.livemode };
    const range = rangeFilter(q);
    if (range) match.occurredAt = range;
    return match;
  }

  async function summary(q: SummaryQuery): Promise<Summary> {
    const match = baseMatch(q);
    const [byCurrencyConfidence, paymentCounts] = await Promise.all([
      entries
        .aggregate<{ _id: { currency: string; confidence: Confidence }; gross: number; refunded: number; net: number }>([
          { $match: match },
          {
            $group: {
              _id: { currency: '$currency', confidence: '$attribution.confidence' },
              gross: { $sum: '$grossMinor' },
              refunded: { $sum: '$refundedMinor' },
              net: { $sum: '$amountMinor' },
            },
          },
        ])
        .toArray(),
      // A payment counts in a range when the revenue it holds there is positive (a merged one nets to zero).
      entries
        .aggregate<{ _id: string; payments: number }>([
          { $match: { ...match, component: 'gross' } },
          { $group: { _id: { currency: '$currency', paymentKey: '$paymentKey' }, gross: { $sum: '$amountMinor' } } },
          { $match: { gross: { $gt: 0 } } },
          { $group: { _id: '$_id.currency', payments: { $sum: 1 } } },
        ])
        .toArray(),
    ]);
    const currencies: Record<string, CurrencySummary> = {};
    const byConfidence = Object.fromEntries(confidences.map((c) => [c, {} as Record<string, number>])) as Record<Confidence, Record<string, number>>;
    for (const row of byCurrencyConfidence) {
      const cur = (currencies[row._id.currency] ??= { grossMinor: 0, refundedMinor: 0, netMinor: 0, payments: 0 });
      cur.grossMinor += row.gross;
      cur.refundedMinor += row.refunded;
      cur.netMinor += row.net;
      const conf = byConfidence[row._id.confidence];
      if (conf) conf[row._id.currency] = (conf[row._id.currency] ?? 0) + row.net;
    }
    for (const row of paymentCounts) {
      const cur = currencies[row._id];
      if (cur) cur.payments = row.payments;
    }
    // Regular shape: every confidence lists every currency.
    const currencyCodes = Object.keys(currencies).sort();
    for (const c of confidences) {
      const sorted: Record<string, number> = {};
      for (const code of currencyCodes) sorted[code] = byConfidence[c][code] ?? 0;
      byConfidence[c] = sorted;
    }
    const sortedCurrencies: Record<string, CurrencySummary> = {};
    for (const code of currencyCodes) sortedCurrencies[code] = currencies[code]!;
    return { currencies: sortedCurrencies, byConfidence };
  }

  async function revenue(q: RevenueQuery): Promise<RevenuePage> {
    const pipeline: Document[] = [
      { $match: baseMatch(q) },
      {
        $group: {
          _id: { key: groupField[q.groupBy], currency: '$currency' },
          gross: { $sum: '$grossMinor' },
          refunded: { $sum: '$refundedMinor' },
          net: { $sum: '$amountMinor' },
        },
      },
      // Groups where everything cancels (e.g. the old attribution after an upgrade) are not rows.
      { $match: { $or: [{ gross: { $ne: 0 } }, { refunded: { $ne: 0 } }, { net: { $ne: 0 } }] } },
    ];
    if (q.after) {
      pipeline.push({
        $match: { $or: [{ '_id.key': { $gt: q.after.key } }, { '_id.key': q.after.key, '_id.currency': { $gt: q.after.currency } }] },
      });
    }
    pipeline.push({ $sort: { '_id.key': 1, '_id.currency': 1 } }, { $limit: q.limit + 1 });
    const docs = await entries.aggregate<{ _id: { key: string; currency: string }; gross: number; refunded: number; net: number }>(pipeline).toArray();
    const rows = docs.slice(0, q.limit).map((d) => ({
      key: String(d._id.key),
      currency: d._id.currency,
      grossMinor: d.gross,
      refundedMinor: d.refunded,
      netMinor: d.net,
    }));
    const lastRow = rows[rows.length - 1];
    return { rows, next: docs.length > q.limit && lastRow ? { key: lastRow.key, currency: lastRow.currency } : null };
  }

  async function ledgerTotals(filter: { websiteId?: string; paymentKeys?: readonly string[] }): Promise<LedgerGroupTotals[]> {
    const match: Document = {};
    if (filter.websiteId !== undefined) match.websiteId = filter.websiteId;
    if (filter.paymentKeys !== undefined) match.paymentKey = { $in: [...filter.paymentKeys] };
    const docs = await entries
      .aggregate<{
        _id: { websiteId: string; paymentKey: string; currency: string; livemode: boolean; attributionKey: string };
        gross: number;
        refunded: number;
        net: number;
      }>([
        { $match: match },
        {
          $group: {
            _id: { websiteId: '$websiteId', paymentKey: '$paymentKey', currency: '$currency', livemode: '$livemode', attributionKey: '$attributionKey' },
            gross: { $sum: '$grossMinor' },
            refunded: { $sum: '$refundedMinor' },
            net: { $sum: '$amountMinor' },
          },
        },
      ])
      .toArray();
    return docs.map((d) => ({ ...d._id, grossMinor: d.gross, refundedMinor: d.refunded, netMinor: d.net }));
  }

  async function reconcileStates(given: readonly PaymentState[]): Promise<ReconciliationReport> {
    const byWebsite = new Map<string, string[]>();
    for (const s of given) byWebsite.set(s.websiteId, [...(byWebsite.get(s.websiteId) ?? []), s.paymentKey]);
    const groups: LedgerGroupTotals[] = [];
    for (const [websiteId, paymentKeys] of byWebsite) groups.push(...(await ledgerTotals({ websiteId, paymentKeys })));
    return reconcilePayments(given, groups, { reportEntriesWithoutState: false });
  }

  async function reconcileRecorded(websiteId: string): Promise<ReconciliationReport & { pendingPayments: number }> {
    const [docs, groups] = await Promise.all([states.find({ websiteId }).toArray(), ledgerTotals({ websiteId })]);
    // A payment mid-transition (pending) may have entries ahead of its recorded state: not compared until settled.
    const pendingKeys = new Set(docs.filter((d) => d.pendingRevision !== null && d.pendingRevision !== undefined).map((d) => d.paymentKey));
    const settled = docs.filter((d) => !pendingKeys.has(d.paymentKey) && d.state).map((d) => d.state!);
    const report = reconcilePayments(
      settled,
      groups.filter((g) => !pendingKeys.has(g.paymentKey)),
    );
    return { ...report, pendingPayments: pendingKeys.size };
  }

  async function listPayments(q: PaymentsQuery): Promise<PaymentsPage> {
    // livemode is null on a document whose first revision is still pending, so those never match.
    const filter: Document = { websiteId: q.websiteId, livemode: q.livemode, state: { $ne: null } };
    if (q.after) filter.$or = [{ paidAt: { $lt: q.after.paidAt } }, { paidAt: q.after.paidAt, _id: { $lt: q.after.id } }];
    const docs = await states
      .find(filter, { projection: { state: 1, paidAt: 1 } })
      .sort({ paidAt: -1, _id: -1 })
      .limit(q.limit + 1)
      .toArray();
    const page = docs.slice(0, q.limit).filter((d) => d.state && d.paidAt);
    const last = page[page.length - 1];
    return {
      payments: page.map((d) => d.state!),
      next: docs.length > q.limit && last ? { paidAt: last.paidAt!, id: last._id } : null,
    };
  }

  async function ping(): Promise<void> {
    await db.command({ ping: 1 });
  }

  return { entries, states, ensureIndexes, applyStates, completePending, getPayment, summary, revenue, ledgerTotals, reconcileStates, reconcileRecorded, listPayments, ping };
}
