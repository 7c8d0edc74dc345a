// The real gateway (startGateway, as `npm start` runs it) against the real broker and MongoDB from the
// jest integration setup. A broker outage is simulated at the client, with a kafkajs socketFactory that
// refuses connections while "down": the shared broker other tests use is never stopped.
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { TOPICS, type NormalizedPaymentEvent } from '@metrivo/contracts';
import { generateKeyringEntry, hashEmail, parseKeyring } from '@metrivo/crypto';
import { ApiKeyStore, DeliveryLog, IntegrationStore, type DeliveryDoc } from '@metrivo/integration-store';
import { createKafka, startGroupAtEnd } from '@metrivo/kafka';
import { createCapturingLogger } from '@metrivo/observability';
import { brokers, mongodbUri, testMeterProvider } from '@metrivo/testing';
import type { Consumer, ISocketFactory, Kafka } from 'kafkajs';
import { logLevel } from 'kafkajs';
import { MongoClient, type Db } from 'mongodb';
import { loadGatewayConfig } from './env';
import { startGateway } from './main';
import { normalizeStripeEvent } from './normalizers';
import { stripeFixtures, unixNow } from './test-fixtures';

// testTimeout in a jest project config does not reach hooks; startup (Mongo, topics, group join) needs more than 5 s.
jest.setTimeout(60_000);

const runId = randomBytes(4).toString('hex');
const EMAIL_HASH_KEY = `gateway-int-email-hash-key-${runId}`;
const SECRET_KEYS = generateKeyringEntry('it1');
const SEND_TIMEOUT_MS = 1500;
const PAYMENTS = TOPICS.payments.name;
const meters = testMeterProvider();

/**
 * A kafkajs socketFactory with a switch. While down, open connections are destroyed (with an error,
 * which is what kafkajs listens for) and new ones fail as a refused connection would.
 */
class SwitchableNetwork {
  private down = false;
  private readonly open = new Set<net.Socket>();

  readonly factory: ISocketFactory = ({ host, port, onConnect }) => {
    if (this.down) throw Object.assign(new Error(`connect ECONNREFUSED ${host}:${port} (simulated outage)`), { code: 'ECONNREFUSED' });
    const socket = net.connect({ host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    this.open.add(socket);
    socket.once('close', () => this.open.delete(socket));
    return socket;
  };

  goDown(): void {
    this.down = true;
    for (const socket of this.open) socket.destroy(new Error('simulated broker outage'));
  }

  comeBack(): void {
    this.down = false;
  }
}

interface TappedRecord {
  key: string | null;
  value: NormalizedPaymentEvent;
  traceparent: string | undefined;
}

/**
 * Every record written to the payments topic from now on for the given websites, read with a fresh
 * consumer group whose offsets are set to the current end of each partition (so older records, e.g.
 * from benchmark runs, are never read).
 */
async function tapPayments(kafka: Kafka, websiteIds: ReadonlySet<string>): Promise<{ records: TappedRecord[]; consumer: Consumer }> {
  const groupId = `test.gateway.${runId}.tap`;
  await startGroupAtEnd(kafka, groupId, [PAYMENTS]);
  const records: TappedRecord[] = [];
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 1000, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [PAYMENTS] });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const key = message.key?.toString('utf8') ?? null;
      if (key === null || !websiteIds.has(key)) return;
      records.push({ key, value: JSON.parse(message.value!.toString('utf8')) as NormalizedPaymentEvent, traceparent: message.headers?.traceparent?.toString() });
    },
  });
  return { records, consumer };
}

async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --------------------------------------------------------------------------------------------- fixtures

const network = new SwitchableNetwork();
/**
 * Every log line the gateway writes during this file, at the most verbose level (kafkajs included): the guide's rule
 * is that secrets and raw emails never reach a log. What must never appear is collected as the tests use it.
 */
