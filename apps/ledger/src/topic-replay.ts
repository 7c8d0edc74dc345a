import { TOPICS, type PaymentState } from '@metrivo/contracts';
import { commitGroupOffsets, decodeMessage, readTopicRange, schemaForTopic, type Logger } from '@metrivo/kafka';
import type { Kafka } from 'kafkajs';
import { addApplyResult, emptyApplyResult, LedgerConflictError, paymentDocId, type ApplyResult, type LedgerStore } from './ledger-store';
import { reconcilePayments, type ReconciliationMismatch } from './reconcile';

/**
 * The ledger against its source of truth, the compacted revenue topic: read it from the beginning up to the
 * end offsets seen at start (rebuild, reconciliation). Infrastructure only; the comparison itself is
 * reconcilePayments (pure) and the writes are LedgerStore.applyStates (idempotent).
 */

/** Which PaymentStates to take from the topic (all when empty). */
export interface WebsiteFilter {
  websiteId?: string | undefined;
  websitePrefix?: string | undefined;
}

export function matchesWebsite(filter: WebsiteFilter, websiteId: string): boolean {
  if (filter.websiteId !== undefined && websiteId !== filter.websiteId) return false;
  if (filter.websitePrefix !== undefined && !websiteId.startsWith(filter.websitePrefix)) return false;
  return true;
}

export interface TopicReadOptions extends WebsiteFilter {
  kafka: Kafka;
  /** Default: metrivo.revenue.attributed.v1 (validated against the PaymentState contract). */
  topic?: string;
  /** Called with the accepted states of each fetched chunk, in partition order; resolve = done with them. */
  onStates: (states: PaymentState[]) => Promise<void>;
  /** States per onStates call at most. Default 500. */
  chunkSize?: number;
  logger?: Logger;
  /** Give up when the end offsets are not reached within this time. Default 10 minutes. */
  timeoutMs?: number;
}

export interface TopicReadResult {
  topic: string;
  /** End offset (high watermark) per partition captured at start: everything below it was read. */
  endOffsets: Record<number, string>;
  recordsRead: number;
  /** States handed to onStates (after the website filter). */
  statesAccepted: number;
  /** Valid states of other websites (filter). */
  statesSkipped: number;
  /** Records that are not valid PaymentStates (the live consumer sends those to the DLQ) or tombstones. */
  invalidRecords: number;
  ms: number;
}

/**
 * Reads `topic` from its first retained offset up to the end offsets captured at start, with a throwaway
 * consumer group that never commits (deleted afterwards). Records written after the start are not read.
 */
export async function readTopicToEnd(options: TopicReadOptions): Promise<TopicReadResult> {
  const started = Date.now();
  const topic = options.topic ?? TOPICS.revenueAttributed.name;
  const schema = schemaForTopic(topic) ?? schemaForTopic(TOPICS.revenueAttributed.name);
  const chunkSize = options.chunkSize ?? 500;
  const result: TopicReadResult = { topic, endOffsets: {}, recordsRead: 0, statesAccepted: 0, statesSkipped: 0, invalidRecords: 0, ms: 0 };
  const { ends } = await readTopicRange(options.kafka, topic, {
    groupIdPrefix: 'metrivo-ledger-replay',
    ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
    ...(options.logger !== undefined && { logger: options.logger }),
    onBatch: async (partition, messages, heartbeat) => {
      for (let i = 0; i < messages.length; i += chunkSize) {
        const states: PaymentState[] = [];
        for (const message of messages.slice(i, i + chunkSize)) {
          result.recordsRead += 1;
          const decoded = decodeMessage<PaymentState>(topic, partition, message, schema);
          if (!decoded.record) {
            result.invalidRecords += 1;
            continue;
          }
          if (matchesWebsite(options, decoded.record.value.websiteId)) states.push(decoded.record.value);
          else result.statesSkipped += 1;
        }
        if (states.length > 0) await options.onStates(states);
        result.statesAccepted += states.length;
        await heartbeat();
      }
    },
  });
  result.endOffsets = Object.fromEntries([...ends].map(([p, o]) => [p, o.toString()]));
  result.ms = Date.now() - started;
  return result;
}

