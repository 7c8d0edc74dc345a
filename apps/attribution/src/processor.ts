import { paymentStateKey, TOPICS, type NormalizedPaymentEvent, type PaymentState, type SessionEvent, type SessionRecord } from '@metrivo/contracts';
import type { BatchingProducer, RecordBatch } from '@metrivo/kafka';
import {
  applyPaymentEvents,
  createSessionView,
  emptyPaymentSnapshot,
  identityFromIdentify,
  nextPaymentLoad,
  reattributePayments,
  sessionLookups,
  subscriptionKeysToLoad,
  toStoredPaymentFact,
  upgradeLookupKeys,
  withLoaded,
  type AttributionSettings,
  type PaymentChanges,
  type PaymentRecord,
  type RecordWrite,
  type TrackerSignal,
} from './domain';
import { RateMeter } from './metrics';
import type { AttributionStores } from './stores';

const DAY_MS = 24 * 60 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;

export interface ProcessorLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Produces PaymentStates to metrivo.revenue.attributed.v1; resolves once Kafka acknowledged every one (acks=all). */
export interface StatePublisher {
  publish(states: readonly PaymentState[]): Promise<void>;
}

export function producerStatePublisher(producer: BatchingProducer): StatePublisher {
  return {
    async publish(states) {
      await Promise.all(states.map((state) => producer.publish(TOPICS.revenueAttributed.name, { key: paymentStateKey(state), value: state })));
    },
  };
}

export type ProcessingPath = 'payments' | 'tracker' | 'recheck' | 'sweep';

/** Seams for fault-injection tests; production passes none. */
export interface ProcessorHooks {
  /** After a computation's record writes succeeded, before its states are produced. Throwing here is a crash at that point. */
  afterRecordWrites?(info: { websiteId: string; path: ProcessingPath; writes: readonly RecordWrite[] }): Promise<void> | void;
}

export interface AttributionProcessorOptions {
  stores: AttributionStores;
  publisher: StatePublisher;
  settings: AttributionSettings;
  logger: ProcessorLogger;
  /** Extra days sessions are kept beyond window + late-upgrade horizon. Default 7. */
  sessionRetentionMarginDays?: number;
  /** Websites of one Kafka batch processed at the same time. Default 4. */
  websiteConcurrency?: number;
  /** Recompute-and-retry rounds after write conflicts before the batch fails (and is retried by the consumer). Default 25. */
  maxConflictRetries?: number;
  clock?: () => Date;
  hooks?: ProcessorHooks;
}

