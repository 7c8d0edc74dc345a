import type { PaymentState } from '@metrivo/contracts';
import { attributionKeyOf, entryAttributionOf, isMerged } from './ledger-entries';

/**
 * Reconciliation: do the ledger's entries add up to what the latest PaymentStates say? Pure comparison here;
 * the store supplies the entry sums (LedgerStore.ledgerTotals) and the states (its own records, or a list the
 * caller read, e.g. from the compacted revenue topic).
 */

/** Entry sums for one payment at one (currency, livemode, attribution): what the store's aggregation returns. */
export interface LedgerGroupTotals {
  websiteId: string;
  paymentKey: string;
  currency: string;
  livemode: boolean;
  attributionKey: string;
  grossMinor: number;
  refundedMinor: number;
  netMinor: number;
}

/**
 * What one payment amounts to. Totals are taken in the state's currency and mode.
 * `attributedNetMinor`: net held at the state's current attribution.
 * `elsewhereMinor`: Σ |gross| + |refunded| held anywhere else (other attribution, currency or mode): 0 when right.
 */
export interface PaymentFigures {
  currency: string;
  livemode: boolean;
  grossMinor: number;
  refundedMinor: number;
  netMinor: number;
  attributedNetMinor: number;
  elsewhereMinor: number;
}

export interface ReconciliationMismatch {
  websiteId: string;
  paymentKey: string;
  /** What the state implies; null when the ledger has entries but no state for the key. */
  expected: PaymentFigures | null;
  actual: PaymentFigures;
}

export interface ReconciliationReport {
  ok: boolean;
  /** Payments compared (states given plus keys found only in the entries). */
  checked: number;
  mismatches: ReconciliationMismatch[];
}

export interface ReconcileOptions {
  /** Report entry groups whose payment is not among the states (default true: the states are the whole set). */
  reportEntriesWithoutState?: boolean;
}

/** The figures a state implies: a merged payment holds nothing; otherwise all of it at its current attribution. */
export function expectedFigures(state: PaymentState): PaymentFigures {
  const merged = isMerged(state);
  return {
    currency: state.currency,
    livemode: state.livemode,
    grossMinor: merged ? 0 : state.grossMinor,
    refundedMinor: merged ? 0 : state.refundedMinor,
    netMinor: merged ? 0 : state.netMinor,
    attributedNetMinor: merged ? 0 : state.netMinor,
    elsewhereMinor: 0,
  };
}

/** The figures the ledger's entry groups give for a payment, measured against `state` (or its own first group). */
export function actualFigures(state: PaymentState | null, groups: readonly LedgerGroupTotals[]): PaymentFigures {
  const first = groups[0];
  const currency = state?.currency ?? first?.currency ?? '';
  const livemode = state?.livemode ?? first?.livemode ?? true;
  const attributionKey = state ? attributionKeyOf(entryAttributionOf(state)) : (first?.attributionKey ?? '');
  const figures: PaymentFigures = { currency, livemode, grossMinor: 0, refundedMinor: 0, netMinor: 0, attributedNetMinor: 0, elsewhereMinor: 0 };
  for (const g of groups) {
    const sameBook = g.currency === currency && g.livemode === livemode;
    if (sameBook) {
      figures.grossMinor += g.grossMinor;
      figures.refundedMinor += g.refundedMinor;
      figures.netMinor += g.netMinor;
    }
    if (sameBook && g.attributionKey === attributionKey) figures.attributedNetMinor += g.netMinor;
    else figures.elsewhereMinor += Math.abs(g.grossMinor) + Math.abs(g.refundedMinor);
  }
  return figures;
}

function sameFigures(a: PaymentFigures, b: PaymentFigures): boolean {
  return (
    a.currency === b.currency &&
    a.livemode === b.livemode &&
    a.grossMinor === b.grossMinor &&
    a.refundedMinor === b.refundedMinor &&
    a.netMinor === b.netMinor &&
    a.attributedNetMinor === b.attributedNetMinor &&
    a.elsewhereMinor === b.elsewhereMinor
  );
}

const keyOf = (websiteId: string, paymentKey: string): string => JSON.stringify([websiteId, paymentKey]);

/** Compares the latest state of each payment with the ledger's entry sums for it. */
export function reconcilePayments(
  states: readonly PaymentState[],
  groups: readonly LedgerGroupTotals[],
  options: ReconcileOptions = {},
): ReconciliationReport {
  const latest = new Map<string, PaymentState>();
  for (const s of states) {
    const k = keyOf(s.websiteId, s.paymentKey);
    const seen = latest.get(k);
    if (!seen || seen.revision < s.revision) latest.set(k, s);
  }
  const groupsByKey = new Map<string, LedgerGroupTotals[]>();
  for (const g of groups) {
    const k = keyOf(g.websiteId, g.paymentKey);
    const list = groupsByKey.get(k);
    if (list) list.push(g);
    else groupsByKey.set(k, [g]);
  }
  const mismatches: ReconciliationMismatch[] = [];
  let checked = 0;
  for (const [k, state] of latest) {
    checked += 1;
    const expected = expectedFigures(state);
    const actual = actualFigures(state, groupsByKey.get(k) ?? []);
    if (!sameFigures(expected, actual)) mismatches.push({ websiteId: state.websiteId, paymentKey: state.paymentKey, expected, actual });
  }
  if (options.reportEntriesWithoutState ?? true) {
    for (const [k, list] of groupsByKey) {
      if (latest.has(k)) continue;
      checked += 1;
      const actual = actualFigures(null, list);
      const holdsSomething = list.some((g) => g.grossMinor !== 0 || g.refundedMinor !== 0);
      // Entries that cancel out (nothing held) are harmless even without a state.
      if (holdsSomething) mismatches.push({ websiteId: list[0]!.websiteId, paymentKey: list[0]!.paymentKey, expected: null, actual });
    }
  }
  return { ok: mismatches.length === 0, checked, mismatches };
}