/** The highest revision per (websiteId, paymentKey) on the topic: what every consumer converges to. */
export async function latestStatesFromTopic(
  options: Omit<TopicReadOptions, 'onStates'>,
): Promise<{ states: PaymentState[]; read: TopicReadResult }> {
  const latest = new Map<string, PaymentState>();
  const read = await readTopicToEnd({
    ...options,
    onStates: async (states) => {
      for (const s of states) {
        const id = paymentDocId(s.websiteId, s.paymentKey);
        const seen = latest.get(id);
        if (!seen || seen.revision < s.revision) latest.set(id, s);
      }
    },
  });
  return { states: [...latest.values()], read };
}

// ------------------------------------------------------------------------------------------------- rebuild

export interface RebuildOptions extends WebsiteFilter {
  kafka: Kafka;
  store: LedgerStore;
  topic?: string;
  /** Apply into a database that already holds ledger documents (default false: refuse). */
  allowNonEmpty?: boolean;
  /** After reading, commit the captured end offsets for this consumer group, so a ledger started with it continues there. */
  commitGroupId?: string | undefined;
  logger?: Logger;
  timeoutMs?: number;
  /** Progress callback after each applied chunk. */
  onProgress?: (progress: { statesApplied: number; entriesInserted: number }) => void;
}

export interface LedgerTotalsRow {
  livemode: boolean;
  currency: string;
  grossMinor: number;
  refundedMinor: number;
  netMinor: number;
}

export interface RebuildResult {
  read: TopicReadResult;
  applied: ApplyResult;
  /** Conflicting writes retried (another writer on the same database). */
  conflictsRetried: number;
  /** Documents in the rebuilt database. */
  payments: number;
  entries: number;
  /** Σ over all entries per (livemode, currency). */
  totals: LedgerTotalsRow[];
  committedGroupId: string | null;
}

export class NonEmptyLedgerError extends Error {
  constructor(readonly entries: number, readonly payments: number, readonly rollups: number) {
    super(
      `the target database already holds ${entries} ledger entries, ${payments} payment records and ${rollups} rollups; rebuild into an empty database ` +
        '(or pass --resume to finish an interrupted rebuild of this database)',
    );
    this.name = 'NonEmptyLedgerError';
  }
}

/** Σ amounts per (livemode, currency) over every entry of the store (or one website's). */
export async function ledgerTotalsByCurrency(store: LedgerStore, websiteId?: string): Promise<LedgerTotalsRow[]> {
  const rows = await store.entries
    .aggregate<{ _id: { livemode: boolean; currency: string }; gross: number; refunded: number; net: number }>([
      { $match: websiteId === undefined ? {} : { websiteId } },
      {
        $group: {
          _id: { livemode: '$livemode', currency: '$currency' },
          gross: { $sum: '$grossMinor' },
          refunded: { $sum: '$refundedMinor' },
          net: { $sum: '$amountMinor' },
        },
      },
    ])
    .toArray();
  return rows
    .map((r) => ({ livemode: r._id.livemode, currency: r._id.currency, grossMinor: r.gross, refundedMinor: r.refunded, netMinor: r.net }))
    .sort((a, b) => Number(b.livemode) - Number(a.livemode) || a.currency.localeCompare(b.currency));
}

/**
 * Rebuilds the ledger from the compacted topic into an empty database: every retained record is applied in
 * partition order exactly as the live consumer would (same entry ids for the same revisions), and it stops at
 * the end offsets captured at start. Compaction keeps only the latest revision of a settled key, so the rebuilt
 * explain trail can be shorter and a refund spread over several revisions can land on the latest refund's date;
 * totals per payment, currency and attribution are the same.
 */
