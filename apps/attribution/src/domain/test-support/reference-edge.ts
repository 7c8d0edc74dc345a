import type { NormalizedPaymentEvent, PaymentState, SessionEvent, SessionRecord } from '@metrivo/contracts';
import { DEFAULT_ATTRIBUTION_SETTINGS, type AttributionSettings } from '../attribution';
import { applyPaymentEvents, emptyPaymentSnapshot, nextPaymentLoad, sessionLookups, withLoaded, type ApplyPaymentEventsResult } from '../apply-payment-events';
import { reattributePayments, subscriptionKeysToLoad, upgradeLookupKeys, type TrackerSignal } from '../late-upgrade';
import { toStoredPaymentFact, type StoredPaymentFact } from '../payment-facts';
import type { PaymentChanges, PaymentRecord } from '../payment-records';
import { createSessionView, preferredIdentity, identityFromIdentify, newerSession, type EmailIdentity, type SessionView } from '../sessions';
import { stableStringify, toMs } from '../util';

/**
 * An in-memory stand-in for the Kafka/MongoDB edge that follows the documented protocol exactly (facts
 * first, load closure, compute, CAS-write records, produce, clear the outbox, learned identities, post-write
 * recheck). Used by the tests, and an executable description of what the real edge must do.
 * Deliberately simple (copies, linear scans): not for production.
 */
export interface ReferenceEdge {
  ingestPayments(events: readonly NormalizedPaymentEvent[], now: string): PaymentState[];
  ingestTracker(events: readonly SessionEvent[], now: string): PaymentState[];
  /** Every produced message, in order (what the revenue topic would hold before compaction). */
  readonly produced: PaymentState[];
  /** What a consumer keeping the highest revision per key sees. */
  latestStates(): Map<string, PaymentState>;
  records(): PaymentRecord[];
  /** The last payment computation (for assertions on learned identities etc.). */
  lastPaymentResult(): ApplyPaymentEventsResult | null;
}

