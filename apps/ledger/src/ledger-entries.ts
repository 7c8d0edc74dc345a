import { createHash } from 'node:crypto';
import { formatMinor } from '@metrivo/contracts';
import type { AttributionSource, Confidence, MatchedBy, PaymentState } from '@metrivo/contracts';

/**
 * The ledger's domain: turning a new PaymentState revision into the append-only entries that move the ledger
 * from what it holds for that payment to what the new state says. Pure functions, no I/O.
 *
 * Model. For each payment the ledger holds signed amounts ("holdings"), each in one component and at one money
 * time, all counted for the payment's current attribution (and currency, livemode):
 *   - `gross`:    +grossMinor at paidAt;
 *   - `refunded`: −refund amounts, one bucket per refund money time (refundedAt ?? updatedAt of the revision that
 *                 raised the refunded total), so repeated partial refunds keep their own dates.
 * A merged payment holds nothing (the key it merged into carries the money).
 * An entry changes exactly one holding at one attribution; summing entries gives every report:
 *   grossMinor = Σ gross-component amounts, refundedMinor = −Σ refunded-component amounts, netMinor = Σ amounts.
 * Attribution moves are done per holding (same component, same money time), so any date range sees the money
 * under the attribution known now, and gross/refunded/net stay consistent per attribution, not only in total.
 */

export const ledgerEntryKinds = [
  'revenue',
  'revenue_adjustment',
  'refund',
  'attribution_move',
  'reclassification',
  'merge_reversal',
  'unmerge',
] as const;
export type LedgerEntryKind = (typeof ledgerEntryKinds)[number];

export type LedgerComponent = 'gross' | 'refunded';

/** What an entry counts for: the payment's attribution, flattened for grouping. */
export interface EntryAttribution {
  confidence: Confidence;
  matchedBy: MatchedBy;
  visitorId: string | null;
  sessionId: string | null;
  /** The credited session's channel; `unattributed` when no session is credited. */
  channel: string;
  /** utm.source, else the referrer's host (without `www.`), else `direct`; `unattributed` when no session is credited. */
  sourceName: string;
  source: AttributionSource | null;
}

export interface LedgerEntry {
  /** Deterministic: hash of (websiteId, paymentKey, revision, kind, leg). Replays produce the same id. */
  id: string;
  websiteId: string;
  paymentKey: string;
  /** Revision of the PaymentState this entry brings the ledger to. */
  revision: number;
  /** Revision the ledger held before (null for a payment's first entries). */
  fromRevision: number | null;
  /** Order of the entry within its revision (explain trails sort by revision, then seq). */
  seq: number;
  kind: LedgerEntryKind;
  /** Distinguishes several entries of one kind in one revision, e.g. `out:gross@2026-11-29T10:09:30.000Z`. */
  leg: string;
  component: LedgerComponent;
  currency: string;
  /** Signed integer minor units: + adds revenue, − removes it. */
  amountMinor: number;
  livemode: boolean;
  /** Money time (normalized ISO-8601 with milliseconds, UTC). */
  occurredAt: string;
  /** UTC day of occurredAt, `YYYY-MM-DD`. */
  occurredDay: string;
  /** When this ledger computed the entry (not part of the id: a replay keeps the first one). */
  recordedAt: string;
  attribution: EntryAttribution;
  /** Canonical string of `attribution`: entries with the same key count for the same attribution. */
  attributionKey: string;
  /** Provider event ids first seen in this revision (all of them for a payment's first entries). */
  eventIds: string[];
  /** Machine-readable reason, e.g. `refund_increased`. */
  rule: string;
  /** Human sentence for support: what happened and which attribution rule credits it. */
  explanation: string;
}

/** One signed amount the ledger holds for a payment (at the payment's current attribution). */
export interface Holding {
  component: LedgerComponent;
  occurredAt: string;
  amountMinor: number;
}

