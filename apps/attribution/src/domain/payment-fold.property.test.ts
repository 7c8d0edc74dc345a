import fc from 'fast-check';
import { paymentStateSchema, type Confidence, type NormalizedPaymentEvent, type PaymentKind, type PaymentState, type SessionEvent } from '@metrivo/contracts';
import { isPaymentCheckoutReferrer } from './referrer';
import { emailHashOf, payment, refund, session, WEBSITE } from './test-support/builders';
import { createReferenceEdge } from './test-support/reference-edge';

/**
 * Property: for any permutation, duplication and batching of a website's payment events (and any
 * interleaving of its tracker events), the final published states have the same content as a canonical
 * run, and the money is what the scenario says it is.
 */

const T0 = Date.parse('2026-11-01T09:00:00.000Z');
const iso = (ms: number): string => new Date(ms).toISOString();
const MIN = 60_000;
const DAY = 24 * 60 * MIN;

type RefundMode = 'none' | 'cumulative' | 'ids' | 'both' | 'failed' | 'full';
type Flow = 'checkout' | 'async_checkout' | 'basil_subscription' | 'legacy_subscription' | 'trial_subscription' | 'razorpay' | 'dodo_subscription' | 'manual' | 'repeat_customer';

interface ScenarioOptions {
  flow: Flow;
  amount: number;
  refundMode: RefundMode;
  renewals: number;
  sessionNamed: boolean;
  /** The payment names the session of the return from checkout instead of the one that led to it. */
  namesReturnSession: boolean;
  sessionRecorded: boolean;
  visitorNamed: boolean;
  olderSession: boolean;
  checkoutReturn: boolean;
  emailNamed: boolean;
  identified: boolean;
  signalCarriers: boolean[];
  renewalKindStated: boolean;
}

interface Expected {
  key: string;
  grossMinor: number;
  refundedMinor: number;
  kind: PaymentKind;
  confidence?: Confidence;
}

interface Scenario {
  payments: NormalizedPaymentEvent[];
  tracker: SessionEvent[];
  expected: Expected[];
}

const scenarioOptions: fc.Arbitrary<ScenarioOptions> = fc.record({
  flow: fc.constantFrom<Flow>('checkout', 'async_checkout', 'basil_subscription', 'legacy_subscription', 'trial_subscription', 'razorpay', 'dodo_subscription', 'manual', 'repeat_customer'),
  amount: fc.integer({ min: 500, max: 100_000 }),
  refundMode: fc.constantFrom<RefundMode>('none', 'cumulative', 'ids', 'both', 'failed', 'full'),
  renewals: fc.integer({ min: 0, max: 2 }),
  sessionNamed: fc.boolean(),
  namesReturnSession: fc.boolean(),
  sessionRecorded: fc.boolean(),
  visitorNamed: fc.boolean(),
  olderSession: fc.boolean(),
  checkoutReturn: fc.boolean(),
  emailNamed: fc.boolean(),
  identified: fc.boolean(),
  signalCarriers: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
  renewalKindStated: fc.boolean(),
});