const logs = createCapturingLogger({ service: 'gateway', level: 'trace' });
const neverLogged = new Set<string>();
const websiteId = `w_gwint_${runId}`;
const manualWebsiteId = `w_gwint_manual_${runId}`;
const stripeSecret = stripeFixtures.stripeWebhookSecret();
let gateway: Awaited<ReturnType<typeof startGateway>>;
let baseUrl: string;
let mongo: MongoClient;
let db: Db;
let integrationId: string;
let tap: { records: TappedRecord[]; consumer: Consumer };
let testKafka: Kafka;

beforeAll(async () => {
  const dbName = `metrivo_gateway_int_${runId}`;
  const config = loadGatewayConfig({
    ...process.env,
    KAFKA_BROKERS: brokers(),
    MONGODB_URI: mongodbUri(),
    MONGODB_DB: dbName,
    GATEWAY_PORT: '0',
    METRIVO_EMAIL_HASH_KEY: EMAIL_HASH_KEY,
    METRIVO_SECRET_KEYS: SECRET_KEYS,
    KAFKA_SEND_TIMEOUT_MS: String(SEND_TIMEOUT_MS),
    INTEGRATION_CACHE_TTL_MS: '500',
    LOG_LEVEL: process.env.GATEWAY_TEST_LOG ? 'info' : 'silent',
  });
  mongo = new MongoClient(mongodbUri(), { serverSelectionTimeoutMS: 5000 });
  await mongo.connect();
  db = mongo.db(dbName);
  // Admin's side: the integration and its signing secret, sealed with the shared keyring.
  const integration = await new IntegrationStore(db).create(websiteId, 'stripe', new Date(), false);
  await new IntegrationStore(db).setSecret(integration._id, stripeSecret, parseKeyring(SECRET_KEYS));
  integrationId = integration._id;

  testKafka = createKafka({ brokers: brokers(), clientId: `gateway-int-reader-${runId}`, logLevel: logLevel.NOTHING });
  gateway = await startGateway(config, { kafkaSocketFactory: network.factory, logger: logs.logger, meterProvider: meters.provider });
  for (const secret of [stripeSecret, SECRET_KEYS]) neverLogged.add(secret);
  baseUrl = `http://127.0.0.1:${gateway.port}`;
  tap = await tapPayments(testKafka, new Set([websiteId, manualWebsiteId]));
});

afterAll(async () => {
  network.comeBack();
  await tap?.consumer.disconnect();
  await gateway?.shutdown.shutdown('test done');
  await db?.dropDatabase().catch(() => undefined);
  await mongo?.close();
});

async function postWebhook(request: { rawBody: Buffer; headers: Record<string, string> }) {
  neverLogged.add(request.headers['stripe-signature']!);
  const res = await fetch(`${baseUrl}/v1/webhooks/stripe/${integrationId}`, { method: 'POST', body: request.rawBody, headers: request.headers });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), traceId: res.headers.get('metrivo-trace-id'), body: (await res.json()) as any };
}

const recordsFor = (eventId: string) => tap.records.filter((r) => r.value.source.eventId === eventId);

/** Waits for the record(s) of a provider event, then a little longer so that a duplicate would show up too. */
async function settledRecordsFor(eventId: string): Promise<TappedRecord[]> {
  await waitFor(`a record for ${eventId}`, () => recordsFor(eventId).length > 0);
  await sleep(750);
  return recordsFor(eventId);
}

// ------------------------------------------------------------------------------------------------ tests