export async function rebuildFromTopic(options: RebuildOptions): Promise<RebuildResult> {
  const { store } = options;
  await store.ensureIndexes();
  if (!options.allowNonEmpty) {
    // Rollups too: rollups left from an earlier ledger (their "built" marker included) would have the rebuilt
    // transitions added on top of their stale sums.
    const [entries, payments, rollups] = await Promise.all([
      store.entries.countDocuments({}, { limit: 1 }), store.states.countDocuments({}, { limit: 1 }), store.rollups.countDocuments({}, { limit: 1 }),
    ]);
    if (entries > 0 || payments > 0 || rollups > 0) {
      throw new NonEmptyLedgerError(await store.entries.estimatedDocumentCount(), await store.states.estimatedDocumentCount(), await store.rollups.estimatedDocumentCount());
    }
  }
  await store.ensureRollups();
  const applied: ApplyResult = emptyApplyResult();
  let conflictsRetried = 0;
  let statesApplied = 0;
  const read = await readTopicToEnd({
    kafka: options.kafka,
    topic: options.topic,
    websiteId: options.websiteId,
    websitePrefix: options.websitePrefix,
    logger: options.logger,
    timeoutMs: options.timeoutMs,
    onStates: async (states) => {
      for (let attempt = 1; ; attempt += 1) {
        try {
          addApplyResult(applied, await store.applyStates(states));
          break;
        } catch (err) {
          // Only when something else writes to the same database; the retry completes what landed.
          if (!(err instanceof LedgerConflictError) || attempt >= 5) throw err;
          conflictsRetried += 1;
          await new Promise((r) => setTimeout(r, 100 * attempt));
        }
      }
      statesApplied += states.length;
      options.onProgress?.({ statesApplied, entriesInserted: applied.entriesInserted });
    },
  });
  // Anything a crash of an earlier rebuild attempt left half-done (allowNonEmpty) is finished here.
  for (let page = 0; page < 1000 && (await store.completePending()) > 0; page += 1);
  let committedGroupId: string | null = null;
  if (options.commitGroupId) {
    await commitGroupOffsets(
      options.kafka,
      options.commitGroupId,
      Object.entries(read.endOffsets).map(([partition, offset]) => ({ topic: read.topic, partition: Number(partition), offset })),
    );
    committedGroupId = options.commitGroupId;
  }
  const filter = options.websiteId;
  const [payments, entries, totals] = await Promise.all([
    store.states.countDocuments(filter === undefined ? {} : { websiteId: filter }),
    store.entries.countDocuments(filter === undefined ? {} : { websiteId: filter }),
    ledgerTotalsByCurrency(store, filter),
  ]);
  return { read, applied, conflictsRetried, payments, entries, totals, committedGroupId };
}

// ------------------------------------------------------------------------------------------ reconciliation

export interface TopicMismatch extends ReconciliationMismatch {
  /** Revision of the latest state on the topic (null: the ledger has entries for a key the topic does not have). */
  topicRevision: number | null;
  /** Revision the ledger recorded (null: no record). */
  ledgerRevision: number | null;
}

export interface TopicReconciliationReport {
  /** True when every payment on the topic adds up in the ledger (lagging payments aside). */
  ok: boolean;
  against: 'topic';
  checked: number;
  /** Payments whose entries do not add up to the topic's latest state although the ledger recorded that revision. */
  mismatches: TopicMismatch[];
  /** Payments the ledger has not caught up with yet (its recorded revision is older, or a transition is pending). */
  lagging: TopicMismatch[];
  /**
   * Payments the ledger recorded a newer revision of than the topic read showed: published and applied while the
   * topic was being read (the read stops at the end offsets taken when it began). Not a mismatch; re-run to check.
   */
  ahead: TopicMismatch[];
  /**
   * The consumer group that fills this database, when given: `caughtUp` when its committed offsets had passed the end
   * offsets of the read, so every revision read was already handed to the ledger — a payment still behind then
   * missed its record (e.g. the record went to the DLQ) and is a mismatch, not lagging.
   */
  consumerGroup: { groupId: string; caughtUp: boolean } | null;
  topic: { recordsRead: number; statesAccepted: number; invalidRecords: number; endOffsets: Record<number, string>; ms: number };
}

/** True when the group's committed offset of every partition is at or past `endOffsets` (nothing it has not seen). */
async function groupPassed(kafka: Kafka, groupId: string, topic: string, endOffsets: Record<number, string>): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const byPartition = new Map((committed?.partitions ?? []).map((p) => [p.partition, p.offset]));
    return Object.entries(endOffsets).every(([partition, end]) => {
      if (BigInt(end) === 0n) return true; // an empty partition: nothing to have seen
      const offset = byPartition.get(Number(partition)); // '-1': nothing committed
      return offset !== undefined && BigInt(offset) >= BigInt(end);
    });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Pure: sorts the payments whose entries differ from the topic's latest state. The ledger behind the topic (or
 * mid-transition) is lagging; ahead of it, it applied a revision published after the topic read began; only a ledger
 * at the topic's revision whose entries still differ (or money for a key the topic lacks) is a mismatch.
 */