/** What the ledger has recorded for one payment: its latest applied state and the holdings that state implies. */
export interface RecordedPayment {
  state: PaymentState;
  holdings: Holding[];
}

export interface LedgerTransition {
  entries: LedgerEntry[];
  recorded: RecordedPayment;
}

/** Normalizes an ISO timestamp so that strings compare like instants (always milliseconds, always Z). */
export function normalizeInstant(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw new Error(`invalid timestamp: ${iso}`);
  return d.toISOString();
}

/** Money time of the refund change a revision carries. */
export function refundTime(state: PaymentState): string {
  return normalizeInstant(state.refundedAt ?? state.updatedAt);
}

export function isMerged(state: PaymentState): boolean {
  return state.status === 'merged';
}

export function entryAttributionOf(state: PaymentState): EntryAttribution {
  const a = state.attribution;
  return {
    confidence: a.confidence,
    matchedBy: a.matchedBy,
    visitorId: a.visitorId,
    sessionId: a.sessionId,
    channel: a.source ? a.source.channel : 'unattributed',
    sourceName: sourceNameOf(a.source),
    source: a.source,
  };
}

export function sourceNameOf(source: AttributionSource | null): string {
  if (!source) return 'unattributed';
  const utmSource = source.utm?.source?.trim().toLowerCase();
  if (utmSource) return utmSource;
  if (source.referrer) {
    try {
      const host = new URL(source.referrer).hostname.toLowerCase();
      if (host) return host.replace(/^www\./, '');
    } catch {
      // A referrer that is not a URL still names where the visitor came from.
      return source.referrer.slice(0, 200);
    }
  }
  return 'direct';
}

/**
 * JSON with object keys sorted and null/undefined properties left out, so equal values give equal strings whatever
 * key order the producer used, and a state read back from MongoDB (which stores an undefined property as null)
 * gives the same string as the one that was written.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined && obj[k] !== null)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

export function attributionKeyOf(attribution: EntryAttribution): string {
  const { confidence, matchedBy, visitorId, sessionId, source } = attribution;
  return canonicalJson({ confidence, matchedBy, visitorId, sessionId, source });
}

/** Deterministic entry id: base64url SHA-256 of (websiteId, paymentKey, revision, kind, leg). */
export function ledgerEntryId(websiteId: string, paymentKey: string, revision: number, kind: LedgerEntryKind, leg: string): string {
  return createHash('sha256').update(JSON.stringify([websiteId, paymentKey, revision, kind, leg])).digest('base64url');
}

/** The holdings a state implies when nothing else is known (refunds all at the state's refund time). */
export function holdingsFromState(state: PaymentState): Holding[] {
  if (isMerged(state)) return [];
  return normalizeHoldings([
    { component: 'gross', occurredAt: normalizeInstant(state.paidAt), amountMinor: state.grossMinor },
    { component: 'refunded', occurredAt: refundTime(state), amountMinor: -state.refundedMinor },
  ]);
}

/** Sums holdings with the same (component, money time), drops zeros, sorts gross first then by time. */
export function normalizeHoldings(holdings: readonly Holding[]): Holding[] {
  const byKey = new Map<string, Holding>();
  for (const h of holdings) {
    const key = `${h.component}@${h.occurredAt}`;
    const prev = byKey.get(key);
    byKey.set(key, { component: h.component, occurredAt: h.occurredAt, amountMinor: (prev?.amountMinor ?? 0) + h.amountMinor });
  }
  return [...byKey.values()].filter((h) => h.amountMinor !== 0).sort(compareHoldings);
}

function compareHoldings(a: Holding, b: Holding): number {
  if (a.component !== b.component) return a.component === 'gross' ? -1 : 1;
  return a.occurredAt < b.occurredAt ? -1 : a.occurredAt > b.occurredAt ? 1 : 0;
}

