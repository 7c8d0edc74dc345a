// The gateway's HTTP surface with fakes around it (no Kafka, no MongoDB): a real Express app on port 0,
// driven with fetch. Every refusal must answer its stable error code, publish nothing and leave a
// delivery-log record; every acceptance must publish exactly what the normalizer produced.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { normalizedPaymentEventSchema, type NormalizedPaymentEvent } from '@metrivo/contracts';
import { hashApiKey } from '@metrivo/crypto';
import type { ApiKeyDoc, IntegrationDoc } from '@metrivo/integration-store';
import { KafkaUnavailableError } from '@metrivo/kafka';
import fc from 'fast-check';
import type { Collection } from 'mongodb';
import { createGatewayApp } from './app';
import type { DeliveryInput } from './delivery-recorder';
import { RecentSet } from './http/lru';
import type { ManualRequestDoc } from './http/manual-api';
import type { EventPublisher, WebhookProvider } from './http/webhook-route';
import type { ResolvedIntegration } from './integration-cache';
import { isPayloadError, providerAdapters } from './provider-adapters';
import type { AttemptFigures } from './request-metrics';
import { dodoFixtures, prefixedId, razorpayFixtures, stripeFixtures, unixNow } from './test-fixtures';

const BODY_LIMIT = 32 * 1024;
const EMAIL_HASH_KEY = 'unit-test-email-hash-key-0123456789';
const RETRY_AFTER_SECONDS = 17;
const API_VERSION = '2025-03-31.basil';

// ------------------------------------------------------------------------------------------------ fakes

class RecordingPublisher implements EventPublisher {
  published: NormalizedPaymentEvent[] = [];
  traceparents: (string | undefined)[] = [];
  calls = 0;
  failWith: Error | null = null;
  async publish(events: NormalizedPaymentEvent[], traceparent?: string): Promise<void> {
    this.calls += 1;
    if (this.failWith) throw this.failWith;
    this.published.push(...events);
    this.traceparents.push(traceparent);
  }
}

class RecordingDeliveries {
  records: DeliveryInput[] = [];
  record(input: DeliveryInput): void {
    this.records.push(input);
  }
}

/** The calls the Manual API makes on its idempotency collection, with MongoDB's duplicate-key error. */
function inMemoryRequests() {
  const docs = new Map<string, ManualRequestDoc>();
  const fake = {
    docs,
    /** Ids whose next findOne answers null, as when a concurrent request reserves the id right after our read. */
    missOnce: new Set<string>(),
    /** When set, every call fails with it (MongoDB down). */
    failWith: null as Error | null,
    async findOne(filter: { _id: string }) {
      if (fake.failWith) throw fake.failWith;
      if (fake.missOnce.delete(filter._id)) return null;
      const doc = docs.get(filter._id);
      return doc ? structuredClone(doc) : null;
    },
    async insertOne(doc: ManualRequestDoc) {
      if (docs.has(doc._id)) throw Object.assign(new Error('E11000 duplicate key error'), { code: 11000 });
      docs.set(doc._id, structuredClone(doc));
      return { acknowledged: true, insertedId: doc._id };
    },
    async updateOne(filter: { _id: string; requestHash: string }, update: { $unset: Record<string, ''> }) {
      const doc = docs.get(filter._id);
      if (!doc || doc.requestHash !== filter.requestHash) return { matchedCount: 0 };
      for (const field of Object.keys(update.$unset)) delete (doc as unknown as Record<string, unknown>)[field];
      return { matchedCount: 1 };
    },
  };
  return fake;
}

const integrations = new Map<string, ResolvedIntegration>();
function addIntegration(provider: IntegrationDoc['provider'], secrets: string[], extra: Partial<IntegrationDoc> = {}, unreadable: ResolvedIntegration['unreadable'] = []): IntegrationDoc {
  const now = new Date();
  const doc: IntegrationDoc = {
    _id: prefixedId('int', 16), websiteId: prefixedId('w', 10), provider, status: 'active', livemode: false,
    secrets: [], createdAt: now, updatedAt: now, ...extra,
  };
  integrations.set(doc._id, { doc, secrets, unreadable });
  return doc;
}

const apiKeys = new Map<string, ApiKeyDoc>();
function addApiKey(websiteId: string, livemode = false): { key: string; doc: ApiKeyDoc } {
  const key = `mtv_test_${prefixedId('k', 32).slice(2)}`;
  const doc: ApiKeyDoc = { _id: prefixedId('key', 16), websiteId, hash: hashApiKey(key), prefix: key.slice(0, 12), livemode, createdAt: new Date(), revokedAt: null };
  apiKeys.set(doc.hash, doc);
  return { key, doc };
}

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const warnings: Array<{ fields: object; message: string }> = [];
const webhookLogger = { ...silent, warn: (fields: object, message: string) => void warnings.push({ fields, message }) };
const publisher = new RecordingPublisher();
const deliveries = new RecordingDeliveries();
const requests = inMemoryRequests();
/** When set, the integration lookup fails with it (MongoDB down and no usable cached copy). */
let lookupFailure: Error | null = null;
/** When set, the Manual API key lookup fails with it. */
let apiKeyFailure: Error | null = null;
/** Manual API attempts without a valid key: counted only (no delivery-log row). */
const unidentified: AttemptFigures[] = [];
const mongoDown = () => Object.assign(new Error('connection refused'), { name: 'MongoServerSelectionError' });
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  const app = createGatewayApp({
    bodyLimitBytes: BODY_LIMIT,
    logger: silent,
    health: { checks: {}, isShuttingDown: () => false },
    webhooks: {
      integrations: {
        get: async (id: string) => {
          if (lookupFailure) throw lookupFailure;
          return integrations.get(id) ?? null;
        },
      },
      adapters: providerAdapters,
      publisher,
      deliveries,
      recentlyAccepted: new RecentSet(60_000, 1000),
      emailHashKey: EMAIL_HASH_KEY,
      retryAfterSeconds: RETRY_AFTER_SECONDS,
      logger: webhookLogger,
      isPayloadError,
    },
    manual: {
      findApiKey: async (hash: string) => {
        if (apiKeyFailure) throw apiKeyFailure;
        return apiKeys.get(hash) ?? null;
      },
      countUnidentified: (attempt: AttemptFigures) => void unidentified.push(attempt),
      requests: requests as unknown as Collection<ManualRequestDoc>,
      publisher,
      deliveries,
      emailHashKey: EMAIL_HASH_KEY,
      retryAfterSeconds: RETRY_AFTER_SECONDS,
    },
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  publisher.published = [];
  publisher.traceparents = [];
  publisher.calls = 0;
  publisher.failWith = null;
  lookupFailure = null;
  apiKeyFailure = null;
  requests.failWith = null;
  unidentified.length = 0;
  deliveries.records = [];
  warnings.length = 0;
});

// ---------------------------------------------------------------------------------------------- helpers

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

async function post(path: string, rawBody: Buffer | string, headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(`${baseUrl}${path}`, { method: 'POST', body: rawBody, headers });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // leave as text: the assertion on it will show what came back
  }
  return { status: res.status, headers: res.headers, body };
}

const webhookPath = (provider: WebhookProvider, integrationId: string) => `/v1/webhooks/${provider}/${integrationId}`;
const sendWebhook = (provider: WebhookProvider, integrationId: string, request: { rawBody: Buffer | string; headers: Record<string, string> }) =>
  post(webhookPath(provider, integrationId), request.rawBody, request.headers);

/** The delivery-log record of the (single) request a test made. */
function onlyDelivery(): DeliveryInput {
  expect(deliveries.records).toHaveLength(1);
  return deliveries.records[0]!;
}

function expectRefused(answer: Answer, status: number, code: string): void {
  expect({ status: answer.status, code: answer.body?.error?.code }).toEqual({ status, code });
  expect(typeof answer.body.error.message).toBe('string');
  expect(answer.body.error.message.length).toBeGreaterThan(0);
  expect(publisher.published).toEqual([]);
  expect(publisher.calls).toBe(0);
}

const stripeSecret = () => stripeFixtures.stripeWebhookSecret();
const stripePayment = (metadata: Record<string, string> = {}) =>
  stripeFixtures.paymentIntentSucceeded({ apiVersion: API_VERSION, amount: 4900, currency: 'eur', metadata });

