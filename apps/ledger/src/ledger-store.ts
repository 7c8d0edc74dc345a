import { createHash } from 'node:crypto';
import type { AnyBulkWriteOperation, Collection, Db, Document, IndexDescription } from 'mongodb';
import { confidences, type Confidence, type PaymentState } from '@metrivo/contracts';
import { RetryLaterError } from '@metrivo/kafka';
import { computeLedgerSteps, type Holding, type LedgerEntry, type RecordedPayment } from './ledger-entries';
import {
  addContribution,
  emptyRollup,
  expiredMarkers,
  periodsToRead,
  periodsOf,
  planRange,
  pruneMarkers,
  rollupContribution,
  rollupId,
  RollupFolder,
  sameFigures,
  touchedRollups,
  type PaymentSteps,
  type RangePlan,
  type Rollup,
  type RollupEntryFields,
  type RollupKey,
} from './ledger-rollups';
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
 *   3½. rollups: add the transitions to the (website, mode, day / month) rollup documents they touch, by
 *      read-modify-write with a version check; a per-payment marker in each rollup makes this idempotent
 *      (see ledger-rollups.ts and applyRollups below);
 *   4. finalize: set state + holdings to the chain's last revision and clear `pending`, conditional on the
 *      pending revision (bulkWrite, chunked likewise).
 * A crash after 2 leaves `pending`; the next batch touching the key, or completePending() at startup, recomputes
 * the same transitions from the same recorded state (same ids → no duplicates; rollup markers → nothing added
 * twice) and finalizes. Recording the chain
 * first matters because the revenue topic is compacted: the re-delivered batch may no longer contain the revision
 * whose entries were written, and computing from a later one would count the difference twice.
 */

export const LEDGER_ENTRIES = 'ledger_entries';
export const LEDGER_PAYMENT_STATES = 'ledger_payment_states';
export const LEDGER_ROLLUPS = 'ledger_rollups';
export const LEDGER_ROLLUP_DAYS = 'ledger_rollup_days';

/** A day or month rollup as stored: `version` changes on every write (compare-and-set). */
export type RollupDoc = Rollup & { _id: string; version: number };

/** Per (website, mode): the days that have a rollup document, so an open-ended range knows which to read. */
export interface RollupDaysDoc {
  _id: string;
  websiteId: string;
  livemode: boolean;
  days: string[];
}

/** `_id` of the rollup-days document that says the rollups were built from the entries (see ensureRollups). */
const ROLLUPS_READY_ID = '_rollups_ready';

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
  /** Ids of the entries of every finalized transition (absent on documents written before it existed). */
  entryIds?: string[];
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
  /** Daily rollup documents written (created or updated). */
  rollupsWritten: number;
  /** Rollup writes that lost a compare-and-set race and were redone. */
  rollupConflicts: number;
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
  readonly rollups: Collection<RollupDoc>;
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
  /**
   * Compares entries with the recorded states of a website (every key with entries or a recorded state), and the
   * website's day and month rollups with its entries.
   */
  reconcileRecorded(websiteId: string): Promise<ReconciliationReport & { pendingPayments: number; rollups: RollupCheck }>;
  /** Builds the rollups from the entries once (a database written before rollups existed); idempotent. */
  ensureRollups(): Promise<{ built: boolean; rollups: number; ms: number }>;
  /**
   * Recomputes the rollups from the entries (all websites, or one) and replaces the stored ones. Run it with
   * the ledger consumers stopped: a transition applied meanwhile could be overwritten.
   */
  rebuildRollups(filter?: { websiteId?: string }): Promise<{ rollups: number; entries: number; ms: number }>;
  /** Compares a website's rollups with its entries (periods a payment mid-transition touches are skipped). */
  checkRollups(websiteId: string): Promise<RollupCheck>;
  /** Latest recorded states of a website in one mode, newest paidAt first, keyset-paginated. */
  listPayments(query: PaymentsQuery): Promise<PaymentsPage>;
  ping(): Promise<void>;
}

export interface RollupCheck {
  ok: boolean;
  /** Rollups (mode × day or month) compared. */
  checked: number;
  /** Rollups that do not equal the sum of their entries (missing ones included). */
  mismatched: { livemode: boolean; period: string }[];
  /** Rollups that the website's day list does not name (an open-ended query would miss them). */
  unlisted: { livemode: boolean; period: string }[];
  /** Rollups not compared because a payment mid-transition touches them. */
  skipped: number;
}

