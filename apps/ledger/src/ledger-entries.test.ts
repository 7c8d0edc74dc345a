import fc from 'fast-check';
import type { PaymentState } from '@metrivo/contracts';
import {
  attributionKeyOf,
  computeLedgerChain,
  computeLedgerEntries,
  computeLedgerTransition,
  entryAttributionOf,
  type LedgerEntry,
  type RecordedPayment,
  sourceNameOf,
  totalsOf,
} from './ledger-entries';
import { highSession, mediumVisitor, nextRevision, paymentState, unattributed } from './test-states';

const NOW = '2026-11-30T00:00:00.000Z';

/** Applies states one by one like the store does; returns every entry and the final record. */
function applyAll(states: PaymentState[]): { entries: LedgerEntry[]; recorded: RecordedPayment | null } {
  let recorded: RecordedPayment | null = null;
  const entries: LedgerEntry[] = [];
  for (const s of states) {
    const t = computeLedgerTransition(recorded, s, NOW);
    if (!t) continue;
    entries.push(...t.entries);
    recorded = t.recorded;
  }
  return { entries, recorded };
}

/** Net per attribution key (only non-zero ones). */
function netByAttribution(entries: LedgerEntry[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of entries) m.set(e.attributionKey, (m.get(e.attributionKey) ?? 0) + e.amountMinor);
  for (const [k, v] of m) if (v === 0) m.delete(k);
  return m;
}

function sumWhere(entries: LedgerEntry[], pred: (e: LedgerEntry) => boolean): number {
  return entries.filter(pred).reduce((s, e) => s + e.amountMinor, 0);
}