// --------------------------------------------------------------------------------------------- webhooks

describe('webhooks: accepted', () => {
  it('Stripe: 200 {received:true} after publishing the normalized event; the delivery log says accepted', async () => {
    const secret = stripeSecret();
    const integration = addIntegration('stripe', [secret]);
    const event = stripePayment({ metrivo_session_id: 's_42', metrivo_visitor_id: 'v_7' });

    const answer = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(event, secret));

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ received: true });
    expect(publisher.published).toHaveLength(1);
    expect(publisher.published[0]).toMatchObject({
      type: 'payment', websiteId: integration.websiteId, integrationId: integration._id, provider: 'stripe',
      livemode: false, amountMinor: 4900, currency: 'eur', paid: true,
      refs: { paymentIntent: event.data.object.id },
      signals: { sessionId: 's_42', visitorId: 'v_7' },
      source: { eventId: event.id, eventType: 'payment_intent.succeeded', apiVersion: API_VERSION },
    });
    expect(onlyDelivery()).toMatchObject({
      integrationId: integration._id, websiteId: integration.websiteId, provider: 'stripe', providerEventId: event.id,
      eventType: 'payment_intent.succeeded', livemode: false, outcome: 'accepted', httpStatus: 200, errorCode: null,
      published: 1, hadMetrivoSignals: true,
    });
  });

  it('Stripe: during a secret roll a request signed only with the previous secret verifies', async () => {
    const [current, previous] = [stripeSecret(), stripeSecret()];
    const integration = addIntegration('stripe', [current, previous]);
    const answer = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(stripePayment(), previous));
    expect(answer.status).toBe(200);
    expect(publisher.published).toHaveLength(1);
  });

  it('Razorpay: payment.captured is published with the integration mode and the event-id header as provider id', async () => {
    const integration = addIntegration('razorpay', ['rzp_secret_1'], { livemode: true });
    const payment = razorpayFixtures.razorpayPaymentEntity({ amount: 49900, notes: { metrivo_visitor_id: 'v_rzp' } });
    const request = razorpayFixtures.razorpayWebhookRequest(razorpayFixtures.razorpayPaymentCaptured(payment), 'rzp_secret_1', 'rzp_evt_1');

    const answer = await sendWebhook('razorpay', integration._id, request);

    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ received: true });
    expect(publisher.published).toHaveLength(1);
    expect(publisher.published[0]).toMatchObject({
      type: 'payment', provider: 'razorpay', livemode: true, amountMinor: 49900, currency: 'inr',
      refs: { payment: payment.id }, signals: { visitorId: 'v_rzp' },
    });
    expect(onlyDelivery()).toMatchObject({ outcome: 'accepted', providerEventId: 'rzp_evt_1', eventType: 'payment.captured', livemode: true, published: 1 });
  });

  it('Dodo: payment.succeeded is published', async () => {
    const secret = dodoFixtures.dodoWebhookSecret();
    const integration = addIntegration('dodo', [secret]);
    const body = dodoFixtures.dodoPaymentSucceeded({ totalAmount: 2500, currency: 'USD' });
    const request = dodoFixtures.dodoWebhookRequest(body, secret, { webhookId: 'msg_dodo_1' });

    const answer = await sendWebhook('dodo', integration._id, request);

    expect(answer.status).toBe(200);
    expect(publisher.published).toHaveLength(1);
    expect(publisher.published[0]).toMatchObject({ provider: 'dodo', livemode: false, amountMinor: 2500, currency: 'usd', refs: { payment: body.data.payment_id } });
    expect(onlyDelivery()).toMatchObject({ outcome: 'accepted', providerEventId: 'msg_dodo_1', eventType: 'payment.succeeded' });
  });

  it('Dodo: a payment.succeeded whose embedded refund lacks amount and currency is accepted and the payment published', async () => {
    const secret = dodoFixtures.dodoWebhookSecret();
    const integration = addIntegration('dodo', [secret]);
    const paymentId = prefixedId('pay', 21);
    const refunds = [dodoFixtures.dodoRefundData({ paymentId, amount: null, currency: null })];
    const body = dodoFixtures.dodoPaymentSucceeded({ paymentId, totalAmount: 2500, refunds });

    const answer = await sendWebhook('dodo', integration._id, dodoFixtures.dodoWebhookRequest(body, secret));

    expect(answer).toMatchObject({ status: 200, body: { received: true } });
    expect(publisher.published).toHaveLength(1);
    expect(publisher.published[0]).toMatchObject({ type: 'payment', amountMinor: 2500, refs: { payment: paymentId } });
    expect(onlyDelivery()).toMatchObject({ outcome: 'accepted', published: 1 });
  });

  it('event types Metrivo does not use: 200 {received:true, ignored:true}, nothing published, logged as ignored', async () => {
    const secret = stripeSecret();
    const integration = addIntegration('stripe', [secret]);
    const event = stripeFixtures.stripeEvent({ apiVersion: API_VERSION, type: 'customer.created', object: { id: prefixedId('cus', 14), object: 'customer', livemode: false } });
    const stripeAnswer = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(event, secret));

    const rzp = addIntegration('razorpay', ['rzp_secret_2']);
    const rzpBody = razorpayFixtures.razorpayEvent('payment.authorized', { payment: { entity: razorpayFixtures.razorpayPaymentEntity() } });
    const rzpAnswer = await sendWebhook('razorpay', rzp._id, razorpayFixtures.razorpayWebhookRequest(rzpBody, 'rzp_secret_2'));

    expect(stripeAnswer).toMatchObject({ status: 200, body: { received: true, ignored: true } });
    expect(rzpAnswer).toMatchObject({ status: 200, body: { received: true, ignored: true } });
    expect(publisher.published).toEqual([]);
    expect(deliveries.records.map((d) => [d.outcome, d.eventType, d.published])).toEqual([
      ['ignored', 'customer.created', 0],
      ['ignored', 'payment.authorized', 0],
    ]);
  });

  it('a redelivered event (same provider event id) answers 200 duplicate and is published once', async () => {
    const secret = stripeSecret();
    const integration = addIntegration('stripe', [secret]);
    const event = stripePayment();
    const first = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(event, secret));
    // Stripe re-signs a retry with a new timestamp; the body is the same event.
    const again = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(event, secret, unixNow() + 1));

    const rzp = addIntegration('razorpay', ['rzp_secret_3']);
    const rzpRequest = razorpayFixtures.razorpayWebhookRequest(razorpayFixtures.razorpayPaymentCaptured(), 'rzp_secret_3', 'rzp_evt_dup');
    const rzpFirst = await sendWebhook('razorpay', rzp._id, rzpRequest);
    const rzpAgain = await sendWebhook('razorpay', rzp._id, rzpRequest);

    expect(first).toMatchObject({ status: 200, body: { received: true } });
    expect(again).toMatchObject({ status: 200, body: { received: true, duplicate: true } });
    expect(rzpFirst.body).toEqual({ received: true });
    expect(rzpAgain).toMatchObject({ status: 200, body: { received: true, duplicate: true } });
    expect(publisher.published.map((e) => e.source.eventId)).toEqual([event.id, 'rzp_evt_dup']);
    expect(deliveries.records.map((d) => d.outcome)).toEqual(['accepted', 'duplicate', 'accepted', 'duplicate']);
  });
});

describe('webhooks: Kafka unavailable', () => {
  it('503 unavailable with Retry-After; the same webhook retried after Kafka is back is accepted and published once', async () => {
    const secret = stripeSecret();
    const integration = addIntegration('stripe', [secret]);
    const event = stripePayment();
    const request = stripeFixtures.stripeWebhookRequest(event, secret);

    publisher.failWith = new KafkaUnavailableError('Kafka did not acknowledge the record within 5000 ms');
    const refused = await sendWebhook('stripe', integration._id, request);
    publisher.failWith = null;
    const retried = await sendWebhook('stripe', integration._id, request);

    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('unavailable');
    expect(refused.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS));
    expect(retried).toMatchObject({ status: 200, body: { received: true } });
    expect(publisher.published.map((e) => e.source.eventId)).toEqual([event.id]);
    expect(deliveries.records.map((d) => [d.outcome, d.httpStatus, d.errorCode, d.published])).toEqual([
      ['unavailable', 503, 'unavailable', 0],
      ['accepted', 200, null, 1],
    ]);
  });

  it('any other publisher failure is a 500, never a 2xx', async () => {
    const secret = stripeSecret();
    const integration = addIntegration('stripe', [secret]);
    publisher.failWith = new Error('schema violation');
    const answer = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(stripePayment(), secret));
    expect(answer.status).toBe(500);
    expect(answer.body.error.code).toBe('internal_error');
    expect(publisher.published).toEqual([]);
    expect(onlyDelivery()).toMatchObject({ outcome: 'rejected', httpStatus: 500, errorCode: 'internal_error', published: 0 });
  });
});

