import { computeLedgerChain, type LedgerEntry } from './ledger-entries';
import { actualFigures, expectedFigures, type LedgerGroupTotals, reconcilePayments } from './reconcile';
import { highSession, nextRevision, paymentState, unattributed } from './test-states';
import { paymentDocId } from './ledger-store';
import { classifyTopicMismatches } from './topic-replay';

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

describe('classifyTopicMismatches (reconcile against the topic)', () => {
  const figures = { currency: 'eur', livemode: true, grossMinor: 100, refundedMinor: 0, netMinor: 100, attributedNetMinor: 100, elsewhereMinor: 0 };
  const differs = (paymentKey: string) => ({ websiteId: 'w_1', paymentKey, expected: figures, actual: { ...figures, netMinor: 50 } });
  const id = (k: string) => paymentDocId('w_1', k);
  it('tells a ledger behind the topic (lagging), ahead of the read (applied while reading) and at it (mismatch) apart', () => {
    const out = classifyTopicMismatches(
      [differs('behind'), differs('pending'), differs('ahead'), differs('same'), differs('not_on_topic')],
      new Map([[id('behind'), 3], [id('pending'), 2], [id('ahead'), 2], [id('same'), 2]]),
      new Map([
        [id('behind'), { revision: 2, pendingRevision: null }],
        [id('pending'), { revision: 2, pendingRevision: 3 }],
        [id('ahead'), { revision: 3, pendingRevision: null }],
        [id('same'), { revision: 2, pendingRevision: null }],
        [id('not_on_topic'), { revision: 1, pendingRevision: null }],
      ]),
    );
    expect(out.lagging.map((m) => m.paymentKey)).toEqual(['behind', 'pending']);
    expect(out.ahead.map((m) => [m.paymentKey, m.topicRevision, m.ledgerRevision])).toEqual([['ahead', 2, 3]]);
    expect(out.mismatches.map((m) => m.paymentKey)).toEqual(['same', 'not_on_topic']);
  });

  it('once the consumer group had passed the read, a ledger behind missed its record: a mismatch (pending stays lagging)', () => {
    const out = classifyTopicMismatches(
      [differs('behind'), differs('pending')],
      new Map([[id('behind'), 3], [id('pending'), 3]]),
      new Map([[id('behind'), { revision: 2, pendingRevision: null }], [id('pending'), { revision: 2, pendingRevision: 3 }]]),
      true,
    );
    expect(out.mismatches.map((m) => m.paymentKey)).toEqual(['behind']);
    expect(out.lagging.map((m) => m.paymentKey)).toEqual(['pending']);
  });
});
