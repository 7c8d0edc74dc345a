import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { TOPICS, type NormalizedPaymentEvent, type SessionEvent } from '@metrivo/contracts';
import type { RecordWrite } from './domain';
import { BatchingProducer, provisionTopics } from '@metrivo/kafka';
import { SwitchableMongoProxy } from '@metrivo/testing';
import type { Kafka } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { stateContent } from './domain';
import { stableStringify } from './domain/util';
import { createReferenceEdge } from './domain/test-support/reference-edge';
import { startAttribution, type AttributionApp } from './main';
import { sendPayments, sendTracker, shortId, trackerIdentify, trackerSession } from './test-support/events';
import { API_VERSIONS, normalizeStripe, stripe } from './test-support/gateway-events';
import {
  brokers,
  dropDatabase,
  fastConsumer,
  mongodbUri,
  revisionViolations,
  runId,
  startGroupAtEnd,
  StateReader,
  testConfig,
  testKafka,
  testLogger,
  uniqueId,
  waitFor,
} from './test-support/int-helpers';

const prefix = `w_${runId}_crash`;
const emailHashKey = `test-email-hash-key-${runId}`;
const basil = API_VERSIONS.basil;
const repoRoot = join(__dirname, '..', '..', '..');

let kafka: Kafka;
let producer: BatchingProducer;
let reader: StateReader;
const apps: AttributionApp[] = [];
const databases: string[] = [];
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  kafka = testKafka('attribution-crash');
  await provisionTopics(kafka);
  reader = await StateReader.start(kafka, prefix);
  producer = new BatchingProducer(kafka);
  await producer.connect();
}, 30_000);

afterAll(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  await Promise.all(cleanups.map((c) => c()));
  await Promise.all([reader?.stop(), producer?.disconnect()]);
  await Promise.all(databases.map(dropDatabase));
}, 60_000);

/** A small website's day: visitors from several sources, and payments matching every confidence rule. */
function workload(w: string): { tracker: SessionEvent[]; payments: NormalizedPaymentEvent[] } {
  const tracker: SessionEvent[] = [
    trackerSession(w, { sessionId: 's1', visitorId: 'v1', startedMinutesAgo: 60, referrer: 'https://www.google.com/', utm: { source: 'google', medium: 'cpc', campaign: 'crash' } }),
    trackerSession(w, { sessionId: 's2', visitorId: 'v2', startedMinutesAgo: 50, referrer: 'https://news.ycombinator.com/' }),
    trackerSession(w, { sessionId: 's3', visitorId: 'v3', startedMinutesAgo: 45 }),
    trackerIdentify(w, 'v3', 'kim@example.com', emailHashKey, 44),
    trackerSession(w, { sessionId: 's4', visitorId: 'v4', startedMinutesAgo: 40, referrer: 'https://www.bing.com/' }),
    trackerSession(w, { sessionId: 's4_back', visitorId: 'v4', startedMinutesAgo: 10, referrer: 'https://checkout.stripe.com/c/pay/cs_test_x' }),
  ];
  const one = (o: Omit<Parameters<typeof stripe.oneTimeCheckoutScenario>[0], 'apiVersion'>) => stripe.oneTimeCheckoutScenario({ apiVersion: basil, ...o });
  const paidHigh = one({ amount: 4900, sessionMetadata: { metrivo_session_id: 's1', metrivo_visitor_id: 'v1' } });
  const ids = { metrivo_session_id: 's2', metrivo_visitor_id: 'v2' };
  const now = Math.floor(Date.now() / 1000);
  const subscription = stripe.subscriptionCheckoutScenario({ apiVersion: basil, amount: 1500, sessionMetadata: ids, subscriptionMetadata: ids, at: now - 600 });
  const renewal = stripe.subscriptionRenewalScenario({ apiVersion: basil, amount: 1500, subscription: subscription.ids.subscription!, customer: subscription.ids.customer!, at: now - 60 });
  const stripeEvents = [
    ...paidHigh.events,
    ...one({ amount: 2000, paymentIntentMetadata: { metrivo_visitor_id: 'v2' } }).events,
    ...one({ amount: 3000, email: 'kim@example.com' }).events,
    ...one({ amount: 4000, sessionMetadata: { metrivo_session_id: 's4_back', metrivo_visitor_id: 'v4' } }).events,
    ...one({ amount: 5000 }).events,
    ...subscription.events,
    ...renewal.events,
    stripe.refundEvent('refund.created', { apiVersion: basil, id: shortId('re'), amount: 900, charge: paidHigh.ids.charge, paymentIntent: paidHigh.ids.paymentIntent }),
  ];
  return { tracker, payments: normalizeStripe(w, emailHashKey, stripeEvents) };
}

