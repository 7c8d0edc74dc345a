import { SCHEMA_VERSION } from '@metrivo/contracts';
import type { Attribution, NormalizedPaymentEvent, PaymentKind, PaymentState } from '@metrivo/contracts';
import {
  attributePayment,
  DEFAULT_ATTRIBUTION_SETTINGS,
  inheritAttribution,
  upgradeKeys,
  type AttributionBasis,
  type AttributionSettings,
} from './attribution';
import { isTrialStartReport, subscriptionKeyOf, toStoredPaymentFact, trialStartKey, type StoredPaymentFact } from './payment-facts';
import { clusterPaymentFacts, distinctFacts, foldPaymentCluster, type PaymentFold, type PaymentMoney } from './payment-identity';
import {
  collectChanges,
  latestRecords,
  planRecordWrite,
  type PaymentChanges,
  type PaymentRecord,
  type RecordWrite,
  stateContent,
  type StateContent,
} from './payment-records';
import { preferredIdentity, type EmailIdentity, type SessionView } from './sessions';
import { addMs, canonicalIso, compareIso, compareStrings, DAY_MS, HOUR_MS, sameData, sortedDistinct, toMs } from './util';

/**
 * What the edge loaded for one batch of one website's payment events. Build it with
 * `emptyPaymentSnapshot` + repeated `nextPaymentLoad` / `withLoaded` until `nextPaymentLoad` says null.
 */
export interface PaymentSnapshot {
  websiteId: string;
  /** Stored facts whose linkKeys intersect `loadedKeys`. May include this batch's facts (insert them first). */
  facts: StoredPaymentFact[];
  /** Records with paymentKey in `loadedKeys`, and non-merged records of `loadedSubscriptionKeys`. */
  records: PaymentRecord[];
  loadedKeys: string[];
  loadedSubscriptionKeys: string[];
}

/**
 * One load round. The edge answers it with
 *   facts:   find({websiteId, linkKeys: {$in: keys}})
 *   records: find({websiteId, $or: [{paymentKey: {$in: keys}},
 *                                   {'state.subscriptionKey': {$in: subscriptionKeys}, 'state.status': {$ne: 'merged'}}]})
 */
export interface PaymentLoadRequest {
  websiteId: string;
  keys: string[];
  subscriptionKeys: string[];
}

export function emptyPaymentSnapshot(websiteId: string): PaymentSnapshot {
  return { websiteId, facts: [], records: [], loadedKeys: [], loadedSubscriptionKeys: [] };
}

/**
 * What is still missing: first the transitive closure of link keys (every fact of every payment the batch
 * touches, and every record those payments were ever published under), then the other payments of the
 * subscriptions involved (their records only: kind and inherited attribution depend on them) together with
 * the facts of their trial start (`trialStartKey`: 0 reports publish no record, yet the first paid payment
 * needs their signals), whose link keys then close like the others.
 * Returns null when the snapshot is complete.
 */
export function nextPaymentLoad(batch: readonly StoredPaymentFact[], snapshot: PaymentSnapshot): PaymentLoadRequest | null {
  const facts = [...batch, ...snapshot.facts];
  const loaded = new Set(snapshot.loadedKeys);
  const keys = sortedDistinct(facts.flatMap((f) => f.linkKeys)).filter((k) => !loaded.has(k));
  if (keys.length > 0) return { websiteId: snapshot.websiteId, keys, subscriptionKeys: [] };
  const loadedSubs = new Set(snapshot.loadedSubscriptionKeys);
  const subscriptionKeys = sortedDistinct(
    facts.flatMap((f) => (f.event.refs.subscription === null ? [] : [`${f.event.provider}:${f.event.refs.subscription}`])),
  ).filter((k) => !loadedSubs.has(k));
  if (subscriptionKeys.length > 0) return { websiteId: snapshot.websiteId, keys: subscriptionKeys.map(trialStartKey).filter((k) => !loaded.has(k)), subscriptionKeys };
  return null;
}

export function withLoaded(
  snapshot: PaymentSnapshot,
  request: PaymentLoadRequest,
  loaded: { facts: readonly StoredPaymentFact[]; records: readonly PaymentRecord[] },
): PaymentSnapshot {
  return {
    websiteId: snapshot.websiteId,
    facts: [...snapshot.facts, ...loaded.facts],
    records: [...snapshot.records, ...loaded.records],
    loadedKeys: sortedDistinct([...snapshot.loadedKeys, ...request.keys]),
    loadedSubscriptionKeys: sortedDistinct([...snapshot.loadedSubscriptionKeys, ...request.subscriptionKeys]),
  };
}