export interface ProcessorStats {
  batches: number;
  sessionEvents: number;
  identifyEvents: number;
  sessionsWritten: number;
  identitiesWritten: number;
  paymentEvents: number;
  factsInserted: number;
  unlinkedPaymentEvents: number;
  recordsWritten: number;
  /** Compare-and-set writes that lost to another writer (the computation was redone). */
  writeConflicts: number;
  statesPublished: number;
  /** Newer revisions produced again because an older one was produced after them (compaction order). */
  newerRevisionsRepublished: number;
  /** States produced by the outbox sweep (records left pending by a crash). */
  sweepRepublished: number;
  sessionsExpired: number;
  rates: { trackerEventsPerSecond: number; paymentEventsPerSecond: number; statesPublishedPerSecond: number };
  lastBatchMs: number | null;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

async function forEachLimit<T>(items: readonly T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next]!;
      next += 1;
      try {
        await run(item);
      } catch (e) {
        errors.push(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (errors.length > 0) throw errors[0];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The Kafka/MongoDB edge of the attribution domain (see domain/README.md, which this follows step by step):
 * per batch and website, tracker events are stored and may upgrade published payments; payment events
 * become facts, are folded with everything they link to, and the changed PaymentStates are written with
 * compare-and-set, produced (acks=all) and only then marked published. Nothing here needs a transaction:
 * a crash anywhere leaves facts (idempotent), records with `pendingPublish` (republished by the next
 * computation that loads them, or by the sweep) and uncommitted offsets (the batch comes again).
 */
export class AttributionProcessor {
  private readonly stores: AttributionStores;
  private readonly publisher: StatePublisher;
  private readonly settings: AttributionSettings;
  private readonly logger: ProcessorLogger;
  private readonly clock: () => Date;
  private readonly hooks: ProcessorHooks;
  private readonly websiteConcurrency: number;
  private readonly maxConflictRetries: number;
  private readonly retentionMs: number;
  private readonly counters = {
    batches: 0,
    sessionEvents: 0,
    identifyEvents: 0,
    sessionsWritten: 0,
    identitiesWritten: 0,
    paymentEvents: 0,
    factsInserted: 0,
    unlinkedPaymentEvents: 0,
    recordsWritten: 0,
    writeConflicts: 0,
    newerRevisionsRepublished: 0,
    sweepRepublished: 0,
    sessionsExpired: 0,
  };
  private readonly trackerRate = new RateMeter();
  private readonly paymentRate = new RateMeter();
  private readonly publishRate = new RateMeter();
  private lastBatchMs: number | null = null;

  constructor(options: AttributionProcessorOptions) {
    this.stores = options.stores;
    this.publisher = options.publisher;
    this.settings = options.settings;
    this.logger = options.logger;
    this.clock = options.clock ?? (() => new Date());
    this.hooks = options.hooks ?? {};
    this.websiteConcurrency = options.websiteConcurrency ?? 4;
    this.maxConflictRetries = options.maxConflictRetries ?? 25;
    const marginDays = options.sessionRetentionMarginDays ?? 7;
    this.retentionMs = (this.settings.windowDays + marginDays) * DAY_MS + this.settings.lateUpgradeHours * HOUR_MS;
  }

  /** The consumer's batch handler (both input topics). Resolving means every effect is durable and produced. */
  readonly handleBatch = async (batch: RecordBatch): Promise<void> => {
    const started = Date.now();
    if (batch.topic === TOPICS.payments.name) {
      await this.handlePaymentEvents(batch.records.map((r) => r.value as NormalizedPaymentEvent));
    } else if (batch.topic === TOPICS.visitorSessions.name) {
      await this.handleTrackerEvents(batch.records.map((r) => r.value as SessionEvent));
    } else {
      this.logger.warn({ topic: batch.topic }, 'batch from an unexpected topic ignored');
      return;
    }
    this.counters.batches += 1;
    this.lastBatchMs = Date.now() - started;
  };

  stats(): ProcessorStats {
    return {
      ...this.counters,
      statesPublished: this.publishRate.count(),
      rates: {
        trackerEventsPerSecond: this.trackerRate.perSecond(),
        paymentEventsPerSecond: this.paymentRate.perSecond(),
        statesPublishedPerSecond: this.publishRate.perSecond(),
      },
      lastBatchMs: this.lastBatchMs,
    };
  }

  // ------------------------------------------------------------------------------------------ tracker path

  async handleTrackerEvents(events: readonly SessionEvent[]): Promise<void> {
    if (events.length === 0) return;
    const sessions = events.filter((e): e is SessionRecord => e.type === 'session');
    const identities = events.flatMap((e) => (e.type === 'identify' ? [identityFromIdentify(e)] : []));
    const [sessionsWritten, identitiesWritten] = await Promise.all([
      this.stores.sessions.storeSessions(sessions),
      this.stores.sessions.storeIdentities(identities),
    ]);
    this.counters.sessionEvents += sessions.length;
    this.counters.identifyEvents += identities.length;
    this.counters.sessionsWritten += sessionsWritten;
    this.counters.identitiesWritten += identitiesWritten;
    await this.upgradeFromTracker(groupBy<TrackerSignal>(events, (e) => e.websiteId));
    this.trackerRate.add(events.length);
  }

  /** Late tracker data (or email→visitor pairs learned from payments): re-attribute the payments it may improve. */
  private async upgradeFromTracker(signalsByWebsite: ReadonlyMap<string, readonly TrackerSignal[]>): Promise<void> {
    const visitorsByWebsite = new Map<string, string[]>();
    for (const [websiteId, signals] of signalsByWebsite) {
      const visitors = new Set(signals.flatMap((s) => ('type' in s && s.type === 'session' ? [s.visitorId] : [])));
      visitorsByWebsite.set(websiteId, [...visitors]);
    }
    const identities = await this.stores.sessions.identitiesOfVisitors(visitorsByWebsite);
    const keysByWebsite = new Map<string, string[]>();
    for (const [websiteId, signals] of signalsByWebsite) {
      keysByWebsite.set(websiteId, upgradeLookupKeys(signals, createSessionView(websiteId, [], identities.get(websiteId) ?? [])));
    }
    const found = await this.stores.records.findUpgradeCandidates(keysByWebsite, this.nowIso());
    await forEachLimit([...found], this.websiteConcurrency, async ([websiteId, firstCandidates]) => {
      const keys = new Map([[websiteId, keysByWebsite.get(websiteId) ?? []]]);
      await this.computeAndCommit(websiteId, 'tracker', async (attempt) => {
        const candidates = attempt === 1 ? firstCandidates : ((await this.stores.records.findUpgradeCandidates(keys, this.nowIso())).get(websiteId) ?? []);
        return candidates.length === 0 ? null : this.reattribute(websiteId, candidates);
      });
    });
  }

  private async reattribute(websiteId: string, candidates: PaymentRecord[]): Promise<PaymentChanges> {
    const members = await this.stores.records.findSubscriptionMembers(websiteId, subscriptionKeysToLoad(candidates));
    const view = await this.stores.sessions.loadView(websiteId, sessionLookups({ records: [...candidates, ...members] }, this.settings));
    return reattributePayments({ websiteId, candidates, subscriptionMembers: members, sessions: view, now: this.nowIso(), settings: this.settings });
  }

  // ------------------------------------------------------------------------------------------ payment path

  async handlePaymentEvents(events: readonly NormalizedPaymentEvent[]): Promise<void> {
    if (events.length === 0) return;
    // 1. Facts first, for every website of the batch: they are the money truth and must be durable.
    this.counters.factsInserted += await this.stores.facts.insertIfAbsent(events.map(toStoredPaymentFact));
    await forEachLimit([...groupBy(events, (e) => e.websiteId)], this.websiteConcurrency, ([websiteId, ofWebsite]) =>
      this.processWebsitePayments(websiteId, ofWebsite),
    );
    this.counters.paymentEvents += events.length;
    this.paymentRate.add(events.length);
  }

  private async processWebsitePayments(websiteId: string, events: readonly NormalizedPaymentEvent[]): Promise<void> {
    const batch = events.map(toStoredPaymentFact);
    const { result, insertedKeys } = await this.computeAndCommit(websiteId, 'payments', async () => {
      // 2. Load the closure the planner asks for.
      let snapshot = emptyPaymentSnapshot(websiteId);
      for (let req = nextPaymentLoad(batch, snapshot); req !== null; req = nextPaymentLoad(batch, snapshot)) {
        const [facts, records] = await Promise.all([this.stores.facts.findByLinkKeys(websiteId, req.keys), this.stores.records.findForLoad(req)]);
        snapshot = withLoaded(snapshot, req, { facts, records });
      }
      // 3. The tracker data those payments may be attributed to; 4. compute.
      const view = await this.stores.sessions.loadView(websiteId, sessionLookups({ facts: [...batch, ...snapshot.facts], records: snapshot.records }, this.settings));
      return applyPaymentEvents({ websiteId, events, snapshot, sessions: view, now: this.nowIso(), settings: this.settings });
    });
    if (result === null) return;
    // Facts the snapshot did not load back (events without any link key) were inserted in step 1 already.
    if (result.unlinkedEventIds.length > 0) {
      this.counters.unlinkedPaymentEvents += result.unlinkedEventIds.length;
      this.logger.warn({ websiteId, eventIds: result.unlinkedEventIds }, 'payment events without any payment id cannot be placed');
    }
    // 7. Email→visitor pairs taught by payments behave like identify events.
    if (result.learnedIdentities.length > 0) {
      this.counters.identitiesWritten += await this.stores.sessions.storeIdentities(result.learnedIdentities);
      await this.upgradeFromTracker(new Map([[websiteId, result.learnedIdentities]]));
    }
    // 8. Re-check new records against fresh tracker data: a session stored after step 3 read the view, but
    // before the late-upgrade index could find the new record, would otherwise never upgrade it.
    if (insertedKeys.length > 0) {
      await this.computeAndCommit(websiteId, 'recheck', async () => {
        const fresh = (await this.stores.records.findByKeys(websiteId, insertedKeys)).filter((r) => r.upgrade !== null);
        return fresh.length === 0 ? null : this.reattribute(websiteId, fresh);
      });
    }
  }

  // ------------------------------------------------------------------------------------------ write + produce

  /**
   * Steps 5–6: compute, compare-and-set the records, produce the states, clear the outbox. A lost CAS
   * means another writer changed a record we read: everything is recomputed from the stored data.
   */
  private async computeAndCommit<R extends PaymentChanges>(
    websiteId: string,
    path: ProcessingPath,
    compute: (attempt: number) => Promise<R | null>,
  ): Promise<{ result: R | null; insertedKeys: string[] }> {
    const insertedKeys = new Set<string>();
    const conflictedKeys = new Set<string>();
    for (let attempt = 1; ; attempt += 1) {
      const result = await compute(attempt);
      if (result === null) {
        await this.publishLeftovers(websiteId, conflictedKeys, new Set());
        return { result: null, insertedKeys: [...insertedKeys] };
      }
      for (const w of result.recordWrites) if (w.expectedVersion === null) insertedKeys.add(w.record.paymentKey);
      const outcome = await this.stores.records.write(result.recordWrites);
      this.counters.recordsWritten += outcome.written;
      if (outcome.conflicts === 0) {
        if (result.recordWrites.length > 0) await this.hooks.afterRecordWrites?.({ websiteId, path, writes: result.recordWrites });
        await this.publishAndClear(result.toPublish);
        await this.publishLeftovers(websiteId, conflictedKeys, new Set(result.toPublish.map((s) => s.paymentKey)));
        return { result, insertedKeys: [...insertedKeys] };
      }
      this.counters.writeConflicts += outcome.conflicts;
      for (const w of result.recordWrites) conflictedKeys.add(w.record.paymentKey);
      this.logger.debug({ websiteId, path, attempt, conflicts: outcome.conflicts }, 'record write conflict; recomputing');
      if (attempt >= this.maxConflictRetries) {
        throw new Error(`website ${websiteId}: ${path} still conflicting after ${attempt} attempts`);
      }
      await sleep(Math.floor(Math.random() * Math.min(250, 5 * 2 ** attempt)));
    }
  }

  /**
   * Writes of a conflicted attempt that did succeed are pending records the final computation may no
   * longer load (e.g. they left the late-upgrade index): produce them now rather than at the next sweep.
   */
  private async publishLeftovers(websiteId: string, keys: ReadonlySet<string>, alreadyPublished: ReadonlySet<string>): Promise<void> {
    const wanted = [...keys].filter((k) => !alreadyPublished.has(k));
    if (wanted.length === 0) return;
    const pending = (await this.stores.records.findByKeys(websiteId, wanted)).filter((r) => r.pendingPublish !== null);
    await this.publishAndClear(pending.map((r) => r.state));
  }

  /**
   * Produce, then clear `pendingPublish`. When a record has meanwhile moved to a newer revision (another
   * writer), that newer state is produced again after ours so the compacted topic ends on the highest revision.
   */
  private async publishAndClear(states: readonly PaymentState[]): Promise<void> {
    let round = states;
    for (let i = 0; round.length > 0 && i < 5; i += 1) {
      await this.publisher.publish(round);
      this.publishRate.add(round.length);
      if (i > 0) this.counters.newerRevisionsRepublished += round.length;
      round = (await this.stores.records.clearPending(round)).map((r) => r.state);
    }
  }

  // ------------------------------------------------------------------------------------------ maintenance

  /** Produces records still pending `stuckAfterMs` after their write (a crash between write and produce). */
  async sweepPendingPublishes(stuckAfterMs: number, limit = 500): Promise<number> {
    const before = new Date(this.clock().getTime() - stuckAfterMs).toISOString();
    const stuck = await this.stores.records.findStuckPending(before, limit);
    if (stuck.length === 0) return 0;
    this.logger.warn({ records: stuck.length }, 'republishing payment states left pending (crash between write and produce?)');
    await this.publishAndClear(stuck.map((r) => r.state));
    this.counters.sweepRepublished += stuck.length;
    return stuck.length;
  }

  /** Deletes sessions no rule can credit any more (attribution window + late-upgrade horizon + margin). */
  async deleteExpiredSessions(): Promise<number> {
    const deleted = await this.stores.sessions.deleteSessionsLastSeenBefore(new Date(this.clock().getTime() - this.retentionMs));
    this.counters.sessionsExpired += deleted;
    return deleted;
  }

  private nowIso(): string {
    return this.clock().toISOString();
  }
}