/**
 * What an uninterrupted run makes of `w`'s workload (the reference edge, fed in one go) is exactly what reached the
 * topic, with revisions in order, every one confirmed published in `app`'s records and stored as published.
 */
async function expectFinalStates(w: string, { tracker, payments }: ReturnType<typeof workload>, app: AttributionApp): Promise<void> {
  const reference = createReferenceEdge(w);
  reference.ingestTracker(tracker, new Date().toISOString());
  reference.ingestPayments(payments, new Date().toISOString());
  const expected = [...reference.latestStates().values()]
    .filter((s) => s.status !== 'merged')
    .map(stateContent)
    .sort((a, b) => (a.paymentKey < b.paymentKey ? -1 : 1));
  expect(expected.map((s) => s.attribution.confidence).sort()).toEqual(['high', 'high', 'high', 'high', 'low', 'medium', 'none']);

  const liveContents = () => reader.live(w).map(stateContent);
  await reader.waitFor(() => stableStringify(liveContents()) === stableStringify(expected), 'the final states', 40_000).catch((err: unknown) => {
    expect(liveContents()).toEqual(expected); // shows the difference
    throw err;
  });
  expect(revisionViolations(reader.received)).toEqual([]);
  const allKeys = [...reader.latest(w).keys()];
  // The states can reach the topic while `app`'s database is still away (outage test): the poll waits through that.
  const confirmed = async () => (await app.stores.records.findByKeys(w, allKeys)).every((r) => r.pendingPublish === null);
  await waitFor(() => confirmed().catch(() => false), 20_000, 'every revision to be confirmed published');
  const stored = await app.stores.records.findByKeys(w, expected.map((s) => s.paymentKey));
  expect(stored.map((r) => stateContent(r.state)).sort((a, b) => (a.paymentKey < b.paymentKey ? -1 : 1))).toEqual(expected);
}

/**
 * A website, database and group of their own (the group at the end of the topics). Instances of other tests consume
 * the same topics into their own databases and would publish this website's states too: they are stopped first.
 */
async function runAlone(name: string): Promise<{ w: string; dbName: string; groupId: string }> {
  await Promise.all(apps.splice(0).map((a) => a.stop()));
  const w = `${prefix}_${shortId('w')}`;
  const dbName = uniqueId(`test_attribution_${name}`);
  const groupId = uniqueId(`test-attribution-${name}`);
  databases.push(dbName);
  await startGroupAtEnd(kafka, groupId, [TOPICS.payments.name, TOPICS.visitorSessions.name]);
  return { w, dbName, groupId };
}

async function startInstance(dbName: string, groupId: string): Promise<AttributionApp> {
  const app = await startAttribution(testConfig({ MONGODB_DB: dbName, KAFKA_GROUP_ID: groupId }), {
    logger: testLogger(),
    consumer: fastConsumer,
    onFatalError: (err) => console.error('attribution consumer crashed', err),
  });
  apps.push(app);
  return app;
}