describe('webhooks: integration lookup failing', () => {
  it('MongoDB unavailable → 503 unavailable with Retry-After (not 404: the integration may exist), logged as database_unavailable', async () => {
    const secret = stripeSecret();
    const integration = addIntegration('stripe', [secret]);
    lookupFailure = Object.assign(new Error('Server selection timed out after 5000 ms'), { name: 'MongoServerSelectionError' });
    const answer = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(stripePayment(), secret));
    expect(answer.status).toBe(503);
    expect(answer.body.error.code).toBe('unavailable');
    expect(answer.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS));
    expect(publisher.published).toEqual([]);
    expect(onlyDelivery()).toMatchObject({ integrationId: integration._id, outcome: 'unavailable', httpStatus: 503, errorCode: 'database_unavailable', published: 0 });
    expect(warnings.map((w) => w.message)).toEqual([expect.stringContaining('MongoDB unavailable')]);
  });

  it('any other lookup failure is a 500, and the attempt is logged', async () => {
    const secret = stripeSecret();
    const integration = addIntegration('stripe', [secret]);
    lookupFailure = new TypeError("Cannot read properties of undefined (reading 'secrets')");
    const answer = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(stripePayment(), secret));
    expect(answer.status).toBe(500);
    expect(answer.body.error.code).toBe('internal_error');
    expect(onlyDelivery()).toMatchObject({ outcome: 'rejected', httpStatus: 500, errorCode: 'internal_error', published: 0 });
  });
});

