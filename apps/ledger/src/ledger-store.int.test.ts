import type { Collection, Db } from 'mongodb';
import type { PaymentState } from '@metrivo/contracts';
import { createLedgerStore, LedgerConflictError, type LedgerStore, type LedgerStoreOptions, paymentDocId, STATE_WRITES_PER_CALL, type Summary } from './ledger-store';
import { highSession, mediumVisitor, nextRevision, paymentState, unattributed } from './test-states';
import { openTestDb, type TestDb } from './test-db';

let testDb: TestDb;
let n = 0;

/** A store on fresh collections of the test database, optionally on a Db whose collections misbehave. */
async function freshStore(db: Db = testDb.db): Promise<LedgerStore> {
  n += 1;
  const store = createLedgerStore(db, { entriesCollection: `entries_${n}`, statesCollection: `states_${n}` });
  await store.ensureIndexes();
  return store;
}

beforeAll(async () => {
  testDb = await openTestDb();
});
afterAll(async () => {
  await testDb?.drop();
});

const NOW = new Date('2026-12-10T00:00:00.000Z');

/**
 * A website's history: four payments with refunds, an attribution upgrade, a merge, test mode and a second
 * currency, each payment as its list of revisions.
 */
function history(): PaymentState[][] {
  const a1 = paymentState({ paymentKey: 'stripe:pi_a', attribution: unattributed, paidAt: '2026-11-29T10:00:00.000Z', eventIds: ['evt_a1'] });
  const a2 = nextRevision(a1, { refundedMinor: 1000, refundedAt: '2026-12-01T09:00:00.000Z', eventIds: ['evt_a1', 'evt_a2'] });
  const a3 = nextRevision(a2, { attribution: highSession, updatedAt: '2026-12-01T10:00:00.000Z' });
  const a4 = nextRevision(a3, { refundedMinor: 4900, refundedAt: '2026-12-03T09:00:00.000Z', eventIds: ['evt_a1', 'evt_a2', 'evt_a4'] });

  const b1 = paymentState({ paymentKey: 'stripe:pi_b', grossMinor: 2000, attribution: mediumVisitor, paidAt: '2026-11-30T23:59:59.999Z', eventIds: ['evt_b1'] });
  const b2 = nextRevision(b1, { status: 'merged', mergedInto: 'stripe:in_c' });

  const c1 = paymentState({ paymentKey: 'stripe:in_c', grossMinor: 2000, attribution: mediumVisitor, paidAt: '2026-11-30T23:59:59.999Z', kind: 'subscription_initial', eventIds: ['evt_c1'] });
  const c2 = nextRevision(c1, { attribution: highSession });

  const d1 = paymentState({ paymentKey: 'manual:order-7', provider: 'manual', currency: 'usd', grossMinor: 1500, attribution: highSession, paidAt: '2026-12-02T12:00:00.000Z', eventIds: ['manual_7'] });

  const t1 = paymentState({ paymentKey: 'stripe:pi_test', livemode: false, grossMinor: 999999, attribution: highSession, eventIds: ['evt_t'] });
  return [[a1, a2, a3, a4], [b1, b2], [c1, c2], [d1], [t1]];
}

async function entryIds(store: LedgerStore): Promise<string[]> {
  return (await store.entries.find({}, { projection: { _id: 1 } }).toArray()).map((d) => d._id).sort();
}

async function allTotals(store: LedgerStore): Promise<{ live: Summary; test: Summary }> {
  return { live: await store.summary({ websiteId: 'w_1', livemode: true }), test: await store.summary({ websiteId: 'w_1', livemode: false }) };
}

describe('LedgerStore.ensureIndexes', () => {
  it('can run again on a database that has the indexes (every restart does; FerretDB used to drop the connection)', async () => {
    const store = await freshStore();
    await store.ensureIndexes();
    await store.ensureIndexes();
    const names = async (c: Collection<any>) => (await c.listIndexes().toArray()).map((i) => String(i.name)).sort();
    expect(await names(store.entries)).toEqual(['_id_', 'website_mode_occurredAt', 'website_payment_revision_seq']);
    expect(await names(store.states)).toEqual(['_id_', 'pendingRevision', 'website_mode_paidAt', 'website_payment_unique']);
  });
});