describe('computeLedgerTransition', () => {
  it('books a new payment as revenue at paidAt, counted for its attribution', () => {
    const s1 = paymentState({ attribution: highSession, paidAt: '2026-11-29T10:09:30Z' });
    const t = computeLedgerTransition(null, s1, NOW);
    expect(t).not.toBeNull();
    expect(t!.entries).toHaveLength(1);
    const [e] = t!.entries;
    expect(e).toMatchObject({
      websiteId: 'w_1',
      paymentKey: 'stripe:pi_1',
      revision: 1,
      fromRevision: null,
      kind: 'revenue',
      component: 'gross',
      currency: 'eur',
      amountMinor: 4900,
      livemode: true,
      occurredAt: '2026-11-29T10:09:30.000Z',
      occurredDay: '2026-11-29',
      recordedAt: NOW,
      eventIds: ['evt_1'],
      rule: 'payment_recorded',
    });
    expect(e!.attribution).toMatchObject({ confidence: 'high', matchedBy: 'session', visitorId: 'v_9', sessionId: 's_3', channel: 'paid_search', sourceName: 'google' });
    expect(e!.explanation).toContain('49.00 EUR');
    expect(e!.explanation).toContain('session s_3');
    expect(t!.recorded.holdings).toEqual([{ component: 'gross', occurredAt: '2026-11-29T10:09:30.000Z', amountMinor: 4900 }]);
  });

  it('gives the same ids for the same transition whenever it is computed, and distinct ids within it', () => {
    const s1 = paymentState({ refundedMinor: 900, refundedAt: '2026-11-29T12:00:00.000Z' });
    const a = computeLedgerEntries(null, s1, NOW);
    const b = computeLedgerEntries(null, s1, '2027-01-01T00:00:00.000Z');
    expect(a.map((e) => e.id)).toEqual(b.map((e) => e.id));
    expect(new Set(a.map((e) => e.id)).size).toBe(a.length);
    const other = computeLedgerEntries(null, { ...s1, websiteId: 'w_2' }, NOW);
    expect(other.map((e) => e.id).some((id) => a.some((e) => e.id === id))).toBe(false);
  });

  it('returns null for stale and repeated revisions', () => {
    const s2 = paymentState({ revision: 2 });
    const recorded = computeLedgerTransition(null, s2, NOW)!.recorded;
    expect(computeLedgerTransition(recorded, s2, NOW)).toBeNull();
    expect(computeLedgerTransition(recorded, { ...s2, revision: 1, refundedMinor: 100, netMinor: 4800 }, NOW)).toBeNull();
  });

  it('books a partial refund then a full refund as two refunds at their own money times', () => {
    const s1 = paymentState();
    const s2 = nextRevision(s1, { refundedMinor: 1000, refundedAt: '2026-12-01T09:00:00.000Z', eventIds: ['evt_1', 'evt_r1'] });
    const s3 = nextRevision(s2, { refundedMinor: 4900, refundedAt: '2026-12-05T09:00:00.000Z', eventIds: ['evt_1', 'evt_r1', 'evt_r2'] });
    const { entries, recorded } = applyAll([s1, s2, s3]);
    const refunds = entries.filter((e) => e.kind === 'refund');
    expect(refunds.map((e) => [e.revision, e.amountMinor, e.occurredAt, e.eventIds])).toEqual([
      [2, -1000, '2026-12-01T09:00:00.000Z', ['evt_r1']],
      [3, -3900, '2026-12-05T09:00:00.000Z', ['evt_r2']],
    ]);
    expect(totalsOf(entries)).toEqual({ grossMinor: 4900, refundedMinor: 4900, netMinor: 0 });
    expect(recorded!.holdings).toHaveLength(3);
  });

  it('uses updatedAt as the refund money time when refundedAt is absent', () => {
    const s1 = paymentState();
    const s2 = nextRevision(s1, { refundedMinor: 500, refundedAt: null, updatedAt: '2026-12-02T08:00:00Z' });
    const [refund] = computeLedgerEntries(s1, s2, NOW);
    expect(refund).toMatchObject({ kind: 'refund', amountMinor: -500, occurredAt: '2026-12-02T08:00:00.000Z', fromRevision: 1 });
  });

  it('moves every holding to the new attribution after an upgrade, keeping each money time', () => {
    const s1 = paymentState({ attribution: unattributed });
    const s2 = nextRevision(s1, { refundedMinor: 1000, refundedAt: '2026-12-01T09:00:00.000Z' });
    const s3 = nextRevision(s2, { attribution: highSession, updatedAt: '2026-12-02T00:00:00.000Z' });
    const { entries } = applyAll([s1, s2, s3]);
    const moves = entries.filter((e) => e.revision === 3);
    expect(moves.every((e) => e.kind === 'attribution_move' && e.rule === 'attribution_changed')).toBe(true);
    expect(moves.map((e) => [e.leg.split(':')[0], e.component, e.amountMinor, e.occurredAt, e.attribution.confidence])).toEqual([
      ['out', 'gross', -4900, '2026-11-29T10:09:30.000Z', 'none'],
      ['in', 'gross', 4900, '2026-11-29T10:09:30.000Z', 'high'],
      ['out', 'refunded', 1000, '2026-12-01T09:00:00.000Z', 'none'],
      ['in', 'refunded', -1000, '2026-12-01T09:00:00.000Z', 'high'],
    ]);
    const highKey = attributionKeyOf(entryAttributionOf(s3));
    expect([...netByAttribution(entries)]).toEqual([[highKey, 3900]]);
    // Per day and per attribution, the old attribution holds nothing any more.
    expect(sumWhere(entries, (e) => e.occurredDay === '2026-12-01' && e.attribution.confidence === 'none')).toBe(0);
    expect(sumWhere(entries, (e) => e.occurredDay === '2026-12-01' && e.attribution.confidence === 'high')).toBe(-1000);
    expect(totalsOf(entries)).toEqual({ grossMinor: 4900, refundedMinor: 1000, netMinor: 3900 });
  });

  it('deducts a later refund from the upgraded attribution', () => {
    const s1 = paymentState({ attribution: unattributed });
    const s2 = nextRevision(s1, { attribution: mediumVisitor });
    const s3 = nextRevision(s2, { refundedMinor: 900, refundedAt: '2026-12-03T00:00:00.000Z' });
    const { entries } = applyAll([s1, s2, s3]);
    const refund = entries.find((e) => e.kind === 'refund')!;
    expect(refund.attribution).toMatchObject({ confidence: 'medium', matchedBy: 'visitor', channel: 'referral', sourceName: 'news.ycombinator.com' });
    expect([...netByAttribution(entries).values()]).toEqual([4000]);
  });

  it('treats a change of the source alone as an attribution move', () => {
    const s1 = paymentState({ attribution: highSession });
    const s2 = nextRevision(s1, { attribution: { ...highSession, source: { ...highSession.source!, landingPage: '/blog' } } });
    expect(computeLedgerEntries(s1, s2, NOW).map((e) => e.kind)).toEqual(['attribution_move', 'attribution_move']);
    const s3 = nextRevision(s2, { eventIds: ['evt_1', 'evt_9'] });
    expect(computeLedgerEntries(s2, s3, NOW)).toEqual([]);
  });

  it('reverses what a payment holds when it becomes merged, and books it again if un-merged', () => {
    const s1 = paymentState({ attribution: highSession });
    const s2 = nextRevision(s1, { refundedMinor: 900, refundedAt: '2026-12-01T00:00:00.000Z' });
    const s3 = nextRevision(s2, { status: 'merged', mergedInto: 'stripe:in_1', attribution: mediumVisitor });
    const merged = applyAll([s1, s2, s3]);
    const reversal = merged.entries.filter((e) => e.revision === 3);
    expect(reversal.map((e) => [e.kind, e.component, e.amountMinor, e.attribution.confidence])).toEqual([
      ['merge_reversal', 'gross', -4900, 'high'],
      ['merge_reversal', 'refunded', 900, 'high'],
    ]);
    expect(totalsOf(merged.entries)).toEqual({ grossMinor: 0, refundedMinor: 0, netMinor: 0 });
    expect(reversal[0]!.explanation).toContain('stripe:in_1');

    const s4 = nextRevision(s3, { status: 'paid', mergedInto: null, refundedMinor: 900 });
    const again = computeLedgerTransition(merged.recorded, s4, NOW)!;
    expect(again.entries.map((e) => [e.kind, e.component, e.amountMinor, e.attribution.confidence])).toEqual([
      ['unmerge', 'gross', 4900, 'medium'],
      ['unmerge', 'refunded', -900, 'medium'],
    ]);
  });

  it('books nothing for a payment first seen already merged', () => {
    const s = paymentState({ status: 'merged', mergedInto: 'stripe:pi_0', netMinor: 0 });
    expect(computeLedgerEntries(null, s, NOW)).toEqual([]);
  });

  it('handles a revision gap exactly like the consecutive revisions', () => {
    const s1 = paymentState({ attribution: unattributed });
    const s2 = nextRevision(s1, { refundedMinor: 1000, refundedAt: '2026-12-01T00:00:00.000Z' });
    const s3 = nextRevision(s2, { attribution: highSession, refundedMinor: 2000, refundedAt: '2026-12-02T00:00:00.000Z' });
    const gap = applyAll([s1, s3]);
    const full = applyAll([s1, s2, s3]);
    expect(totalsOf(gap.entries)).toEqual(totalsOf(full.entries));
    expect(netByAttribution(gap.entries)).toEqual(netByAttribution(full.entries));
    expect(gap.entries.filter((e) => e.revision === 3).every((e) => e.fromRevision === 1)).toBe(true);
  });

  it('ignores an older revision arriving after a newer one', () => {
    const s1 = paymentState();
    const s2 = nextRevision(s1, { refundedMinor: 1000, refundedAt: '2026-12-01T00:00:00.000Z' });
    const s3 = nextRevision(s2, { refundedMinor: 3000, refundedAt: '2026-12-02T00:00:00.000Z' });
    const outOfOrder = applyAll([s1, s3, s2]);
    expect(outOfOrder.recorded!.state.revision).toBe(3);
    expect(outOfOrder.entries.some((e) => e.revision === 2)).toBe(false);
    expect(totalsOf(outOfOrder.entries)).toEqual({ grossMinor: 4900, refundedMinor: 3000, netMinor: 1900 });
  });

  it('labels test-mode entries and reclassifies if a payment changes mode', () => {
    const t1 = paymentState({ livemode: false });
    const entries = computeLedgerEntries(null, t1, NOW);
    expect(entries.map((e) => [e.livemode, e.amountMinor])).toEqual([[false, 4900]]);
    const t2 = nextRevision(t1, { livemode: true });
    const moved = computeLedgerEntries(t1, t2, NOW);
    expect(moved.map((e) => [e.kind, e.livemode, e.amountMinor])).toEqual([
      ['reclassification', false, -4900],
      ['reclassification', true, 4900],
    ]);
  });

  it('books a lower refunded total as a positive refund correction', () => {
    const s1 = paymentState({ refundedMinor: 1000, refundedAt: '2026-12-01T00:00:00.000Z' });
    const s2 = nextRevision(s1, { refundedMinor: 0, refundedAt: '2026-12-03T00:00:00.000Z' });
    const entries = computeLedgerEntries(s1, s2, NOW);
    expect(entries.map((e) => [e.kind, e.rule, e.amountMinor])).toEqual([['refund', 'refund_decreased', 1000]]);
  });

  it('moves gross to a new paidAt if the payment time is corrected', () => {
    const s1 = paymentState({ paidAt: '2026-11-29T10:00:00.000Z' });
    const s2 = nextRevision(s1, { paidAt: '2026-11-28T23:59:00.000Z' });
    const entries = computeLedgerEntries(s1, s2, NOW);
    expect(entries.map((e) => [e.kind, e.occurredDay, e.amountMinor])).toEqual([
      ['revenue_adjustment', '2026-11-28', 4900],
      ['revenue_adjustment', '2026-11-29', -4900],
    ]);
  });

  it('refuses to apply a state of another payment on top of a record', () => {
    const recorded = computeLedgerTransition(null, paymentState(), NOW)!.recorded;
    expect(() => computeLedgerTransition(recorded, paymentState({ paymentKey: 'stripe:pi_2', revision: 2 }), NOW)).toThrow(/cannot apply/);
  });
});

