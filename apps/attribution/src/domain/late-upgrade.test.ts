import type { PaymentState } from '@metrivo/contracts';
import { reattributePayments, subscriptionKeysToLoad, upgradeLookupKeys } from './late-upgrade';
import type { PaymentRecord } from './payment-records';
import { createSessionView, type EmailIdentity } from './sessions';
import { emailHashOf, identify, payment, session, WEBSITE } from './test-support/builders';
import { createReferenceEdge } from './test-support/reference-edge';

const T0 = '2026-11-29T10:00:00.000Z';
const at = (minutes: number): string => new Date(Date.parse(T0) + minutes * 60_000).toISOString();

function recordFor(signals: Parameters<typeof payment>[0]['signals'], sessions: ReturnType<typeof session>[] = []): PaymentRecord {
  const edge = createReferenceEdge(WEBSITE);
  edge.ingestTracker(sessions, at(0));
  edge.ingestPayments([payment({ evt: 'evt_1', at: at(0), amount: 1000, refs: { paymentIntent: 'pi_1' }, signals })], at(1));
  return edge.records()[0]!;
}

describe('upgradeLookupKeys', () => {
  it('sessions look up their session, visitor and the visitor’s emails; identities their email', () => {
    const view = createSessionView(WEBSITE, [], [{ websiteId: WEBSITE, emailHash: emailHashOf('a'), visitorId: 'v_1', at: at(0), learnedFrom: 'identify' }]);
    const learned: EmailIdentity = { websiteId: WEBSITE, emailHash: emailHashOf('b'), visitorId: 'v_2', at: at(0), learnedFrom: 'payment' };
    expect(upgradeLookupKeys([session({ sessionId: 's_1', visitorId: 'v_1', startedAt: at(0) }), identify({ visitorId: 'v_3', email: 'c', at: at(0) }), learned], view)).toEqual([
      `e:${emailHashOf('a')}`, `e:${emailHashOf('b')}`, `e:${emailHashOf('c')}`, 's:s_1', 'v:v_1',
    ]);
  });
});