describe('LedgerStore.applyStates', () => {
  it('records a history and answers summary, explain and revenue exactly', async () => {
    const store = await freshStore();
    const flat = history().flat();
    const r = await store.applyStates(flat, NOW);
    expect(r.staleRevisions).toBe(0);
    expect(r.paymentsAdvanced).toBe(5);

    const live = await store.summary({ websiteId: 'w_1', livemode: true });
    expect(live).toEqual({
      currencies: {
        eur: { grossMinor: 4900 + 2000, refundedMinor: 4900, netMinor: 2000, payments: 2 },
        usd: { grossMinor: 1500, refundedMinor: 0, netMinor: 1500, payments: 1 },
      },
      byConfidence: {
        high: { eur: 2000, usd: 1500 },
        medium: { eur: 0, usd: 0 },
        low: { eur: 0, usd: 0 },
        none: { eur: 0, usd: 0 },
      },
    });
    const test = await store.summary({ websiteId: 'w_1', livemode: false });
    expect(test.currencies).toEqual({ eur: { grossMinor: 999999, refundedMinor: 0, netMinor: 999999, payments: 1 } });

    // Money time ranges: [2026-12-01, 2026-12-02) sees only pi_a's first refund, under its upgraded attribution.
    const dec1 = await store.summary({ websiteId: 'w_1', livemode: true, from: new Date('2026-12-01T00:00:00Z'), to: new Date('2026-12-02T00:00:00Z') });
    expect(dec1.currencies).toEqual({ eur: { grossMinor: 0, refundedMinor: 1000, netMinor: -1000, payments: 0 } });
    expect(dec1.byConfidence.high).toEqual({ eur: -1000 });
    expect(dec1.byConfidence.none).toEqual({ eur: 0 });

    const explained = await store.getPayment('w_1', 'stripe:pi_a');
    expect(explained!.state.revision).toBe(4);
    expect(explained!.entries.map((e) => [e.revision, e.kind, e.amountMinor])).toEqual([
      [1, 'revenue', 4900],
      [2, 'refund', -1000],
      [3, 'attribution_move', -4900],
      [3, 'attribution_move', 4900],
      [3, 'attribution_move', 1000],
      [3, 'attribution_move', -1000],
      [4, 'refund', -3900],
    ]);
    expect(explained!.entries[6]).toMatchObject({ occurredAt: '2026-12-03T09:00:00.000Z', eventIds: ['evt_a4'], recordedAt: NOW.toISOString() });
    expect(await store.getPayment('w_1', 'stripe:pi_zzz')).toBeNull();
    expect(await store.getPayment('w_2', 'stripe:pi_a')).toBeNull();

    const byDay = await store.revenue({ websiteId: 'w_1', livemode: true, groupBy: 'day', limit: 10 });
    expect(byDay).toEqual({
      rows: [
        { key: '2026-11-29', currency: 'eur', grossMinor: 4900, refundedMinor: 0, netMinor: 4900 },
        { key: '2026-11-30', currency: 'eur', grossMinor: 2000, refundedMinor: 0, netMinor: 2000 },
        { key: '2026-12-01', currency: 'eur', grossMinor: 0, refundedMinor: 1000, netMinor: -1000 },
        { key: '2026-12-02', currency: 'usd', grossMinor: 1500, refundedMinor: 0, netMinor: 1500 },
        { key: '2026-12-03', currency: 'eur', grossMinor: 0, refundedMinor: 3900, netMinor: -3900 },
      ],
      next: null,
    });
    const byChannel = await store.revenue({ websiteId: 'w_1', livemode: true, groupBy: 'channel', limit: 10 });
    expect(byChannel.rows).toEqual([
      { key: 'paid_search', currency: 'eur', grossMinor: 6900, refundedMinor: 4900, netMinor: 2000 },
      { key: 'paid_search', currency: 'usd', grossMinor: 1500, refundedMinor: 0, netMinor: 1500 },
    ]);
  });

  it('pages revenue rows with a keyset cursor', async () => {
    const store = await freshStore();
    const states = Array.from({ length: 7 }, (_, i) =>
      paymentState({ paymentKey: `stripe:pi_${i}`, grossMinor: 100 * (i + 1), paidAt: `2026-11-0${i + 1}T08:00:00.000Z`, currency: i % 2 ? 'usd' : 'eur' }),
    );
    await store.applyStates(states, NOW);
    const seen: string[] = [];
    let after: { key: string; currency: string } | undefined;
    for (let page = 0; page < 10; page += 1) {
      const r = await store.revenue({ websiteId: 'w_1', livemode: true, groupBy: 'day', limit: 3, after });
      seen.push(...r.rows.map((row) => `${row.key}/${row.currency}/${row.netMinor}`));
      if (!r.next) break;
      after = r.next;
    }
    expect(seen).toEqual(states.map((s) => `${s.paidAt.slice(0, 10)}/${s.currency}/${s.grossMinor}`));
  });

  it('settles a batch that updates more than 100 recorded payments (FerretDB hangs on 100+ update statements in one command)', async () => {
    const store = await freshStore();
    const first = Array.from({ length: STATE_WRITES_PER_CALL * 2 + 10 }, (_, i) => paymentState({ paymentKey: `stripe:pi_many_${i}`, grossMinor: 100 }));
    await store.applyStates(first, NOW);
    const refunded = first.map((s) => nextRevision(s, { refundedMinor: 40, refundedAt: '2026-12-01T00:00:00.000Z' }));
    const r = await store.applyStates(refunded, NOW);
    expect(r).toMatchObject({ paymentsAdvanced: first.length, entriesInserted: first.length });
    expect((await store.summary({ websiteId: 'w_1', livemode: true })).currencies.eur).toEqual({
      grossMinor: 100 * first.length,
      refundedMinor: 40 * first.length,
      netMinor: 60 * first.length,
      payments: first.length,
    });
    expect(await store.states.countDocuments({ revision: 2, pendingRevision: null })).toBe(first.length);
  }, 120_000);

  it('gives identical results for the same history applied twice, shuffled, duplicated and in odd batches', async () => {
    const reference = await freshStore();
    for (const s of history().flat()) await reference.applyStates([s], NOW);

    const chaotic = await freshStore();
    // Deterministic shuffle (seeded LCG) so that a failure can be reproduced.
    let seed = 42;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const deliveries = [...history().flat(), ...history().flat()].sort(() => rand() - 0.5);
    for (let i = 0; i < deliveries.length; ) {
      const size = 1 + Math.floor(rand() * 4);
      await chaotic.applyStates(deliveries.slice(i, i + size), NOW);
      i += size;
    }
    // Late replays of everything change nothing.
    const replay = await chaotic.applyStates(history().flat(), NOW);
    expect(replay).toEqual({ paymentsAdvanced: 0, staleRevisions: history().flat().length, entriesInserted: 0, entriesAlreadyPresent: 0, rollupsWritten: 0, rollupConflicts: 0 });

    expect(await allTotals(chaotic)).toEqual(await allTotals(reference));
    for (const groupBy of ['day', 'channel', 'source', 'confidence'] as const) {
      const q = { websiteId: 'w_1', livemode: true, groupBy, limit: 100 };
      expect(await chaotic.revenue(q)).toEqual(await reference.revenue(q));
    }
    const recorded = await chaotic.states.find({}).toArray();
    expect(recorded.map((d) => [d.paymentKey, d.revision, d.pendingRevision]).sort()).toEqual(
      history().map((revs) => [revs[revs.length - 1]!.paymentKey, revs.length, null]).sort(),
    );
    expect((await chaotic.reconcileRecorded('w_1')).ok).toBe(true);
  });
});