export interface LedgerStoreOptions {
  entriesCollection?: string;
  statesCollection?: string;
  /** Default: ledger_rollups, or `${entriesCollection}_rollups` when entriesCollection is given. */
  rollupsCollection?: string;
  /** Default: ledger_rollup_days, or `${entriesCollection}_rollup_days`. */
  rollupDaysCollection?: string;
  /**
   * Age after which a rollup marker is dropped even if this process did not finalize its payment (a marker left
   * by a crashed writer), unless the payment is still pending. A writer stalled longer than this between its read
   * and its rollup write could add a transition twice; checkRollups would report the period. Default 15 minutes.
   */
  rollupMarkerTtlMs?: number;
}

/** Rollup documents per read-modify-write round (find + bulkWrite). */
const ROLLUP_WRITES_PER_CALL = 50;
/** Compare-and-set rounds for the rollups of one batch before the batch is retried as a whole. */
const ROLLUP_ATTEMPTS = 5;
/** Payments remembered as finalized by this process, for dropping their rollup markers on the next write. */
const FINALIZED_MEMORY = 20_000;

/** Stable `_id` of a payment's state document (hash: websiteIds and payment keys may both contain ':'). */
export function paymentDocId(websiteId: string, paymentKey: string): string {
  return createHash('sha256').update(JSON.stringify([websiteId, paymentKey])).digest('base64url');
}

