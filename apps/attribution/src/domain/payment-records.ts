import type { PaymentKind, PaymentState } from '@metrivo/contracts';
import type { AttributionBasis } from './attribution';
import { canonicalIso, sameData } from './util';

/**
 * What the attribution app keeps per published payment key: the last PaymentState it produced plus the
 * bookkeeping needed to change it later without rereading facts. Plain JSON, one MongoDB document per
 * (websiteId, paymentKey):
 *   `_id: recordDocumentId(record)`; indexes `{websiteId:1, paymentKey:1}` (unique),
 *   `{websiteId:1, 'state.subscriptionKey':1}`, `{websiteId:1, 'upgrade.keys':1, 'upgrade.until':1}`,
 *   `{pendingPublish:1}` (sparse, for the outbox sweep).
 */
export interface PaymentRecord {
  websiteId: string;
  paymentKey: string;
  /**
   * Optimistic-concurrency counter, +1 on every write by this module. The edge writes a RecordWrite with
   * filter `{_id, version: expectedVersion}` (insert when expectedVersion is null); on a mismatch (another
   * consumer got there first) it reloads and recomputes the batch. No multi-document transaction needed.
   */
  version: number;
  /** The state as produced; published already unless `pendingPublish` says otherwise. */
  state: PaymentState;
  /**
   * Outbox marker: the revision written but not yet confirmed on Kafka, else null. The edge produces
   * `state`, then clears it with `updateOne({_id, pendingPublish: revision}, {$set: {pendingPublish: null}})`
   * (without touching `version`). A crash in between just republishes the same revision with the same content.
   */
  pendingPublish: number | null;
  /** The kind the payment's own reports stated; null when decided by its position in the subscription. */
  explicitKind: PaymentKind | null;
  /** Inputs of the payment's own attribution; null for merged records. */
  attributionBasis: AttributionBasis | null;
  /** For a renewal: the initial payment key whose attribution it carries; null when attributed on its own. */
  inheritsFrom: string | null;
  /** Late-upgrade index entry (see late-upgrade.ts); null when late tracker data cannot change it. */
  upgrade: { keys: string[]; until: string } | null;
  /** When this key was first produced: the late-upgrade horizon counts from max(paidAt, this). */
  firstPublishedAt: string;
}

export function recordDocumentId(record: Pick<PaymentRecord, 'websiteId' | 'paymentKey'>): string {
  return `${record.websiteId}|${record.paymentKey}`;
}

/** Write `record` if the stored version still equals `expectedVersion` (null: insert, must not exist). */
export interface RecordWrite {
  record: PaymentRecord;
  expectedVersion: number | null;
}

/** What a computation asks the edge to do: CAS-write the records, then produce the states and clear the outbox. */
export interface PaymentChanges {
  recordWrites: RecordWrite[];
  /** States to produce to metrivo.revenue.attributed.v1 (key `{websiteId}:{paymentKey}`), sorted by key. */
  toPublish: PaymentState[];
}

/** The published content of a state: everything but revision and updatedAt. */
export type StateContent = Omit<PaymentState, 'revision' | 'updatedAt'>;

export function stateContent(state: PaymentState): StateContent {
  const { revision: _revision, updatedAt: _updatedAt, ...content } = state;
  return content;
}

/** The record minus what changes on every write: equal bookkeeping means no write is needed. */
function bookkeeping(record: PaymentRecord): unknown {
  return {
    explicitKind: record.explicitKind,
    attributionBasis: record.attributionBasis,
    inheritsFrom: record.inheritsFrom,
    upgrade: record.upgrade,
    firstPublishedAt: record.firstPublishedAt,
  };
}

export interface NextRecord {
  websiteId: string;
  paymentKey: string;
  content: StateContent;
  explicitKind: PaymentKind | null;
  attributionBasis: AttributionBasis | null;
  inheritsFrom: string | null;
  upgrade: PaymentRecord['upgrade'];
  firstPublishedAt: string;
}

/**
 * Compare the wanted record with the stored one: a new revision only when the published content changed
 * (a redelivered duplicate produces no revision); a write when anything changed; nothing otherwise.
 */
export function planRecordWrite(prev: PaymentRecord | undefined, next: NextRecord, now: string): RecordWrite | null {
  const stateChanged = prev === undefined || !sameData(stateContent(prev.state), next.content);
  const revision = stateChanged ? (prev?.state.revision ?? 0) + 1 : prev.state.revision;
  const state: PaymentState = {
    ...next.content,
    revision,
    updatedAt: stateChanged ? canonicalIso(now) : prev.state.updatedAt,
  } as PaymentState;
  const record: PaymentRecord = {
    websiteId: next.websiteId,
    paymentKey: next.paymentKey,
    version: (prev?.version ?? 0) + 1,
    state: stateChanged ? state : prev.state,
    pendingPublish: stateChanged ? revision : prev.pendingPublish,
    explicitKind: next.explicitKind,
    attributionBasis: next.attributionBasis,
    inheritsFrom: next.inheritsFrom,
    upgrade: next.upgrade,
    firstPublishedAt: next.firstPublishedAt,
  };
  if (!stateChanged && sameData(bookkeeping(prev), bookkeeping(record))) return null;
  return { record, expectedVersion: prev?.version ?? null };
}

/** The highest-version copy of each key (the edge may load one record through two queries). */
export function latestRecords(records: Iterable<PaymentRecord>): Map<string, PaymentRecord> {
  const byKey = new Map<string, PaymentRecord>();
  for (const r of records) {
    const cur = byKey.get(r.paymentKey);
    if (!cur || r.version > cur.version) byKey.set(r.paymentKey, r);
  }
  return byKey;
}

/** Written states plus loaded records whose publish is still pending (crash between write and produce). */
export function collectChanges(loaded: Map<string, PaymentRecord>, writes: RecordWrite[]): PaymentChanges {
  const written = new Map(writes.map((w) => [w.record.paymentKey, w.record]));
  const toPublish: PaymentState[] = [];
  for (const r of written.values()) if (r.pendingPublish !== null) toPublish.push(r.state);
  for (const r of loaded.values()) if (!written.has(r.paymentKey) && r.pendingPublish !== null) toPublish.push(r.state);
  toPublish.sort((a, b) => (a.paymentKey < b.paymentKey ? -1 : a.paymentKey > b.paymentKey ? 1 : 0));
  writes.sort((a, b) => (a.record.paymentKey < b.record.paymentKey ? -1 : a.record.paymentKey > b.record.paymentKey ? 1 : 0));
  return { recordWrites: writes, toPublish };
}