describe('day and month rollups', () => {
  /** Summary and revenue by day computed straight from the entry documents (the definition the rollups must meet). */
  async function fromEntries(store: LedgerStore, livemode: boolean, from?: Date, to?: Date): Promise<{ net: Record<string, number>; payments: Record<string, number>; days: Record<string, number> }> {
    const docs = (await store.entries.find({ websiteId: 'w_1', livemode }).toArray()).filter((e) => (!from || e.occurredAt >= from) && (!to || e.occurredAt < to));
    const net: Record<string, number> = {};
    const days: Record<string, number> = {};
    const gross = new Map<string, number>();
    for (const e of docs) {
      net[e.currency] = (net[e.currency] ?? 0) + e.amountMinor;
      days[`${e.occurredDay}/${e.currency}`] = (days[`${e.occurredDay}/${e.currency}`] ?? 0) + e.amountMinor;
      if (e.component === 'gross') gross.set(`${e.currency}/${e.paymentKey}`, (gross.get(`${e.currency}/${e.paymentKey}`) ?? 0) + e.amountMinor);
    }
    const payments: Record<string, number> = {};
    for (const [k, g] of gross) if (g > 0) payments[k.split('/')[0]!] = (payments[k.split('/')[0]!] ?? 0) + 1;
    return { net, payments, days };
  }

  async function fromStore(store: LedgerStore, livemode: boolean, from?: Date, to?: Date): Promise<{ net: Record<string, number>; payments: Record<string, number>; days: Record<string, number> }> {
    const summary = await store.summary({ websiteId: 'w_1', livemode, from, to });
    const rows = (await store.revenue({ websiteId: 'w_1', livemode, groupBy: 'day', limit: 1000, from, to })).rows;
    const net: Record<string, number> = {};
    const payments: Record<string, number> = {};
    for (const [c, cur] of Object.entries(summary.currencies)) {
      net[c] = cur.netMinor;
      if (cur.payments > 0) payments[c] = cur.payments;
    }
    return { net, payments, days: Object.fromEntries(rows.map((r) => [`${r.key}/${r.currency}`, r.netMinor])) };
  }

  const dropZeros = (r: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== 0));

  it('answers whole days from rollups and partial days at the range edges from entries, like the entries alone', async () => {
    const store = await freshStore();
    await store.applyStates(history().flat(), NOW);
    const ranges: [string | undefined, string | undefined][] = [
      [undefined, undefined],
      ['2026-11-30T00:00:00.000Z', '2026-12-02T00:00:00.000Z'],
      ['2026-11-29T12:00:00.000Z', undefined],
      [undefined, '2026-12-01T09:30:00.000Z'],
      ['2026-11-30T23:00:00.000Z', '2026-12-01T09:30:00.000Z'],
      ['2026-12-01T08:00:00.000Z', '2026-12-01T09:30:00.000Z'],
      ['2026-11-29T10:00:00.001Z', '2026-12-03T09:00:00.000Z'],
      ['2026-12-20T00:00:00.000Z', '2026-12-21T00:00:00.000Z'],
    ];
    for (const livemode of [true, false]) {
      for (const [f, t] of ranges) {
        const from = f ? new Date(f) : undefined;
        const to = t ? new Date(t) : undefined;
        const expected = await fromEntries(store, livemode, from, to);
        const actual = await fromStore(store, livemode, from, to);
        expect({ range: [f, t], livemode, net: actual.net, payments: actual.payments, days: actual.days }).toEqual({
          range: [f, t],
          livemode,
          net: expected.net,
          payments: expected.payments,
          days: dropZeros(expected.days),
        });
      }
    }
  });

  it('builds the rollups of a database written before they existed (backfill), pending transitions included', async () => {
    n += 1;
    const names = { entriesCollection: `entries_${n}`, statesCollection: `states_${n}` };
    const crashing = createLedgerStore(crashingDb(testDb.db, names.statesCollection, 'bulkWrite', 4), names);
    const store = createLedgerStore(testDb.db, names);
    await store.ensureIndexes();
    const all = history();
    const reference = await freshStore();
    await reference.applyStates(all.flat(), NOW);
    // Batch 1 settles; batch 2 crashes before its finalize: its entries and rollups are in, its payments pending.
    await crashing.applyStates(all.slice(0, 3).flat(), NOW);
    await expect(crashing.applyStates(all.slice(3).flat(), NOW)).rejects.toThrow(/simulated crash/);
    // An older ledger had no rollups at all.
    await testDb.db.collection(`${names.entriesCollection}_rollups`).drop();
    await testDb.db.collection(`${names.entriesCollection}_rollup_days`).drop();
    expect(await store.ensureRollups()).toMatchObject({ built: true });
    expect(await store.ensureRollups()).toMatchObject({ built: false });
    expect((await store.checkRollups('w_1')).skipped).toBeGreaterThan(0);
    expect(await store.completePending()).toBe(2);
    expect(await allTotals(store)).toEqual(await allTotals(reference));
    expect(await store.reconcileRecorded('w_1')).toMatchObject({ ok: true, pendingPayments: 0, rollups: { ok: true, skipped: 0 } });
  });
});