describe('reattributePayments', () => {
  const s3 = session({ sessionId: 's_3', visitorId: 'v_9', startedAt: at(-10), referrer: 'https://www.google.com/' });

  it('upgrades none → high with a new revision and refreshes the index entry', () => {
    const rec = recordFor({ sessionId: 's_3' });
    expect(rec.state.attribution.confidence).toBe('none');
    expect(rec.upgrade?.keys).toEqual(['s:s_3']);
    const out = reattributePayments({ websiteId: WEBSITE, candidates: [rec], subscriptionMembers: [], sessions: createSessionView(WEBSITE, [s3]), now: at(60) });
    expect(out.recordWrites).toHaveLength(1);
    const w = out.recordWrites[0]!;
    expect(w.expectedVersion).toBe(rec.version);
    expect(w.record.version).toBe(rec.version + 1);
    expect(w.record.state).toMatchObject({ revision: 2, updatedAt: at(60), attribution: { confidence: 'high', sessionId: 's_3' } });
    expect(w.record.upgrade).toBeNull(); // settled: nothing later can change it
    expect(w.record.pendingPublish).toBe(2);
    expect(out.toPublish).toEqual([w.record.state]);
  });

  it('never downgrades (e.g. the session expired from the store)', () => {
    const rec = recordFor({ sessionId: 's_3', visitorId: 'v_9' }, [session({ sessionId: 's_old', visitorId: 'v_9', startedAt: at(-3000) })]);
    expect(rec.state.attribution.confidence).toBe('medium');
    const out = reattributePayments({ websiteId: WEBSITE, candidates: [rec], subscriptionMembers: [], sessions: createSessionView(WEBSITE, []), now: at(60) });
    expect(out).toEqual({ recordWrites: [], toPublish: [] });
  });

  it('skips candidates past their horizon', () => {
    const rec = recordFor({ sessionId: 's_3' });
    const until = rec.upgrade!.until;
    expect(until).toBe(new Date(Date.parse(at(1)) + 72 * 3600_000).toISOString());
    const late = new Date(Date.parse(until) + 1).toISOString();
    expect(reattributePayments({ websiteId: WEBSITE, candidates: [rec], subscriptionMembers: [], sessions: createSessionView(WEBSITE, [s3]), now: late }).recordWrites).toEqual([]);
  });

  it('updates renewals that carry an upgraded initial payment', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([
      payment({ evt: 'e1', at: at(0), amount: 900, kind: 'subscription_initial', refs: { invoice: 'in_1', subscription: 'sub_1' }, signals: { sessionId: 's_3' } }),
      payment({ evt: 'e2', at: at(60), amount: 900, kind: 'subscription_renewal', refs: { invoice: 'in_2', subscription: 'sub_1' } }),
    ], at(61));
    const records = edge.records();
    const initial = records.find((r) => r.paymentKey === 'stripe:in_1')!;
    const renewal = records.find((r) => r.paymentKey === 'stripe:in_2')!;
    expect(renewal.inheritsFrom).toBe('stripe:in_1');
    expect(renewal.upgrade).toBeNull();
    expect(subscriptionKeysToLoad([initial])).toEqual(['stripe:sub_1']);
    const out = reattributePayments({ websiteId: WEBSITE, candidates: [initial], subscriptionMembers: [initial, renewal], sessions: createSessionView(WEBSITE, [s3]), now: at(70) });
    const states = new Map<string, PaymentState>(out.toPublish.map((s) => [s.paymentKey, s]));
    expect(states.get('stripe:in_1')?.attribution).toMatchObject({ confidence: 'high', matchedBy: 'session' });
    expect(states.get('stripe:in_2')?.attribution).toMatchObject({ confidence: 'high', matchedBy: 'subscription', sessionId: 's_3' });
  });

  it('brings renewals in line with their initial even when the initial is unchanged (its write landed, the renewal’s did not)', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([
      payment({ evt: 'e1', at: at(0), amount: 900, kind: 'subscription_initial', refs: { invoice: 'in_1', subscription: 'sub_1' }, signals: { sessionId: 's_3', visitorId: 'v_9' } }),
      payment({ evt: 'e2', at: at(60), amount: 900, kind: 'subscription_renewal', refs: { invoice: 'in_2', subscription: 'sub_1' } }),
    ], at(61));
    const initial = edge.records().find((r) => r.paymentKey === 'stripe:in_1')!;
    const renewal = edge.records().find((r) => r.paymentKey === 'stripe:in_2')!;
    const view = createSessionView(WEBSITE, [s3]);
    const first = reattributePayments({ websiteId: WEBSITE, candidates: [initial], subscriptionMembers: [initial, renewal], sessions: view, now: at(70) });
    expect(first.recordWrites.map((w) => w.record.paymentKey)).toEqual(['stripe:in_1', 'stripe:in_2']);
    // Crash (or a lost compare-and-set) between the two writes: only the initial's landed.
    const upgraded = first.recordWrites[0]!.record;
    expect(upgraded.state.attribution).toMatchObject({ confidence: 'high', matchedBy: 'session' });
    // A subscription's first payment stays findable through the late-upgrade index until its horizon, even
    // settled, so that the retry (same tracker data: s:s_3) finds it again.
    expect(upgraded.upgrade?.keys).toContain('s:s_3');
    const retry = reattributePayments({ websiteId: WEBSITE, candidates: [upgraded], subscriptionMembers: [upgraded, renewal], sessions: view, now: at(71) });
    const byKey = new Map(retry.recordWrites.map((w) => [w.record.paymentKey, w]));
    expect([...byKey.keys()]).toEqual(['stripe:in_2']); // the initial is left as it is
    expect(byKey.get('stripe:in_2')!.expectedVersion).toBe(renewal.version);
    expect(byKey.get('stripe:in_2')!.record.state.attribution).toEqual({ ...upgraded.state.attribution, matchedBy: 'subscription' });
    // The initial's unconfirmed revision is produced again too (outbox), then a third run changes nothing.
    expect(retry.toPublish.map((s) => s.paymentKey)).toEqual(['stripe:in_1', 'stripe:in_2']);
    const settledRenewal = byKey.get('stripe:in_2')!.record;
    const third = reattributePayments({ websiteId: WEBSITE, candidates: [upgraded], subscriptionMembers: [upgraded, settledRenewal], sessions: view, now: at(72) });
    expect(third.recordWrites).toEqual([]);
  });

  it('aligns renewals with an initial past its horizon without re-attributing the initial', () => {
    const edge = createReferenceEdge(WEBSITE);
    edge.ingestPayments([
      payment({ evt: 'e1', at: at(0), amount: 900, kind: 'subscription_initial', refs: { invoice: 'in_1', subscription: 'sub_1' }, signals: { sessionId: 's_3' } }),
      payment({ evt: 'e2', at: at(60), amount: 900, kind: 'subscription_renewal', refs: { invoice: 'in_2', subscription: 'sub_1' } }),
    ], at(61));
    const initial = edge.records().find((r) => r.paymentKey === 'stripe:in_1')!;
    const renewal = edge.records().find((r) => r.paymentKey === 'stripe:in_2')!;
    const stale = { ...renewal, state: { ...renewal.state, attribution: { ...renewal.state.attribution, visitorId: 'v_stale' } } };
    const late = new Date(Date.parse(initial.upgrade!.until) + 1).toISOString();
    const out = reattributePayments({ websiteId: WEBSITE, candidates: [initial], subscriptionMembers: [initial, stale], sessions: createSessionView(WEBSITE, [s3]), now: late });
    expect(out.recordWrites.map((w) => [w.record.paymentKey, w.record.state.attribution])).toEqual([
      ['stripe:in_2', { ...initial.state.attribution, matchedBy: 'subscription' }],
    ]);
  });

  it('re-publishes records whose produce is still pending, even when nothing changes', () => {
    const rec = { ...recordFor({ sessionId: 's_x' }), pendingPublish: 1 };
    const out = reattributePayments({ websiteId: WEBSITE, candidates: [rec], subscriptionMembers: [], sessions: createSessionView(WEBSITE, []), now: at(60) });
    expect(out.recordWrites).toEqual([]);
    expect(out.toPublish).toEqual([rec.state]);
  });
});
