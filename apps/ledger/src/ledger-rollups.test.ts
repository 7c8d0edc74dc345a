import fc from 'fast-check';
import type { PaymentState } from '@metrivo/contracts';
import { computeLedgerSteps, type LedgerEntry, type RecordedPayment } from './ledger-entries';
import {
  addContribution,
  emptyRollup,
  expiredMarkers,
  periodsToRead,
  planRange,
  pruneMarkers,
  rollupContribution,
  rollupId,
  RollupFolder,
  sameFigures,
  touchedRollups,
  type PaymentSteps,
  type Rollup,
} from './ledger-rollups';
import { highSession, mediumVisitor, nextRevision, paymentState, unattributed } from './test-states';

describe('planRange', () => {
  const d = (iso: string): Date => new Date(iso);

  it('reads open and day-aligned ranges from rollups only', () => {
    expect(planRange(undefined, undefined)).toEqual({ days: { fromDay: null, toDay: null }, edges: [] });
    expect(planRange(d('2026-11-01T00:00:00Z'), d('2026-12-01T00:00:00Z'))).toEqual({ days: { fromDay: '2026-11-01', toDay: '2026-12-01' }, edges: [] });
    expect(planRange(d('2026-11-01T00:00:00Z'), undefined)).toEqual({ days: { fromDay: '2026-11-01', toDay: null }, edges: [] });
  });

  it('reads the partial days at the edges from entries', () => {
    expect(planRange(d('2026-11-01T05:30:00Z'), d('2026-11-04T18:00:00Z'))).toEqual({
      days: { fromDay: '2026-11-02', toDay: '2026-11-04' },
      edges: [
        { from: d('2026-11-01T05:30:00Z'), to: d('2026-11-02T00:00:00Z') },
        { from: d('2026-11-04T00:00:00Z'), to: d('2026-11-04T18:00:00Z') },
      ],
    });
    expect(planRange(undefined, d('2026-11-04T18:00:00Z'))).toEqual({
      days: { fromDay: null, toDay: '2026-11-04' },
      edges: [{ from: d('2026-11-04T00:00:00Z'), to: d('2026-11-04T18:00:00Z') }],
    });
  });

  it('treats bounds beyond the years 0000–9999 as open (a far-future `to` means "up to the end")', () => {
    const farFuture = new Date(Date.parse('9999-12-31T00:00:00Z') + 86_400_000); // ?to=9999-12-31
    expect(planRange(undefined, farFuture)).toEqual({ days: { fromDay: null, toDay: null }, edges: [] });
    expect(planRange(d('2026-11-01T00:00:00Z'), farFuture)).toEqual({ days: { fromDay: '2026-11-01', toDay: null }, edges: [] });
    expect(planRange(new Date(Date.parse('0000-01-01T00:00:00Z') - 1), d('2026-11-01T00:00:00Z'))).toEqual({ days: { fromDay: null, toDay: '2026-11-01' }, edges: [] });
    expect(planRange(farFuture, undefined)).toEqual({ days: null, edges: [] });
  });

  it('reads a from bound inside 9999-12-31 from entries only (no day string after it)', () => {
    const end = new Date(Date.parse('9999-12-31T00:00:00Z') + 86_400_000);
    expect(planRange(d('9999-12-31T12:00:00Z'), undefined)).toEqual({ days: null, edges: [{ from: d('9999-12-31T12:00:00Z'), to: end }] });
    expect(planRange(d('9999-12-31T12:00:00Z'), d('9999-12-31T13:00:00Z'))).toEqual({ days: null, edges: [{ from: d('9999-12-31T12:00:00Z'), to: d('9999-12-31T13:00:00Z') }] });
    expect(planRange(d('9999-12-31T00:00:00Z'), undefined)).toEqual({ days: { fromDay: '9999-12-31', toDay: null }, edges: [] });
  });

  it('reads a range without a whole day (within one day, or across one midnight) from entries', () => {
    expect(planRange(d('2026-11-01T05:00:00Z'), d('2026-11-01T07:00:00Z'))).toEqual({ days: null, edges: [{ from: d('2026-11-01T05:00:00Z'), to: d('2026-11-01T07:00:00Z') }] });
    expect(planRange(d('2026-11-01T23:00:00Z'), d('2026-11-02T01:00:00Z'))).toEqual({ days: null, edges: [{ from: d('2026-11-01T23:00:00Z'), to: d('2026-11-02T01:00:00Z') }] });
    expect(planRange(d('2026-11-01T23:00:00Z'), d('2026-11-02T00:00:00Z'))).toEqual({ days: null, edges: [{ from: d('2026-11-01T23:00:00Z'), to: d('2026-11-02T00:00:00Z') }] });
    expect(planRange(d('2026-11-02T00:00:00Z'), d('2026-11-01T00:00:00Z'))).toEqual({ days: null, edges: [] });
  });
});