/** What the SessionView of a computation must be able to answer (see `sessionLookups`). */
export interface SessionLookups {
  sessionIds: string[];
  visitorIds: string[];
  emailHashes: string[];
  /** Earliest session start any rule can credit (earliest payment time minus the window); null when nothing to look up. */
  since: string | null;
}

/**
 * Ids a computation over these facts/records may ask the SessionView about. The edge loads:
 *  1. sessions with sessionId in `sessionIds` (any age) and identities with emailHash in `emailHashes`;
 *  2. for every visitor in `visitorIds`, in the sessions of step 1 and in the identities of step 1: their
 *     sessions with startedAt >= `since`, plus their latest session (so a visitor whose sessions are all
 *     older is still known);
 *  3. for the late-upgrade lookup only: identities of the visitors of new sessions (emailsForVisitor).
 * Loading more than this is harmless (the rules filter by website and time).
 */
export function sessionLookups(
  input: { facts?: readonly StoredPaymentFact[]; records?: readonly PaymentRecord[] },
  settings: AttributionSettings = DEFAULT_ATTRIBUTION_SETTINGS,
): SessionLookups {
  const payments = (input.facts ?? []).filter((f) => f.event.type === 'payment').map((f) => f.event);
  const bases = (input.records ?? []).map((r) => r.attributionBasis).filter((b): b is AttributionBasis => b !== null);
  const times = [...payments.map((e) => toMs(e.occurredAt)), ...bases.map((b) => toMs(b.paidAt))];
  return {
    sessionIds: sortedDistinct([...payments.flatMap((e) => (e.signals.sessionId ? [e.signals.sessionId] : [])), ...bases.flatMap((b) => b.sessionIds)]),
    visitorIds: sortedDistinct([...payments.flatMap((e) => (e.signals.visitorId ? [e.signals.visitorId] : [])), ...bases.flatMap((b) => b.visitorIds)]),
    emailHashes: sortedDistinct([...payments.flatMap((e) => (e.signals.emailHash ? [e.signals.emailHash] : [])), ...bases.flatMap((b) => b.emailHashes)]),
    since: times.length === 0 ? null : new Date(Math.min(...times) - settings.windowDays * DAY_MS).toISOString(),
  };
}

export interface ApplyPaymentEventsInput {
  websiteId: string;
  /** The batch (any order, duplicates allowed); all for `websiteId`. */
  events: readonly NormalizedPaymentEvent[];
  /** Complete per `nextPaymentLoad` (an incomplete snapshot is a bug at the edge and throws). */
  snapshot: PaymentSnapshot;
  sessions: SessionView;
  /** ISO time of the computation: updatedAt of new revisions, start of the late-upgrade horizon. */
  now: string;
  settings?: AttributionSettings;
}

export interface ApplyPaymentEventsResult extends PaymentChanges {
  /** Batch facts the snapshot did not contain: insert if absent (empty when the edge inserted them first). */
  factInserts: StoredPaymentFact[];
  /**
   * email→visitor pairs taught by payments carrying both. The edge upserts them (keeping the sighting `preferredIdentity` keeps)
   * and then runs the late-upgrade path for them like identify events (every time: it is idempotent).
   */
  learnedIdentities: EmailIdentity[];
  /** Events without any payment id (cannot be placed): worth a warning, nothing else. */
  unlinkedEventIds: string[];
}

interface Member {
  key: string;
  paidAt: string;
  explicitKind: PaymentKind | null;
}

/**
 * The subscription's first payment among its paid members: the earliest one stated initial; else, when the
 * subscription started with a 0 trial (`trialStarted`), the earliest paid one whatever its stated kind (the
 * provider calls the first paid invoice after a trial a renewal, but it is the first money the checkout
 * earned); else the earliest with no stated kind. Without a known trial start, stated renewals are never
 * promoted: a subscription older than the integration has no initial payment here, only renewals.
 */
function pickInitial(members: readonly Member[], trialStarted: boolean): string | null {
  const earliest = (ms: readonly Member[]): string | null =>
    [...ms].sort((a, b) => compareIso(a.paidAt, b.paidAt) || compareStrings(a.key, b.key))[0]?.key ?? null;
  const stated = members.filter((m) => m.explicitKind === 'subscription_initial');
  if (stated.length > 0) return earliest(stated);
  if (trialStarted) return earliest(members.filter((m) => m.explicitKind !== 'one_time'));
  return earliest(members.filter((m) => m.explicitKind === null));
}