describe('webhooks: bad input is refused with a stable code, publishes nothing, and is logged', () => {
  it('413 payload_too_large for a body over the limit', async () => {
    const secret = stripeSecret();
    const integration = addIntegration('stripe', [secret]);
    const event = stripePayment({ padding: 'x'.repeat(BODY_LIMIT) });
    const answer = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(event, secret));
    expectRefused(answer, 413, 'payload_too_large');
    expect(onlyDelivery()).toMatchObject({ integrationId: integration._id, provider: 'stripe', outcome: 'rejected', httpStatus: 413, errorCode: 'payload_too_large' });
  });

  it.each([['text/plain'], ['application/x-www-form-urlencoded'], ['']])('415 unsupported_media_type for Content-Type %j', async (contentType) => {
    const secret = stripeSecret();
    const integration = addIntegration('stripe', [secret]);
    const request = stripeFixtures.stripeWebhookRequest(stripePayment(), secret);
    const headers: Record<string, string> = { ...request.headers, 'content-type': contentType };
    if (contentType === '') delete headers['content-type'];
    const answer = await post(webhookPath('stripe', integration._id), request.rawBody, headers);
    expectRefused(answer, 415, 'unsupported_media_type');
    expect(onlyDelivery()).toMatchObject({ integrationId: integration._id, outcome: 'rejected', httpStatus: 415, errorCode: 'unsupported_media_type' });
  });

  describe('truncated JSON, signed correctly → 400 invalid_payload', () => {
    it('Stripe', async () => {
      const secret = stripeSecret();
      const integration = addIntegration('stripe', [secret]);
      const truncated = JSON.stringify(stripePayment()).slice(0, -25);
      const headers = { 'content-type': 'application/json', 'stripe-signature': stripeFixtures.stripeSignatureHeader(truncated, secret) };
      const answer = await post(webhookPath('stripe', integration._id), truncated, headers);
      expectRefused(answer, 400, 'invalid_payload');
      expect(onlyDelivery()).toMatchObject({ outcome: 'rejected', httpStatus: 400, errorCode: 'invalid_payload' });
    });

    it('Razorpay', async () => {
      const integration = addIntegration('razorpay', ['rzp_secret_t']);
      const truncated = JSON.stringify(razorpayFixtures.razorpayPaymentCaptured()).slice(0, -25);
      const headers = { 'content-type': 'application/json', 'x-razorpay-signature': razorpayFixtures.razorpaySignature(truncated, 'rzp_secret_t'), 'x-razorpay-event-id': 'rzp_evt_t' };
      const answer = await post(webhookPath('razorpay', integration._id), truncated, headers);
      expectRefused(answer, 400, 'invalid_payload');
      expect(onlyDelivery()).toMatchObject({ outcome: 'rejected', errorCode: 'invalid_payload' });
    });

    it('Dodo', async () => {
      const secret = dodoFixtures.dodoWebhookSecret();
      const integration = addIntegration('dodo', [secret]);
      const truncated = JSON.stringify(dodoFixtures.dodoPaymentSucceeded()).slice(0, -25);
      const [id, ts] = ['msg_truncated', unixNow()];
      const headers = {
        'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(ts),
        'webhook-signature': dodoFixtures.dodoSignature(id, ts, truncated, secret),
      };
      const answer = await post(webhookPath('dodo', integration._id), truncated, headers);
      expectRefused(answer, 400, 'invalid_payload');
      expect(onlyDelivery()).toMatchObject({ outcome: 'rejected', errorCode: 'invalid_payload' });
    });
  });

  it('an empty body → 400 invalid_payload', async () => {
    const secret = stripeSecret();
    const integration = addIntegration('stripe', [secret]);
    const answer = await post(webhookPath('stripe', integration._id), '', { 'content-type': 'application/json', 'stripe-signature': stripeFixtures.stripeSignatureHeader('', secret) });
    expectRefused(answer, 400, 'invalid_payload');
    expect(onlyDelivery()).toMatchObject({ outcome: 'rejected', errorCode: 'invalid_payload' });
  });

  describe('missing signature headers → 400 invalid_signature', () => {
    it('Stripe without Stripe-Signature', async () => {
      const secret = stripeSecret();
      const integration = addIntegration('stripe', [secret]);
      const { rawBody, headers } = stripeFixtures.stripeWebhookRequest(stripePayment(), secret);
      const answer = await post(webhookPath('stripe', integration._id), rawBody, { 'content-type': headers['content-type']! });
      expectRefused(answer, 400, 'invalid_signature');
      expect(onlyDelivery()).toMatchObject({ outcome: 'rejected', errorCode: 'invalid_signature' });
    });

    it('Razorpay without X-Razorpay-Signature', async () => {
      const integration = addIntegration('razorpay', ['rzp_secret_m']);
      const { rawBody } = razorpayFixtures.razorpayWebhookRequest(razorpayFixtures.razorpayPaymentCaptured(), 'rzp_secret_m');
      const answer = await post(webhookPath('razorpay', integration._id), rawBody, { 'content-type': 'application/json', 'x-razorpay-event-id': 'e1' });
      expectRefused(answer, 400, 'invalid_signature');
    });

    it.each([['webhook-signature'], ['webhook-id'], ['webhook-timestamp']])('Dodo without %s', async (header) => {
      const secret = dodoFixtures.dodoWebhookSecret();
      const integration = addIntegration('dodo', [secret]);
      const { rawBody, headers } = dodoFixtures.dodoWebhookRequest(dodoFixtures.dodoPaymentSucceeded(), secret);
      delete headers[header];
      const answer = await post(webhookPath('dodo', integration._id), rawBody, headers);
      expectRefused(answer, 400, 'invalid_signature');
      expect(onlyDelivery()).toMatchObject({ outcome: 'rejected', errorCode: 'invalid_signature' });
    });
  });

  describe('wrong secret → 400 invalid_signature', () => {
    it('Stripe', async () => {
      const integration = addIntegration('stripe', [stripeSecret()]);
      const answer = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(stripePayment(), stripeSecret()));
      expectRefused(answer, 400, 'invalid_signature');
      expect(onlyDelivery()).toMatchObject({ websiteId: integration.websiteId, outcome: 'rejected', httpStatus: 400, errorCode: 'invalid_signature' });
    });

    it('Razorpay', async () => {
      const integration = addIntegration('razorpay', ['the_right_one']);
      const answer = await sendWebhook('razorpay', integration._id, razorpayFixtures.razorpayWebhookRequest(razorpayFixtures.razorpayPaymentCaptured(), 'a_wrong_one'));
      expectRefused(answer, 400, 'invalid_signature');
    });

    it('Dodo', async () => {
      const integration = addIntegration('dodo', [dodoFixtures.dodoWebhookSecret()]);
      const answer = await sendWebhook('dodo', integration._id, dodoFixtures.dodoWebhookRequest(dodoFixtures.dodoPaymentSucceeded(), dodoFixtures.dodoWebhookSecret()));
      expectRefused(answer, 400, 'invalid_signature');
    });

    it('Stripe: a correctly signed body altered in transit', async () => {
      const secret = stripeSecret();
      const integration = addIntegration('stripe', [secret]);
      const request = stripeFixtures.stripeWebhookRequest(stripePayment(), secret);
      const tampered = request.rawBody.toString('utf8').replace('"amount": 4900', '"amount": 9900');
      expect(tampered).not.toBe(request.rawBody.toString('utf8'));
      const answer = await post(webhookPath('stripe', integration._id), tampered, request.headers);
      expectRefused(answer, 400, 'invalid_signature');
    });
  });

  describe('a stored secret whose encryption key left METRIVO_SECRET_KEYS', () => {
    const missingKey = [{ keyId: 'k1', reason: 'key_missing' as const }];

    it('is skipped: a webhook signed with a readable secret is accepted', async () => {
      const secret = stripeSecret();
      const integration = addIntegration('stripe', [secret], {}, missingKey);
      const answer = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(stripePayment(), secret));
      expect(answer.status).toBe(200);
      expect(publisher.published).toHaveLength(1);
    });

    it('a signature no readable secret matches → 503 unavailable with Retry-After (the provider retries); the delivery log says secret_unreadable; warned without key material', async () => {
      const integration = addIntegration('stripe', [stripeSecret()], {}, missingKey);
      const answer = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(stripePayment(), stripeSecret()));
      expectRefused(answer, 503, 'unavailable');
      expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
      // Generic for the caller (anyone can post to the URL); the detail is in the warning.
      expect(answer.body.error.message).toBe('Metrivo cannot verify this webhook right now; the provider will retry.');
      expect(onlyDelivery()).toMatchObject({ outcome: 'unavailable', httpStatus: 503, errorCode: 'secret_unreadable' });
      expect(warnings).toEqual([{ fields: { integrationId: integration._id, keyIds: ['k1'], reasons: ['key_missing'], trace_id: answer.headers.get('metrivo-trace-id') }, message: expect.stringMatching(/METRIVO_SECRET_KEYS/) }]);
    });

    it('the warning comes once a minute per integration, not once per request', async () => {
      const integration = addIntegration('stripe', [stripeSecret()], {}, missingKey);
      for (let i = 0; i < 3; i += 1) {
        expectRefused(await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(stripePayment(), stripeSecret())), 503, 'unavailable');
      }
      expect(warnings).toHaveLength(1);
      expect(deliveries.records.map((d) => d.errorCode)).toEqual(['secret_unreadable', 'secret_unreadable', 'secret_unreadable']);
    });

    it('the only secret unreadable → 503 unavailable (secret_unreadable in the delivery log), not "no signing secret yet"', async () => {
      const integration = addIntegration('razorpay', [], {}, missingKey);
      const answer = await sendWebhook('razorpay', integration._id, razorpayFixtures.razorpayWebhookRequest(razorpayFixtures.razorpayPaymentCaptured(), 'whatever_secret'));
      expectRefused(answer, 503, 'unavailable');
      expect(onlyDelivery()).toMatchObject({ errorCode: 'secret_unreadable' });
      expect(answer.body.error.message).not.toMatch(/no signing secret/);
      expect(warnings).toHaveLength(1);
    });

    it('a missing signature is still 400 invalid_signature', async () => {
      const integration = addIntegration('stripe', [stripeSecret()], {}, missingKey);
      const { rawBody } = stripeFixtures.stripeWebhookRequest(stripePayment(), stripeSecret());
      const answer = await post(webhookPath('stripe', integration._id), rawBody, { 'content-type': 'application/json' });
      expectRefused(answer, 400, 'invalid_signature');
    });
  });

  describe('replayed old timestamp → 400 timestamp_out_of_tolerance', () => {
    it('Stripe, signed 10 minutes ago', async () => {
      const secret = stripeSecret();
      const integration = addIntegration('stripe', [secret]);
      const answer = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(stripePayment(), secret, unixNow() - 600));
      expectRefused(answer, 400, 'timestamp_out_of_tolerance');
      expect(onlyDelivery()).toMatchObject({ outcome: 'rejected', errorCode: 'timestamp_out_of_tolerance' });
    });

    it('Dodo, signed 10 minutes ago', async () => {
      const secret = dodoFixtures.dodoWebhookSecret();
      const integration = addIntegration('dodo', [secret]);
      const request = dodoFixtures.dodoWebhookRequest(dodoFixtures.dodoPaymentSucceeded(), secret, { timestamp: unixNow() - 600 });
      const answer = await sendWebhook('dodo', integration._id, request);
      expectRefused(answer, 400, 'timestamp_out_of_tolerance');
    });

    it('Stripe, just past the 300 s tolerance (301 s old)', async () => {
      const secret = stripeSecret();
      const integration = addIntegration('stripe', [secret]);
      const signedAt = unixNow() - 301;
      const answer = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(stripePayment(), secret, signedAt));
      expectRefused(answer, 400, 'timestamp_out_of_tolerance');
    });
  });

  it('404 unknown_integration for an id nobody created', async () => {
    const secret = stripeSecret();
    const answer = await sendWebhook('stripe', 'int_does_not_exist', stripeFixtures.stripeWebhookRequest(stripePayment(), secret));
    expectRefused(answer, 404, 'unknown_integration');
    expect(onlyDelivery()).toMatchObject({ integrationId: 'int_does_not_exist', websiteId: null, outcome: 'rejected', httpStatus: 404, errorCode: 'unknown_integration' });
  });

  it.each([
    ['stripe', 'razorpay'],
    ['razorpay', 'stripe'],
    ['dodo', 'stripe'],
    ['stripe', 'dodo'],
  ] as const)('404 unknown_integration: a %s integration hit on the %s route (even when correctly signed for that route)', async (owner, route) => {
    const secret = owner === 'dodo' ? dodoFixtures.dodoWebhookSecret() : owner === 'stripe' ? stripeSecret() : 'rzp_secret_x';
    const integration = addIntegration(owner, [secret]);
    const request =
      route === 'stripe' ? stripeFixtures.stripeWebhookRequest(stripePayment(), secret)
      : route === 'razorpay' ? razorpayFixtures.razorpayWebhookRequest(razorpayFixtures.razorpayPaymentCaptured(), secret)
      : dodoFixtures.dodoWebhookRequest(dodoFixtures.dodoPaymentSucceeded(), secret);
    const answer = await sendWebhook(route, integration._id, request);
    expectRefused(answer, 404, 'unknown_integration');
    expect(answer.body.error.message).toContain(owner);
    expect(onlyDelivery()).toMatchObject({ integrationId: integration._id, provider: route, outcome: 'rejected', errorCode: 'unknown_integration' });
  });

  it('404 unknown_integration (DESIGN §4 defines no other 404) for a disabled integration, even with a valid signature; the message says it is disabled', async () => {
    const secret = stripeSecret();
    const integration = addIntegration('stripe', [secret], { status: 'disabled' });
    const answer = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(stripePayment(), secret));
    expectRefused(answer, 404, 'unknown_integration');
    expect(answer.body.error.message).toMatch(/disabled in Metrivo admin/);
    expect(onlyDelivery()).toMatchObject({ outcome: 'rejected', errorCode: 'unknown_integration' });
  });

  it('400 invalid_signature when the integration has no secret set yet, with a message that says so', async () => {
    const integration = addIntegration('stripe', []);
    const answer = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(stripePayment(), stripeSecret()));
    expectRefused(answer, 400, 'invalid_signature');
    expect(answer.body.error.message).toMatch(/no signing secret/);
    expect(onlyDelivery()).toMatchObject({ outcome: 'rejected', errorCode: 'invalid_signature' });
  });

  it('a known Stripe event type missing a field the normalizer needs → 400 invalid_payload', async () => {
    const secret = stripeSecret();
    const integration = addIntegration('stripe', [secret]);
    const event = stripePayment();
    delete event.data.object.currency;
    const answer = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(event, secret));
    expectRefused(answer, 400, 'invalid_payload');
    expect(onlyDelivery()).toMatchObject({ outcome: 'rejected', errorCode: 'invalid_payload', providerEventId: event.id });
  });
});