describe('periodsToRead', () => {
  const listed = ['2026-10-31', '2026-11-01', '2026-11-15', '2026-11-30', '2026-12-01', '2026-12-02'];

  it('reads whole months as one rollup and the days of partly covered months one by one', () => {
    expect(periodsToRead(listed, { fromDay: null, toDay: null }, false)).toEqual(['2026-10', '2026-11', '2026-12']);
    expect(periodsToRead(listed, { fromDay: '2026-11-01', toDay: '2026-12-01' }, false)).toEqual(['2026-11']);
    expect(periodsToRead(listed, { fromDay: '2026-11-02', toDay: '2026-12-02' }, false)).toEqual(['2026-11-15', '2026-11-30', '2026-12-01']);
    expect(periodsToRead(listed, { fromDay: '2026-10-31', toDay: null }, false)).toEqual(['2026-10-31', '2026-11', '2026-12']);
    expect(periodsToRead(listed, { fromDay: null, toDay: '2026-11-15' }, false)).toEqual(['2026-10', '2026-11-01']);
  });

  it('never reads December 9999 as a whole month unless the end is open', () => {
    const late = ['9999-11-30', '9999-12-01', '9999-12-30', '9999-12-31'];
    expect(periodsToRead(late, { fromDay: '9999-12-01', toDay: '9999-12-31' }, false)).toEqual(['9999-12-01', '9999-12-30']);
    expect(periodsToRead(late, { fromDay: '9999-12-01', toDay: null }, false)).toEqual(['9999-12']);
    expect(periodsToRead(late, { fromDay: '9999-11-01', toDay: '9999-12-01' }, false)).toEqual(['9999-11']);
    expect(periodsToRead(['0001-12-31', '0002-01-01'], { fromDay: '0001-12-01', toDay: '0002-01-01' }, false)).toEqual(['0001-12']);
  });

  it('reads days only when every day is wanted on its own', () => {
    expect(periodsToRead(listed, { fromDay: '2026-11-01', toDay: '2026-12-01' }, true)).toEqual(['2026-11-01', '2026-11-15', '2026-11-30']);
  });
});

const NOW = '2026-12-10T00:00:00.000Z';

describe('dayContribution', () => {
  const s1 = paymentState({ paymentKey: 'stripe:pi_r', attribution: unattributed, paidAt: '2026-11-29T10:00:00.000Z' });
  const s2 = nextRevision(s1, { refundedMinor: 1000, refundedAt: '2026-12-01T09:00:00.000Z' });
  const s3 = nextRevision(s2, { attribution: highSession });
  const p: PaymentSteps = { paymentDocId: 'p1', before: null, steps: computeLedgerSteps(null, [s1, s2, s3], NOW) };
  const day29 = { websiteId: 'w_1', livemode: true, period: '2026-11-29' };

  it('adds every step without a marker, and counts the payment on the day of its gross', () => {
    expect(touchedRollups(p).map((k) => k.period).sort()).toEqual(['2026-11', '2026-11-29', '2026-12', '2026-12-01']);
    const c = rollupContribution(p, day29, undefined)!;
    expect(c.revision).toBe(3);
    expect(c.payments).toEqual({ eur: 1 });
    // +4900 unattributed, then moved: −4900 none, +4900 high.
    expect(c.cells.map((x) => [x.confidence, x.grossMinor, x.netMinor])).toEqual([
      ['none', 0, 0],
      ['high', 4900, 4900],
    ]);
    expect(rollupContribution(p, { ...day29, livemode: false }, undefined)).toMatchObject({ cells: [], payments: {} });
  });

  it('sums refunds as a positive refundedMinor that lowers net, under the attribution they moved to', () => {
    const c = rollupContribution(p, { ...day29, period: '2026-12-01' }, undefined)!;
    expect(c.payments).toEqual({});
    expect(c.cells.map((x) => [x.confidence, x.grossMinor, x.refundedMinor, x.netMinor])).toEqual([
      ['none', 0, 0, 0],
      ['high', 0, 1000, -1000],
    ]);
  });

  it('adds only the steps above the marker, and nothing at or beyond the last revision', () => {
    const c = rollupContribution(p, day29, 1)!;
    expect(c.payments).toEqual({});
    expect(c.cells.map((x) => [x.confidence, x.netMinor])).toEqual([
      ['none', -4900],
      ['high', 4900],
    ]);
    expect(rollupContribution(p, day29, 3)).toBeNull();
    expect(rollupContribution(p, day29, 7)).toBeNull();
  });

  it('moves the payment count when gross leaves a day or the payment is merged', () => {
    const recorded: RecordedPayment = { state: s3, holdings: p.steps[2]!.after.holdings };
    const moved = nextRevision(s3, { paidAt: '2026-11-30T08:00:00.000Z' });
    const merged = nextRevision(moved, { status: 'merged', mergedInto: 'stripe:in_x' });
    const q: PaymentSteps = { paymentDocId: 'p1', before: recorded, steps: computeLedgerSteps(recorded, [moved, merged], NOW) };
    expect(rollupContribution(q, day29, undefined)!.payments).toEqual({ eur: -1 });
    expect(rollupContribution(q, { ...day29, period: '2026-11-30' }, undefined)!.payments).toEqual({});
    expect(rollupContribution(q, { ...day29, period: '2026-11-30' }, 4)!.payments).toEqual({ eur: -1 });
    // The month holds the payment before and after: no change there.
    expect(rollupContribution(q, { ...day29, period: '2026-11' }, undefined)!.payments).toEqual({ eur: -1 });
    expect(rollupContribution(q, { ...day29, period: '2026-11' }, 4)!.payments).toEqual({ eur: -1 });
  });
});