function kindOf(member: Member, subscriptionKey: string | null, initialKey: string | null): PaymentKind {
  if (subscriptionKey !== null && member.key === initialKey) return 'subscription_initial';
  if (member.explicitKind !== null) return member.explicitKind;
  if (subscriptionKey === null) return 'one_time';
  return 'subscription_renewal';
}

type Signals = Pick<AttributionBasis, 'sessionIds' | 'visitorIds' | 'emailHashes'>;

/** Signals of the trial-start reports (see `isTrialStartReport`), per subscription key. */
function trialSignalsBySubscription(facts: readonly StoredPaymentFact[]): Map<string, Signals> {
  const out = new Map<string, Signals>();
  for (const f of facts) {
    const e = f.event;
    if (!isTrialStartReport(e) || e.type !== 'payment') continue;
    const sub = subscriptionKeyOf(e.provider, e.refs.subscription)!;
    const cur = out.get(sub) ?? { sessionIds: [], visitorIds: [], emailHashes: [] };
    const add = (list: string[], v: string | null): string[] => (v === null ? list : sortedDistinct([...list, v]));
    out.set(sub, {
      sessionIds: add(cur.sessionIds, e.signals.sessionId),
      visitorIds: add(cur.visitorIds, e.signals.visitorId),
      emailHashes: add(cur.emailHashes, e.signals.emailHash),
    });
  }
  return out;
}

/** Signals as a set union (sorted, distinct), so the basis does not depend on which side was known first. */
function withSignals<T extends Signals>(own: T, extra: Signals | undefined): T {
  if (extra === undefined) return own;
  return {
    ...own,
    sessionIds: sortedDistinct([...own.sessionIds, ...extra.sessionIds]),
    visitorIds: sortedDistinct([...own.visitorIds, ...extra.visitorIds]),
    emailHashes: sortedDistinct([...own.emailHashes, ...extra.emailHashes]),
  };
}

function statusOf(money: PaymentMoney): PaymentState['status'] {
  if (money.refundedMinor === 0) return 'paid';
  return money.refundedMinor >= money.grossMinor ? 'refunded' : 'partially_refunded';
}

function contentOf(websiteId: string, fold: PaymentFold, money: PaymentMoney, kind: PaymentKind, attribution: Attribution): StateContent {
  return {
    schemaVersion: SCHEMA_VERSION,
    websiteId,
    paymentKey: fold.paymentKey,
    provider: fold.provider,
    livemode: fold.livemode,
    currency: money.currency,
    grossMinor: money.grossMinor,
    refundedMinor: money.refundedMinor,
    netMinor: money.grossMinor - money.refundedMinor,
    status: statusOf(money),
    mergedInto: null,
    paidAt: money.paidAt,
    refundedAt: money.refundedAt,
    kind,
    subscriptionKey: fold.subscriptionKey,
    attribution,
    refs: fold.refs,
    emailMasked: fold.emailMasked,
    eventIds: fold.eventIds,
  };
}

/**
 * A key that turned out to be the same money as `survivorKey`: net 0 and gross/refunded 0 too, so that
 * summing any money field over current states never counts the payment twice (the ledger sees the
 * correction as the delta from the previous revision). The other fields stay as this key last showed them
 * (which events it had, its attribution): a tombstone that changes only if the survivor key changes, never
 * when the survivor's own content does.
 */
function mergedContent(previous: PaymentState, survivorKey: string): StateContent {
  return { ...stateContent(previous), status: 'merged', mergedInto: survivorKey, grossMinor: 0, refundedMinor: 0, netMinor: 0, refundedAt: null };
}

export function lateUpgradeUntil(paidAt: string, firstPublishedAt: string, settings: AttributionSettings): string {
  const from = Math.max(toMs(paidAt), toMs(firstPublishedAt));
  return addMs(new Date(from).toISOString(), settings.lateUpgradeHours * HOUR_MS);
}

/** Own attribution: unchanged inputs keep the published attribution; changed inputs are recomputed. */
export function ownAttribution(
  prev: PaymentRecord | undefined,
  basis: AttributionBasis,
  sessions: SessionView,
  settings: AttributionSettings,
): Attribution {
  if (prev && prev.state.status !== 'merged' && prev.inheritsFrom === null && prev.attributionBasis && sameData(prev.attributionBasis, basis)) {
    return prev.state.attribution;
  }
  return attributePayment(basis, sessions, settings);
}

/** `keepSettled`: stay in the index until the horizon even when settled (subscription initials, see late-upgrade.ts). */
export function upgradeEntry(
  basis: AttributionBasis,
  attribution: Attribution,
  firstPublishedAt: string,
  settings: AttributionSettings,
  keepSettled = false,
): PaymentRecord['upgrade'] {
  const keys = upgradeKeys(basis, attribution, keepSettled);
  return keys.length === 0 ? null : { keys, until: lateUpgradeUntil(basis.paidAt, firstPublishedAt, settings) };
}