function buildScenario(i: number, o: ScenarioOptions): Scenario {
  const base = T0 + i * 3 * 60 * MIN;
  const at = (offsetMs: number): string => iso(base + offsetMs);
  const visitor = `v_${i}`;
  const sid = `s_${i}`;
  const email = `user${i}`;
  const signals = {
    sessionId: o.sessionNamed ? (o.namesReturnSession ? `${sid}_ret` : sid) : null,
    visitorId: o.visitorNamed ? visitor : null,
    emailHash: o.emailNamed ? emailHashOf(email) : null,
    emailMasked: o.emailNamed ? `u***${i}@example.com` : null,
  };
  // Which of a flow's payment reports carry the metadata (at least the first one always does).
  const carries = (n: number): boolean => n === 0 || (o.signalCarriers[n] ?? false);
  const sig = (n: number) => (carries(n) ? signals : {});

  const tracker: SessionEvent[] = [];
  if (o.sessionRecorded) {
    tracker.push(session({ sessionId: sid, visitorId: visitor, startedAt: at(-10 * MIN), lastSeenAt: at(-2 * MIN), referrer: 'https://www.google.com/', utm: { source: 'google', medium: 'cpc' } }));
    // The tracker re-sends a growing session: an older version of the same session.
    tracker.push(session({ sessionId: sid, visitorId: visitor, startedAt: at(-10 * MIN), lastSeenAt: at(-8 * MIN), referrer: 'https://www.google.com/', utm: { source: 'google', medium: 'cpc' } }));
  }
  if (o.olderSession) tracker.push(session({ sessionId: `${sid}_old`, visitorId: visitor, startedAt: at(-3 * DAY), referrer: 'https://t.co/abc' }));
  if (o.checkoutReturn) tracker.push(session({ sessionId: `${sid}_ret`, visitorId: visitor, startedAt: at(1 * MIN), referrer: 'https://checkout.stripe.com/' }));
  if (o.identified) tracker.push({ schemaVersion: 1, type: 'identify', websiteId: WEBSITE, visitorId: visitor, emailHash: emailHashOf(email), at: at(-5 * MIN) });

  const visitorKnown = o.sessionRecorded || o.olderSession || o.checkoutReturn;
  const expectedConfidence: Confidence =
    o.sessionNamed && (o.namesReturnSession ? o.checkoutReturn : o.sessionRecorded) ? 'high' : o.visitorNamed && visitorKnown ? 'medium' : o.emailNamed && o.identified ? 'low' : 'none'; // an identify event vouches also for a named visitor without sessions

  const amount = o.amount;
  const payments: NormalizedPaymentEvent[] = [];
  const expected: Expected[] = [];

  // Refunds on one charge (Stripe) or payment (others), returning the expected refunded total.
  const addRefunds = (provider: 'stripe' | 'manual', currency: string, refs: Record<string, string>, tag: string, t: number): number => {
    const a = Math.floor(amount / 4);
    const b = Math.floor(amount / 5);
    const ev = (x: Parameters<typeof refund>[0]) => payments.push(refund({ ...x, provider, currency }));
    switch (o.refundMode) {
      case 'none':
        return 0;
      case 'cumulative':
        ev({ evt: `${tag}_cr1`, eventType: 'charge.refunded', at: at(t), cumulative: a, refs });
        ev({ evt: `${tag}_cr2`, eventType: 'charge.refunded', at: at(t + MIN), cumulative: a + b, refs });
        return a + b;
      case 'ids':
        ev({ evt: `${tag}_r1`, at: at(t), refundId: `re_${tag}_1`, amount: a, refs });
        ev({ evt: `${tag}_r2p`, at: at(t + MIN), refundId: `re_${tag}_2`, amount: b, status: 'pending', refs });
        ev({ evt: `${tag}_r2s`, eventType: 'refund.updated', at: at(t + 2 * MIN), refundId: `re_${tag}_2`, amount: b, refs });
        return a + b;
      case 'both':
        ev({ evt: `${tag}_r1`, at: at(t), refundId: `re_${tag}_1`, amount: a, refs });
        ev({ evt: `${tag}_cr1`, eventType: 'charge.refunded', at: at(t), cumulative: a, refs });
        ev({ evt: `${tag}_r2`, at: at(t + MIN), refundId: `re_${tag}_2`, amount: b, refs });
        ev({ evt: `${tag}_cr2`, eventType: 'charge.refunded', at: at(t + MIN), cumulative: a + b, refs });
        return a + b;
      case 'failed':
        ev({ evt: `${tag}_r1`, at: at(t), refundId: `re_${tag}_1`, amount: a, refs });
        ev({ evt: `${tag}_r1f`, eventType: 'refund.updated', at: at(t + MIN), refundId: `re_${tag}_1`, amount: a, status: 'failed', refs });
        return 0;
      case 'full':
        ev({ evt: `${tag}_cr`, eventType: 'charge.refunded', at: at(t), cumulative: amount, refs });
        ev({ evt: `${tag}_r`, at: at(t), refundId: `re_${tag}_f`, amount, refs });
        return amount;
    }
  };

  switch (o.flow) {
    case 'checkout':
    case 'async_checkout': {
      const pi = `pi_${i}`;
      const ch = `ch_${i}`;
      if (o.flow === 'async_checkout') {
        payments.push(payment({ evt: `evt_${i}_csu`, eventType: 'checkout.session.completed', at: at(0), amount, paid: false, kind: 'one_time', refs: { checkoutSession: `cs_${i}`, paymentIntent: pi }, signals: sig(0) }));
        payments.push(payment({ evt: `evt_${i}_csa`, eventType: 'checkout.session.async_payment_succeeded', at: at(DAY), amount, kind: 'one_time', refs: { checkoutSession: `cs_${i}`, paymentIntent: pi }, signals: sig(0) }));
      } else {
        payments.push(payment({ evt: `evt_${i}_cs`, eventType: 'checkout.session.completed', at: at(2000), amount, kind: 'one_time', refs: { checkoutSession: `cs_${i}`, paymentIntent: pi, customer: `cus_${i}` }, signals: sig(0) }));
      }
      const payAt = o.flow === 'async_checkout' ? DAY : 0;
      payments.push(payment({ evt: `evt_${i}_pi`, eventType: 'payment_intent.succeeded', at: at(payAt), amount, refs: { paymentIntent: pi, customer: `cus_${i}` }, signals: sig(1) }));
      payments.push(payment({ evt: `evt_${i}_ch`, eventType: 'charge.succeeded', at: at(payAt + 1000), amount, refs: { charge: ch, paymentIntent: pi }, signals: sig(2) }));
      const refunded = addRefunds('stripe', 'eur', { charge: ch, paymentIntent: pi }, `${i}`, payAt + 30 * MIN);
      expected.push({ key: `stripe:${pi}`, grossMinor: amount, refundedMinor: refunded, kind: 'one_time', confidence: expectedConfidence });
      break;
    }
    case 'basil_subscription':
    case 'legacy_subscription': {
      const sub = `sub_${i}`;
      const legacy = o.flow === 'legacy_subscription';
      for (let k = 0; k <= o.renewals; k++) {
        const t = k * 30 * DAY;
        const inv = `in_${i}_${k}`;
        const pi = `pi_${i}_${k}`;
        const ch = `ch_${i}_${k}`;
        const initial = k === 0;
        const kind: PaymentKind | null = initial ? 'subscription_initial' : o.renewalKindStated ? 'subscription_renewal' : null;
        if (initial) {
          payments.push(payment({ evt: `evt_${i}_cs`, eventType: 'checkout.session.completed', at: at(t + 3000), amount, kind: 'subscription_initial', refs: { checkoutSession: `cs_${i}`, subscription: sub, invoice: inv, customer: `cus_${i}` }, signals: sig(0) }));
        }
        const subMeta = initial ? sig(1) : {};
        if (legacy) {
          payments.push(payment({ evt: `evt_${i}_${k}_in`, eventType: 'invoice.paid', at: at(t + 1000), amount, kind, refs: { invoice: inv, subscription: sub, paymentIntent: pi, charge: ch, customer: `cus_${i}` }, signals: subMeta }));
          payments.push(payment({ evt: `evt_${i}_${k}_pi`, eventType: 'payment_intent.succeeded', at: at(t), amount, refs: { paymentIntent: pi, invoice: inv }, signals: initial ? sig(2) : {} }));
          payments.push(payment({ evt: `evt_${i}_${k}_ch`, eventType: 'charge.succeeded', at: at(t), amount, refs: { charge: ch, paymentIntent: pi, invoice: inv } }));
        } else {
          payments.push(payment({ evt: `evt_${i}_${k}_in`, eventType: 'invoice.paid', at: at(t + 1000), amount, kind, refs: { invoice: inv, subscription: sub, customer: `cus_${i}` }, signals: subMeta }));
          payments.push(payment({ evt: `evt_${i}_${k}_ip`, eventType: 'invoice_payment.paid', at: at(t + 1500), amount, refs: { invoice: inv, paymentIntent: pi } }));
          payments.push(payment({ evt: `evt_${i}_${k}_pi`, eventType: 'payment_intent.succeeded', at: at(t), amount, refs: { paymentIntent: pi, customer: `cus_${i}` }, signals: initial ? sig(2) : {} }));
          payments.push(payment({ evt: `evt_${i}_${k}_ch`, eventType: 'charge.succeeded', at: at(t), amount, refs: { charge: ch, paymentIntent: pi } }));
        }
        const refunded = k === o.renewals ? addRefunds('stripe', 'eur', { charge: ch, paymentIntent: pi }, `${i}_${k}`, t + 40 * MIN) : 0;
        expected.push({ key: `stripe:${inv}`, grossMinor: amount, refundedMinor: refunded, kind: initial ? 'subscription_initial' : 'subscription_renewal', confidence: expectedConfidence });
      }
      break;
    }
    case 'trial_subscription': {
      // Free trial: the checkout and the first invoice are 0 (not revenue) and carry the signals; the paid
      // invoices that follow name nothing. The first paid one is the first payment, the others inherit it.
      const sub = `sub_${i}`;
      const trialInv = `in_${i}_t`;
      payments.push(payment({ evt: `evt_${i}_tcs`, eventType: 'checkout.session.completed', at: at(3000), amount: 0, kind: 'subscription_initial', refs: { checkoutSession: `cs_${i}`, subscription: sub, invoice: trialInv, customer: `cus_${i}` }, signals: sig(0) }));
      payments.push(payment({ evt: `evt_${i}_tin`, eventType: 'invoice.paid', at: at(1000), amount: 0, kind: 'subscription_initial', refs: { invoice: trialInv, subscription: sub, customer: `cus_${i}` }, signals: sig(1) }));
      for (let k = 1; k <= o.renewals + 1; k++) {
        const t = 14 * DAY + (k - 1) * 30 * DAY;
        const inv = `in_${i}_${k}`;
        const pi = `pi_${i}_${k}`;
        const ch = `ch_${i}_${k}`;
        const kind: PaymentKind | null = o.renewalKindStated ? 'subscription_renewal' : null;
        payments.push(payment({ evt: `evt_${i}_${k}_in`, eventType: 'invoice.paid', at: at(t + 1000), amount, kind, refs: { invoice: inv, subscription: sub, customer: `cus_${i}` } }));
        payments.push(payment({ evt: `evt_${i}_${k}_ip`, eventType: 'invoice_payment.paid', at: at(t + 1500), amount, refs: { invoice: inv, paymentIntent: pi } }));
        payments.push(payment({ evt: `evt_${i}_${k}_pi`, eventType: 'payment_intent.succeeded', at: at(t), amount, refs: { paymentIntent: pi, customer: `cus_${i}` } }));
        payments.push(payment({ evt: `evt_${i}_${k}_ch`, eventType: 'charge.succeeded', at: at(t), amount, refs: { charge: ch, paymentIntent: pi } }));
        const refunded = k === o.renewals + 1 ? addRefunds('stripe', 'eur', { charge: ch, paymentIntent: pi }, `${i}_${k}`, t + 40 * MIN) : 0;
        expected.push({ key: `stripe:${inv}`, grossMinor: amount, refundedMinor: refunded, kind: k === 1 ? 'subscription_initial' : 'subscription_renewal', confidence: expectedConfidence });
      }
      break;
    }
    case 'razorpay': {
      const pay = `pay_${i}`;
      payments.push(payment({ provider: 'razorpay', evt: `rz_${i}_cap`, eventType: 'payment.captured', at: at(0), amount, currency: 'inr', refs: { payment: pay, order: `order_${i}` }, signals: sig(0) }));
      payments.push(payment({ provider: 'razorpay', evt: `rz_${i}_ord`, eventType: 'order.paid', at: at(0), amount, currency: 'inr', refs: { payment: pay, order: `order_${i}` }, signals: sig(1) }));
      const refunded = o.refundMode === 'none' ? 0 : Math.floor(amount / 3);
      if (refunded > 0) {
        payments.push(refund({ provider: 'razorpay', evt: `rz_${i}_rf`, eventType: 'refund.processed', at: at(HOUR()), refundId: `rfnd_${i}`, amount: refunded, currency: 'inr', refs: { payment: pay } }));
        payments.push(refund({ provider: 'razorpay', evt: `rz_${i}_rf`, n: 1, eventType: 'refund.processed', at: at(HOUR()), cumulative: refunded, currency: 'inr', refs: { payment: pay } }));
      }
      expected.push({ key: `razorpay:${pay}`, grossMinor: amount, refundedMinor: refunded, kind: 'one_time', confidence: expectedConfidence });
      break;
    }
    case 'dodo_subscription': {
      // Dodo states no kind: the earliest payment of the subscription is the initial one.
      for (let k = 0; k <= o.renewals; k++) {
        const pay = `pay_${i}_${k}`;
        payments.push(payment({ provider: 'dodo', evt: `wh_${i}_${k}`, eventType: 'payment.succeeded', at: at(k * 30 * DAY), amount, currency: 'usd', refs: { payment: pay, subscription: `sub_${i}` }, signals: sig(0) }));
        const refunded = k === 0 && o.refundMode !== 'none' ? Math.floor(amount / 2) : 0;
        if (refunded > 0) payments.push(refund({ provider: 'dodo', evt: `wh_${i}_${k}_rf`, at: at(k * 30 * DAY + HOUR()), refundId: `rf_${i}`, amount: refunded, currency: 'usd', refs: { payment: pay } }));
        expected.push({ key: `dodo:${pay}`, grossMinor: amount, refundedMinor: refunded, kind: k === 0 ? 'subscription_initial' : 'subscription_renewal', confidence: expectedConfidence });
      }
      break;
    }
    case 'manual': {
      const id = `order-${i}`;
      payments.push(payment({ provider: 'manual', evt: `man_${i}`, eventType: 'manual.payment', at: at(0), amount, currency: 'gbp', refs: { payment: id }, signals: sig(0) }));
      const refunded = addRefunds('manual', 'gbp', { payment: id }, `m${i}`, HOUR());
      expected.push({ key: `manual:${id}`, grossMinor: amount, refundedMinor: refunded, kind: 'one_time', confidence: expectedConfidence });
      break;
    }
    case 'repeat_customer': {
      // First payment names email and visitor (teaches email→visitor); the second names only the email.
      payments.push(payment({ provider: 'manual', evt: `rc_${i}_1`, at: at(0), amount, currency: 'eur', refs: { payment: `rc-${i}-1` }, signals: { visitorId: visitor, emailHash: emailHashOf(`rc${i}`) } }));
      payments.push(payment({ provider: 'manual', evt: `rc_${i}_2`, at: at(2 * DAY), amount: amount + 1, currency: 'eur', refs: { payment: `rc-${i}-2` }, signals: { emailHash: emailHashOf(`rc${i}`) } }));
      expected.push({ key: `manual:rc-${i}-1`, grossMinor: amount, refundedMinor: 0, kind: 'one_time', confidence: visitorKnown ? 'medium' : 'none' });
      expected.push({ key: `manual:rc-${i}-2`, grossMinor: amount + 1, refundedMinor: 0, kind: 'one_time', confidence: 'low' });
      // A payment with only the email, paid BEFORE the one that taught email→visitor: not vouched for.
      payments.push(payment({ provider: 'manual', evt: `rc_${i}_0`, at: at(-2 * DAY), amount: amount + 2, currency: 'eur', refs: { payment: `rc-${i}-0` }, signals: { emailHash: emailHashOf(`rc${i}`) } }));
      expected.push({ key: `manual:rc-${i}-0`, grossMinor: amount + 2, refundedMinor: 0, kind: 'one_time', confidence: 'none' });
      break;
    }
  }
  return { payments, tracker, expected };
}