export function createReferenceEdge(websiteId: string, settings: AttributionSettings = DEFAULT_ATTRIBUTION_SETTINGS): ReferenceEdge {
  const facts = new Map<string, StoredPaymentFact>();
  const records = new Map<string, PaymentRecord>();
  const sessions = new Map<string, SessionRecord>();
  const identities = new Map<string, EmailIdentity>();
  const produced: PaymentState[] = [];
  let lastResult: ApplyPaymentEventsResult | null = null;

  const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
  /** Everything stored: only for computing lookup keys of new tracker data. */
  const fullView = (): SessionView => createSessionView(websiteId, [...sessions.values()].map(clone), [...identities.values()].map(clone));
  /** Only what `sessionLookups` says to load, so the tests prove that it is enough. */
  const viewFor = (input: { facts?: StoredPaymentFact[]; records?: PaymentRecord[] }): SessionView => {
    const l = sessionLookups(input, settings);
    const named = [...sessions.values()].filter((x) => l.sessionIds.includes(x.sessionId));
    const ids = [...identities.values()].filter((i) => l.emailHashes.includes(i.emailHash));
    const visitors = new Set([...l.visitorIds, ...named.map((x) => x.visitorId), ...ids.map((i) => i.visitorId)]);
    const ofVisitors = [...sessions.values()].filter((x) => visitors.has(x.visitorId));
    const latest = new Map<string, SessionRecord>();
    for (const x of ofVisitors) {
      const cur = latest.get(x.visitorId);
      if (!cur || toMs(x.startedAt) > toMs(cur.startedAt)) latest.set(x.visitorId, x);
    }
    const inWindow = l.since === null ? [] : ofVisitors.filter((x) => toMs(x.startedAt) >= toMs(l.since!));
    return createSessionView(websiteId, [...named, ...inWindow, ...latest.values()].map(clone), ids.map(clone));
  };

  function commit(changes: PaymentChanges): PaymentState[] {
    for (const w of changes.recordWrites) {
      const stored = records.get(w.record.paymentKey);
      const storedVersion = stored?.version ?? null;
      if (storedVersion !== w.expectedVersion) throw new Error(`CAS conflict on ${w.record.paymentKey}: ${storedVersion} != ${w.expectedVersion}`);
      records.set(w.record.paymentKey, clone(w.record));
    }
    for (const s of changes.toPublish) {
      produced.push(clone(s));
      const r = records.get(s.paymentKey);
      if (r && r.pendingPublish === s.revision) records.set(s.paymentKey, { ...r, pendingPublish: null });
    }
    return changes.toPublish;
  }

  function trackerPath(signals: readonly TrackerSignal[], now: string): PaymentState[] {
    const keys = new Set(upgradeLookupKeys(signals, fullView()));
    const nowMs = toMs(now);
    const candidates = [...records.values()].filter(
      (r) => r.upgrade !== null && toMs(r.upgrade.until) >= nowMs && r.upgrade.keys.some((k) => keys.has(k)),
    );
    return recheck(candidates, now);
  }

  function recheck(candidates: PaymentRecord[], now: string): PaymentState[] {
    if (candidates.length === 0) return [];
    const subs = new Set(subscriptionKeysToLoad(candidates));
    const members = [...records.values()].filter((r) => r.state.subscriptionKey !== null && subs.has(r.state.subscriptionKey) && r.state.status !== 'merged');
    const v = viewFor({ records: [...candidates, ...members] });
    return commit(reattributePayments({ websiteId, candidates: candidates.map(clone), subscriptionMembers: members.map(clone), sessions: v, now, settings }));
  }

  return {
    produced,
    latestStates() {
      const latest = new Map<string, PaymentState>();
      for (const s of produced) {
        const cur = latest.get(s.paymentKey);
        if (!cur || s.revision > cur.revision) latest.set(s.paymentKey, s);
        else if (s.revision === cur.revision && stableStringify(s) !== stableStringify(cur)) {
          throw new Error(`two different states published as ${s.paymentKey} revision ${s.revision}`);
        }
      }
      return latest;
    },
    records: () => [...records.values()].map(clone),
    lastPaymentResult: () => lastResult,

    ingestPayments(events, now) {
      // 1. facts first (insert if absent)
      const batch = events.map(toStoredPaymentFact);
      for (const f of batch) if (!facts.has(f.factId)) facts.set(f.factId, clone(f));
      // 2. load the closure
      let snapshot = emptyPaymentSnapshot(websiteId);
      for (let req = nextPaymentLoad(batch, snapshot); req !== null; req = nextPaymentLoad(batch, snapshot)) {
        const keys = new Set(req.keys);
        const subs = new Set(req.subscriptionKeys);
        const loadedFacts = [...facts.values()].filter((f) => f.linkKeys.some((k) => keys.has(k)));
        const loadedRecords = [...records.values()].filter(
          (r) => keys.has(r.paymentKey) || (r.state.subscriptionKey !== null && subs.has(r.state.subscriptionKey) && r.state.status !== 'merged'),
        );
        snapshot = withLoaded(snapshot, req, { facts: loadedFacts.map(clone), records: loadedRecords.map(clone) });
      }
      // 3. compute
      const result = applyPaymentEvents({ websiteId, events, snapshot, sessions: viewFor({ facts: [...batch, ...snapshot.facts], records: snapshot.records }), now, settings });
      lastResult = result;
      for (const f of result.factInserts) if (!facts.has(f.factId)) facts.set(f.factId, clone(f));
      const out = [...commit(result)];
      // 4. learned identities behave like identify events
      for (const i of result.learnedIdentities) {
        const k = `${i.emailHash}|${i.visitorId}`;
        identities.set(k, preferredIdentity(identities.get(k) ?? null, i));
      }
      if (result.learnedIdentities.length > 0) out.push(...trackerPath(result.learnedIdentities, now));
      // 5. post-write recheck of new records against a fresh view
      const fresh = result.recordWrites.filter((w) => w.expectedVersion === null).map((w) => records.get(w.record.paymentKey)!);
      out.push(...recheck(fresh.filter((r) => r.upgrade !== null), now));
      return out;
    },

    ingestTracker(events, now) {
      for (const e of events) {
        if (e.websiteId !== websiteId) continue;
        if (e.type === 'session') sessions.set(e.sessionId, newerSession(sessions.get(e.sessionId) ?? null, clone(e)));
        else {
          const i = identityFromIdentify(e);
          const k = `${i.emailHash}|${i.visitorId}`;
          identities.set(k, preferredIdentity(identities.get(k) ?? null, i));
        }
      }
      return trackerPath(events, now);
    },
  };
}
