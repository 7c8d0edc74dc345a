// The gateway while MongoDB is unreachable. The shared MongoDB server cannot be stopped (other test files use it),
// so this gateway reaches it through a switchable TCP proxy (@metrivo/testing's SwitchableMongoProxy).
//
// What a provider and support should see: webhooks of an integration the gateway already knows keep being accepted
// from its cached copy for INTEGRATION_CACHE_MAX_STALE_MS past the cache TTL; after that, and for an integration it
// does not know, 503 `unavailable` with Retry-After (never a 404: the integration may well exist); every attempt
// reaches the delivery log once MongoDB is back; Kafka gets each accepted event exactly once.
import { TOPICS } from '@metrivo/contracts';
import { generateKeyringEntry, parseKeyring } from '@metrivo/crypto';
import { DeliveryLog, IntegrationStore, type DeliveryDoc } from '@metrivo/integration-store';
import { createKafka, startGroupAtEnd } from '@metrivo/kafka';
import { brokers, mongodbUri, runId, SwitchableMongoProxy, waitFor } from '@metrivo/testing';
import type { Consumer } from 'kafkajs';
import { logLevel } from 'kafkajs';
import { MongoClient, type Db } from 'mongodb';
import { loadGatewayConfig } from './env';
import { startGateway } from './main';
import { stripeFixtures } from './test-fixtures';

jest.setTimeout(60_000);

const SECRET_KEYS = generateKeyringEntry('mo1');
const CACHE_TTL_MS = 300;
const MAX_STALE_MS = 3000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const websiteId = `w_gwmongo_${runId}`;
const stripeSecret = stripeFixtures.stripeWebhookSecret();
let proxy: SwitchableMongoProxy;
let gateway: Awaited<ReturnType<typeof startGateway>>;
let mongo: MongoClient;
let db: Db;
let integrationId: string;
let tap: Consumer;
const published: string[] = [];

beforeAll(async () => {
  proxy = await SwitchableMongoProxy.start();
  const dbName = `metrivo_gateway_mongo_outage_${runId}`;
  mongo = new MongoClient(mongodbUri(), { serverSelectionTimeoutMS: 5000 });
  await mongo.connect();
  db = mongo.db(dbName);
  const integrations = new IntegrationStore(db);
  const integration = await integrations.create(websiteId, 'stripe', new Date(), false);
  await integrations.setSecret(integration._id, stripeSecret, parseKeyring(SECRET_KEYS));
  integrationId = integration._id;

  const kafka = createKafka({ brokers: brokers(), clientId: `gateway-mongo-outage-${runId}`, logLevel: logLevel.NOTHING });
  const groupId = `test.gateway-mongo-outage.${runId}`;
  await startGroupAtEnd(kafka, groupId, [TOPICS.payments.name]);
  tap = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 1000, maxWaitTimeInMs: 100 });
  await tap.connect();
  await tap.subscribe({ topics: [TOPICS.payments.name] });
  await tap.run({
    eachMessage: async ({ message }) => {
      if (message.key?.toString('utf8') !== websiteId) return;
      published.push((JSON.parse(message.value!.toString('utf8')) as { source: { eventId: string } }).source.eventId);
    },
  });

  gateway = await startGateway(loadGatewayConfig({
    ...process.env,
    KAFKA_BROKERS: brokers(),
    MONGODB_URI: proxy.uri,
    MONGODB_DB: dbName,
    GATEWAY_PORT: '0',
    METRIVO_EMAIL_HASH_KEY: `gateway-mongo-outage-${runId}`,
    METRIVO_SECRET_KEYS: SECRET_KEYS,
    INTEGRATION_CACHE_TTL_MS: String(CACHE_TTL_MS),
    INTEGRATION_CACHE_MAX_STALE_MS: String(MAX_STALE_MS),
    LOG_LEVEL: 'silent',
  }));
});

afterAll(async () => {
  proxy?.comeBack();
  await tap?.disconnect();
  await gateway?.shutdown.shutdown('test done');
  await proxy?.close();
  await db?.dropDatabase().catch(() => undefined);
  await mongo?.close();
});