export function rollupDaysId(websiteId: string, livemode: boolean): string {
  return createHash('sha256').update(JSON.stringify(['days', websiteId, livemode])).digest('base64url');
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

export function emptyApplyResult(): ApplyResult {
  return { paymentsAdvanced: 0, staleRevisions: 0, entriesInserted: 0, entriesAlreadyPresent: 0, rollupsWritten: 0, rollupConflicts: 0 };
}

/** Adds one batch's result to running totals (mutates `into`). */
export function addApplyResult(into: ApplyResult, r: ApplyResult): void {
  for (const k of Object.keys(r) as (keyof ApplyResult)[]) into[k] += r[k];
}

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

/** Sums of one (currency, confidence): a rollup cell or an aggregation row of entries. */
export interface SummaryRow {
  currency: string;
  confidence: Confidence;
  grossMinor: number;
  refundedMinor: number;
  netMinor: number;
}

/** The summary from sums per (currency, confidence) and payment counts per currency. */
export function summaryFromRows(rows: readonly SummaryRow[], payments: Record<string, number>): Summary {
  const currencies: Record<string, CurrencySummary> = {};
  const byConfidence = Object.fromEntries(confidences.map((c) => [c, {} as Record<string, number>])) as Record<Confidence, Record<string, number>>;
  for (const row of rows) {
    const cur = (currencies[row.currency] ??= { grossMinor: 0, refundedMinor: 0, netMinor: 0, payments: 0 });
    cur.grossMinor += row.grossMinor;
    cur.refundedMinor += row.refundedMinor;
    cur.netMinor += row.netMinor;
    const conf = byConfidence[row.confidence];
    if (conf) conf[row.currency] = (conf[row.currency] ?? 0) + row.netMinor;
  }
  for (const [currency, n] of Object.entries(payments)) {
    const cur = currencies[currency];
    if (cur) cur.payments = n;
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

/** One page of revenue rows: groups whose amounts all cancel are left out; ordered by (key, currency). */
export function revenuePageFromGroups(groups: readonly RevenueRow[], q: Pick<RevenueQuery, 'limit' | 'after'>): RevenuePage {
  const byPosition = (a: { key: string; currency: string }, b: { key: string; currency: string }): number =>
    a.key < b.key ? -1 : a.key > b.key ? 1 : a.currency < b.currency ? -1 : a.currency > b.currency ? 1 : 0;
  const after = q.after;
  const rows = groups
    .filter((g) => g.grossMinor !== 0 || g.refundedMinor !== 0 || g.netMinor !== 0)
    .filter((g) => !after || byPosition(g, after) > 0)
    .sort(byPosition);
  const page = rows.slice(0, q.limit).map((g) => ({ ...g }));
  const lastRow = page[page.length - 1];
  return { rows: page, next: rows.length > q.limit && lastRow ? { key: lastRow.key, currency: lastRow.currency } : null };
}

export function createLedgerStore(db: Db, options: LedgerStoreOptions = {}): LedgerStore {
  const entries = db.collection<LedgerEntryDoc>(options.entriesCollection ?? LEDGER_ENTRIES);
  const states = db.collection<LedgerStateDoc>(options.statesCollection ?? LEDGER_PAYMENT_STATES);
  const rollups = db.collection<RollupDoc>(options.rollupsCollection ?? (options.entriesCollection ? `${options.entriesCollection}_rollups` : LEDGER_ROLLUPS));
  const rollupDays = db.collection<RollupDaysDoc>(
    options.rollupDaysCollection ?? (options.entriesCollection ? `${options.entriesCollection}_rollup_days` : LEDGER_ROLLUP_DAYS),
  );
  const markerTtlMs = options.rollupMarkerTtlMs ?? 15 * 60_000;
  /** paymentDocId → revision this process finalized: their rollup markers can go on the next write. */
  const finalized = new Map<string, number>();
  /** rollup id → the version this process last wrote and when (performance.now()). */
  const lastWrites = new Map<string, { version: number; at: number }>();
  const rememberWrite = (id: string, version: number, at: number): void => {
    lastWrites.delete(id);
    lastWrites.set(id, { version, at });
    if (lastWrites.size > FINALIZED_MEMORY) lastWrites.delete(lastWrites.keys().next().value!);
  };
  const rememberFinalized = (pid: string, revision: number): void => {
    finalized.delete(pid);
    finalized.set(pid, revision);
    if (finalized.size > FINALIZED_MEMORY) finalized.delete(finalized.keys().next().value!);
  };

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
  /** `readAt`: performance.now() just before `docs` were read (see applyRollups). */
  async function settle(incoming: Map<string, IncomingKey>, docs: Map<string, LedgerStateDoc>, now: Date, readAt: number): Promise<ApplyResult> {
    const nowIso = now.toISOString();
    const result: ApplyResult = emptyApplyResult();
    const intents: AnyBulkWriteOperation<LedgerStateDoc>[] = [];
    let expectedInserts = 0;
    let expectedMatches = 0;
    const finals: AnyBulkWriteOperation<LedgerStateDoc>[] = [];
    /** Per finalize statement: the payment and the revision it finalizes (same order as `finals`). */
    const finalizing: { pid: string; revision: number }[] = [];
    const newEntries: LedgerEntryDoc[] = [];
    const transitions: PaymentSteps[] = [];

    for (const [id, key] of incoming) {
      const doc = docs.get(id) ?? null;
      const recorded: RecordedPayment | null = doc?.state ? { state: doc.state, holdings: doc.holdings } : null;
      const pending = doc?.pending ?? [];
      const highWater = Math.max(doc?.revision ?? 0, doc?.pendingRevision ?? 0);
      const fresh = key.states.filter((s) => s.revision > highWater);
      result.staleRevisions += key.states.length - fresh.length;
      const chain = [...pending, ...fresh];
      if (chain.length === 0) continue;
      const steps = computeLedgerSteps(recorded, chain, nowIso);
      const lastStep = steps[steps.length - 1];
      if (!lastStep) continue;
      const transition = { entries: steps.flatMap((step) => step.entries), recorded: lastStep.after };
      transitions.push({ paymentDocId: id, before: recorded, steps });
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
            // The explain trail reads entries by _id (FerretDB uses no secondary index for a query by paymentKey).
            $addToSet: { entryIds: { $each: transition.entries.map((e) => e.id) } },
          },
        },
      });
      finalizing.push({ pid: id, revision: last.revision });
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
    const rolled = await applyRollups(transitions, now, readAt);
    result.rollupsWritten = rolled.written;
    result.rollupConflicts = rolled.conflicts;
    for (let i = 0; i < finals.length; i += STATE_WRITES_PER_CALL) {
      const r = await states.bulkWrite(finals.slice(i, i + STATE_WRITES_PER_CALL), { ordered: false });
      // Only when every statement of the chunk matched do we know which payments are final (markers can go).
      const part = finalizing.slice(i, i + STATE_WRITES_PER_CALL);
      if (r.matchedCount === part.length) for (const f of part) rememberFinalized(f.pid, f.revision);
    }
    return result;
  }

  /**
   * Step 3½: adds the payments' transitions to the day and month rollups they touch. Per round: read the rollups, add to
   * each what its markers say is missing, write back conditional on the version read (new ones: insert). Writes
   * that lost a race are redone from a fresh read; the markers make a redone or repeated write add nothing twice.
   */
  async function applyRollups(transitions: readonly PaymentSteps[], now: Date, readAt: number): Promise<{ written: number; conflicts: number }> {
    const byRollup = new Map<string, { key: RollupKey; payments: PaymentSteps[] }>();
    for (const p of transitions) {
      for (const key of touchedRollups(p)) {
        const id = rollupId(key);
        const slot = byRollup.get(id) ?? { key, payments: [] };
        slot.payments.push(p);
        byRollup.set(id, slot);
      }
    }
    let written = 0;
    let conflicts = 0;
    let todo = [...byRollup.keys()];
    for (let attempt = 0; attempt < ROLLUP_ATTEMPTS && todo.length > 0; attempt += 1) {
      const lost: string[] = [];
      for (const ids of chunk(todo, ROLLUP_WRITES_PER_CALL)) {
        const found = new Map((await rollups.find({ _id: { $in: ids } }).toArray()).map((d) => [d._id, d]));
        const ops: AnyBulkWriteOperation<RollupDoc>[] = [];
        /** [rollup id, version written] per op, remembered when every op lands. */
        const versions: [string, number][] = [];
        const created: RollupKey[] = [];
        const nowMs = now.getTime();
        // Old markers of payments whose transition is still pending must stay (rare: a crash's leftovers).
        const expired = [...new Set([...found.values()].flatMap((d) => expiredMarkers({ ...d, applied: d.applied ?? {} }, nowMs, markerTtlMs, finalized)))];
        const stillPending = new Set(
          expired.length === 0
            ? []
            : (await states.find({ _id: { $in: expired }, pendingRevision: { $gt: 0 } }, { projection: { _id: 1 } }).toArray()).map((d) => d._id),
        );
        // A payment without a marker in a rollup it touches: either nothing of its chain is in there yet, or a
        // writer that finished the same chain (finalized, then dropped its marker) got there first, e.g. the
        // pending sweep or another instance recovering the same intent. Markers are dropped only after the
        // finalize, so the payment's record read now (after the rollups) tells which. Not needed for a rollup
        // that does not exist yet, nor for one nobody has written since this process wrote it before reading
        // the payments: a marker dropped before that read belongs to a payment that was final at the read.
        const unmarked = new Set<string>();
        for (const id of ids) {
          const doc = found.get(id);
          if (!doc) continue;
          const mine = lastWrites.get(id);
          if (mine && mine.version === doc.version && mine.at < readAt) continue;
          for (const p of byRollup.get(id)!.payments) if ((doc.applied ?? {})[p.paymentDocId] === undefined) unmarked.add(p.paymentDocId);
        }
        const finishedElsewhere = await transitionsFinishedElsewhere(transitions.filter((p) => unmarked.has(p.paymentDocId)));
        for (const id of ids) {
          const { key, payments } = byRollup.get(id)!;
          const doc = found.get(id);
          const rollup: Rollup = doc ? { websiteId: doc.websiteId, livemode: doc.livemode, period: doc.period, cells: doc.cells, payments: doc.payments, applied: doc.applied ?? {} } : emptyRollup(key);
          let changed = false;
          for (const p of payments) {
            if (finishedElsewhere.has(p.paymentDocId) && rollup.applied[p.paymentDocId] === undefined) continue;
            const c = rollupContribution(p, key, rollup.applied[p.paymentDocId]?.revision);
            if (!c) continue;
            addContribution(rollup, p.paymentDocId, c, nowMs);
            changed = true;
          }
          if (!changed) continue;
          pruneMarkers(rollup, nowMs, markerTtlMs, finalized, stillPending);
          if (doc) {
            ops.push({ replaceOne: { filter: { _id: id, version: doc.version }, replacement: { ...rollup, version: doc.version + 1 } } });
            versions.push([id, doc.version + 1]);
          } else {
            ops.push({ insertOne: { document: { ...rollup, _id: id, version: 1 } } });
            versions.push([id, 1]);
            if (key.period.length === 10) created.push(key);
          }
        }
        if (ops.length === 0) continue;
        // The day list first: a listed day without a rollup reads as empty, an unlisted rollup would be missed.
        await listDays(created);
        let landed = 0;
        try {
          const r = await rollups.bulkWrite(ops, { ordered: false });
          landed = r.matchedCount + r.insertedCount;
        } catch (err) {
          if (duplicateOnlyWriteErrors(err) === null) throw err;
          const r = (err as { result?: { matchedCount?: number; insertedCount?: number } }).result;
          landed = (r?.matchedCount ?? 0) + (r?.insertedCount ?? 0);
        }
        written += landed;
        if (landed === ops.length) {
          const at = performance.now();
          for (const [id, version] of versions) rememberWrite(id, version, at);
        }
        if (landed < ops.length) {
          conflicts += ops.length - landed;
          lost.push(...ids);
        }
      }
      todo = lost;
    }
    if (todo.length > 0) throw new LedgerConflictError(todo.length);
    return { written, conflicts };
  }

  /**
   * Payments (of those given) whose record has moved past the revision their transition starts from: another
   * writer finalized this transition (it is in the rollups) — or, if the record stopped short of our last
   * revision, a different chain: the batch is retried (LedgerConflictError) and recomputed from the record.
   */
  async function transitionsFinishedElsewhere(transitions: readonly PaymentSteps[]): Promise<Set<string>> {
    const done = new Set<string>();
    if (transitions.length === 0) return done;
    const records = new Map(
      (await states.find({ _id: { $in: transitions.map((p) => p.paymentDocId) } }, { projection: { _id: 1, revision: 1 } }).toArray()).map((d) => [d._id, d.revision]),
    );
    let moved = 0;
    for (const p of transitions) {
      const from = p.before?.state.revision ?? 0;
      const to = p.steps[p.steps.length - 1]!.revision;
      const now = records.get(p.paymentDocId) ?? 0;
      if (now === from) continue;
      if (now >= to) done.add(p.paymentDocId);
      else moved += 1;
    }
    if (moved > 0) throw new LedgerConflictError(moved);
    return done;
  }

  /** Adds days to their website's day list (idempotent); a month is listed through its days. */
  async function listDays(keys: readonly RollupKey[]): Promise<void> {
    if (keys.length === 0) return;
    const byList = new Map<string, { websiteId: string; livemode: boolean; days: Set<string> }>();
    for (const k of keys) {
      const id = rollupDaysId(k.websiteId, k.livemode);
      const list = byList.get(id) ?? { websiteId: k.websiteId, livemode: k.livemode, days: new Set<string>() };
      list.days.add(k.period);
      byList.set(id, list);
    }
    const ops: AnyBulkWriteOperation<RollupDaysDoc>[] = [...byList].map(([id, l]) => ({
      updateOne: {
        filter: { _id: id },
        update: { $addToSet: { days: { $each: [...l.days].sort() } }, $setOnInsert: { websiteId: l.websiteId, livemode: l.livemode } },
        upsert: true,
      },
    }));
    for (const part of chunk(ops, STATE_WRITES_PER_CALL)) await rollupDays.bulkWrite(part, { ordered: false });
  }

  async function applyStates(batch: readonly PaymentState[], now: Date = new Date()): Promise<ApplyResult> {
    const incoming = groupIncoming(batch);
    if (incoming.size === 0) return emptyApplyResult();
    const readAt = performance.now();
    const found = await states.find({ _id: { $in: [...incoming.keys()] } }).toArray();
    return settle(incoming, new Map(found.map((d) => [d._id, d])), now, readAt);
  }

  async function completePending(limit = 500, now: Date = new Date()): Promise<number> {
    const readAt = performance.now();
    const found = await states.find({ pendingRevision: { $gt: 0 } }).limit(limit).toArray();
    if (found.length === 0) return 0;
    const incoming = new Map(found.map((d) => [d._id, { websiteId: d.websiteId, paymentKey: d.paymentKey, states: [] as PaymentState[] }]));
    const r = await settle(incoming, new Map(found.map((d) => [d._id, d])), now, readAt);
    return r.paymentsAdvanced;
  }

  async function getPayment(websiteId: string, paymentKey: string): Promise<PaymentExplanation | null> {
    const doc = await states.findOne({ _id: paymentDocId(websiteId, paymentKey) });
    if (!doc?.state) return null;
    if (doc.entryIds) {
      const docs = await entries.find({ _id: { $in: doc.entryIds } }).toArray();
      docs.sort((a, b) => a.revision - b.revision || a.seq - b.seq);
      return { state: doc.state, entries: docs.map(fromEntryDoc) };
    }
    // Written before entryIds existed: query by payment (an index range on MongoDB).
    const docs = await entries.find({ websiteId, paymentKey, revision: { $lte: doc.revision } }).sort({ revision: 1, seq: 1 }).toArray();
    return { state: doc.state, entries: docs.map(fromEntryDoc) };
  }

  function baseMatch(q: SummaryQuery): Document {
    const match: Document = { websiteId: q.websiteId, livemode: q.livemode };
    const range = rangeFilter(q);
    if (range) match.occurredAt = range;
    return match;
  }

  /** The rollups covering a website's whole days in the plan: whole months as one document, other days one each. */
  async function readRollups(websiteId: string, livemode: boolean, days: NonNullable<RangePlan['days']>, byDay = false): Promise<RollupDoc[]> {
    const list = await rollupDays.findOne({ _id: rollupDaysId(websiteId, livemode) });
    const periods = periodsToRead(list?.days ?? [], days, byDay);
    const out: RollupDoc[] = [];
    for (const part of chunk(periods, 1000)) {
      const ids = part.map((period) => rollupId({ websiteId, livemode, period }));
      out.push(...(await rollups.find({ _id: { $in: ids } }, { projection: { applied: 0 } }).toArray()));
    }
    return out;
  }

  /** Sums per (currency, confidence) and payment counts of entries in [from, to): the partial days at range edges. */
  async function summaryRowsFromEntries(q: SummaryQuery, edge: { from: Date; to: Date }): Promise<{ rows: SummaryRow[]; payments: Record<string, number> }> {
    const match = baseMatch({ ...q, from: edge.from, to: edge.to });
    const [rows, counts] = await Promise.all([
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
    return {
      rows: rows.map((r) => ({ currency: r._id.currency, confidence: r._id.confidence, grossMinor: r.gross, refundedMinor: r.refunded, netMinor: r.net })),
      payments: Object.fromEntries(counts.map((c) => [c._id, c.payments])),
    };
  }

  async function summary(q: SummaryQuery): Promise<Summary> {
    const plan = planRange(q.from, q.to);
    const rows: SummaryRow[] = [];
    const payments: Record<string, number> = {};
    const addCounts = (counts: Record<string, number>): void => {
      for (const [currency, n] of Object.entries(counts)) payments[currency] = (payments[currency] ?? 0) + n;
    };
    const [dayDocs, edges] = await Promise.all([
      plan.days ? readRollups(q.websiteId, q.livemode, plan.days) : Promise.resolve([]),
      Promise.all(plan.edges.map((edge) => summaryRowsFromEntries(q, edge))),
    ]);
    for (const doc of dayDocs) {
      rows.push(...doc.cells);
      addCounts(doc.payments);
    }
    for (const edge of edges) {
      rows.push(...edge.rows);
      addCounts(edge.payments);
    }
    return summaryFromRows(rows, payments);
  }

  async function revenue(q: RevenueQuery): Promise<RevenuePage> {
    const plan = planRange(q.from, q.to);
    const groups = new Map<string, RevenueRow>();
    const add = (key: string, currency: string, gross: number, refunded: number, net: number): void => {
      const k = JSON.stringify([key, currency]);
      const g = groups.get(k) ?? { key, currency, grossMinor: 0, refundedMinor: 0, netMinor: 0 };
      g.grossMinor += gross;
      g.refundedMinor += refunded;
      g.netMinor += net;
      groups.set(k, g);
    };
    const [dayDocs, edges] = await Promise.all([
      plan.days ? readRollups(q.websiteId, q.livemode, plan.days, q.groupBy === 'day') : Promise.resolve([]),
      Promise.all(
        plan.edges.map((edge) =>
          entries
            .aggregate<{ _id: { key: string; currency: string }; gross: number; refunded: number; net: number }>([
              { $match: baseMatch({ ...q, from: edge.from, to: edge.to }) },
              {
                $group: {
                  _id: { key: groupField[q.groupBy], currency: '$currency' },
                  gross: { $sum: '$grossMinor' },
                  refunded: { $sum: '$refundedMinor' },
                  net: { $sum: '$amountMinor' },
                },
              },
            ])
            .toArray(),
        ),
      ),
    ]);
    for (const doc of dayDocs) {
      for (const cell of doc.cells) {
        const key = q.groupBy === 'day' ? doc.period : q.groupBy === 'channel' ? cell.channel : q.groupBy === 'source' ? cell.sourceName : cell.confidence;
        add(key, cell.currency, cell.grossMinor, cell.refundedMinor, cell.netMinor);
      }
    }
    for (const rows of edges) for (const r of rows) add(String(r._id.key), r._id.currency, r.gross, r.refunded, r.net);
    return revenuePageFromGroups([...groups.values()], q);
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

  async function reconcileRecorded(websiteId: string): Promise<ReconciliationReport & { pendingPayments: number; rollups: RollupCheck }> {
    const [docs, groups, rollupCheck] = await Promise.all([states.find({ websiteId }).toArray(), ledgerTotals({ websiteId }), checkRollups(websiteId)]);
    // A payment mid-transition (pending) may have entries ahead of its recorded state: not compared until settled.
    const pendingKeys = new Set(docs.filter((d) => d.pendingRevision !== null && d.pendingRevision !== undefined).map((d) => d.paymentKey));
    const settled = docs.filter((d) => !pendingKeys.has(d.paymentKey) && d.state).map((d) => d.state!);
    const report = reconcilePayments(
      settled,
      groups.filter((g) => !pendingKeys.has(g.paymentKey)),
    );
    return { ...report, ok: report.ok && rollupCheck.ok, pendingPayments: pendingKeys.size, rollups: rollupCheck };
  }

  /**
   * Rollups recomputed from the entries. Entries of transitions still pending (written ahead of their
   * payment's recorded revision) are left out: completing the transition adds them (it finds no marker), and
   * their days are reported as unsettled.
   */
  async function foldEntries(filter: { websiteId?: string }): Promise<{ folded: Map<string, Rollup>; entries: number; unsettled: Set<string> }> {
    const website: Document = filter.websiteId !== undefined ? { websiteId: filter.websiteId } : {};
    const pending = await states.find({ ...website, pendingRevision: { $gt: 0 } }, { projection: { websiteId: 1, paymentKey: 1, revision: 1 } }).toArray();
    const recordedOfPending = new Map(pending.map((d) => [JSON.stringify([d.websiteId, d.paymentKey]), d.revision]));
    const folder = new RollupFolder();
    const unsettled = new Set<string>();
    let count = 0;
    const cursor = entries
      .find(website, {
        projection: { websiteId: 1, paymentKey: 1, livemode: 1, occurredDay: 1, currency: 1, attribution: 1, component: 1, amountMinor: 1, revision: 1 },
      })
      .batchSize(5000);
    for await (const e of cursor) {
      count += 1;
      const recorded = recordedOfPending.get(JSON.stringify([e.websiteId, e.paymentKey]));
      if (recorded !== undefined && e.revision > recorded) {
        for (const key of periodsOf(e.websiteId, e.livemode, e.occurredDay)) unsettled.add(rollupId(key));
        continue;
      }
      folder.add(e as RollupEntryFields);
    }
    return { folded: folder.result(), entries: count, unsettled };
  }

  async function rebuildRollups(filter: { websiteId?: string } = {}): Promise<{ rollups: number; entries: number; ms: number }> {
    const started = Date.now();
    const website: Document = filter.websiteId !== undefined ? { websiteId: filter.websiteId } : {};
    const { folded, entries: count } = await foldEntries(filter);
    const existing = await rollups.find(website, { projection: { _id: 1, version: 1 } }).toArray();
    const versions = new Map(existing.map((d) => [d._id, d.version]));
    const writes: AnyBulkWriteOperation<RollupDoc>[] = [...folded].map(([id, r]) => ({
      replaceOne: { filter: { _id: id }, replacement: { ...r, _id: id, version: (versions.get(id) ?? 0) + 1 }, upsert: true },
    }));
    const lists = new Map<string, RollupDaysDoc>();
    for (const r of folded.values()) {
      if (r.period.length !== 10) continue;
      const id = rollupDaysId(r.websiteId, r.livemode);
      const list = lists.get(id) ?? { _id: id, websiteId: r.websiteId, livemode: r.livemode, days: [] };
      list.days.push(r.period);
      lists.set(id, list);
    }
    // Lists first (see applyRollups), then the rollups; then whatever no entry supports any more.
    for (const part of chunk([...lists.values()], STATE_WRITES_PER_CALL)) {
      await rollupDays.bulkWrite(
        part.map((l) => ({ replaceOne: { filter: { _id: l._id }, replacement: { ...l, days: [...l.days].sort() }, upsert: true } })),
        { ordered: false },
      );
    }
    for (const part of chunk(writes, STATE_WRITES_PER_CALL)) await rollups.bulkWrite(part, { ordered: false });
    const stale = existing.map((d) => d._id).filter((id) => !folded.has(id));
    for (const part of chunk(stale, 1000)) await rollups.deleteMany({ _id: { $in: part } });
    const staleLists = (await rollupDays.find(website, { projection: { _id: 1 } }).toArray()).map((d) => d._id).filter((id) => id !== ROLLUPS_READY_ID && !lists.has(id));
    if (staleLists.length > 0) await rollupDays.deleteMany({ _id: { $in: staleLists } });
    // Built for every website: the start-up backfill (ensureRollups) has nothing left to do.
    if (filter.websiteId === undefined) {
      await rollupDays.updateOne({ _id: ROLLUPS_READY_ID }, { $setOnInsert: { websiteId: '', livemode: false, days: [] } }, { upsert: true });
    }
    return { rollups: folded.size, entries: count, ms: Date.now() - started };
  }

  async function ensureRollups(): Promise<{ built: boolean; rollups: number; ms: number }> {
    if (await rollupDays.findOne({ _id: ROLLUPS_READY_ID })) return { built: false, rollups: 0, ms: 0 };
    const r = await rebuildRollups();
    return { built: true, rollups: r.rollups, ms: r.ms };
  }

  /**
   * The pending list, the entries and the rollups are read one after the other, so a transition that starts or
   * ends in between can look like a difference: a period is reported only when two checks in a row find it.
   */
  async function checkRollups(websiteId: string): Promise<RollupCheck> {
    const first = await checkRollupsOnce(websiteId);
    if (first.ok) return first;
    const second = await checkRollupsOnce(websiteId);
    const key = (x: { livemode: boolean; period: string }): string => `${x.livemode}|${x.period}`;
    const inFirst = (list: { livemode: boolean; period: string }[]): Set<string> => new Set(list.map(key));
    const mismatched = second.mismatched.filter((x) => inFirst(first.mismatched).has(key(x)));
    const unlisted = second.unlisted.filter((x) => inFirst(first.unlisted).has(key(x)));
    return { ...second, ok: mismatched.length === 0 && unlisted.length === 0, mismatched, unlisted };
  }

  async function checkRollupsOnce(websiteId: string): Promise<RollupCheck> {
    const [{ folded, unsettled }, stored, lists] = await Promise.all([
      foldEntries({ websiteId }),
      rollups.find({ websiteId }).toArray(),
      rollupDays.find({ _id: { $in: [rollupDaysId(websiteId, true), rollupDaysId(websiteId, false)] } }).toArray(),
    ]);
    const storedById = new Map(stored.map((d) => [d._id, d]));
    // A day is listed by name; a month through any of its days.
    const listed = new Set(
      lists.flatMap((l) => l.days.flatMap((day) => [rollupId({ websiteId, livemode: l.livemode, period: day }), rollupId({ websiteId, livemode: l.livemode, period: day.slice(0, 7) })])),
    );
    const check: RollupCheck = { ok: true, checked: 0, mismatched: [], unlisted: [], skipped: 0 };
    for (const id of new Set([...folded.keys(), ...storedById.keys(), ...unsettled])) {
      if (unsettled.has(id)) {
        check.skipped += 1;
        continue;
      }
      const key = (folded.get(id) ?? storedById.get(id))!;
      check.checked += 1;
      const actual = storedById.get(id);
      if (!sameFigures(folded.get(id) ?? emptyRollup(key), actual ?? emptyRollup(key))) check.mismatched.push({ livemode: key.livemode, period: key.period });
      if (actual && !listed.has(id)) check.unlisted.push({ livemode: key.livemode, period: key.period });
    }
    const byPeriod = (a: { livemode: boolean; period: string }, b: { livemode: boolean; period: string }): number =>
      a.period < b.period ? -1 : a.period > b.period ? 1 : Number(a.livemode) - Number(b.livemode);
    check.mismatched.sort(byPeriod);
    check.unlisted.sort(byPeriod);
    check.ok = check.mismatched.length === 0 && check.unlisted.length === 0;
    return check;
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

  return {
    entries,
    states,
    rollups,
    ensureIndexes,
    ensureRollups,
    applyStates,
    completePending,
    getPayment,
    summary,
    revenue,
    ledgerTotals,
    reconcileStates,
    reconcileRecorded,
    rebuildRollups,
    checkRollups,
    listPayments,
    ping,
  };
}
