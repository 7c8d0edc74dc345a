import type { Attribution, SessionEvent } from '@metrivo/contracts';
import {
  attributePayment,
  confidenceRank,
  DEFAULT_ATTRIBUTION_SETTINGS,
  inheritAttribution,
  type AttributionSettings,
} from './attribution';
import { upgradeEntry } from './apply-payment-events';
import { collectChanges, latestRecords, planRecordWrite, stateContent, type PaymentChanges, type PaymentRecord, type RecordWrite } from './payment-records';
import type { EmailIdentity, SessionView } from './sessions';
import { sameData, sortedDistinct, toMs } from './util';

/**
 * Late tracker data (DESIGN §6): a session or identify event that arrives after the payment it explains.
 *
 * Flow at the edge, per batch of tracker events (or learned identities) of one website:
 *  1. store the sessions / identities (latest session version wins, earliest identity sighting wins);
 *  2. `keys = upgradeLookupKeys(signals, view)`;
 *     candidates = records.find({websiteId, 'upgrade.keys': {$in: keys}, 'upgrade.until': {$gte: now}});
 *  3. subscription members = records.find({websiteId, 'state.subscriptionKey': {$in: subscriptionKeysToLoad(candidates)}, 'state.status': {$ne: 'merged'}});
 *  4. `reattributePayments(...)` → CAS-write, produce, clear the outbox (as for payment events).
 * After the payment path writes NEW records it should also run step 4 for them with a freshly loaded view:
 * that closes the race where a session was stored after the payment path read the view but before the
 * index could find the new record.
 */

/** A tracker event, or an email→visitor pair learned from a payment (handled like an identify event). */
export type TrackerSignal = SessionEvent | EmailIdentity;

function isSessionEvent(signal: TrackerSignal): signal is SessionEvent {
  return 'type' in signal;
}

/** Index keys (`s:`, `v:`, `e:`) whose payments this data may change. */
export function upgradeLookupKeys(signals: readonly TrackerSignal[], view: SessionView): string[] {
  const keys: string[] = [];
  for (const s of signals) {
    if (isSessionEvent(s) && s.type === 'session') {
      keys.push(`s:${s.sessionId}`, `v:${s.visitorId}`);
      // A new session of a visitor known by email can change which visitor an email-matched payment credits.
      for (const e of view.emailsForVisitor(s.visitorId)) keys.push(`e:${e}`);
    } else {
      keys.push(`e:${s.emailHash}`);
    }
  }
  return sortedDistinct(keys);
}

/** Subscriptions whose renewals must follow a candidate that is their initial payment. */
export function subscriptionKeysToLoad(candidates: readonly PaymentRecord[]): string[] {
  return sortedDistinct(
    candidates
      .filter((r) => r.state.kind === 'subscription_initial' && r.state.subscriptionKey !== null && r.state.status !== 'merged')
      .map((r) => r.state.subscriptionKey!),
  );
}

export interface ReattributeInput {
  websiteId: string;
  /** Records found through the late-upgrade index (expired or settled ones are skipped). */
  candidates: readonly PaymentRecord[];
  /** Non-merged records of `subscriptionKeysToLoad(candidates)`. */
  subscriptionMembers: readonly PaymentRecord[];
  sessions: SessionView;
  now: string;
  settings?: AttributionSettings;
}

/**
 * Recompute the attribution of candidates still inside their late-upgrade horizon. The new attribution
 * replaces the published one unless it has lower confidence (never downgrade: e.g. sessions that expired
 * from the store). At equal confidence it replaces it too when it differs: the same rule applied to more
 * complete tracker data (a later session before the payment, a previous session found for a checkout
 * return) — this keeps the final state a function of the data, not of when it arrived.
 *
 * Renewals that inherit from a candidate are then brought in line with the candidate's attribution as it
 * now stands — also when the candidate itself did not change (or is past its horizon). The initial's and
 * its renewals' writes are separate compare-and-sets: a crash between them, or a renewal write lost to a
 * concurrent writer, leaves the initial upgraded and the renewal stale. The retry then finds the initial
 * unchanged, so "update renewals only when the initial changed" would leave the renewal stale forever
 * (DESIGN §7: a crash at any point must converge). Aligning is idempotent: an aligned renewal needs no write.
 */
export function reattributePayments(input: ReattributeInput): PaymentChanges {
  const { websiteId, sessions, now } = input;
  const settings = input.settings ?? DEFAULT_ATTRIBUTION_SETTINGS;
  if (sessions.websiteId !== websiteId) throw new Error('session view must be for the same website');
  const loaded = latestRecords([...input.candidates, ...input.subscriptionMembers]);
  for (const r of loaded.values()) if (r.websiteId !== websiteId) throw new Error(`record ${r.paymentKey} belongs to another website`);
  const nowMs = toMs(now);

  const writes: RecordWrite[] = [];
  const candidateKeys = new Set(input.candidates.map((r) => r.paymentKey));
  for (const key of [...candidateKeys].sort()) {
    const r = loaded.get(key)!;
    if (r.state.status === 'merged' || r.inheritsFrom !== null) continue;
    let attribution = r.state.attribution;
    const basis = r.attributionBasis;
    if (basis !== null && r.upgrade !== null && toMs(r.upgrade.until) >= nowMs) {
      const fresh = attributePayment(basis, sessions, settings);
      if (confidenceRank(fresh.confidence) >= confidenceRank(attribution.confidence) && !sameData(fresh, attribution)) {
        const keep = keepsUpgradeEntry(r);
        const w = planRecordWrite(r, { ...nextOf(r), content: { ...stateContent(r.state), attribution: fresh }, upgrade: upgradeEntry(basis, fresh, r.firstPublishedAt, settings, keep) }, now);
        if (w) writes.push(w);
        attribution = fresh;
      }
    }

    if (r.state.kind === 'subscription_initial' && r.state.subscriptionKey !== null) {
      const inherited: Attribution = inheritAttribution(attribution);
      for (const m of loaded.values()) {
        if (m.inheritsFrom !== r.paymentKey || m.state.status === 'merged') continue;
        const mw = planRecordWrite(m, { ...nextOf(m), content: { ...stateContent(m.state), attribution: inherited } }, now);
        if (mw) writes.push(mw);
      }
    }
  }
  return collectChanges(loaded, writes);
}

/**
 * A subscription's first payment stays in the late-upgrade index until its horizon even once settled: the
 * retry of an interrupted upgrade must find it again to align its renewals (see reattributePayments).
 */
export function keepsUpgradeEntry(r: { state: { kind: string; subscriptionKey: string | null } }): boolean {
  return r.state.kind === 'subscription_initial' && r.state.subscriptionKey !== null;
}

function nextOf(r: PaymentRecord) {
  return {
    websiteId: r.websiteId,
    paymentKey: r.paymentKey,
    content: stateContent(r.state),
    explicitKind: r.explicitKind,
    attributionBasis: r.attributionBasis,
    inheritsFrom: r.inheritsFrom,
    upgrade: r.upgrade,
    firstPublishedAt: r.firstPublishedAt,
  };
}