/** What the ledger must hold once `next` is applied, given what it held before. */
function targetHoldings(previous: RecordedPayment | null, next: PaymentState): Holding[] {
  if (isMerged(next)) return [];
  const keptRefunds = previous ? previous.holdings.filter((h) => h.component === 'refunded') : [];
  const heldRefunded = -keptRefunds.reduce((sum, h) => sum + h.amountMinor, 0);
  return normalizeHoldings([
    { component: 'gross', occurredAt: normalizeInstant(next.paidAt), amountMinor: next.grossMinor },
    ...keptRefunds,
    // A higher refunded total adds a bucket at this revision's refund time; a lower one (a failed or reversed
    // refund) is booked as a positive correction at that time rather than by rewriting earlier buckets.
    { component: 'refunded', occurredAt: refundTime(next), amountMinor: -(next.refundedMinor - heldRefunded) },
  ]);
}

interface Counting {
  currency: string;
  livemode: boolean;
  attribution: EntryAttribution;
  attributionKey: string;
}

function countingOf(state: PaymentState): Counting {
  const attribution = entryAttributionOf(state);
  return { currency: state.currency, livemode: state.livemode, attribution, attributionKey: attributionKeyOf(attribution) };
}

function describeAttribution(state: PaymentState): string {
  const a = state.attribution;
  const channel = a.source ? `, channel ${a.source.channel}, source ${sourceNameOf(a.source)}` : '';
  switch (a.matchedBy) {
    case 'session':
      return `credited to session ${a.sessionId ?? '?'} of visitor ${a.visitorId ?? '?'} (${a.confidence} confidence: the payment named a session recorded for this website${channel})`;
    case 'visitor':
      return `credited to visitor ${a.visitorId ?? '?'}'s session ${a.sessionId ?? '?'} (${a.confidence} confidence: the payment named a recorded visitor; last qualifying session before the payment${channel})`;
    case 'email':
      return `credited to visitor ${a.visitorId ?? '?'} (${a.confidence} confidence: only the email matched an identified visitor${channel})`;
    case 'subscription':
      return `credited like the subscription's first payment (${a.confidence} confidence, visitor ${a.visitorId ?? '?'}${channel})`;
    case 'none':
      return `not attributed (${a.confidence} confidence: no session, visitor or email matched)`;
  }
}

function newEventIds(previous: PaymentState | null, next: PaymentState): string[] {
  if (!previous) return [...next.eventIds];
  const seen = new Set(previous.eventIds);
  return next.eventIds.filter((e) => !seen.has(e));
}

/**
 * Entries that take the ledger from `previous` (what it recorded for this payment, or null) to `next`.
 * Returns null when `next` is stale or a repeat (revision ≤ the recorded one): nothing to do.
 * Revisions need not be consecutive: the delta is computed against what is recorded, whatever came between.
 */
