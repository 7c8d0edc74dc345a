import { AsyncLocalStorage } from 'node:async_hooks';
import { paymentStateKey, TOPICS, type NormalizedPaymentEvent, type PaymentState, type SessionEvent, type SessionRecord } from '@metrivo/contracts';
import { RetryLaterError, type BatchingProducer, type RecordBatch } from '@metrivo/kafka';
import {
  applyPaymentEvents,
  createSessionView,
  emptyPaymentSnapshot,
  identityFromIdentify,
  nextPaymentLoad,
  reattributePayments,
  recordDocumentId,
  sessionLookups,
  subscriptionKeysToLoad,
  toStoredPaymentFact,
  upgradeLookupKeys,
  withLoaded,
  type AttributionSettings,
  type EmailIdentity,
  type PaymentChanges,
  type PaymentRecord,
  type PaymentSnapshot,
  type RecordWrite,
  type SessionView,
  type TrackerSignal,
} from './domain';
import { RateMeter } from './metrics';
import type { AttributionStores } from './stores';

const DAY_MS = 24 * 60 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;
/** The sweep looks again at this much before its previous run (writers' clocks and slow writes). */
const SWEEP_OVERLAP_MS = 5 * 60 * 1000;

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

interface WebsitePaymentOutcome {
  learnedIdentities: EmailIdentity[];
  upgradableKeys: string[];
}

/** What re-attributing one website's candidates reads. */
interface ReattributeInputs {
  candidates: PaymentRecord[];
  members: PaymentRecord[];
  view: SessionView;
}

/** What the payment computation of one website reads (steps 2–3 of the payment path). */
interface PaymentInputs {
  snapshot: PaymentSnapshot;
  view: SessionView;
}

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

/**
 * The heartbeat of the consumer batch being handled. kafkajs heartbeats only between handler calls; one call can
 * span many websites, and while MongoDB or Kafka is failing each of them can take seconds (send timeouts): without
 * a heartbeat in between, the member would be evicted mid-batch and the partition would move to an instance that
 * meets the same outage (a rebalance storm). Carried per call, so concurrently handled partitions keep their own.
 */
const batchHeartbeat = new AsyncLocalStorage<() => Promise<void>>();

async function heartbeatIfInBatch(): Promise<void> {
  // Best effort: a refused heartbeat (a rebalance is under way) shows up again where the consumer commits.
  await batchHeartbeat.getStore()?.().catch(() => undefined);
}

/**
 * Runs `run` over `items`, `limit` at a time, heartbeating after each. After the first failure it starts no new
 * item (the whole batch is retried anyway; going on would only stretch a failing call) and rethrows it.
 */