describe('attributionKeyOf', () => {
  it('ignores key order and null versus absent properties', () => {
    const a = entryAttributionOf(paymentState({ attribution: highSession }));
    const reordered = { ...a, source: { ...highSession.source!, utm: { campaign: 'bf', medium: 'cpc', source: 'google', term: undefined } } };
    expect(attributionKeyOf(reordered)).toBe(attributionKeyOf(a));
    const withNull = { ...a, source: { ...highSession.source!, utm: { ...highSession.source!.utm, content: null as unknown as string } } };
    expect(attributionKeyOf(withNull)).toBe(attributionKeyOf(a));
    expect(attributionKeyOf({ ...a, sessionId: 's_4' })).not.toBe(attributionKeyOf(a));
  });
});

describe('sourceNameOf', () => {
  it('prefers utm.source, then the referrer host, then direct', () => {
    expect(sourceNameOf(highSession.source)).toBe('google');
    expect(sourceNameOf(mediumVisitor.source)).toBe('news.ycombinator.com');
    expect(sourceNameOf({ ...mediumVisitor.source!, referrer: 'https://www.Example.org/post' })).toBe('example.org');
    expect(sourceNameOf({ referrer: null, channel: 'direct', utm: null, landingPage: null, country: null, device: null })).toBe('direct');
    expect(sourceNameOf(null)).toBe('unattributed');
  });
});