export function computeLedgerTransition(previous: RecordedPayment | null, next: PaymentState, recordedAt: string): LedgerTransition | null {
  if (previous) {
    if (previous.state.websiteId !== next.websiteId || previous.state.paymentKey !== next.paymentKey) {
      throw new Error(`cannot apply ${next.websiteId}/${next.paymentKey} on top of ${previous.state.websiteId}/${previous.state.paymentKey}`);
    }
    if (next.revision <= previous.state.revision) return null;
  }
  const recordedAtIso = normalizeInstant(recordedAt);
  const held = previous ? normalizeHoldings(previous.holdings) : [];
  const target = targetHoldings(previous, next);
  const before = previous ? countingOf(previous.state) : null;
  const after = countingOf(next);
  const eventIds = newEventIds(previous?.state ?? null, next);
  const entries: LedgerEntry[] = [];

  const push = (kind: LedgerEntryKind, leg: string, counting: Counting, h: Holding, rule: string, explanation: string): void => {
    entries.push({
      id: ledgerEntryId(next.websiteId, next.paymentKey, next.revision, kind, leg),
      websiteId: next.websiteId,
      paymentKey: next.paymentKey,
      revision: next.revision,
      fromRevision: previous ? previous.state.revision : null,
      seq: entries.length,
      kind,
      leg,
      component: h.component,
      currency: counting.currency,
      amountMinor: h.amountMinor,
      livemode: counting.livemode,
      occurredAt: h.occurredAt,
      occurredDay: h.occurredAt.slice(0, 10),
      recordedAt: recordedAtIso,
      attribution: counting.attribution,
      attributionKey: counting.attributionKey,
      eventIds,
      rule,
      explanation,
    });
  };
  const money = (amount: number, currency: string): string => formatMinor(amount, currency);

  if (isMerged(next)) {
    // Merge: reverse everything held, where it is held; the surviving key carries the money.
    if (before) {
      for (const h of held) {
        push('merge_reversal', `${h.component}@${h.occurredAt}`, before, { ...h, amountMinor: -h.amountMinor }, 'payment_merged',
          `Payment ${next.paymentKey} turned out to be the same money as ${next.mergedInto ?? '?'}: ${h.component === 'gross' ? 'its revenue' : 'its refunds'} of ${money(Math.abs(h.amountMinor), before.currency)} at ${h.occurredAt} are reversed here and counted under ${next.mergedInto ?? '?'}.`);
      }
    }
    return { entries, recorded: { state: next, holdings: [] } };
  }

  // 1. Move what is held to the new attribution (or currency / mode), holding by holding, keeping money times.
  const moved = before !== null && (before.attributionKey !== after.attributionKey || before.currency !== after.currency || before.livemode !== after.livemode);
  if (before && moved && held.length > 0) {
    const reclassified = before.currency !== after.currency || before.livemode !== after.livemode;
    const kind: LedgerEntryKind = reclassified ? 'reclassification' : 'attribution_move';
    const rule = reclassified ? 'currency_or_mode_changed' : 'attribution_changed';
    const from = `${before.attribution.confidence}/${before.attribution.matchedBy}`;
    const to = `${after.attribution.confidence}/${after.attribution.matchedBy}`;
    for (const h of held) {
      const leg = `${h.component}@${h.occurredAt}`;
      push(kind, `out:${leg}`, before, { ...h, amountMinor: -h.amountMinor }, rule,
        `Attribution of ${next.paymentKey} changed from ${from} to ${to}: ${h.component} ${money(h.amountMinor, before.currency)} at ${h.occurredAt} leaves the old attribution.`);
      push(kind, `in:${leg}`, after, h, rule,
        `Attribution of ${next.paymentKey} changed from ${from} to ${to}: ${h.component} ${money(h.amountMinor, after.currency)} at ${h.occurredAt} is now ${describeAttribution(next)}.`);
    }
  }

  // 2. Book the difference between what is held (now at the new attribution) and what the new state implies.
  const heldByKey = new Map(held.map((h) => [`${h.component}@${h.occurredAt}`, h.amountMinor]));
  const targetByKey = new Map(target.map((h) => [`${h.component}@${h.occurredAt}`, h.amountMinor]));
  const keys = new Set([...heldByKey.keys(), ...targetByKey.keys()]);
  const diffs: Holding[] = [];
  for (const key of keys) {
    const delta = (targetByKey.get(key) ?? 0) - (heldByKey.get(key) ?? 0);
    if (delta === 0) continue;
    const [component, occurredAt] = key.split(/@(.*)/s) as [LedgerComponent, string];
    diffs.push({ component, occurredAt, amountMinor: delta });
  }
  diffs.sort(compareHoldings);
  const wasMerged = previous ? isMerged(previous.state) : false;
  const credited = describeAttribution(next);
  for (const d of diffs) {
    const leg = `${d.component}@${d.occurredAt}`;
    const amount = money(Math.abs(d.amountMinor), after.currency);
    if (wasMerged) {
      push('unmerge', leg, after, d, 'payment_unmerged',
        `Payment ${next.paymentKey} is no longer merged: its ${d.component} counts again (${money(d.amountMinor, after.currency)} at ${d.occurredAt}), ${credited}.`);
    } else if (d.component === 'gross') {
      if (!previous) {
        push('revenue', leg, after, d, 'payment_recorded', `Payment ${next.paymentKey} paid ${amount} at ${d.occurredAt} (${next.provider}, ${next.kind}), ${credited}.`);
      } else {
        push('revenue_adjustment', leg, after, d, 'gross_changed',
          `Gross of ${next.paymentKey} changed (${d.amountMinor > 0 ? '+' : '−'}${amount} at ${d.occurredAt}; now ${money(next.grossMinor, after.currency)} paid at ${normalizeInstant(next.paidAt)}), ${credited}.`);
      }
    } else if (d.amountMinor < 0) {
      push('refund', leg, after, d, 'refund_increased',
        `Refund of ${amount} on ${next.paymentKey} at ${d.occurredAt} (refunded total now ${money(next.refundedMinor, after.currency)} of ${money(next.grossMinor, after.currency)}), deducted from the payment's attribution: ${credited}.`);
    } else {
      push('refund', leg, after, d, 'refund_decreased',
        `Refunded total of ${next.paymentKey} went down by ${amount} (now ${money(next.refundedMinor, after.currency)}): a refund failed or was reversed; ${credited}.`);
    }
  }
  return { entries, recorded: { state: next, holdings: target } };
}