async function forEachLimit<T>(items: readonly T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < items.length && errors.length === 0) {
      const item = items[next]!;
      next += 1;
      try {
        await run(item);
      } catch (e) {
        errors.push(e);
        return;
      }
      await heartbeatIfInBatch();
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
  /**
   * The outbox sweep has looked at records written before `until` (null: not yet in this process). `after`: a page
   * was full, and it ended at that (write time, record id): the next page starts right after it.
   */
  private swept: { until: string | null; after: { updatedAt: string; id: string } | null } = { until: null, after: null };

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
      await batchHeartbeat.run(batch.heartbeat, () => this.handlePaymentEvents(batch.records.map((r) => r.value as NormalizedPaymentEvent)));
    } else if (batch.topic === TOPICS.visitorSessions.name) {
      await batchHeartbeat.run(batch.heartbeat, () => this.handleTrackerEvents(batch.records.map((r) => r.value as SessionEvent)));
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
    if (found.size === 0) return;
    const prepared = await this.loadReattributeInputs(found);
    await forEachLimit([...found.keys()], this.websiteConcurrency, async (websiteId) => {
      const keys = new Map([[websiteId, keysByWebsite.get(websiteId) ?? []]]);
      await this.computeAndCommit(websiteId, 'tracker', async (attempt) => {
        if (attempt === 1) return this.reattribute(websiteId, prepared.get(websiteId)!);
        const candidates = (await this.stores.records.findUpgradeCandidates(keys, this.nowIso())).get(websiteId) ?? [];
        return candidates.length === 0 ? null : this.reattribute(websiteId, (await this.loadReattributeInputs(new Map([[websiteId, candidates]]))).get(websiteId)!);
      });
    });
  }

  /** Subscription members and session views for several websites' candidates, with one query per kind. */
  private async loadReattributeInputs(candidatesByWebsite: ReadonlyMap<string, PaymentRecord[]>): Promise<Map<string, ReattributeInputs>> {
    const requests = [...candidatesByWebsite].map(([websiteId, candidates]) => ({ websiteId, keys: [], subscriptionKeys: subscriptionKeysToLoad(candidates) }));
    const members = await this.stores.records.findForLoadMany(requests);
    const lookups = new Map(
      [...candidatesByWebsite].map(([w, candidates]) => [w, sessionLookups({ records: [...candidates, ...(members.get(w) ?? [])] }, this.settings)]),
    );
    const views = await this.stores.sessions.loadViews(lookups);
    return new Map([...candidatesByWebsite].map(([w, candidates]) => [w, { candidates, members: members.get(w) ?? [], view: views.get(w)! }]));
  }

  private reattribute(websiteId: string, input: ReattributeInputs): PaymentChanges {
    return reattributePayments({
      websiteId,
      candidates: input.candidates,
      subscriptionMembers: input.members,
      sessions: input.view,
      now: this.nowIso(),
      settings: this.settings,
    });
  }

  // ------------------------------------------------------------------------------------------ payment path

  async handlePaymentEvents(events: readonly NormalizedPaymentEvent[]): Promise<void> {
    if (events.length === 0) return;
    // 1. Facts first, for every website of the batch: they are the money truth and must be durable.
    this.counters.factsInserted += await this.stores.facts.insertIfAbsent(events.map(toStoredPaymentFact));
    const byWebsite = [...groupBy(events, (e) => e.websiteId)];
    // 2–3 for all websites at once (one query per round, not per website), then 4–8 per website.
    const prepared = await this.loadPaymentInputs(byWebsite);
    const outcomes = new Map<string, WebsitePaymentOutcome>();
    await forEachLimit(byWebsite, this.websiteConcurrency, async ([websiteId, ofWebsite]) => {
      outcomes.set(websiteId, await this.processWebsitePayments(websiteId, ofWebsite, prepared.get(websiteId)!));
    });
    // 7. Email→visitor pairs taught by payments behave like identify events.
    const learned = new Map([...outcomes].filter(([, o]) => o.learnedIdentities.length > 0).map(([w, o]) => [w, o.learnedIdentities]));
    if (learned.size > 0) {
      this.counters.identitiesWritten += await this.stores.sessions.storeIdentities([...learned.values()].flat());
      await this.upgradeFromTracker(learned);
    }
    // 8. Re-check what was just written against fresh tracker data: a session stored after step 3 read the
    // view, but before the late-upgrade index named the record, would otherwise never upgrade it.
    const recheck = new Map([...outcomes].filter(([, o]) => o.upgradableKeys.length > 0).map(([w, o]) => [w, o.upgradableKeys]));
    if (recheck.size > 0) await this.recheck(recheck);
    this.counters.paymentEvents += events.length;
    this.paymentRate.add(events.length);
  }

  private async recheck(keysByWebsite: ReadonlyMap<string, readonly string[]>): Promise<void> {
    const candidates = new Map<string, PaymentRecord[]>();
    for (const [websiteId, keys] of keysByWebsite) {
      const fresh = (await this.stores.records.findByKeys(websiteId, keys)).filter((r) => r.upgrade !== null);
      if (fresh.length > 0) candidates.set(websiteId, fresh);
    }
    if (candidates.size === 0) return;
    const prepared = await this.loadReattributeInputs(candidates);
    await forEachLimit([...candidates.keys()], this.websiteConcurrency, async (websiteId) => {
      await this.computeAndCommit(websiteId, 'recheck', async (attempt) => {
        if (attempt === 1) return this.reattribute(websiteId, prepared.get(websiteId)!);
        const fresh = (await this.stores.records.findByKeys(websiteId, keysByWebsite.get(websiteId)!)).filter((r) => r.upgrade !== null);
        return fresh.length === 0 ? null : this.reattribute(websiteId, (await this.loadReattributeInputs(new Map([[websiteId, fresh]]))).get(websiteId)!);
      });
    });
  }

  /** Steps 2–3 of the payment path: the snapshot closure and the session view, for several websites together. */
  private async loadPaymentInputs(groups: ReadonlyArray<readonly [string, readonly NormalizedPaymentEvent[]]>): Promise<Map<string, PaymentInputs>> {
    const state = new Map(groups.map(([websiteId, events]) => [websiteId, { batch: events.map(toStoredPaymentFact), snapshot: emptyPaymentSnapshot(websiteId) }]));
    for (;;) {
      const requests = [...state.values()].flatMap((s) => {
        const req = nextPaymentLoad(s.batch, s.snapshot);
        return req === null ? [] : [req];
      });
      if (requests.length === 0) break;
      const [facts, records] = await Promise.all([this.stores.facts.findByLinkKeysMany(requests), this.stores.records.findForLoadMany(requests)]);
      for (const req of requests) {
        const s = state.get(req.websiteId)!;
        s.snapshot = withLoaded(s.snapshot, req, { facts: facts.get(req.websiteId) ?? [], records: records.get(req.websiteId) ?? [] });
      }
    }
    const lookups = new Map([...state].map(([w, s]) => [w, sessionLookups({ facts: [...s.batch, ...s.snapshot.facts], records: s.snapshot.records }, this.settings)]));
    const views = await this.stores.sessions.loadViews(lookups);
    return new Map([...state].map(([w, s]) => [w, { snapshot: s.snapshot, view: views.get(w)! }]));
  }

  /** Steps 4–6 for one website; steps 7–8 run for the whole batch afterwards. */
  private async processWebsitePayments(websiteId: string, events: readonly NormalizedPaymentEvent[], prepared: PaymentInputs): Promise<WebsitePaymentOutcome> {
    const { result, upgradableKeys } = await this.computeAndCommit(websiteId, 'payments', async (attempt) => {
      // A lost write means the data moved: load this website's inputs again.
      const { snapshot, view } = attempt === 1 ? prepared : (await this.loadPaymentInputs([[websiteId, events]])).get(websiteId)!;
      return applyPaymentEvents({ websiteId, events, snapshot, sessions: view, now: this.nowIso(), settings: this.settings });
    });
    // Facts the snapshot did not load back (events without any link key) were inserted in step 1 already.
    if (result !== null && result.unlinkedEventIds.length > 0) {
      this.counters.unlinkedPaymentEvents += result.unlinkedEventIds.length;
      this.logger.warn({ websiteId, eventIds: result.unlinkedEventIds }, 'payment events without any payment id cannot be placed');
    }
    return { learnedIdentities: result?.learnedIdentities ?? [], upgradableKeys };
  }

  // ------------------------------------------------------------------------------------------ write + produce

  /**
   * Steps 5–6: compute, compare-and-set the records, produce the states, confirm them (outbox). A lost CAS
   * means another writer changed a record we read: everything is recomputed from the stored data.
   */
  private async computeAndCommit<R extends PaymentChanges>(
    websiteId: string,
    path: ProcessingPath,
    compute: (attempt: number) => Promise<R | null>,
  ): Promise<{ result: R | null; upgradableKeys: string[] }> {
    // Keys written (in any attempt) with a late-upgrade entry: candidates for the post-write re-check.
    const upgradableKeys = new Set<string>();
    const conflictedKeys = new Set<string>();
    for (let attempt = 1; ; attempt += 1) {
      const result = await compute(attempt);
      if (result === null) {
        await this.publishLeftovers(websiteId, conflictedKeys, new Set());
        return { result: null, upgradableKeys: [...upgradableKeys] };
      }
      for (const w of result.recordWrites) if (w.record.upgrade !== null) upgradableKeys.add(w.record.paymentKey);
      const outcome = await this.stores.records.write(result.recordWrites);
      this.counters.recordsWritten += outcome.written;
      if (outcome.conflicts === 0) {
        if (result.recordWrites.length > 0) await this.hooks.afterRecordWrites?.({ websiteId, path, writes: result.recordWrites });
        await this.publishAndConfirm(result.toPublish);
        await this.publishLeftovers(websiteId, conflictedKeys, new Set(result.toPublish.map((s) => s.paymentKey)));
        return { result, upgradableKeys: [...upgradableKeys] };
      }
      this.counters.writeConflicts += outcome.conflicts;
      for (const w of result.recordWrites) conflictedKeys.add(w.record.paymentKey);
      this.logger.debug({ websiteId, path, attempt, conflicts: outcome.conflicts }, 'record write conflict; recomputing');
      if (attempt >= this.maxConflictRetries) {
        throw new RetryLaterError(`website ${websiteId}: ${path} still conflicting after ${attempt} attempts`);
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
    await this.publishAndConfirm(pending.map((r) => r.state));
  }

  /**
   * Produce, then record the revisions as published (the outbox). When a record has meanwhile moved to a
   * newer revision (another writer), that newer state is produced again after ours so that the compacted
   * topic ends on the highest revision.
   */
  private async publishAndConfirm(states: readonly PaymentState[]): Promise<void> {
    let round = states;
    for (let i = 0; round.length > 0 && i < 5; i += 1) {
      await this.publisher.publish(round);
      this.publishRate.add(round.length);
      if (i > 0) this.counters.newerRevisionsRepublished += round.length;
      round = (await this.stores.records.markPublished(round, this.clock())).map((r) => r.state);
    }
  }

  // ------------------------------------------------------------------------------------------ maintenance

  /**
   * Produces records still unpublished `stuckAfterMs` after their write (a crash between write and
   * produce, and no later batch touched them). Each run looks at what was written since the previous run
   * (minus an overlap for clock skew between instances); the first run of a process starts where the last
   * completed window of any instance ended (stored in the database), or at the oldest record the very first time.
   */
  async sweepPendingPublishes(stuckAfterMs: number, limit = 500): Promise<number> {
    const before = new Date(this.clock().getTime() - stuckAfterMs).toISOString();
    if (this.swept.until === null && this.swept.after === null) {
      // A new process: continue where the last completed window of any instance ended (minus the overlap).
      this.swept = { until: await this.stores.records.sweptUntil(), after: null };
    }
    const { until, after } = this.swept;
    const from = after ?? { updatedAt: until === null ? new Date(0).toISOString() : new Date(Date.parse(until) - SWEEP_OVERLAP_MS).toISOString(), id: null };
    const page = await this.stores.records.findPendingCandidates(from, before, limit);
    // A full page means there may be more: continue right after its last (write time, id) next run. By time alone a
    // page of records written at one instant (one batch shares its clock) would be read again forever.
    const last = page[page.length - 1];
    const next = page.length >= limit && last ? { until, after: { updatedAt: last.state.updatedAt, id: recordDocumentId(last) } } : { until: before, after: null };
    const stuck = page.filter((r) => r.pendingPublish !== null);
    if (stuck.length > 0) {
      this.logger.warn({ records: stuck.length }, 'republishing payment states left unpublished (crash between write and produce?)');
      // Throws while Kafka is down: the window then stays where it was, and the next run tries the same records.
      await this.publishAndConfirm(stuck.map((r) => r.state));
      this.counters.sweepRepublished += stuck.length;
    }
    this.swept = next;
    if (next.after === null) await this.stores.records.recordSweptUntil(before);
    return stuck.length;
  }

  /**
   * Deletes sessions no rule can credit any more (attribution window + late-upgrade horizon + margin), except the
   * sessions trial starts name: a trial converts with its checkout's session, possibly after that period.
   */
  async deleteExpiredSessions(): Promise<{ sessions: number; lookupKeys: number; kept: number }> {
    const deleted = await this.stores.sessions.deleteSessionsLastSeenBefore(new Date(this.clock().getTime() - this.retentionMs));
    this.counters.sessionsExpired += deleted.sessions;
    return deleted;
  }

  private nowIso(): string {
    return this.clock().toISOString();
  }
}