const HOUR = (): number => 60 * MIN;

type Item = { kind: 'payment'; event: NormalizedPaymentEvent } | { kind: 'tracker'; event: SessionEvent };

interface RunPlan {
  order: number[];
  duplicates: number[];
  batchSizes: number[];
}

function content(s: PaymentState): Omit<PaymentState, 'revision' | 'updatedAt'> {
  const { revision: _r, updatedAt: _u, ...rest } = s;
  return rest;
}

/** Feed `items` to a fresh edge: permuted by plan.order, with duplicates, in batches of plan.batchSizes. */
function run(items: Item[], plan: RunPlan, now: string, trackerFirst: SessionEvent[] = []) {
  const edge = createReferenceEdge(WEBSITE);
  if (trackerFirst.length > 0) edge.ingestTracker(trackerFirst, now);
  const withDuplicates = [...items, ...plan.duplicates.map((d) => items[d % items.length]!)];
  const keyed = withDuplicates.map((item, idx) => ({ item, sortKey: plan.order[idx % plan.order.length]! * 10_000 + idx }));
  keyed.sort((a, b) => a.sortKey - b.sortKey);
  const sequence = keyed.map((k) => k.item);
  let pos = 0;
  let b = 0;
  while (pos < sequence.length) {
    const size = plan.batchSizes[b++ % Math.max(plan.batchSizes.length, 1)] ?? 1;
    const chunk = sequence.slice(pos, pos + size);
    pos += size;
    // A batch comes from one topic: split the chunk into consecutive same-topic runs.
    let start = 0;
    for (let j = 1; j <= chunk.length; j++) {
      if (j === chunk.length || chunk[j]!.kind !== chunk[start]!.kind) {
        const part = chunk.slice(start, j);
        if (part[0]!.kind === 'payment') edge.ingestPayments(part.map((p) => p.event as NormalizedPaymentEvent), now);
        else edge.ingestTracker(part.map((p) => p.event as SessionEvent), now);
        start = j;
      }
    }
  }
  return edge;
}