/**
 * Entries for `next` given only the previously recorded state (refunds assumed held at that state's refund time).
 * The store uses computeLedgerTransition with the holdings it recorded, which keeps each refund's own date.
 */
export function computeLedgerEntries(previous: PaymentState | null, next: PaymentState, recordedAt: string): LedgerEntry[] {
  const recorded = previous ? { state: previous, holdings: holdingsFromState(previous) } : null;
  return computeLedgerTransition(recorded, next, recordedAt)?.entries ?? [];
}

/** One step of a revision chain: the revision applied, the entries it produced and what is held after it. */
export interface LedgerStep {
  revision: number;
  entries: LedgerEntry[];
  after: RecordedPayment;
}

/** Applies a revision chain in order, step by step; stale revisions produce no step. */
export function computeLedgerSteps(previous: RecordedPayment | null, states: readonly PaymentState[], recordedAt: string): LedgerStep[] {
  const sorted = [...states].sort((a, b) => a.revision - b.revision);
  const steps: LedgerStep[] = [];
  let current = previous;
  for (const s of sorted) {
    const t = computeLedgerTransition(current, s, recordedAt);
    if (!t) continue;
    steps.push({ revision: s.revision, entries: t.entries, after: t.recorded });
    current = t.recorded;
  }
  return steps;
}

/** Applies a revision chain in order, skipping stale revisions; returns all entries and the final record. */
export function computeLedgerChain(previous: RecordedPayment | null, states: readonly PaymentState[], recordedAt: string): LedgerTransition | null {
  const steps = computeLedgerSteps(previous, states, recordedAt);
  const last = steps[steps.length - 1];
  return last ? { entries: steps.flatMap((s) => s.entries), recorded: last.after } : null;
}

/** Per-payment figures implied by a set of entries (all components at every attribution). */
export interface EntryTotals {
  grossMinor: number;
  refundedMinor: number;
  netMinor: number;
}

export function totalsOf(entries: readonly Pick<LedgerEntry, 'component' | 'amountMinor'>[]): EntryTotals {
  let grossMinor = 0;
  let refundedMinor = 0;
  for (const e of entries) {
    if (e.component === 'gross') grossMinor += e.amountMinor;
    else refundedMinor -= e.amountMinor;
  }
  return { grossMinor, refundedMinor, netMinor: grossMinor - refundedMinor };
}