describe('gateway against the real broker and MongoDB', () => {
  const acceptedEventIds: string[] = [];

  it('a signed Stripe webhook → 200 after the ack, and exactly the expected record on metrivo.payments.v1', async () => {
    const event = stripeFixtures.paymentIntentSucceeded({
      apiVersion: '2024-06-20', amount: 12_345, currency: 'usd', receiptEmail: 'Buyer@Example.com',
      metadata: { metrivo_session_id: `s_${runId}`, metrivo_visitor_id: `v_${runId}` },
    });
    const answer = await postWebhook(stripeFixtures.stripeWebhookRequest(event, stripeSecret));
    expect(answer).toMatchObject({ status: 200, body: { received: true } });
    acceptedEventIds.push(event.id);

    const [record, ...more] = await settledRecordsFor(event.id);
    expect(more).toEqual([]);
    expect(record!.key).toBe(websiteId);
    // Exactly what the normalizer makes of the verified event, in this integration's context.
    const receivedAt = new Date(record!.value.source.receivedAt);
    const expected = normalizeStripeEvent(event, { websiteId, integrationId, receivedAt, emailHashKey: EMAIL_HASH_KEY, providerEventId: event.id, livemode: false }).events;
    expect(expected).toHaveLength(1);
    expect(record!.value).toEqual(expected[0]);
    // And the facts that matter, stated independently of the normalizer.
    expect(record!.value).toMatchObject({
      schemaVersion: 1, type: 'payment', websiteId, integrationId, provider: 'stripe', livemode: false,
      amountMinor: 12_345, currency: 'usd', paid: true,
      refs: { paymentIntent: event.data.object.id },
      signals: { sessionId: `s_${runId}`, visitorId: `v_${runId}`, emailHash: hashEmail('buyer@example.com', EMAIL_HASH_KEY) },
      source: { eventId: event.id, eventType: 'payment_intent.succeeded', apiVersion: '2024-06-20' },
    });
    expect(JSON.stringify(record!.value).toLowerCase()).not.toContain('buyer@example.com');
    // The request's trace (answered in Metrivo-Trace-Id) travels with the record, for the consumers' logs.
    expect(answer.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(record!.traceparent).toMatch(new RegExp(`^00-${answer.traceId}-[0-9a-f]{16}-01$`));
  });


  it('broker unreachable → 503 with Retry-After and nothing published; broker back → the retried webhook lands once', async () => {
    const event = stripeFixtures.paymentIntentSucceeded({ apiVersion: '2025-03-31.basil', amount: 990, currency: 'eur' });
    const request = stripeFixtures.stripeWebhookRequest(event, stripeSecret);

    network.goDown();
    try {
      const started = Date.now();
      const refused = await postWebhook(request);
      const refusedAfterMs = Date.now() - started;
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('unavailable');
      expect(Number(refused.retryAfter)).toBeGreaterThan(0);
      expect(refusedAfterMs).toBeLessThan(SEND_TIMEOUT_MS + 2000); // the deadline, not kafkajs' own retry budget
      // The refused record must not still be on its way when the broker comes back: wait until the
      // producer gave its batch up (kafkajs' bounded retries end shortly after the deadline).
      await waitFor('the producer to give the refused batch up', () => {
        const s = gateway.producer!.stats();
        return s.inFlight === 0 && s.queued === 0;
      });
      expect((await fetch(`${baseUrl}/readyz`)).status).toBe(503);
    } finally {
      network.comeBack();
    }
    // The provider retries the same delivery (same bytes, same signature; still within the tolerance).
    const retried = await postWebhook(request);
    expect(retried).toMatchObject({ status: 200, body: { received: true } });
    acceptedEventIds.push(event.id);

    const landed = await settledRecordsFor(event.id);
    expect(landed).toHaveLength(1);
    expect(landed[0]!.value).toMatchObject({ amountMinor: 990, currency: 'eur', refs: { paymentIntent: event.data.object.id } });
    // Nothing accepted so far is missing or doubled.
    for (const id of acceptedEventIds) expect(recordsFor(id)).toHaveLength(1);
    await waitFor('readiness to recover', async () => (await fetch(`${baseUrl}/readyz`)).status === 200);
  });

  it('Manual Payment API end to end with a key made through ApiKeyStore', async () => {
    const { key } = await new ApiKeyStore(db).create(manualWebsiteId, false);
    neverLogged.add(key);
    const post = async (path: string, body: unknown, apiKey = key) => {
      const res = await fetch(`${baseUrl}${path}`, {
        method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    const paymentId = `order_${runId}`;
    const payment = {
      id: paymentId, amount: 2500, currency: 'EUR', visitorId: `v_manual_${runId}`, occurredAt: new Date(Date.now() - 5000).toISOString(),
      email: `Manual.Buyer.${runId}@Example.com`,
    };
    neverLogged.add(payment.email);

    expect(await post('/v1/payments', payment, 'mtv_test_unknown')).toMatchObject({ status: 401, body: { error: { code: 'invalid_api_key' } } });
    const first = await post('/v1/payments', payment);
    const again = await post('/v1/payments', payment);
    const conflict = await post('/v1/payments', { ...payment, amount: 2600 });
    const refund = await post('/v1/refunds', { id: `refund_${runId}`, paymentId, amount: 500, currency: 'eur' });

    // A test key: test-mode payment key (a live order with the same id is another payment).
    expect(first).toEqual({ status: 202, body: { paymentKey: `manual:test:${paymentId}` } });
    expect(again).toEqual({ status: 200, body: first.body });
    expect(conflict.status).toBe(409);
    expect(refund).toEqual({ status: 202, body: { refundId: `refund_${runId}`, paymentKey: `manual:test:${paymentId}` } });

    const paid = await settledRecordsFor(`payment:test:${paymentId}`);
    expect(paid).toHaveLength(1);
    expect(paid[0]).toMatchObject({
      key: manualWebsiteId,
      value: { type: 'payment', provider: 'manual', websiteId: manualWebsiteId, livemode: false, amountMinor: 2500, currency: 'eur', occurredAt: payment.occurredAt, refs: { payment: `test:${paymentId}` }, signals: { visitorId: payment.visitorId } },
    });
    const refunded = await settledRecordsFor(`refund:test:refund_${runId}`);
    expect(refunded).toHaveLength(1);
    expect(refunded[0]!.value).toMatchObject({ type: 'refund', refundId: `refund_${runId}`, amountMinor: 500, currency: 'eur', refs: { payment: `test:${paymentId}` } });

    // The idempotency record lives in MongoDB, so another gateway process would answer the repeat the same way.
    const stored = await db.collection('gateway_manual_requests').findOne({ _id: `${manualWebsiteId}:payment:test:${paymentId}` as never });
    expect(stored).toMatchObject({ websiteId: manualWebsiteId, kind: 'payment', response: first.body });
  });

  it('concurrent Manual API requests with one id and different bodies: one content wins, the others get 409, and only that content is published', async () => {
    const { key } = await new ApiKeyStore(db).create(manualWebsiteId, true);
    const post = async (body: unknown) => {
      const res = await fetch(`${baseUrl}/v1/payments`, {
        method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    const ids: string[] = [];
    for (let round = 0; round < 3; round++) {
      const id = `race_${runId}_${round}`;
      ids.push(id);
      const amounts = [2500, 2600, 2500, 2600, 2700];
      // Truly concurrent: all requests are in flight before any answer (each waits for Kafka's ack).
      const answers = await Promise.all(amounts.map((amount) => post({ id, amount, currency: 'eur' })));
      const accepted = answers.flatMap((a, i) => (a.status === 200 || a.status === 202 ? [amounts[i]] : []));
      expect(answers.filter((a) => a.status !== 409 && a.status !== 200 && a.status !== 202)).toEqual([]);
      expect(accepted.length).toBeGreaterThan(0);
      const winner = accepted[0]!;
      expect(new Set(accepted)).toEqual(new Set([winner]));
      answers.forEach((a, i) => {
        if (amounts[i] !== winner) expect(a).toMatchObject({ status: 409, body: { error: { code: 'idempotency_conflict' } } });
        else expect(a.body).toEqual({ paymentKey: `manual:${id}` });
      });
      const stored = await db.collection('gateway_manual_requests').findOne({ _id: `${manualWebsiteId}:payment:${id}` as never });
      expect(stored).not.toHaveProperty('pending');

      const records = await settledRecordsFor(`payment:${id}`);
      // Every copy under this event id is the winner's (a copy is identical, so attribution's first-wins is safe).
      expect(new Set(records.map((r) => JSON.stringify(r.value)))).toEqual(new Set([JSON.stringify(records[0]!.value)]));
      expect(records[0]!.value).toMatchObject({ eventId: `manual:${manualWebsiteId}:payment:${id}`, livemode: true, amountMinor: winner });
    }
    expect(ids).toHaveLength(3);
  });

  it('every webhook attempt is in the delivery log in MongoDB, with its outcome and error code', async () => {
    const wrongSecret = await postWebhook(stripeFixtures.stripeWebhookRequest(stripeFixtures.paymentIntentSucceeded({ apiVersion: '2024-06-20' }), stripeFixtures.stripeWebhookSecret()));
    const stale = await postWebhook(stripeFixtures.stripeWebhookRequest(stripeFixtures.paymentIntentSucceeded({ apiVersion: '2024-06-20' }), stripeSecret, unixNow() - 900));
    expect([wrongSecret.status, stale.status]).toEqual([400, 400]);

    const log = new DeliveryLog(db);
    const expectedCount = acceptedEventIds.length + 1 /* the 503 */ + 2;
    const rows = await waitFor('the delivery log rows', async () => {
      const found = await log.recent(integrationId, 50);
      return found.length >= expectedCount ? found : undefined;
    });
    const summary = (d: DeliveryDoc) => [d.providerEventId, d.outcome, d.httpStatus, d.errorCode, d.published];
    const chronological = [...rows].sort((a, b) => a.receivedAt.getTime() - b.receivedAt.getTime());
    expect(chronological.map(summary)).toEqual([
      [acceptedEventIds[0], 'accepted', 200, null, 1],
      [acceptedEventIds[1], 'unavailable', 503, 'unavailable', 0],
      [acceptedEventIds[1], 'accepted', 200, null, 1],
      [null, 'rejected', 400, 'invalid_signature', 0],
      [null, 'rejected', 400, 'timestamp_out_of_tolerance', 0],
    ]);
    for (const row of rows) {
      expect(row).toMatchObject({ integrationId, websiteId, provider: 'stripe', traceId: expect.stringMatching(/^[0-9a-f]{32}$/) });
      expect(row.expireAt.getTime()).toBeGreaterThan(row.receivedAt.getTime());
    }
    // The same attempts reach the request metrics (Manual API calls of the earlier tests are counted as `manual`).
    const stripeRequests = (await meters.collect()).filter((p) => p.name === 'metrivo.gateway.requests' && p.attributes['metrivo.provider'] === 'stripe');
    const counted = Object.fromEntries(stripeRequests.map((p) => [`${p.attributes['metrivo.outcome']} ${p.attributes['error.type'] ?? '-'}`, p.value]));
    expect(counted).toEqual({ 'accepted -': 2, 'unavailable unavailable': 1, 'rejected invalid_signature': 1, 'rejected timestamp_out_of_tolerance': 1 });
  });

  // After the delivery-log test, which expects exactly the deliveries above.
  it('a caller\'s traceparent is continued: the published record carries the caller\'s trace id', async () => {
    const event = stripeFixtures.paymentIntentSucceeded({ apiVersion: '2024-06-20', amount: 500, currency: 'usd' });
    const request = stripeFixtures.stripeWebhookRequest(event, stripeSecret);
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const answer = await postWebhook({ ...request, headers: { ...request.headers, traceparent: `00-${traceId}-b7ad6b7169203331-01` } });
    expect(answer).toMatchObject({ status: 200, traceId });
    const [record] = await settledRecordsFor(event.id);
    expect(record!.traceparent?.split('-')[1]).toBe(traceId);
    // Support finds the trace from the delivery log.
    const row = await waitFor('the delivery row', async () => (await new DeliveryLog(db).recent(integrationId, 50)).find((d) => d.providerEventId === event.id));
    expect(row.traceId).toBe(traceId);
  });

  // Last: it reads every line the tests above made the gateway write (accepted, refused, broker outage, Manual API).
  it('no log line carries a signing secret, the keyring, an API key, a signature header or a raw email', () => {
    neverLogged.add('buyer@example.com');
    expect(logs.lines.length).toBeGreaterThan(0);
    // The outage and the refusals were logged, so the scan below read the lines of those paths.
    expect(logs.lines.some((l) => l.level === 'warn' || l.level === 'error')).toBe(true);
    const text = logs.lines.map((l) => JSON.stringify(l)).join('\n').toLowerCase();
    const leaked = [...neverLogged].filter((value) => text.includes(value.toLowerCase()));
    expect(leaked).toEqual([]);
  });
});