export function classifyTopicMismatches(
  found: readonly ReconciliationMismatch[],
  topicRevision: ReadonlyMap<string, number>,
  recorded: ReadonlyMap<string, { revision: number; pendingRevision: number | null }>,
  consumerCaughtUp = false,
): { mismatches: TopicMismatch[]; lagging: TopicMismatch[]; ahead: TopicMismatch[] } {
  const out = { mismatches: [] as TopicMismatch[], lagging: [] as TopicMismatch[], ahead: [] as TopicMismatch[] };
  for (const m of found) {
    const id = paymentDocId(m.websiteId, m.paymentKey);
    const doc = recorded.get(id);
    const onTopic = topicRevision.get(id) ?? null;
    const ledgerRevision = doc && doc.revision > 0 ? doc.revision : null;
    const item: TopicMismatch = { ...m, topicRevision: onTopic, ledgerRevision };
    const pending = doc?.pendingRevision !== null && doc?.pendingRevision !== undefined;
    // Behind although its consumer had passed the read's end: a missed record, not lag (a pending one is mid-way).
    if (onTopic !== null && (pending || ((ledgerRevision ?? 0) < onTopic && !consumerCaughtUp))) out.lagging.push(item);
    else if (onTopic !== null && ledgerRevision !== null && ledgerRevision > onTopic) out.ahead.push(item);
    else out.mismatches.push(item);
  }
  return out;
}

/**
 * Compares the ledger's entries with the latest PaymentState per key on the topic. Keys the ledger holds money
 * for but the topic does not know are mismatches too (checked for the websites the filter selects).
 */
export async function reconcileWithTopic(
  store: LedgerStore,
  options: WebsiteFilter & { kafka: Kafka; topic?: string; logger?: Logger; timeoutMs?: number; consumerGroupId?: string },
): Promise<TopicReconciliationReport> {
  const { states, read } = await latestStatesFromTopic(options);
  // Read after the topic: offsets committed by then cover the records the read saw only if they reach its end.
  const consumerGroup = options.consumerGroupId === undefined ? null : { groupId: options.consumerGroupId, caughtUp: await groupPassed(options.kafka, options.consumerGroupId, read.topic, read.endOffsets) };
  const byWebsite = new Map<string, PaymentState[]>();
  for (const s of states) byWebsite.set(s.websiteId, [...(byWebsite.get(s.websiteId) ?? []), s]);
  const websites = new Set(byWebsite.keys());
  if (options.websiteId !== undefined) websites.add(options.websiteId);
  else for (const w of await store.entries.distinct('websiteId')) if (matchesWebsite(options, w)) websites.add(w);

  let checked = 0;
  const found: ReconciliationMismatch[] = [];
  for (const websiteId of [...websites].sort()) {
    const report = reconcilePayments(byWebsite.get(websiteId) ?? [], await store.ledgerTotals({ websiteId }));
    checked += report.checked;
    found.push(...report.mismatches);
  }
  const topicRevision = new Map(states.map((s) => [paymentDocId(s.websiteId, s.paymentKey), s.revision]));
  const ids = found.map((m) => paymentDocId(m.websiteId, m.paymentKey));
  const docs = ids.length === 0 ? [] : await store.states.find({ _id: { $in: ids } }, { projection: { revision: 1, pendingRevision: 1 } }).toArray();
  const recorded = new Map(docs.map((d) => [d._id, d]));
  const { mismatches, lagging, ahead } = classifyTopicMismatches(found, topicRevision, recorded, consumerGroup?.caughtUp ?? false);
  return {
    ok: mismatches.length === 0,
    against: 'topic',
    checked,
    mismatches,
    lagging,
    ahead,
    consumerGroup,
    topic: { recordsRead: read.recordsRead, statesAccepted: read.statesAccepted, invalidRecords: read.invalidRecords, endOffsets: read.endOffsets, ms: read.ms },
  };
}