describe('a crash or a MongoDB outage mid-batch (real broker and database)', () => {
  it('SIGKILL between the record writes and the produce, restart as two instances → the same final states as an uninterrupted run', async () => {
    const w = `${prefix}_${shortId('w')}`;
    const dbName = uniqueId('test_attribution_crash');
    const groupId = uniqueId('test-attribution-crash');
    databases.push(dbName);
    const client = new MongoClient(mongodbUri());
    await client.connect();
    const db = client.db(dbName);
    cleanups.push(() => client.close());
    await startGroupAtEnd(kafka, groupId, [TOPICS.payments.name, TOPICS.visitorSessions.name]);
    const work = workload(w);
    const { tracker, payments } = work;

    // node itself with tsx as a loader: SIGKILL to the tsx CLI would leave its node child running.
    const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=metrivo-source', join(__dirname, 'test-support', 'run-until-killed.ts')], {
      cwd: repoRoot,
      env: { ...process.env, KAFKA_BROKERS: brokers(), MONGODB_URI: mongodbUri(), MONGODB_DB: dbName, KAFKA_GROUP_ID: groupId, CRASH_WEBSITE: w },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let ready = false;
    let hanging: { keys: string[] } | undefined;
    try {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const event = JSON.parse(line) as { event: string; keys?: string[]; error?: string };
        if (event.event === 'ready') ready = true;
        if (event.event === 'hanging') hanging = { keys: event.keys! };
        if (event.event === 'failed') throw new Error(`child failed: ${event.error}`);
      });
      await waitFor(() => ready, 30_000, 'the child instance to join its group');
      await sendTracker(producer, tracker);
      // Tracker data first, so the crash point is the only thing between the payments and the topic.
      await waitFor(
        async () => (await db.collection('attribution_sessions').countDocuments({ websiteId: w })) === 5 && (await db.collection('attribution_identities').countDocuments({ websiteId: w })) === 1,
        20_000,
        'the tracker data to be stored',
      );
      await sendPayments(producer, payments);
      await waitFor(() => hanging !== undefined, 20_000, 'the child to reach the crash point');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }

    // The crash left written-but-unproduced records behind, and none of them reached the topic.
    const pendingAtCrash = await db.collection('attribution_payment_records').find({ websiteId: w, pendingPublish: { $ne: null } }).toArray();
    expect(pendingAtCrash.map((r) => r.paymentKey as string).sort()).toEqual([...hanging!.keys].sort());
    expect(hanging!.keys.length).toBeGreaterThanOrEqual(7);
    expect(reader.states(w)).toEqual([]);
    const restarted = await Promise.all([startInstance(dbName, groupId), startInstance(dbName, groupId)]);

    await expectFinalStates(w, work, restarted[0]!);
  }, 80_000);

  it('the initial’s upgraded record written, the renewal’s write lost (crash between the two writes) → the retry aligns the renewal', async () => {
    const { w, dbName, groupId } = await runAlone('partial');
    const app = await startInstance(dbName, groupId);
    await app.consumer.joined;

    // A subscription whose session is not recorded yet: initial and renewal published as none.
    const now = Math.floor(Date.now() / 1000);
    const ids = { metrivo_session_id: 's_part', metrivo_visitor_id: 'v_part' };
    const initial = stripe.subscriptionCheckoutScenario({ apiVersion: basil, amount: 1500, sessionMetadata: ids, subscriptionMetadata: ids, at: now - 3 * 3600 });
    const renewal = stripe.subscriptionRenewalScenario({ apiVersion: basil, amount: 1500, subscription: initial.ids.subscription!, customer: initial.ids.customer!, at: now - 3600 });
    const initialKey = `stripe:${initial.ids.invoice}`;
    const renewalKey = `stripe:${renewal.ids.invoice}`;
    await sendPayments(producer, normalizeStripe(w, emailHashKey, [...initial.events, ...renewal.events]));
    await reader.waitFor(
      () => reader.latest(w).get(initialKey)?.eventIds.length === initial.events.length && reader.latest(w).get(renewalKey)?.eventIds.length === renewal.events.length,
      'both payments',
    );
    expect(reader.latest(w).get(renewalKey)!.attribution).toMatchObject({ confidence: 'none', matchedBy: 'subscription' });

    // The late session upgrades the initial; its write lands, then the process "dies" before the renewal's.
    const records = app.stores.records;
    const write = records.write.bind(records);
    let crashed = false;
    records.write = async (writes: readonly RecordWrite[]) => {
      const keys = writes.map((x) => x.record.paymentKey);
      if (!crashed && keys.includes(initialKey) && keys.includes(renewalKey)) {
        crashed = true;
        await write(writes.filter((x) => x.record.paymentKey !== renewalKey));
        throw new Error('injected: crash between the initial’s and the renewal’s record writes');
      }
      return write(writes);
    };
    await sendTracker(producer, [trackerSession(w, { sessionId: 's_part', visitorId: 'v_part', startedMinutesAgo: 200, referrer: 'https://www.google.com/' })]);

    // The batch is retried: the initial is unchanged by then, and the renewal still follows it.
    const high = (key: string) => reader.latest(w).get(key)?.attribution.confidence === 'high';
    await reader.waitFor(() => high(initialKey) && high(renewalKey), 'the initial upgraded and the renewal following it', 30_000);
    expect(crashed).toBe(true);
    const first = reader.latest(w).get(initialKey)!;
    expect(first.attribution).toMatchObject({ confidence: 'high', matchedBy: 'session', sessionId: 's_part' });
    expect(reader.latest(w).get(renewalKey)!.attribution).toEqual({ ...first.attribution, matchedBy: 'subscription' });
    const stored = await app.stores.records.findByKeys(w, [renewalKey]);
    expect(stored[0]!.state.attribution).toEqual({ ...first.attribution, matchedBy: 'subscription' });
    expect(revisionViolations(reader.received)).toEqual([]);
  }, 60_000);

  it('MongoDB cut after the payments\' records were written (states produced, their confirmation lost), back 2.5 s later → the same final states', async () => {
    const { w, dbName, groupId } = await runAlone('outage');
    const proxy = await SwitchableMongoProxy.start();
    cleanups.push(() => proxy.close());
    let cut = false;
    const app = await startAttribution(testConfig({ MONGODB_URI: proxy.uri, MONGODB_DB: dbName, KAFKA_GROUP_ID: groupId }), {
      logger: testLogger(),
      consumer: fastConsumer,
      onFatalError: (err) => console.error('attribution consumer crashed', err),
      // Shorter than the outage, so the driver's own retry cannot hide it: the batch fails back to the consumer.
      mongoClientOptions: { serverSelectionTimeoutMS: 1000 },
      hooks: {
        afterRecordWrites: ({ websiteId, path }) => {
          if (cut || path !== 'payments' || websiteId !== w) return;
          cut = true;
          proxy.goDown();
          setTimeout(() => proxy.comeBack(), 2500);
        },
      },
    });
    apps.push(app);
    await app.consumer.joined;

    const work = workload(w);
    await sendTracker(producer, work.tracker);
    const client = new MongoClient(mongodbUri()); // direct, not through the proxy
    await client.connect();
    cleanups.push(() => client.close());
    const db = client.db(dbName);
    await waitFor(
      async () => (await db.collection('attribution_sessions').countDocuments({ websiteId: w })) === 5 && (await db.collection('attribution_identities').countDocuments({ websiteId: w })) === 1,
      20_000,
      'the tracker data to be stored',
    );
    await sendPayments(producer, work.payments);

    await expectFinalStates(w, work, app);
    expect(cut).toBe(true);
    expect(app.metrics().consumer.handlerFailures).toBeGreaterThanOrEqual(1); // the batch failed and was retried
  }, 80_000);
});
