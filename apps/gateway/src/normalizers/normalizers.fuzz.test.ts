// Signed but malformed deliveries: realistic payloads of every provider with random fields replaced, removed or
// retyped, signed with the integration's secret and run through the same verify → describe → normalize steps as the
// webhook route. Whatever arrives, the route may only answer 200 (events that fit the contract, or ignored) or a 4xx
// (a verification code or a PayloadError → 400 invalid_payload). Any other exception is a 500: the provider retries it
// for days and on-call is paged for a payload nobody can fix.
import { normalizedPaymentEventSchema } from '@metrivo/contracts';
import fc from 'fast-check';
import type { NormalizeContext } from './types';
import { isPayloadError, providerAdapters } from '../provider-adapters';
import type { WebhookProvider } from '../http/webhook-route';
import { dodoFixtures, razorpayFixtures, stripeFixtures, unixNow } from '../test-fixtures';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const NOW = new Date();
const ctx: NormalizeContext = {
  websiteId: 'w_fuzz', integrationId: 'int_fuzz', receivedAt: NOW, emailHashKey: 'fuzz-email-hash-key-0123456789', livemode: false,
};

// -------------------------------------------------------------------------------------------------- corpus

function stripeCorpus(): Json[] {
  const events: Json[] = [];
  for (const apiVersion of stripeFixtures.STRIPE_API_VERSIONS) {
    const scenario = { apiVersion, email: 'Buyer@Example.com', sessionMetadata: { metrivo_session_id: 's_1' }, paymentIntentMetadata: { metrivo_visitor_id: 'v_1' } };
    events.push(...stripeFixtures.oneTimeCheckoutScenario(scenario).events);
    events.push(...stripeFixtures.subscriptionCheckoutScenario({ ...scenario, subscriptionMetadata: { metrivo_visitor_id: 'v_2' } }).events);
    events.push(stripeFixtures.checkoutAsyncPaymentSucceeded({ apiVersion, mode: 'payment', amountTotal: 900, paymentIntent: 'pi_async' }));
    events.push(stripeFixtures.chargeRefunded({ apiVersion, amount: 4900, amountRefunded: 1500, paymentIntent: 'pi_r' }));
    for (const type of ['refund.created', 'refund.updated', 'charge.refund.updated'] as const) {
      events.push(stripeFixtures.refundEvent(type, { apiVersion, amount: 700, charge: 'ch_r', paymentIntent: 'pi_r' }));
    }
    events.push(stripeFixtures.invoicePaid({ apiVersion, type: 'invoice.payment_succeeded', amountPaid: 0, billingReason: 'subscription_create', subscription: 'sub_trial' }));
  }
  return events as Json[];
}

function razorpayCorpus(): Json[] {
  const payment = razorpayFixtures.razorpayPaymentEntity({ amount: 49900, email: 'buyer@example.com', notes: { metrivo_visitor_id: 'v_rzp' } });
  const order = razorpayFixtures.razorpayOrderEntity({ amount: 49900, notes: [] });
  const refund = razorpayFixtures.razorpayRefundEntity({ paymentId: payment.id, amount: 10000 });
  return [
    razorpayFixtures.razorpayPaymentCaptured(payment),
    razorpayFixtures.razorpayPaymentCaptured(razorpayFixtures.razorpayPaymentEntity({ notes: [] })),
    razorpayFixtures.razorpayOrderPaid(payment, order),
    razorpayFixtures.razorpayRefundProcessed(refund, { ...payment, amount_refunded: 10000 }),
    razorpayFixtures.razorpayRefundProcessed(refund, null),
  ] as Json[];
}

function dodoCorpus(): Json[] {
  const paymentId = 'pay_fuzz_1';
  return [
    dodoFixtures.dodoPaymentSucceeded({ paymentId, totalAmount: 2500, currency: 'USD' }),
    dodoFixtures.dodoPaymentSucceeded({
      paymentId, totalAmount: 2500, refunds: [dodoFixtures.dodoRefundData({ paymentId, refundId: 'ref_1', amount: 500, currency: 'USD' })],
    }),
    dodoFixtures.dodoRefundSucceeded({ paymentId, refundId: 'ref_2', amount: 700, currency: 'USD' }),
  ] as Json[];
}

// ------------------------------------------------------------------------------------------------ mutation

type Path = Array<string | number>;

function paths(value: Json, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...at, i], out));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) paths(v, [...at, k], out);
  return out;
}

/** Values providers never send where the payload has them: wrong types, edge numbers, odd strings. */
const oddValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    null, true, false, 0, -1, -0.5, 1.5, 2 ** 53, -(2 ** 53), 1e21, 9_007_199_254_740_993, '', ' ', '0', '-1', '1e3', 'NaN',
    'usd', 'XXX', 'eur ', 'null', '__proto__', 'constructor', 'x'.repeat(10_000), '\u0000', '😀', '2026-13-45T99:99:99Z', [], {}, [null],
    { __proto__: null } as unknown as Json, { object: 'list', data: [] }, { id: 'pi_1' }, ['pi_1'],
  ),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
);