type AnyFn = (...args: unknown[]) => unknown;

/** A Db whose collection `name` has `method` replaced by `wrap(original)` (bound to the real collection). */
function withCollectionMethod(db: Db, name: string, method: string, wrap: (original: AnyFn) => AnyFn): Db {
  return new Proxy(db, {
    get(target, prop, receiver) {
      if (prop !== 'collection') return Reflect.get(target, prop, receiver);
      return (collectionName: string) => {
        const collection = target.collection(collectionName);
        if (collectionName !== name) return collection;
        return new Proxy(collection, {
          get(c, p, r) {
            const value = Reflect.get(c, p, r) as unknown;
            if (typeof value !== 'function') return value;
            const bound = (value as AnyFn).bind(c);
            return p === method ? wrap(bound) : bound;
          },
        }) as Collection;
      };
    },
  });
}

/** Wraps a Db so that the n-th call of `method` on collection `name` throws, as a crash at that point would. */
function crashingDb(db: Db, name: string, method: 'bulkWrite' | 'insertMany', failOnCall: number): Db {
  let calls = 0;
  return withCollectionMethod(db, name, method, (original) => (...args: unknown[]) => {
    calls += 1;
    if (calls === failOnCall) return Promise.reject(new Error(`simulated crash in ${name}.${method}`));
    return original(...args);
  });
}