describe('sameFigures', () => {
  const cell = { currency: 'eur', confidence: 'high' as const, channel: 'paid_search', sourceName: 'google', grossMinor: 4900, refundedMinor: 0, netMinor: 4900 };

  it('compares cells as sets and ignores cells and counts that are zero', () => {
    const zero = { ...cell, confidence: 'none' as const, channel: 'unattributed', sourceName: 'unattributed', grossMinor: 0, netMinor: 0 };
    expect(sameFigures({ cells: [cell, zero], payments: { eur: 1, usd: 0 } }, { cells: [cell], payments: { eur: 1 } })).toBe(true);
    expect(sameFigures({ cells: [zero, cell], payments: { eur: 1 } }, { cells: [cell], payments: { eur: 1 } })).toBe(true);
    expect(sameFigures({ cells: [cell], payments: { eur: 1 } }, { cells: [{ ...cell, refundedMinor: 100, netMinor: 4800 }], payments: { eur: 1 } })).toBe(false);
  });
});

describe('pruneMarkers', () => {
  it('drops markers of payments finalized at or beyond them, and expired ones', () => {
    const r: Rollup = {
      ...emptyRollup({ websiteId: 'w', livemode: true, period: '2026-11-29' }),
      applied: { a: { revision: 2, atMs: 1000 }, b: { revision: 5, atMs: 1000 }, c: { revision: 1, atMs: 0 } },
    };
    expect(expiredMarkers(r, 2000, 1500, new Map([['a', 2], ['b', 4]]))).toEqual(['c']);
    expect(pruneMarkers(r, 2000, 1500, new Map([['a', 2], ['b', 4]]))).toBe(2);
    expect(Object.keys(r.applied)).toEqual(['b']);
  });

  it('keeps an expired marker while its payment is still pending', () => {
    const r: Rollup = { ...emptyRollup({ websiteId: 'w', livemode: true, period: '2026-11' }), applied: { c: { revision: 1, atMs: 0 } } };
    expect(pruneMarkers(r, 10_000, 1500, new Map(), new Set(['c']))).toBe(0);
    expect(pruneMarkers(r, 10_000, 1500, new Map())).toBe(1);
  });
});

/**
 * The property the store relies on: whatever the batching, crashes (before or after the rollup write, before the
 * payment is finalized), concurrent writers repeating a rollup write, and marker pruning, the rollups end up
 * equal to the rollups folded from the (deduplicated) entries.
 */