function checkRevisionsMonotonic(produced: PaymentState[]): void {
  const last = new Map<string, number>();
  for (const s of produced) {
    const prev = last.get(s.paymentKey) ?? 0;
    expect(s.revision).toBeGreaterThan(prev);
    last.set(s.paymentKey, s.revision);
  }
}

const planArb = (n: number): fc.Arbitrary<RunPlan> =>
  fc.record({
    order: fc.array(fc.nat({ max: 1000 }), { minLength: n * 2, maxLength: n * 2 }),
    duplicates: fc.array(fc.nat(), { maxLength: Math.ceil(n / 2) }),
    batchSizes: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 8 }),
  });

const historyArb = fc.array(scenarioOptions, { minLength: 1, maxLength: 4 }).map((opts) => opts.map((o, i) => buildScenario(i, o)));

function finalLiveStates(edge: ReturnType<typeof createReferenceEdge>) {
  const latest = [...edge.latestStates().values()];
  const live = new Map(latest.filter((s) => s.status !== 'merged').map((s) => [s.paymentKey, content(s)]));
  const merged = latest.filter((s) => s.status === 'merged');
  return { latest, live, merged };
}

describe('payment fold: order-, duplication- and batching-independent', () => {
  const NOW = iso(T0 + 100 * DAY);

  it('payments in any order/duplication/batching (tracker data first) give the canonical final states and the expected money', () => {
    fc.assert(
      fc.property(historyArb.chain((scenarios) => {
        const n = scenarios.reduce((sum, s) => sum + s.payments.length, 0);
        return fc.tuple(fc.constant(scenarios), planArb(n));
      }), ([scenarios, plan]) => {
        const payments: Item[] = scenarios.flatMap((s) => s.payments.map((event) => ({ kind: 'payment' as const, event })));
        const tracker = scenarios.flatMap((s) => s.tracker);

        const canonical = createReferenceEdge(WEBSITE);
        canonical.ingestTracker(tracker, NOW);
        canonical.ingestPayments(payments.map((p) => p.event as NormalizedPaymentEvent), NOW);
        const expected = finalLiveStates(canonical);

        const withTracker = run(payments, plan, NOW, tracker);
        const actual = finalLiveStates(withTracker);

        expect(actual.live).toEqual(expected.live);
        for (const m of actual.merged) {
          expect(actual.live.has(m.mergedInto!)).toBe(true);
          expect([m.grossMinor, m.refundedMinor, m.netMinor]).toEqual([0, 0, 0]);
        }
        for (const s of actual.latest) expect(paymentStateSchema.safeParse(s).success).toBe(true);
        // A return from checkout is never credited as the source.
        for (const s of actual.live.values()) expect(isPaymentCheckoutReferrer(s.attribution.source?.referrer)).toBe(false);
        checkRevisionsMonotonic(withTracker.produced);

        // The money and kinds are what the scenario says.
        const wanted = scenarios.flatMap((s) => s.expected);
        expect([...actual.live.keys()].sort()).toEqual(wanted.map((w) => w.key).sort());
        for (const w of wanted) {
          const s = actual.live.get(w.key)!;
          expect({ key: w.key, gross: s.grossMinor, refunded: s.refundedMinor, net: s.netMinor, kind: s.kind }).toEqual({
            key: w.key, gross: w.grossMinor, refunded: w.refundedMinor, net: w.grossMinor - w.refundedMinor, kind: w.kind,
          });
          if (w.confidence) expect({ key: w.key, confidence: s.attribution.confidence }).toEqual({ key: w.key, confidence: w.confidence });
          if (w.kind === 'subscription_renewal') expect(s.attribution.matchedBy).toBe('subscription');
        }

        // Redelivering everything once more changes nothing.
        expect(withTracker.ingestPayments(payments.map((p) => p.event as NormalizedPaymentEvent), NOW)).toEqual([]);
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 150) },
    );
  });

  it('tracker data interleaved anywhere (late data) converges to the same final states', () => {
    fc.assert(
      fc.property(historyArb.chain((scenarios) => {
        const n = scenarios.reduce((sum, s) => sum + s.payments.length + s.tracker.length, 0);
        return fc.tuple(fc.constant(scenarios), planArb(n));
      }), ([scenarios, plan]) => {
        const items: Item[] = [
          ...scenarios.flatMap((s) => s.payments.map((event) => ({ kind: 'payment' as const, event }))),
          ...scenarios.flatMap((s) => s.tracker.map((event) => ({ kind: 'tracker' as const, event }))),
        ];
        const canonical = createReferenceEdge(WEBSITE);
        canonical.ingestTracker(scenarios.flatMap((s) => s.tracker), NOW);
        canonical.ingestPayments(scenarios.flatMap((s) => s.payments), NOW);

        const edge = run(items, plan, NOW);
        const actual = finalLiveStates(edge);
        expect(actual.live).toEqual(finalLiveStates(canonical).live);
        checkRevisionsMonotonic(edge.produced);
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 150) },
    );
  });
});