describe('crash safety', () => {
  const s1 = paymentState({ paymentKey: 'stripe:pi_crash', attribution: unattributed });
  const s2 = nextRevision(s1, { refundedMinor: 700, refundedAt: '2026-12-01T00:00:00.000Z' });
  const s3 = nextRevision(s2, { attribution: highSession });
  const s4 = nextRevision(s3, { refundedMinor: 1200, refundedAt: '2026-12-04T00:00:00.000Z' });

  async function storesOn(failing: { collection: 'states' | 'entries' | 'rollups'; method: 'bulkWrite' | 'insertMany'; call: number }): Promise<{ crashing: LedgerStore; healthy: LedgerStore }> {
    n += 1;
    const names = { entriesCollection: `entries_${n}`, statesCollection: `states_${n}` };
    const target = failing.collection === 'states' ? names.statesCollection : failing.collection === 'rollups' ? `${names.entriesCollection}_rollups` : names.entriesCollection;
    const crashing = createLedgerStore(crashingDb(testDb.db, target, failing.method, failing.call), names);
    const healthy = createLedgerStore(testDb.db, names);
    await healthy.ensureIndexes();
    return { crashing, healthy };
  }

  async function expectSettledAt(store: LedgerStore, state: PaymentState): Promise<void> {
    const explained = await store.getPayment('w_1', state.paymentKey);
    expect(explained!.state.revision).toBe(state.revision);
    const s = await store.summary({ websiteId: 'w_1', livemode: true });
    expect(s.currencies.eur).toMatchObject({ grossMinor: state.grossMinor, refundedMinor: state.refundedMinor, netMinor: state.netMinor });
    expect(s.byConfidence[state.attribution.confidence].eur).toBe(state.netMinor);
    const report = await store.reconcileRecorded('w_1');
    expect(report).toMatchObject({ ok: true, pendingPayments: 0 });
  }

  it('converges when the crash hits after the entries, before the state is advanced (redelivery of the same batch)', async () => {
    // bulkWrite calls on states: #1 intent (batch 1), #2 finalize (batch 1), #3 intent (batch 2), #4 finalize (batch 2) → crash.
    const { crashing, healthy } = await storesOn({ collection: 'states', method: 'bulkWrite', call: 4 });
    await crashing.applyStates([s1], NOW);
    await expect(crashing.applyStates([s2, s3], NOW)).rejects.toThrow(/simulated crash/);
    const entriesAfterCrash = await entryIds(healthy);
    expect((await healthy.getPayment('w_1', s1.paymentKey))!.state.revision).toBe(1);

    const r = await healthy.applyStates([s2, s3], NOW);
    expect(r.entriesInserted).toBe(0);
    expect(await entryIds(healthy)).toEqual(entriesAfterCrash);
    await expectSettledAt(healthy, s3);
  });

  it('converges when the re-delivered batch only has a later revision (the topic was compacted meanwhile)', async () => {
    const { crashing, healthy } = await storesOn({ collection: 'states', method: 'bulkWrite', call: 4 });
    await crashing.applyStates([s1], NOW);
    await expect(crashing.applyStates([s2, s3], NOW)).rejects.toThrow(/simulated crash/);
    // Compaction removed revisions 2 and 3; revision 4 arrives instead.
    await healthy.applyStates([s4], NOW);
    await expectSettledAt(healthy, s4);
    const refunds = (await healthy.getPayment('w_1', s4.paymentKey))!.entries.filter((e) => e.kind === 'refund');
    expect(refunds.map((e) => [e.revision, e.amountMinor])).toEqual([
      [2, -700],
      [4, -500],
    ]);
  });

  it('converges when the crash hits the rollup write (entries written, payment pending)', async () => {
    // rollup bulkWrite calls: #1 batch 1, #2 batch 2 → crash; the entries of batch 2 are in, the payment is pending.
    const { crashing, healthy } = await storesOn({ collection: 'rollups', method: 'bulkWrite', call: 2 });
    await crashing.applyStates([s1], NOW);
    await expect(crashing.applyStates([s2, s3], NOW)).rejects.toThrow(/simulated crash/);
    expect(await healthy.states.countDocuments({ pendingRevision: 3 })).toBe(1);
    expect((await healthy.checkRollups('w_1')).skipped).toBeGreaterThan(0);
    expect(await healthy.completePending()).toBe(1);
    await expectSettledAt(healthy, s3);
  });

  /** stripe:pi_crash left pending by a crash after its rollups (before the finalize of revisions 2–3). */
  async function pendingAfterRollups(options: LedgerStoreOptions = {}): Promise<{ names: LedgerStoreOptions & { statesCollection: string }; healthy: LedgerStore }> {
    n += 1;
    const names = { entriesCollection: `entries_${n}`, statesCollection: `states_${n}`, ...options };
    const crashing = createLedgerStore(crashingDb(testDb.db, names.statesCollection, 'bulkWrite', 4), names);
    const healthy = createLedgerStore(testDb.db, names);
    await healthy.ensureIndexes();
    await crashing.applyStates([s1], NOW);
    await expect(crashing.applyStates([s2, s3], NOW)).rejects.toThrow(/simulated crash/);
    return { names, healthy };
  }

  /** Another payment on the same days as stripe:pi_crash. */
  const other = paymentState({ paymentKey: 'stripe:pi_other', paidAt: s1.paidAt, refundedMinor: 100, refundedAt: '2026-12-01T00:00:00.000Z' });

  async function expectBothCountedOnce(store: LedgerStore): Promise<void> {
    const s = await store.summary({ websiteId: 'w_1', livemode: true });
    expect(s.currencies.eur).toMatchObject({ grossMinor: s3.grossMinor + other.grossMinor, refundedMinor: s3.refundedMinor + 100, payments: 2 });
    expect((await store.checkRollups('w_1')).ok).toBe(true);
  }

  it('keeps the rollup marker of a payment still pending, however old, while other payments update that rollup', async () => {
    // TTL 0: every marker is "expired" at once; only the pending check keeps the crashed writer's marker.
    const { healthy } = await pendingAfterRollups({ rollupMarkerTtlMs: 0 });
    // Another instance writes the same rollups while stripe:pi_crash is pending.
    await healthy.applyStates([other], new Date(NOW.getTime() + 60_000));
    expect(await healthy.completePending()).toBe(1);
    await expectBothCountedOnce(healthy);
  });

  it('does not add a transition again when a writer that read the payment before it was finalized comes late (no marker left)', async () => {
    const { names, healthy } = await pendingAfterRollups();
    // A slow sweeper reads the pending record now…
    const stale = await healthy.states.find({ pendingRevision: { $gt: 0 } }).toArray();
    expect(stale).toHaveLength(1);
    // …meanwhile another writer completes it, and its next write of the same rollups drops the payment's marker.
    expect(await healthy.completePending()).toBe(1);
    await healthy.applyStates([other], NOW);
    const markers = (await healthy.rollups.find({ websiteId: 'w_1' }).toArray()).flatMap((r) => Object.keys(r.applied));
    expect(markers).not.toContain(paymentDocId('w_1', s1.paymentKey));
    // The slow sweeper goes on with what it read.
    const slowDb = withCollectionMethod(testDb.db, names.statesCollection, 'find', (find) => (filter, ...rest) =>
      'pendingRevision' in (filter as object) ? { limit: () => ({ toArray: async () => stale }) } : find(filter, ...rest),
    );
    expect(await createLedgerStore(slowDb, names).completePending()).toBe(1);
    await expectBothCountedOnce(healthy);
  });

  it('adds a transition to the rollups once when two writers apply the same batch at the same time', async () => {
    n += 1;
    const names = { entriesCollection: `entries_${n}`, statesCollection: `states_${n}` };
    const a = createLedgerStore(testDb.db, names);
    const b = createLedgerStore(testDb.db, names);
    await a.ensureIndexes();
    await a.applyStates([s1], NOW);
    const untilApplied = async (store: LedgerStore): Promise<void> => {
      for (let attempt = 0; ; attempt += 1) {
        try {
          await store.applyStates([s2, s3, s4], NOW);
          return;
        } catch (err) {
          if (!(err instanceof LedgerConflictError) || attempt > 10) throw err;
        }
      }
    };
    await Promise.all([untilApplied(a), untilApplied(b)]);
    await a.completePending();
    await expectSettledAt(a, s4);
  });

  it('completes a transition a crash left pending before any entry was written', async () => {
    const { crashing, healthy } = await storesOn({ collection: 'entries', method: 'insertMany', call: 2 });
    await crashing.applyStates([s1], NOW);
    await expect(crashing.applyStates([s2, s3, s4], NOW)).rejects.toThrow(/simulated crash/);
    expect(await healthy.states.countDocuments({ pendingRevision: 4 })).toBe(1);
    expect((await healthy.reconcileRecorded('w_1')).pendingPayments).toBe(1);
    expect(await healthy.completePending()).toBe(1);
    expect(await healthy.completePending()).toBe(0);
    await expectSettledAt(healthy, s4);
  });

  it('converges when the crash hits the very first write of a new payment', async () => {
    const { crashing, healthy } = await storesOn({ collection: 'entries', method: 'insertMany', call: 1 });
    await expect(crashing.applyStates([s1, s2], NOW)).rejects.toThrow(/simulated crash/);
    expect(await healthy.getPayment('w_1', s1.paymentKey)).toBeNull();
    await healthy.applyStates([s2], NOW);
    await expectSettledAt(healthy, s2);
  });

  it('refuses with a retryable conflict when another writer moved the record meanwhile, and the retry converges', async () => {
    n += 1;
    const names = { entriesCollection: `entries_${n}`, statesCollection: `states_${n}` };
    const healthy = createLedgerStore(testDb.db, names);
    await healthy.ensureIndexes();
    await healthy.applyStates([s1], NOW);
    // Another consumer advances the record between our read and our intent write.
    let interfered = false;
    const racing = withCollectionMethod(testDb.db, names.statesCollection, 'bulkWrite', (bulkWrite) => async (...args) => {
      if (!interfered) {
        interfered = true;
        await healthy.applyStates([s2], NOW);
      }
      return bulkWrite(...args);
    });
    const loser = createLedgerStore(racing, names);
    await expect(loser.applyStates([s2, s3], NOW)).rejects.toBeInstanceOf(LedgerConflictError);
    await loser.applyStates([s2, s3], NOW);
    await expectSettledAt(healthy, s3);
  });
});