// ------------------------------------------------------------------------------------------- Manual API

describe('Manual Payment API', () => {
  const json = (key: string | null, body: unknown): [string, Record<string, string>] => [
    JSON.stringify(body),
    { 'content-type': 'application/json', ...(key === null ? {} : { authorization: `Bearer ${key}` }) },
  ];
  const payment = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ id: prefixedId('order', 12), amount: 4900, currency: 'eur', ...over });

  it('401 invalid_api_key without a key, with a malformed header, and with an unknown key; nothing published', async () => {
    const answers = [
      await post('/v1/payments', ...json(null, payment())),
      await post('/v1/payments', JSON.stringify(payment()), { 'content-type': 'application/json', authorization: 'Basic abc' }),
      await post('/v1/payments', ...json('mtv_test_not_a_real_key', payment())),
      await post('/v1/refunds', ...json('mtv_test_not_a_real_key', { id: 'r1', paymentId: 'p1', amount: 100, currency: 'eur' })),
    ];
    for (const answer of answers) expectRefused(answer, 401, 'invalid_api_key');
    // No website to log them under: counted in the request metrics only.
    expect(deliveries.records).toEqual([]);
    expect(unidentified.map((a) => [a.provider, a.outcome, a.httpStatus, a.errorCode])).toEqual(Array(4).fill(['manual', 'rejected', 401, 'invalid_api_key']));
  });

  it('MongoDB failing on the key lookup → 503 unavailable with Retry-After, counted as unavailable', async () => {
    const { key } = addApiKey(prefixedId('w', 10));
    apiKeyFailure = mongoDown();
    const answer = await post('/v1/payments', ...json(key, payment()));
    expectRefused(answer, 503, 'unavailable');
    expect(answer.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS));
    expect(unidentified.map((a) => [a.outcome, a.httpStatus, a.errorCode])).toEqual([['unavailable', 503, 'database_unavailable']]);
  });

  it('MongoDB failing on the idempotency record → 503 unavailable, in the delivery log as database_unavailable (was not logged at all)', async () => {
    const { key, doc } = addApiKey(prefixedId('w', 10));
    requests.failWith = mongoDown();
    const body = payment();
    const answer = await post('/v1/payments', ...json(key, body));
    expectRefused(answer, 503, 'unavailable');
    expect(onlyDelivery()).toMatchObject({ provider: 'manual', websiteId: doc.websiteId, providerEventId: body.id, outcome: 'unavailable', httpStatus: 503, errorCode: 'database_unavailable' });
    requests.failWith = new Error('a bug');
    deliveries.records = [];
    expectRefused(await post('/v1/payments', ...json(key, payment())), 500, 'internal_error');
    expect(onlyDelivery()).toMatchObject({ outcome: 'rejected', httpStatus: 500, errorCode: 'internal_error' });
  });

  it('422 validation_failed lists every failing field at once', async () => {
    const { key } = addApiKey(prefixedId('w', 10));
    const answer = await post('/v1/payments', ...json(key, {
      id: 'x'.repeat(256), amount: 49.5, currency: 'xyz', occurredAt: 'yesterday at noon', colour: 'blue',
    }));
    expectRefused(answer, 422, 'validation_failed');
    const fields = answer.body.error.fields as Array<{ path: string; message: string }>;
    const byPath = new Map(fields.map((f) => [f.path, f.message]));
    expect([...byPath.keys()].sort()).toEqual(['(root)', 'amount', 'currency', 'id', 'occurredAt']);
    expect(byPath.get('amount')).toMatch(/integer/);
    expect(byPath.get('currency')).toMatch(/ISO 4217/);
    expect(byPath.get('id')).toMatch(/255/);
    expect(byPath.get('occurredAt')).toMatch(/ISO-8601/);
    // Not also "must be within the last 5 years": that would be noise on top of the real problem.
    expect(fields.filter((f) => f.path === 'occurredAt')).toHaveLength(1);
    expect(byPath.get('(root)')).toMatch(/colour/);
  });

  it.each([
    [{ amount: '4900' }, 'amount'],
    [{ amount: 0 }, 'amount'],
    [{ currency: 'euro' }, 'currency'],
    [{ occurredAt: '2001-01-01T00:00:00Z' }, 'occurredAt'],
    [{ email: 'not-an-email' }, 'email'],
    [{ livemode: 'yes' }, 'livemode'],
    [{ id: 'has spaces' }, 'id'],
  ])('422 for %j names %s', async (over, field) => {
    const { key } = addApiKey(prefixedId('w', 10));
    const answer = await post('/v1/payments', ...json(key, payment(over)));
    expectRefused(answer, 422, 'validation_failed');
    // A field may carry more than one message (e.g. "euro": not three letters, not a known code).
    expect(new Set(answer.body.error.fields.map((f: { path: string }) => f.path))).toEqual(new Set([field]));
  });

  it.each([['visitorId'], ['sessionId'], ['subscriptionId']])('%s is trimmed like webhook signal ids, and a blank one is a 422 naming it', async (field) => {
    const { key } = addApiKey(prefixedId('w', 10));
    const blank = await post('/v1/payments', ...json(key, payment({ [field]: '   ' })));
    expectRefused(blank, 422, 'validation_failed');
    expect(blank.body.error.fields.map((f: { path: string }) => f.path)).toEqual([field]);
    expect(blank.body.error.fields[0].message).toMatch(/blank/);

    const padded = await post('/v1/payments', ...json(key, payment({ [field]: '  ref_1\t' })));
    expect(padded.status).toBe(202);
    const event = publisher.published[0]!;
    const value = field === 'subscriptionId' ? event.refs.subscription : event.signals[field as 'visitorId' | 'sessionId'];
    // A test key: the subscription id gets the test-mode prefix (see 'test and live mode').
    expect(value).toBe(field === 'subscriptionId' ? 'test:ref_1' : 'ref_1');
  });

  it('400 invalid_payload when the body is not JSON', async () => {
    const { key } = addApiKey(prefixedId('w', 10));
    const answer = await post('/v1/payments', '{"id":"p1","amount":', { 'content-type': 'application/json', authorization: `Bearer ${key}` });
    expectRefused(answer, 400, 'invalid_payload');
    // The key was valid: support sees the merchant's broken request in the delivery log, like a 422.
    expect(onlyDelivery()).toMatchObject({ provider: 'manual', eventType: 'manual.payment', outcome: 'rejected', httpStatus: 400, errorCode: 'invalid_payload' });
  });

  it('202 {paymentKey}; the same id again → 200 with the same body and nothing new published; different content → 409', async () => {
    const { key, doc } = addApiKey(prefixedId('w', 10));
    const body = payment({ email: 'Jenny.Rosen@Example.com', visitorId: 'v_manual', occurredAt: new Date(Date.now() - 60_000).toISOString() });

    const first = await post('/v1/payments', ...json(key, body));
    // Same content, keys in another order: still the same request.
    const reordered = Object.fromEntries(Object.entries(body).reverse());
    const again = await post('/v1/payments', ...json(key, reordered));
    const conflicting = await post('/v1/payments', ...json(key, { ...body, amount: 5900 }));

    expect(first.status).toBe(202);
    // A test key: the payment key is the test-mode one, never shared with a live order of the same id.
    expect(first.body).toEqual({ paymentKey: `manual:test:${body.id}` });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(conflicting.status).toBe(409);
    expect(conflicting.body.error.code).toBe('idempotency_conflict');

    expect(publisher.published).toHaveLength(1);
    const event = publisher.published[0]!;
    expect(event).toMatchObject({
      type: 'payment', provider: 'manual', websiteId: doc.websiteId, livemode: false, amountMinor: 4900, currency: 'eur',
      occurredAt: body.occurredAt, refs: { payment: `test:${body.id}` }, signals: { visitorId: 'v_manual', emailMasked: expect.stringContaining('@example.com') },
    });
    expect(event.type === 'payment' && event.signals.emailHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(event)).not.toMatch(/jenny/i);
    // Every attempt is in the delivery log (support sees the repeat and the conflict too).
    expect(deliveries.records.map((d) => [d.outcome, d.httpStatus, d.errorCode, d.providerEventId, d.published])).toEqual([
      ['accepted', 202, null, body.id, 1], ['duplicate', 200, null, body.id, 0], ['rejected', 409, 'idempotency_conflict', body.id, 0],
    ]);
    expect(deliveries.records[0]).toMatchObject({ provider: 'manual', websiteId: doc.websiteId });
  });

  it('a refused request (422) is in the delivery log with its code, the id it named and its mode', async () => {
    const { key } = addApiKey(prefixedId('w', 10));
    const answer = await post('/v1/payments', ...json(key, payment({ id: 'order_bad', amount: 49.5 })));
    expectRefused(answer, 422, 'validation_failed');
    expect(deliveries.records).toEqual([expect.objectContaining({ provider: 'manual', outcome: 'rejected', httpStatus: 422, errorCode: 'validation_failed', providerEventId: 'order_bad', livemode: false, published: 0 })]);
  });

  it('the same caller id on two websites is two payments', async () => {
    const [a, b] = [addApiKey(prefixedId('w', 10)), addApiKey(prefixedId('w', 10))];
    const body = payment();
    const answers = [await post('/v1/payments', ...json(a.key, body)), await post('/v1/payments', ...json(b.key, body))];
    expect(answers.map((x) => x.status)).toEqual([202, 202]);
    expect(publisher.published.map((e) => e.websiteId)).toEqual([a.doc.websiteId, b.doc.websiteId]);
  });

  it('refunds: 202, idempotent on the refund id', async () => {
    const { key, doc } = addApiKey(prefixedId('w', 10));
    const refund = { id: prefixedId('refund', 10), paymentId: 'order_1', amount: 1000, currency: 'EUR' };
    const first = await post('/v1/refunds', ...json(key, refund));
    const again = await post('/v1/refunds', ...json(key, refund));
    expect(first.status).toBe(202);
    expect(first.body).toEqual({ refundId: refund.id, paymentKey: 'manual:test:order_1' });
    expect(again).toMatchObject({ status: 200, body: first.body });
    expect(publisher.published).toHaveLength(1);
    expect(publisher.published[0]).toMatchObject({
      type: 'refund', provider: 'manual', websiteId: doc.websiteId, refundId: refund.id, amountMinor: 1000, currency: 'eur',
      status: 'succeeded', refs: { payment: 'test:order_1' },
    });
  });

  it('refund validation lists every failing field', async () => {
    const { key } = addApiKey(prefixedId('w', 10));
    const answer = await post('/v1/refunds', ...json(key, { id: 'r_1', amount: -5, currency: 'eur', email: 'x@y.z' }));
    expectRefused(answer, 422, 'validation_failed');
    expect(answer.body.error.fields.map((f: { path: string }) => f.path).sort()).toEqual(['(root)', 'amount', 'paymentId']);
  });

  describe('ids Metrivo derives from the caller\'s ids fit the contract (255 characters)', () => {
    const longest = (websiteId: string, kind: 'payment' | 'refund', livemode: boolean) =>
      255 - `manual:${websiteId}:${kind}:${livemode ? '' : 'test:'}`.length;

    it.each([[true], [false]])('livemode %s: an id one character too long is a 422 naming id and saying how long it may be; the longest allowed is accepted', async (livemode) => {
      const { key, doc } = addApiKey(prefixedId('w', 10), livemode);
      const max = longest(doc.websiteId, 'payment', livemode);
      const tooLong = await post('/v1/payments', ...json(key, payment({ id: 'p'.repeat(max + 1) })));
      expectRefused(tooLong, 422, 'validation_failed');
      expect(tooLong.body.error.fields).toEqual([{ path: 'id', message: expect.stringContaining(`at most ${max} characters`) }]);
      expect(tooLong.body.error.fields[0].message).toMatch(/limited to 255/);

      const fits = await post('/v1/payments', ...json(key, payment({ id: 'p'.repeat(max) })));
      expect(fits.status).toBe(202);
      expect(publisher.published[0]!.eventId).toHaveLength(255);
    });

    it('refunds: a too long id or paymentId is a 422 naming each', async () => {
      const { key, doc } = addApiKey(prefixedId('w', 10), true);
      const answer = await post('/v1/refunds', ...json(key, { id: 'r'.repeat(longest(doc.websiteId, 'refund', true) + 1), paymentId: 'p'.repeat(250), amount: 100, currency: 'eur' }));
      expectRefused(answer, 422, 'validation_failed');
      expect(answer.body.error.fields.map((f: { path: string }) => f.path)).toEqual(['id']);
      const test = addApiKey(prefixedId('w', 10), false);
      const testAnswer = await post('/v1/refunds', ...json(test.key, { id: 'r_1', paymentId: 'p'.repeat(251), amount: 100, currency: 'eur' }));
      expectRefused(testAnswer, 422, 'validation_failed');
      expect(testAnswer.body.error.fields).toEqual([{ path: 'paymentId', message: expect.stringContaining('at most 250 characters') }]);
    });

    it('the id checks are listed with the schema\'s own failures in one 422', async () => {
      const { key, doc } = addApiKey(prefixedId('w', 10), true);
      const answer = await post('/v1/payments', ...json(key, payment({ id: 'p'.repeat(longest(doc.websiteId, 'payment', true) + 1), amount: 1.5 })));
      expectRefused(answer, 422, 'validation_failed');
      expect(answer.body.error.fields.map((f: { path: string }) => f.path).sort()).toEqual(['amount', 'id']);
    });

    it('an event that still breaks the contract is a 422 naming the event field, never a 500', async () => {
      // The key's own id becomes integrationId; an oversized one is the one thing the request checks cannot see.
      const { key, doc } = addApiKey(prefixedId('w', 10), true);
      apiKeys.set(doc.hash, { ...doc, _id: `key_${'k'.repeat(260)}` });
      const answer = await post('/v1/payments', ...json(key, payment()));
      expectRefused(answer, 422, 'validation_failed');
      expect(answer.body.error.fields).toEqual([{ path: 'event.integrationId', message: expect.stringContaining('255') }]);
    });
  });

  describe('test and live mode', () => {
    it('a test key and a live key may both use order_1001: two independent payments, with different payment keys and event ids', async () => {
      const websiteId = prefixedId('w', 10);
      const [test, live] = [addApiKey(websiteId, false), addApiKey(websiteId, true)];
      const body = payment({ id: 'order_1001' });
      const first = await post('/v1/payments', ...json(test.key, body));
      const second = await post('/v1/payments', ...json(live.key, body));
      const testAgain = await post('/v1/payments', ...json(test.key, body));
      const liveAgain = await post('/v1/payments', ...json(live.key, body));

      expect([first.status, second.status, testAgain.status, liveAgain.status]).toEqual([202, 202, 200, 200]);
      expect(first.body).toEqual({ paymentKey: 'manual:test:order_1001' });
      expect(second.body).toEqual({ paymentKey: 'manual:order_1001' });
      expect(publisher.published).toHaveLength(2);
      const [t, l] = publisher.published;
      expect(t).toMatchObject({ livemode: false, eventId: `manual:${websiteId}:payment:test:order_1001`, source: { eventId: 'payment:test:order_1001' }, refs: { payment: 'test:order_1001' } });
      // Live ids are exactly what they were before test mode had its own keys (DESIGN §3: manual:{id}).
      expect(l).toMatchObject({ livemode: true, eventId: `manual:${websiteId}:payment:order_1001`, source: { eventId: 'payment:order_1001' }, refs: { payment: 'order_1001' } });
      expect(requests.docs.has(`${websiteId}:payment:order_1001`)).toBe(true);
      expect(requests.docs.has(`${websiteId}:payment:test:order_1001`)).toBe(true);
    });

    it('a live key may report a test payment (livemode:false); its refund with livemode:false is a test refund of the test payment', async () => {
      const { key, doc } = addApiKey(prefixedId('w', 10), true);
      const paid = await post('/v1/payments', ...json(key, payment({ id: 'order_t', livemode: false })));
      const refunded = await post('/v1/refunds', ...json(key, { id: 'refund_t', paymentId: 'order_t', amount: 100, currency: 'eur', livemode: false }));
      expect(paid.body).toEqual({ paymentKey: 'manual:test:order_t' });
      expect(refunded).toMatchObject({ status: 202, body: { refundId: 'refund_t', paymentKey: 'manual:test:order_t' } });
      expect(publisher.published[1]).toMatchObject({
        type: 'refund', livemode: false, eventId: `manual:${doc.websiteId}:refund:test:refund_t`, refs: { payment: 'test:order_t' },
      });
    });

    it('a live key\'s refund without livemode follows the mode its payment was reported in', async () => {
      const { key, doc } = addApiKey(prefixedId('w', 10), true);
      await post('/v1/payments', ...json(key, payment({ id: 'order_f', livemode: false })));
      const refunded = await post('/v1/refunds', ...json(key, { id: 'refund_f', paymentId: 'order_f', amount: 100, currency: 'eur' }));
      expect(refunded).toMatchObject({ status: 202, body: { refundId: 'refund_f', paymentKey: 'manual:test:order_f' } });
      expect(publisher.published[1]).toMatchObject({ type: 'refund', livemode: false, eventId: `manual:${doc.websiteId}:refund:test:refund_f`, refs: { payment: 'test:order_f' } });
      // A payment id reported in both modes is ambiguous: the key's mode decides.
      await post('/v1/payments', ...json(key, payment({ id: 'order_b', livemode: false })));
      await post('/v1/payments', ...json(key, payment({ id: 'order_b' })));
      const both = await post('/v1/refunds', ...json(key, { id: 'refund_b', paymentId: 'order_b', amount: 100, currency: 'eur' }));
      expect(both.body).toEqual({ refundId: 'refund_b', paymentKey: 'manual:order_b' });
    });

    it('a test key\'s refund stays test even when the payment id is only known live', async () => {
      const websiteId = prefixedId('w', 10);
      const live = addApiKey(websiteId, true);
      const test = addApiKey(websiteId, false);
      await post('/v1/payments', ...json(live.key, payment({ id: 'order_x' })));
      const refunded = await post('/v1/refunds', ...json(test.key, { id: 'refund_x', paymentId: 'order_x', amount: 100, currency: 'eur' }));
      expect(refunded.body).toEqual({ refundId: 'refund_x', paymentKey: 'manual:test:order_x' });
    });

    it('a refund without livemode takes the key\'s mode: live ids unchanged', async () => {
      const { key, doc } = addApiKey(prefixedId('w', 10), true);
      const answer = await post('/v1/refunds', ...json(key, { id: 'refund_l', paymentId: 'order_l', amount: 100, currency: 'eur' }));
      expect(answer).toMatchObject({ status: 202, body: { refundId: 'refund_l', paymentKey: 'manual:order_l' } });
      expect(publisher.published[0]).toMatchObject({ livemode: true, eventId: `manual:${doc.websiteId}:refund:refund_l`, source: { eventId: 'refund:refund_l' }, refs: { payment: 'order_l' } });
    });

    it.each([['/v1/payments'], ['/v1/refunds']])('%s: a test key may not send livemode:true (422 naming livemode), so test keys never publish live money', async (path) => {
      const { key } = addApiKey(prefixedId('w', 10), false);
      const body = path === '/v1/payments' ? payment({ livemode: true }) : { id: 'r_live', paymentId: 'p_live', amount: 100, currency: 'eur', livemode: true };
      const answer = await post(path, ...json(key, body));
      expectRefused(answer, 422, 'validation_failed');
      expect(answer.body.error.fields).toEqual([{ path: 'livemode', message: expect.stringMatching(/test-mode API key/) }]);
    });

    it('a test payment and a live payment naming one subscription id are two subscriptions (the live one inherits nothing from the test one)', async () => {
      const websiteId = prefixedId('w', 10);
      const [test, live] = [addApiKey(websiteId, false), addApiKey(websiteId, true)];
      expect((await post('/v1/payments', ...json(test.key, payment({ id: 'o1', subscriptionId: 'sub_1', sessionId: 's_1' })))).status).toBe(202);
      expect((await post('/v1/payments', ...json(live.key, payment({ id: 'o2', subscriptionId: 'sub_1' })))).status).toBe(202);
      expect((await post('/v1/payments', ...json(live.key, payment({ id: 'o3', subscriptionId: 'sub_1', livemode: false })))).status).toBe(202);
      expect(publisher.published.map((e) => [e.livemode, e.refs.subscription])).toEqual([[false, 'test:sub_1'], [true, 'sub_1'], [false, 'test:sub_1']]);
    });

    it('subscriptionId: may not start with "test:", and in test mode must leave room for that prefix (422 naming it)', async () => {
      const websiteId = prefixedId('w', 10);
      const [test, live] = [addApiKey(websiteId, false), addApiKey(websiteId, true)];
      const prefixed = await post('/v1/payments', ...json(live.key, payment({ subscriptionId: 'test:sub_1' })));
      expectRefused(prefixed, 422, 'validation_failed');
      expect(prefixed.body.error.fields).toEqual([{ path: 'subscriptionId', message: expect.stringContaining('"test:"') }]);

      const longest = 'x'.repeat(255);
      const tooLongForTest = await post('/v1/payments', ...json(test.key, payment({ subscriptionId: longest })));
      expectRefused(tooLongForTest, 422, 'validation_failed');
      expect(tooLongForTest.body.error.fields).toEqual([{ path: 'subscriptionId', message: expect.stringContaining('at most 250 characters in test mode') }]);
      expect((await post('/v1/payments', ...json(test.key, payment({ subscriptionId: ` ${'x'.repeat(250)} ` })))).status).toBe(202);
      expect((await post('/v1/payments', ...json(live.key, payment({ subscriptionId: longest })))).status).toBe(202);
      expect(publisher.published.map((e) => e.refs.subscription)).toEqual([`test:${'x'.repeat(250)}`, longest]);
    });

    it('caller ids may not start with "test:" (a live test:x would be the test x)', async () => {
      const { key } = addApiKey(prefixedId('w', 10), true);
      const paid = await post('/v1/payments', ...json(key, payment({ id: 'test:order_1' })));
      const refunded = await post('/v1/refunds', ...json(key, { id: 'test:r', paymentId: 'test:order_1', amount: 100, currency: 'eur' }));
      expectRefused(paid, 422, 'validation_failed');
      expect(paid.body.error.fields.map((f: { path: string }) => f.path)).toEqual(['id']);
      expect(refunded.body.error.fields.map((f: { path: string }) => f.path)).toEqual(['id', 'paymentId']);
    });
  });

  describe('two requests with one id racing (the read before the reservation saw nothing)', () => {
    it('different content: the later one gets 409 idempotency_conflict and publishes nothing', async () => {
      const { key, doc } = addApiKey(prefixedId('w', 10), true);
      const body = payment();
      expect((await post('/v1/payments', ...json(key, body))).status).toBe(202);
      requests.missOnce.add(`${doc.websiteId}:payment:${body.id}`);
      const racing = await post('/v1/payments', ...json(key, { ...body, amount: 5900 }));
      expect(racing.status).toBe(409);
      expect(racing.body.error.code).toBe('idempotency_conflict');
      expect(publisher.published.map((e) => e.type === 'payment' && e.amountMinor)).toEqual([4900]);
    });

    it('the same content: 200 with the same body, nothing published twice', async () => {
      const { key, doc } = addApiKey(prefixedId('w', 10), true);
      const body = payment();
      const first = await post('/v1/payments', ...json(key, body));
      requests.missOnce.add(`${doc.websiteId}:payment:${body.id}`);
      const racing = await post('/v1/payments', ...json(key, body));
      expect(racing).toMatchObject({ status: 200, body: first.body });
      expect(publisher.published).toHaveLength(1);
    });
  });

  it('after a 503 the id stays reserved for that content: the retry publishes the identical event (first receipt time), other content is a 409', async () => {
    const { key, doc } = addApiKey(prefixedId('w', 10), true);
    const body = payment();
    publisher.failWith = new KafkaUnavailableError('down');
    const refused = await post('/v1/payments', ...json(key, body));
    publisher.failWith = null;
    const saved = requests.docs.get(`${doc.websiteId}:payment:${body.id}`);
    expect(saved).toMatchObject({ pending: true });
    await new Promise((r) => setTimeout(r, 5));
    const other = await post('/v1/payments', ...json(key, { ...body, amount: 100 }));
    const retried = await post('/v1/payments', ...json(key, body));
    const again = await post('/v1/payments', ...json(key, body));

    expect([refused.status, other.status, retried.status, again.status]).toEqual([503, 409, 202, 200]);
    expect(publisher.published).toHaveLength(1);
    // Rebuilt from the reservation: the same occurredAt/receivedAt as an earlier copy that may have reached Kafka.
    expect(publisher.published[0]!.source.receivedAt).toBe(saved!.createdAt.toISOString());
    expect(publisher.published[0]!.occurredAt).toBe(saved!.createdAt.toISOString());
    expect(requests.docs.get(`${doc.websiteId}:payment:${body.id}`)).not.toHaveProperty('pending');
  });

  it('503 with Retry-After when Kafka is unavailable; the retry with the same id is accepted (202)', async () => {
    const { key } = addApiKey(prefixedId('w', 10));
    const body = payment();
    publisher.failWith = new KafkaUnavailableError('down');
    const refused = await post('/v1/payments', ...json(key, body));
    publisher.failWith = null;
    const retried = await post('/v1/payments', ...json(key, body));
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('unavailable');
    expect(refused.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS));
    expect(retried.status).toBe(202);
    expect(publisher.published).toHaveLength(1);
  });

  // Whatever a caller's code sends — right fields with wrong values, wrong types, unknown fields, not an object at
  // all — the answer is 2xx or a 4xx with a code (422 listing fields), never a 500, and what is accepted is published
  // within the contract.
  it('random bodies: 202/200/409, 422 with the failing fields, or 400 — never a 500; accepted ones fit the contract', async () => {
    const { key, doc } = addApiKey(prefixedId('w', 10));
    const odd = fc.oneof(
      fc.constantFrom<unknown>(null, true, 0, -1, 1.5, 2 ** 53, 1e21, '', ' ', 'eur', 'EUR', 'xxx', 'x'.repeat(400), '2026-11-29T10:00:00Z', 'test:x', [], {}, ['a']),
      fc.jsonValue({ maxDepth: 2 }),
    );
    const field = fc.constantFrom('id', 'paymentId', 'amount', 'currency', 'occurredAt', 'email', 'visitorId', 'sessionId', 'subscriptionId', 'livemode', 'extra');
    const base = (kind: 'payments' | 'refunds') =>
      kind === 'payments'
        ? { id: prefixedId('order', 8), amount: 4900, currency: 'eur', email: 'buyer@example.com', visitorId: 'v_1' }
        : { id: prefixedId('refund', 8), paymentId: prefixedId('order', 8), amount: 100, currency: 'eur' };
    const body = fc.oneof(
      // Valid as they are: without this arm a run could, by chance, have no accepted body at all (it failed ≈ 1 run in 3).
      fc.constantFrom<'payments' | 'refunds'>('payments', 'refunds').map((kind) => ({ kind, text: JSON.stringify(base(kind)) })),
      fc.tuple(fc.constantFrom<'payments' | 'refunds'>('payments', 'refunds'), fc.array(fc.tuple(field, odd), { minLength: 1, maxLength: 3 }))
        .map(([kind, changes]) => ({ kind, text: JSON.stringify(Object.assign(base(kind), Object.fromEntries(changes))) })),
      fc.tuple(fc.constantFrom<'payments' | 'refunds'>('payments', 'refunds'), fc.jsonValue({ maxDepth: 3 })).map(([kind, v]) => ({ kind, text: JSON.stringify(v) })),
      fc.tuple(fc.constantFrom<'payments' | 'refunds'>('payments', 'refunds'), fc.string()).map(([kind, text]) => ({ kind, text })),
    );
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(body, async ({ kind, text }) => {
        const before = publisher.published.length;
        const answer = await post(`/v1/${kind}`, text, { 'content-type': 'application/json', authorization: `Bearer ${key}` });
        statuses.add(answer.status);
        expect([200, 202, 400, 409, 422]).toContain(answer.status);
        if (answer.status >= 400) {
          expect(typeof answer.body.error.code).toBe('string');
          expect(publisher.published.length).toBe(before);
        }
        if (answer.status === 422) expect(answer.body.error.fields.length).toBeGreaterThan(0);
        for (const event of publisher.published.slice(before)) {
          expect(normalizedPaymentEventSchema.safeParse(event).success).toBe(true);
          expect(event.websiteId).toBe(doc.websiteId);
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
    );
    // Both sides of the validation were exercised.
    expect(statuses.has(202)).toBe(true);
    expect(statuses.has(422)).toBe(true);
  });
});