describe('rollups maintained incrementally equal rollups folded from the entries', () => {
  type Change =
    | { kind: 'refund'; amount: number; day: number }
    | { kind: 'attribute'; which: number }
    | { kind: 'move'; day: number }
    | { kind: 'currency' }
    | { kind: 'mode' }
    | { kind: 'merge' }
    | { kind: 'unmerge' };
  const change: fc.Arbitrary<Change> = fc.oneof(
    fc.record({ kind: fc.constant('refund' as const), amount: fc.integer({ min: -300, max: 2000 }), day: fc.integer({ min: 1, max: 5 }) }),
    fc.record({ kind: fc.constant('attribute' as const), which: fc.integer({ min: 0, max: 2 }) }),
    fc.record({ kind: fc.constant('move' as const), day: fc.integer({ min: 1, max: 5 }) }),
    fc.record({ kind: fc.constant('currency' as const) }),
    fc.record({ kind: fc.constant('mode' as const) }),
    fc.record({ kind: fc.constant('merge' as const) }),
    fc.record({ kind: fc.constant('unmerge' as const) }),
  );
  const attributions = [unattributed, mediumVisitor, highSession];

  function revisions(key: string, gross: number, changes: Change[]): PaymentState[] {
    const out = [paymentState({ paymentKey: key, grossMinor: gross, paidAt: '2026-12-01T10:00:00.000Z' })];
    for (const c of changes) {
      const prev = out[out.length - 1]!;
      switch (c.kind) {
        case 'refund': {
          const refunded = Math.min(prev.grossMinor, Math.max(0, prev.refundedMinor + c.amount));
          out.push(nextRevision(prev, { refundedMinor: refunded, refundedAt: `2026-12-0${c.day}T12:00:00.000Z` }));
          break;
        }
        case 'attribute':
          out.push(nextRevision(prev, { attribution: attributions[c.which]! }));
          break;
        case 'move':
          out.push(nextRevision(prev, { paidAt: `2026-12-0${c.day}T08:00:00.000Z` }));
          break;
        case 'currency':
          out.push(nextRevision(prev, { currency: prev.currency === 'eur' ? 'usd' : 'eur' }));
          break;
        case 'mode':
          out.push(nextRevision(prev, { livemode: !prev.livemode }));
          break;
        case 'merge':
          out.push(nextRevision(prev, { status: 'merged', mergedInto: 'stripe:in_other' }));
          break;
        case 'unmerge':
          out.push(nextRevision(prev, { status: prev.refundedMinor > 0 ? 'partially_refunded' : 'paid', mergedInto: null }));
          break;
      }
    }
    return out;
  }

  type Fate = 'settle' | 'crash_before_rollups' | 'crash_after_rollups' | 'twice';

  it('holds for random histories, batchings and crash points', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 100, max: 9000 }), fc.array(change, { maxLength: 6 })), { minLength: 1, maxLength: 3 }),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 30, maxLength: 30 }),
        fc.array(fc.constantFrom<Fate>('settle', 'settle', 'crash_before_rollups', 'crash_after_rollups', 'twice'), { minLength: 60, maxLength: 60 }),
        (payments, batchSizes, fates) => {
          const histories = payments.map(([gross, changes], i) => revisions(`stripe:pi_${i}`, gross, changes));
          const rollups = new Map<string, Rollup>();
          const entries = new Map<string, LedgerEntry>();
          const finalized = new Map<string, number>();
          let fateIndex = 0;
          let clock = 0;

          const addToRollups = (p: PaymentSteps): void => {
            for (const key of touchedRollups(p)) {
              const id = rollupId(key);
              const rollup = rollups.get(id) ?? emptyRollup(key);
              const c = rollupContribution(p, key, rollup.applied[p.paymentDocId]?.revision);
              if (c) addContribution(rollup, p.paymentDocId, c, clock);
              pruneMarkers(rollup, clock, 50, finalized);
              rollups.set(id, rollup);
            }
          };

          histories.forEach((revs, i) => {
            const pid = `p${i}`;
            let recorded: RecordedPayment | null = null;
            let pending: PaymentState[] = [];
            let cursor = 0;
            let b = 0;
            const apply = (fresh: PaymentState[]): void => {
              clock += 1;
              const high = Math.max(recorded?.state.revision ?? 0, pending[pending.length - 1]?.revision ?? 0);
              const chain = [...pending, ...fresh.filter((s) => s.revision > high)];
              const steps = computeLedgerSteps(recorded, chain, NOW);
              const last = steps[steps.length - 1];
              if (!last) return;
              const fate = fates[fateIndex++ % fates.length]!;
              for (const s of steps) for (const e of s.entries) entries.set(e.id, e);
              const p: PaymentSteps = { paymentDocId: pid, before: recorded, steps };
              if (fate === 'crash_before_rollups') {
                pending = chain;
                return;
              }
              addToRollups(p);
              if (fate === 'twice') addToRollups(p);
              if (fate === 'crash_after_rollups') {
                pending = chain;
                return;
              }
              recorded = last.after;
              pending = [];
              finalized.set(pid, last.revision);
            };
            while (cursor < revs.length) {
              const size = batchSizes[b++ % batchSizes.length]!;
              // Redeliveries: a batch may repeat the revisions before it.
              apply(revs.slice(Math.max(0, cursor - 1), cursor + size));
              cursor += size;
            }
            // Recovery of whatever is still pending (completePending), until settled.
            for (let guard = 0; pending.length > 0 && guard < 100; guard += 1) apply([]);
          });

          const folder = new RollupFolder();
          for (const e of entries.values()) folder.add(e);
          const expected = folder.result();
          for (const id of new Set([...expected.keys(), ...rollups.keys()])) {
            const key = (expected.get(id) ?? rollups.get(id))!;
            expect({ period: key.period, livemode: key.livemode, same: sameFigures(rollups.get(id) ?? emptyRollup(key), expected.get(id) ?? emptyRollup(key)) }).toEqual({
              period: key.period,
              livemode: key.livemode,
              same: true,
            });
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