describe('reconciliation', () => {
  it('reports an injected mismatch, a state the ledger has not caught up with, and entries without a state', async () => {
    const store = await freshStore();
    await store.applyStates(history().flat(), NOW);
    expect(await store.reconcileRecorded('w_1')).toEqual({ ok: true, checked: 5, mismatches: [], pendingPayments: 0, rollups: { ok: true, checked: 9, mismatched: [], unlisted: [], skipped: 0 } });

    // Inject an extra refund entry on manual:order-7 and a stray entry for a payment without a state.
    const [d] = await store.entries.find({ paymentKey: 'manual:order-7' }).toArray();
    await store.entries.insertOne({ ...d!, _id: 'injected-1', kind: 'refund', component: 'refunded', amountMinor: -300, grossMinor: 0, refundedMinor: 300 });
    await store.entries.insertOne({ ...d!, _id: 'injected-2', paymentKey: 'manual:ghost' });
    const report = await store.reconcileRecorded('w_1');
    expect(report.ok).toBe(false);
    expect(report.checked).toBe(6);
    expect(report.mismatches).toEqual([
      {
        websiteId: 'w_1',
        paymentKey: 'manual:order-7',
        expected: { currency: 'usd', livemode: true, grossMinor: 1500, refundedMinor: 0, netMinor: 1500, attributedNetMinor: 1500, elsewhereMinor: 0 },
        actual: { currency: 'usd', livemode: true, grossMinor: 1500, refundedMinor: 300, netMinor: 1200, attributedNetMinor: 1200, elsewhereMinor: 0 },
      },
      {
        websiteId: 'w_1',
        paymentKey: 'manual:ghost',
        expected: null,
        actual: { currency: 'usd', livemode: true, grossMinor: 1500, refundedMinor: 0, netMinor: 1500, attributedNetMinor: 1500, elsewhereMinor: 0 },
      },
    ]);

    // States from elsewhere (e.g. the compacted topic): a newer revision with the same figures still reconciles.
    const [a] = history();
    const ahead = nextRevision(a![3]!, { refundedMinor: 4900 });
    const fromTopic = await store.reconcileStates([ahead, history()[2]![1]!]);
    expect(fromTopic.checked).toBe(2);
    expect(fromTopic.ok).toBe(true);
    const behind = await store.reconcileStates([nextRevision(history()[2]![1]!, { refundedMinor: 500, refundedAt: '2026-12-05T00:00:00.000Z' })]);
    expect(behind.mismatches).toEqual([
      expect.objectContaining({ paymentKey: 'stripe:in_c', expected: expect.objectContaining({ netMinor: 1500 }), actual: expect.objectContaining({ netMinor: 2000 }) }),
    ]);
  });

  it('reports rollups that do not add up to the entries, and rebuilds them', async () => {
    const store = await freshStore();
    await store.applyStates(history().flat(), NOW);
    const before = await allTotals(store);
    const [d] = await store.entries.find({ paymentKey: 'manual:order-7' }).toArray();
    await store.entries.insertOne({ ...d!, _id: 'injected-refund', kind: 'refund', component: 'refunded', amountMinor: -300, grossMinor: 0, refundedMinor: 300 });
    const check = await store.checkRollups('w_1');
    expect(check).toMatchObject({ ok: false, mismatched: [{ livemode: true, period: d!.occurredDay.slice(0, 7) }, { livemode: true, period: d!.occurredDay }], unlisted: [] });
    expect((await store.reconcileRecorded('w_1')).ok).toBe(false);
    // The rollups still say what was recorded through applyStates.
    expect(await allTotals(store)).toEqual(before);

    const rebuilt = await store.rebuildRollups({ websiteId: 'w_1' });
    expect(rebuilt.entries).toBe(await store.entries.countDocuments({ websiteId: 'w_1' }));
    expect((await store.checkRollups('w_1')).ok).toBe(true);
    expect((await allTotals(store)).live.currencies.usd).toEqual({ ...before.live.currencies.usd, refundedMinor: 300, netMinor: before.live.currencies.usd!.netMinor - 300 });
  });

  it('explains a payment by the entry ids on its record, and one recorded before those were kept by a query', async () => {
    const store = await freshStore();
    await store.applyStates(history().flat(), NOW);
    const explained = await store.getPayment('w_1', 'stripe:pi_a');
    expect(explained!.entries.map((e) => [e.revision, e.seq, e.kind])).toEqual([
      [1, 0, 'revenue'],
      [2, 0, 'refund'],
      [3, 0, 'attribution_move'],
      [3, 1, 'attribution_move'],
      [3, 2, 'attribution_move'],
      [3, 3, 'attribution_move'],
      [4, 0, 'refund'],
    ]);
    await store.states.updateOne({ _id: paymentDocId('w_1', 'stripe:pi_a') }, { $unset: { entryIds: '' } });
    expect(await store.getPayment('w_1', 'stripe:pi_a')).toEqual(explained);
  });

  it('uses a stable id per payment document', () => {
    expect(paymentDocId('w:1', 'stripe:x')).not.toBe(paymentDocId('w', '1:stripe:x'));
    expect(paymentDocId('w_1', 'stripe:pi_a')).toBe(paymentDocId('w_1', 'stripe:pi_a'));
  });
});