type Mutation = { kind: 'set'; pick: number; value: Json } | { kind: 'delete'; pick: number } | { kind: 'wrap'; pick: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), pick: fc.nat(), value: oddValue }),
  fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('wrap' as const), pick: fc.nat() }),
);

function apply(root: Json, m: Mutation): Json {
  const all = paths(root);
  const path = all[m.pick % all.length]!;
  // Values are copied in: fast-check hands out the same constant objects again, and a later mutation would write into
  // them (a shared array set inside itself is a cycle).
  if (path.length === 0) return m.kind === 'set' ? structuredClone(m.value) : root;
  const parentPath = path.slice(0, -1);
  let parent: any = root;
  for (const step of parentPath) parent = parent[step];
  const key = path[path.length - 1]!;
  if (m.kind === 'set') parent[key] = structuredClone(m.value);
  else if (m.kind === 'wrap') parent[key] = Array.isArray(parent[key]) ? { 0: parent[key] } : [parent[key]];
  else if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else delete parent[key];
  return root;
}

// ------------------------------------------------------------------------------------------------ delivery

function sign(provider: WebhookProvider, body: Json, secret: string): { rawBody: Buffer; headers: Record<string, string> } {
  if (provider === 'stripe') {
    const payload = JSON.stringify(body);
    return { rawBody: Buffer.from(payload), headers: { 'stripe-signature': stripeFixtures.stripeSignatureHeader(payload, secret, unixNow()) } };
  }
  if (provider === 'razorpay') return razorpayFixtures.razorpayWebhookRequest(body as Record<string, unknown>, secret, 'evt_fuzz');
  return dodoFixtures.dodoWebhookRequest(body as Record<string, unknown>, secret, { webhookId: 'msg_fuzz' });
}

/** What the route would answer, or the exception that would make it a 500. */
function deliver(provider: WebhookProvider, body: Json, secret: string): 'verification refused' | 'ignored' | 'invalid_payload' | 'published' {
  const adapter = providerAdapters[provider];
  const { rawBody, headers } = sign(provider, body, secret);
  const verified = adapter.verify({ rawBody, headers, secrets: [secret], now: new Date() });
  if (!verified.ok) return 'verification refused';
  adapter.describe(verified.event);
  let outcome;
  try {
    outcome = adapter.normalize(verified.event, { ...ctx, providerEventId: verified.providerEventId });
  } catch (err) {
    if (isPayloadError(err)) return 'invalid_payload';
    throw err;
  }
  if (outcome.events.length === 0) return 'ignored';
  for (const event of outcome.events) {
    const parsed = normalizedPaymentEventSchema.safeParse(event);
    if (!parsed.success) throw new Error(`published an event outside the contract: ${parsed.error.message}`);
    const amount = (event as { amountMinor?: unknown }).amountMinor;
    if (typeof amount === 'number' && !Number.isSafeInteger(amount)) throw new Error(`amount ${amount} is not a safe integer`);
  }
  return 'published';
}

const corpora: Array<[WebhookProvider, () => Json[], string]> = [
  ['stripe', stripeCorpus, stripeFixtures.stripeWebhookSecret()],
  ['razorpay', razorpayCorpus, 'rzp_fuzz_secret'],
  ['dodo', dodoCorpus, dodoFixtures.dodoWebhookSecret()],
];
// FUZZ_RUNS=40000 for a longer hunt (≈ 50 s); FUZZ_SEED=<seed> reruns a reported mutation sequence (the fixtures draw
// random ids and times, so not always onto the same payload); FUZZ_TALLY=1 prints how the
// deliveries ended.
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);

describe.each(corpora)('%s: signed, malformed deliveries', (provider, corpus, secret) => {
  const payloads = corpus();

  it('the unmutated corpus is published (the fuzzing starts from payloads the normalizer accepts)', () => {
    for (const body of payloads) expect(deliver(provider, structuredClone(body), secret)).toBe('published');
  });

  it('every mutation ends in 200 or a 4xx, never an exception (a 500)', () => {
    const seen = new Set<string>();
    const tally = new Map<string, number>();
    fc.assert(
      fc.property(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 3 }), (which, mutations) => {
        const body = mutations.reduce<Json>((b, m) => apply(b, m), structuredClone(payloads[which % payloads.length]!));
        const outcome = deliver(provider, body, secret);
        seen.add(outcome);
        tally.set(outcome, (tally.get(outcome) ?? 0) + 1);
      }),
      { numRuns: RUNS, ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}) },
    );
    if (process.env.FUZZ_TALLY) console.log(provider, Object.fromEntries(tally));
    // The mutations reach the normalizer's refusals as well as its acceptances, not only the verifier.
    expect(seen.has('published')).toBe(true);
    expect(seen.has('invalid_payload') || seen.has('ignored')).toBe(true);
  });
});