/**
 * Fold a batch of one website's payment events into PaymentStates. Pure: the same snapshot, events, session
 * view and `now` give the same result, and the result is the same for any order or duplication of the
 * facts (see DESIGN §5, §7 and README.md in this folder).
 *
 * Rules (summarised; details on the helpers):
 * - one state per cluster of facts sharing link keys, published under `survivorKey` once the cluster has a
 *   paid, non-zero report; refund-only or unpaid clusters publish nothing and their facts wait;
 * - keys published earlier for part of a cluster become `merged` into the survivor (gross/refunded/net 0);
 * - kind: stated by a report, else by position in the subscription (earliest = initial);
 * - renewals carry the initial payment's attribution (matchedBy "subscription"); other payments are
 *   attributed from their own signals, recomputed only when those inputs change (so a refund, a duplicate
 *   or a late event never reshuffles an attribution); late tracker data goes through late-upgrade.ts;
 * - a new revision only when the published content changes.
 */
export function applyPaymentEvents(input: ApplyPaymentEventsInput): ApplyPaymentEventsResult {
  const { websiteId, snapshot, sessions, now } = input;
  const settings = input.settings ?? DEFAULT_ATTRIBUTION_SETTINGS;
  for (const e of input.events) {
    if (e.websiteId !== websiteId) throw new Error(`event ${e.eventId} belongs to website ${e.websiteId}, not ${websiteId}`);
  }
  if (snapshot.websiteId !== websiteId || sessions.websiteId !== websiteId) throw new Error('snapshot and session view must be for the same website');
  for (const r of snapshot.records) if (r.websiteId !== websiteId) throw new Error(`record ${r.paymentKey} belongs to another website`);
  for (const f of snapshot.facts) if (f.websiteId !== websiteId) throw new Error(`fact ${f.factId} belongs to another website`);

  const batch = input.events.map(toStoredPaymentFact);
  if (nextPaymentLoad(batch, snapshot) !== null) throw new Error('payment snapshot is incomplete: keep loading until nextPaymentLoad returns null');

  const knownFactIds = new Set(snapshot.facts.map((f) => f.factId));
  const factInserts = distinctFacts(batch.filter((f) => !knownFactIds.has(f.factId)));
  const { clusters, unlinked } = clusterPaymentFacts([...snapshot.facts, ...batch]);
  const trialSignals = trialSignalsBySubscription(distinctFacts([...snapshot.facts, ...batch]));
  const folds = clusters.map(foldPaymentCluster);
  const records = latestRecords(snapshot.records);

  // Which fold owns which stored record (a record published under any link key of the cluster).
  const ownerOf = new Map<string, PaymentFold>();
  for (const fold of folds) for (const k of fold.linkKeys) if (records.has(k)) ownerOf.set(k, fold);
  const revenue = folds.filter((f): f is PaymentFold & { money: PaymentMoney } => f.money !== null);
  const context = [...records.values()].filter((r) => !ownerOf.has(r.paymentKey) && r.state.status !== 'merged');

  // Subscription positions over touched payments and the subscription's other (stored) payments.
  const membersBySub = new Map<string, Member[]>();
  const addMember = (sub: string | null, m: Member): void => {
    if (sub === null) return;
    membersBySub.set(sub, [...(membersBySub.get(sub) ?? []), m]);
  };
  for (const f of revenue) addMember(f.subscriptionKey, { key: f.paymentKey, paidAt: f.money.paidAt, explicitKind: f.explicitKind });
  for (const r of context) addMember(r.state.subscriptionKey, { key: r.paymentKey, paidAt: r.state.paidAt, explicitKind: r.explicitKind });
  const initialBySub = new Map<string, string | null>();
  for (const [sub, members] of membersBySub) initialBySub.set(sub, pickInitial(members, trialSignals.has(sub)));
  // The first payment after a trial is attributed on its own signals plus those of the trial start (the
  // checkout that won the subscription named the session); the others carry its attribution as renewals.
  const trialSignalsFor = (sub: string | null, key: string): Signals | undefined =>
    sub !== null && initialBySub.get(sub) === key ? trialSignals.get(sub) : undefined;

  // Attribution: own-attributed payments first, then renewals copy their initial's.
  interface Planned {
    key: string;
    prev: PaymentRecord | undefined;
    kind: PaymentKind;
    explicitKind: PaymentKind | null;
    basis: AttributionBasis;
    initialKey: string | null;
    build: (kind: PaymentKind, attribution: Attribution) => StateContent;
  }
  const planned: Planned[] = [];
  for (const f of revenue) {
    const initialKey = f.subscriptionKey === null ? null : initialBySub.get(f.subscriptionKey) ?? null;
    const member = { key: f.paymentKey, paidAt: f.money.paidAt, explicitKind: f.explicitKind };
    planned.push({
      key: f.paymentKey,
      prev: records.get(f.paymentKey),
      kind: kindOf(member, f.subscriptionKey, initialKey),
      explicitKind: f.explicitKind,
      basis: withSignals({ ...f.signals, paidAt: f.money.paidAt }, trialSignalsFor(f.subscriptionKey, f.paymentKey)),
      initialKey,
      build: (kind, attribution) => contentOf(websiteId, f, f.money, kind, attribution),
    });
  }
  for (const r of context) {
    const sub = r.state.subscriptionKey;
    const initialKey = sub === null ? null : initialBySub.get(sub) ?? null;
    if (r.attributionBasis === null) continue; // not produced by this module: leave it alone
    const basis = withSignals(r.attributionBasis, trialSignalsFor(sub, r.paymentKey));
    planned.push({
      key: r.paymentKey,
      prev: r,
      kind: kindOf({ key: r.paymentKey, paidAt: r.state.paidAt, explicitKind: r.explicitKind }, sub, initialKey),
      explicitKind: r.explicitKind,
      basis,
      initialKey,
      build: (kind, attribution) => ({ ...stateContent(r.state), kind, attribution }),
    });
  }

  const plannedKeys = new Set(planned.map((p) => p.key));
  const inherits = (p: Planned): boolean =>
    p.kind === 'subscription_renewal' && p.initialKey !== null && p.initialKey !== p.key && plannedKeys.has(p.initialKey);
  const attributionByKey = new Map<string, Attribution>();
  for (const p of planned) if (!inherits(p)) attributionByKey.set(p.key, ownAttribution(p.prev, p.basis, sessions, settings));
  for (const p of planned) if (inherits(p)) attributionByKey.set(p.key, inheritAttribution(attributionByKey.get(p.initialKey!)!));

  const writes: RecordWrite[] = [];
  const contentByKey = new Map<string, StateContent>();
  for (const p of planned) {
    const attribution = attributionByKey.get(p.key)!;
    const content = p.build(p.kind, attribution);
    contentByKey.set(p.key, content);
    const firstPublishedAt = p.prev?.firstPublishedAt ?? canonicalIso(now);
    const inherited = inherits(p);
    const w = planRecordWrite(
      p.prev,
      {
        websiteId,
        paymentKey: p.key,
        content,
        explicitKind: p.explicitKind,
        attributionBasis: p.basis,
        inheritsFrom: inherited ? p.initialKey : null,
        upgrade: inherited ? null : upgradeEntry(p.basis, attribution, firstPublishedAt, settings, p.kind === 'subscription_initial' && content.subscriptionKey !== null),
        firstPublishedAt,
      },
      now,
    );
    if (w) writes.push(w);
  }

  // Keys published earlier for what is now part of a bigger payment.
  for (const [key, fold] of ownerOf) {
    if (key === fold.paymentKey) continue;
    if (!contentByKey.has(fold.paymentKey)) continue; // the cluster is not revenue (cannot happen after a publish): leave the record alone
    const prev = records.get(key)!;
    const w = planRecordWrite(
      prev,
      {
        websiteId,
        paymentKey: key,
        content: mergedContent(prev.state, fold.paymentKey),
        explicitKind: prev.explicitKind,
        attributionBasis: null,
        inheritsFrom: null,
        upgrade: null,
        firstPublishedAt: prev.firstPublishedAt,
      },
      now,
    );
    if (w) writes.push(w);
  }

  const learned = new Map<string, EmailIdentity>();
  for (const f of revenue) {
    for (const emailHash of f.signals.emailHashes) {
      for (const visitorId of f.signals.visitorIds) {
        const k = `${emailHash}|${visitorId}`;
        learned.set(k, preferredIdentity(learned.get(k) ?? null, { websiteId, emailHash, visitorId, at: f.money.paidAt, learnedFrom: 'payment' }));
      }
    }
  }

  return {
    ...collectChanges(records, writes),
    factInserts,
    learnedIdentities: [...learned.values()].sort((a, b) => compareStrings(`${a.emailHash}|${a.visitorId}`, `${b.emailHash}|${b.visitorId}`)),
    unlinkedEventIds: unlinked.map((f) => f.factId),
  };
}