describe('trace ids', () => {
  const callerTrace = '0af7651916cd43dd8448eb211c80319c';
  it('a webhook continues the caller\'s traceparent: answered in Metrivo-Trace-Id, sent on with the events, kept in the delivery log', async () => {
    const secret = stripeSecret();
    const integration = addIntegration('stripe', [secret]);
    const request = stripeFixtures.stripeWebhookRequest(stripePayment(), secret);
    const answer = await sendWebhook('stripe', integration._id, { ...request, headers: { ...request.headers, traceparent: `00-${callerTrace}-b7ad6b7169203331-01` } });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('metrivo-trace-id')).toBe(callerTrace);
    expect(publisher.traceparents).toEqual([expect.stringMatching(new RegExp(`^00-${callerTrace}-[0-9a-f]{16}-01$`))]);
    expect(publisher.traceparents[0]).not.toContain('b7ad6b7169203331');
    expect(onlyDelivery().traceId).toBe(callerTrace);
  });

  it('without a traceparent each request gets its own trace; refusals are logged in the delivery log with theirs', async () => {
    const secret = stripeSecret();
    const integration = addIntegration('stripe', [secret]);
    const accepted = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(stripePayment(), secret));
    const refused = await sendWebhook('stripe', integration._id, stripeFixtures.stripeWebhookRequest(stripePayment(), stripeSecret()));
    const ids = [accepted.headers.get('metrivo-trace-id'), refused.headers.get('metrivo-trace-id')];
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(ids[0]).not.toBe(ids[1]);
    expect(deliveries.records.map((d) => d.traceId)).toEqual(ids);
    expect(publisher.traceparents[0]?.split('-')[1]).toBe(ids[0]);
  });

  it('the Manual API sends the trace on too', async () => {
    const { key } = addApiKey(prefixedId('w', 10));
    const answer = await post('/v1/payments', JSON.stringify({ id: 'order_trace', amount: 100, currency: 'eur' }), {
      'content-type': 'application/json', authorization: `Bearer ${key}`, traceparent: `00-${callerTrace}-b7ad6b7169203331-01`,
    });
    expect(answer.status).toBe(202);
    expect(publisher.traceparents[0]?.split('-')[1]).toBe(callerTrace);
    expect(deliveries.records.at(-1)?.traceId).toBe(callerTrace);
  });
});

describe('other routes', () => {
  it('GET /healthz answers 200; unknown routes 404 not_found', async () => {
    const health = await fetch(`${baseUrl}/healthz`);
    expect(health.status).toBe(200);
    const unknown = await post('/v1/webhooks/paypal/int_1', '{}', { 'content-type': 'application/json' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
  });
});