describe('ledger invariants (property)', () => {
  const attributions = [unattributed, mediumVisitor, highSession];
  type Step = { kind: 'refund'; amount: number; day: number } | { kind: 'attribute'; which: number } | { kind: 'merge' } | { kind: 'unmerge' };
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ kind: fc.constant('refund' as const), amount: fc.integer({ min: -300, max: 3000 }), day: fc.integer({ min: 1, max: 9 }) }),
    fc.record({ kind: fc.constant('attribute' as const), which: fc.integer({ min: 0, max: 2 }) }),
    fc.record({ kind: fc.constant('merge' as const) }),
    fc.record({ kind: fc.constant('unmerge' as const) }),
  );

  function buildChain(gross: number, steps: Step[]): PaymentState[] {
    const chain = [paymentState({ grossMinor: gross })];
    for (const st of steps) {
      const last = chain[chain.length - 1]!;
      if (st.kind === 'refund') {
        if (last.status === 'merged') continue;
        const refundedMinor = Math.min(gross, Math.max(0, last.refundedMinor + st.amount));
        chain.push(nextRevision(last, { refundedMinor, refundedAt: `2026-12-0${st.day}T00:00:00.000Z` }));
      } else if (st.kind === 'attribute') {
        chain.push(nextRevision(last, { attribution: attributions[st.which]! }));
      } else if (st.kind === 'merge') {
        chain.push(nextRevision(last, { status: 'merged', mergedInto: 'stripe:pi_0' }));
      } else {
        chain.push(nextRevision(last, { status: 'paid', mergedInto: null }));
      }
    }
    return chain;
  }

  it('any increasing subsequence ending at the latest revision, in any delivery order, gives the latest totals', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.array(step, { maxLength: 10 }),
        fc.array(fc.boolean(), { minLength: 11, maxLength: 11 }),
        fc.array(fc.nat(), { maxLength: 15 }),
        (gross, steps, keep, shuffle) => {
          const chain = buildChain(gross, steps);
          const last = chain[chain.length - 1]!;
          const subset = chain.filter((s, i) => s === last || keep[i]);
          // Deliver in a shuffled order: stale ones are skipped, so only the increasing records count.
          const delivered = [...subset];
          shuffle.forEach((n, i) => {
            const a = i % delivered.length;
            const b = n % delivered.length;
            [delivered[a], delivered[b]] = [delivered[b]!, delivered[a]!];
          });
          const inOrder = applyAll(subset);
          const shuffled = applyAll(delivered);
          const merged = last.status === 'merged';
          const expected = { grossMinor: merged ? 0 : last.grossMinor, refundedMinor: merged ? 0 : last.refundedMinor, netMinor: last.netMinor };
          expect(totalsOf(inOrder.entries)).toEqual(expected);
          const byAttribution = netByAttribution(inOrder.entries);
          if (last.netMinor === 0) expect(byAttribution.size).toBe(0);
          else expect([...byAttribution]).toEqual([[attributionKeyOf(entryAttributionOf(last)), last.netMinor]]);
          // Shuffled delivery loses revisions that arrive after a newer one, but still ends at the latest state.
          expect(shuffled.recorded!.state.revision).toBe(last.revision);
          expect(totalsOf(shuffled.entries)).toEqual(expected);
          expect(new Set(inOrder.entries.map((e) => e.id)).size).toBe(inOrder.entries.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('computeLedgerChain equals applying the revisions one by one', () => {
    const s1 = paymentState();
    const s2 = nextRevision(s1, { refundedMinor: 100, refundedAt: '2026-12-01T00:00:00.000Z' });
    const s3 = nextRevision(s2, { attribution: highSession });
    const chained = computeLedgerChain(null, [s3, s1, s2], NOW)!;
    expect(chained.entries).toEqual(applyAll([s1, s2, s3]).entries);
    expect(computeLedgerChain(chained.recorded, [s2], NOW)).toBeNull();
  });
});
