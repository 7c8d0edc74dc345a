import { computeLedgerChain, type LedgerEntry } from './ledger-entries';
import { actualFigures, expectedFigures, type LedgerGroupTotals, reconcilePayments } from './reconcile';
import { highSession, nextRevision, paymentState, unattributed } from './test-states';

/** Entry sums grouped like the store's aggregation does. */
function group(entries: LedgerEntry[]): LedgerGroupTotals[] {
  const m = new Map<string, LedgerGroupTotals>();
  for (const e of entries) {
    const k = JSON.stringify([e.websiteId, e.paymentKey, e.currency, e.livemode, e.attributionKey]);
    const g = m.get(k) ?? { websiteId: e.websiteId, paymentKey: e.paymentKey, currency: e.currency, livemode: e.livemode, attributionKey: e.attributionKey, grossMinor: 0, refundedMinor: 0, netMinor: 0 };
    if (e.component === 'gross') g.grossMinor += e.amountMinor;
    else g.refundedMinor -= e.amountMinor;
    g.netMinor += e.amountMinor;
    m.set(k, g);
  }
  return [...m.values()];
}

const NOW = '2026-12-10T00:00:00.000Z';
const s1 = paymentState({ attribution: unattributed });
const s2 = nextRevision(s1, { refundedMinor: 900, refundedAt: '2026-12-01T00:00:00.000Z' });
const s3 = nextRevision(s2, { attribution: highSession });

describe('reconcilePayments', () => {
  it('is ok when the entries add up to the latest states', () => {
    const entries = computeLedgerChain(null, [s1, s2, s3], NOW)!.entries;
    expect(reconcilePayments([s3, s2], group(entries))).toEqual({ ok: true, checked: 1, mismatches: [] });
  });

  it('reports a payment whose entries lag its state', () => {
    const entries = computeLedgerChain(null, [s1, s2], NOW)!.entries;
    const report = reconcilePayments([s3], group(entries));
    expect(report.ok).toBe(false);
    // Totals agree, but the money still sits at the old attribution.
    expect(report.mismatches).toEqual([
      {
        websiteId: 'w_1',
        paymentKey: 'stripe:pi_1',
        expected: expectedFigures(s3),
        actual: { currency: 'eur', livemode: true, grossMinor: 4900, refundedMinor: 900, netMinor: 4000, attributedNetMinor: 0, elsewhereMinor: 5800 },
      },
    ]);
  });

  it('expects nothing held for a merged payment', () => {
    const merged = nextRevision(s3, { status: 'merged', mergedInto: 'stripe:pi_0' });
    expect(expectedFigures(merged)).toMatchObject({ grossMinor: 0, refundedMinor: 0, netMinor: 0, attributedNetMinor: 0 });
    const entries = computeLedgerChain(null, [s1, s3], NOW)!.entries;
    expect(reconcilePayments([merged], group(entries)).mismatches[0]!.actual.netMinor).toBe(4000);
    const all = computeLedgerChain(null, [s1, s3, merged], NOW)!.entries;
    expect(reconcilePayments([merged], group(all)).ok).toBe(true);
  });

  it('reports entries without a state unless told the states are a subset', () => {
    const other = paymentState({ paymentKey: 'stripe:pi_2' });
    const groups = group([...computeLedgerChain(null, [s1], NOW)!.entries, ...computeLedgerChain(null, [other], NOW)!.entries]);
    const report = reconcilePayments([s1], groups);
    expect(report.checked).toBe(2);
    expect(report.mismatches).toEqual([expect.objectContaining({ paymentKey: 'stripe:pi_2', expected: null })]);
    expect(reconcilePayments([s1], groups, { reportEntriesWithoutState: false })).toEqual({ ok: true, checked: 1, mismatches: [] });
  });

  it('counts money booked in another currency or mode as elsewhere', () => {
    const groups = group(computeLedgerChain(null, [s1], NOW)!.entries);
    expect(actualFigures({ ...s1, livemode: false }, groups)).toMatchObject({ grossMinor: 0, netMinor: 0, elsewhereMinor: 4900 });
  });
});