async function post(path: string, request: { rawBody: Buffer; headers: Record<string, string> }) {
  const res = await fetch(`http://127.0.0.1:${gateway.port}${path}`, { method: 'POST', body: request.rawBody, headers: request.headers });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { error?: { code: string } } };
}

function signedPayment(amount: number) {
  const event = stripeFixtures.paymentIntentSucceeded({ apiVersion: '2024-06-20', amount, currency: 'usd' });
  return { eventId: event.id, request: stripeFixtures.stripeWebhookRequest(event, stripeSecret) };
}

it('MongoDB unreachable: a known integration is served from its cached copy for a bounded time, then 503; an unknown one 503 at once; the delivery log catches up', async () => {
  const webhookUrl = `/v1/webhooks/stripe/${integrationId}`;
  const before = signedPayment(1_000);
  expect((await post(webhookUrl, before.request)).status).toBe(200); // loads and caches the integration
  const loadedAt = Date.now();

  const reloading = signedPayment(2_000);
  const meanwhile = signedPayment(3_000);
  const unknown = signedPayment(4_000);
  const tooLate = signedPayment(5_000);
  proxy.goDown();
  let unknownAnswer: Awaited<ReturnType<typeof post>>;
  let tooLateAnswer: Awaited<ReturnType<typeof post>>;
  try {
    await sleep(CACHE_TTL_MS + 100); // the copy has expired
    // Tries MongoDB (and fails, at once or after the driver's server selection timeout), then uses the copy.
    const first = post(webhookUrl, reloading.request);
    await sleep(100);
    expect(await post(webhookUrl, meanwhile.request)).toMatchObject({ status: 200, body: { received: true } });
    expect(await first).toMatchObject({ status: 200, body: { received: true } });
    unknownAnswer = await post('/v1/webhooks/stripe/int_not_cached_here', unknown.request);
    expect((await fetch(`http://127.0.0.1:${gateway.port}/readyz`)).status).toBe(503);
    // Past TTL + maxStale, the copy is no longer trusted. (Usually already the case here: each failed lookup above may
    // have waited for the driver's 5 s server selection timeout.)
    await sleep(Math.max(0, loadedAt + CACHE_TTL_MS + MAX_STALE_MS + 200 - Date.now()));
    tooLateAnswer = await post(webhookUrl, tooLate.request);
  } finally {
    proxy.comeBack();
  }
  for (const answer of [unknownAnswer, tooLateAnswer]) {
    expect(answer).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } });
    expect(Number(answer.retryAfter)).toBeGreaterThan(0);
  }

  // The provider retries the refused webhook once MongoDB is back.
  expect((await post(webhookUrl, tooLate.request)).status).toBe(200);
  const accepted = [before, reloading, meanwhile, tooLate].map((p) => p.eventId);
  await waitFor(() => accepted.every((id) => published.includes(id)), 20_000, 'the accepted events on Kafka');
  await sleep(500);
  expect([...published].sort()).toEqual([...accepted].sort());

  // Every attempt, including the two refused while MongoDB was away, is in the delivery log.
  const deliveries = new DeliveryLog(db).collection;
  await waitFor(async () => (await deliveries.countDocuments({})) >= 6, 20_000, 'every attempt in the delivery log');
  await sleep(500); // and nothing more
  const summarize = (r: Pick<DeliveryDoc, 'integrationId' | 'providerEventId' | 'outcome' | 'httpStatus' | 'errorCode'>) =>
    `${r.integrationId} ${r.providerEventId} ${r.outcome} ${r.httpStatus} ${r.errorCode}`;
  expect((await deliveries.find({}).toArray()).map(summarize).sort()).toEqual(
    [
      ...accepted.map((id) => `${integrationId} ${id} accepted 200 null`),
      // Refused before verification: no event id is known yet.
      `${integrationId} null unavailable 503 database_unavailable`,
      'int_not_cached_here null unavailable 503 database_unavailable',
    ].sort(),
  );
});
