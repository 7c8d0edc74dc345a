import { get } from 'node:http';
import { expectCountersMatchStats, testMeterProvider } from '@metrivo/testing';
import { TOPICS, type PaymentState } from '@metrivo/contracts';
import { BatchingProducer, provisionTopics } from '@metrivo/kafka';
import type { Kafka } from 'kafkajs';
import { startAttribution, type AttributionApp } from './main';
import { API_VERSIONS, normalizeStripe, stripe } from './test-support/gateway-events';
import { sendPayments, sendTracker, shortId, trackerIdentify, trackerSession } from './test-support/events';
import {
  dropDatabase,
  fastConsumer,
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

// One attribution instance (own database, own consumer group starting at the end of the shared topics)
// for the whole file; every test uses its own website ids.
const prefix = `w_${runId}`;
const emailHashKey = `test-email-hash-key-${runId}`;
const dbName = uniqueId('test_attribution_e2e');
const groupId = uniqueId('test-attribution');
const meters = testMeterProvider();
const basil = API_VERSIONS.basil;

let kafka: Kafka;
let producer: BatchingProducer;
let reader: StateReader;
let app: AttributionApp;
let failNextPublishes = 0;

beforeAll(async () => {
  kafka = testKafka('attribution-int');
  await provisionTopics(kafka);
  await startGroupAtEnd(kafka, groupId, [TOPICS.payments.name, TOPICS.visitorSessions.name]);
  reader = await StateReader.start(kafka, prefix);
  app = await startAttribution(testConfig({ MONGODB_DB: dbName, KAFKA_GROUP_ID: groupId }), {
    logger: testLogger(),
    consumer: fastConsumer,
    meterProvider: meters.provider,
    onFatalError: (err) => console.error('attribution consumer crashed', err),
    // Fault injection: Kafka refuses the next N produce calls of attributed states.
    wrapPublisher: (inner) => ({
      async publish(states) {
        if (failNextPublishes > 0) {
          failNextPublishes -= 1;
          throw new Error('injected: Kafka did not acknowledge');
        }
        await inner.publish(states);
      },
    }),
  });
  await app.consumer.joined;
  producer = new BatchingProducer(kafka);
  await producer.connect();
}, 60_000);

afterAll(async () => {
  await app?.stop();
  await Promise.all([reader?.stop(), producer?.disconnect()]);
  await dropDatabase(dbName);
}, 60_000);

afterEach(() => {
  expect(revisionViolations(reader.received)).toEqual([]);
});

const website = () => `${prefix}_${shortId('w')}`;

async function sessionsStored(websiteId: string, sessionIds: string[]): Promise<void> {
  await waitFor(
    async () => (await app.stores.sessions.sessions.countDocuments({ websiteId, 'session.sessionId': { $in: sessionIds } })) === sessionIds.length,
    15_000,
    `sessions ${sessionIds.join(', ')} stored`,
  );
}

/**
 * Records of one partition are handled in order: once a marker payment sent after `events` is published,
 * everything before it on the website's partition was processed.
 */
async function sendAndDrain(websiteId: string, events: Parameters<typeof sendPayments>[1]): Promise<void> {
  const marker = stripe.oneTimeCheckoutScenario({ apiVersion: basil, amount: 100 });
  await sendPayments(producer, events);
  await sendPayments(producer, normalizeStripe(websiteId, emailHashKey, marker.events.slice(0, 1)));
  await reader.waitFor(() => reader.latest(websiteId).has(`stripe:${marker.ids.paymentIntent}`), 'the marker payment');
}

const onlyLive = (websiteId: string, key: string): PaymentState => {
  const live = reader.live(websiteId).filter((s) => s.paymentKey === key);
  expect(live).toHaveLength(1);
  return live[0]!;
};

describe('attribution on the real broker and database', () => {
  it('sessions then payment → high, with the session source, in every revision', async () => {
    const w = website();
    await sendTracker(producer, [
      trackerSession(w, { sessionId: 's_1', visitorId: 'v_1', startedMinutesAgo: 40, referrer: 'https://www.google.com/', utm: { source: 'google', medium: 'cpc', campaign: 'bf' }, landingPage: '/pricing', country: 'DE', device: 'desktop' }),
    ]);
    await sessionsStored(w, ['s_1']);
    const scenario = stripe.oneTimeCheckoutScenario({
      apiVersion: basil,
      amount: 4900,
      email: 'Jane@Example.com',
      sessionMetadata: { metrivo_session_id: 's_1', metrivo_visitor_id: 'v_1' },
    });
    await sendPayments(producer, normalizeStripe(w, emailHashKey, scenario.events));
    await reader.waitFor(() => reader.live(w)[0]?.eventIds.length === 3, 'the state with all three reports');

    expect(reader.live(w)).toHaveLength(1);
    expect(reader.live(w)[0]).toMatchObject({
      paymentKey: `stripe:${scenario.ids.paymentIntent}`,
      grossMinor: 4900,
      netMinor: 4900,
      status: 'paid',
      kind: 'one_time',
      livemode: false,
      emailMasked: 'j***@example.com',
      attribution: {
        confidence: 'high',
        matchedBy: 'session',
        visitorId: 'v_1',
        sessionId: 's_1',
        source: { channel: 'paid_search', referrer: 'https://www.google.com/', utm: { source: 'google', medium: 'cpc', campaign: 'bf' }, landingPage: '/pricing', country: 'DE', device: 'desktop' },
      },
    });
    expect(reader.states(w).map((s) => s.attribution.confidence)).toEqual(reader.states(w).map(() => 'high'));
  });

  it('payment then late session → none, then high as the next revision', async () => {
    const w = website();
    const scenario = stripe.oneTimeCheckoutScenario({ apiVersion: basil, amount: 2500, sessionMetadata: { metrivo_session_id: 's_late', metrivo_visitor_id: 'v_late' } });
    const key = `stripe:${scenario.ids.paymentIntent}`;
    await sendPayments(producer, normalizeStripe(w, emailHashKey, scenario.events));
    await reader.waitFor(() => reader.latest(w).get(key)?.eventIds.length === 3, 'the unattributed state');
    const first = reader.latest(w).get(key)!;
    expect(first.attribution).toEqual({ confidence: 'none', matchedBy: 'none', visitorId: 'v_late', sessionId: 's_late', source: null });

    await sendTracker(producer, [trackerSession(w, { sessionId: 's_late', visitorId: 'v_late', startedMinutesAgo: 50, referrer: 'https://l.facebook.com/' })]);
    await reader.waitFor(() => reader.latest(w).get(key)!.attribution.confidence === 'high', 'the upgrade');
    const upgraded = reader.latest(w).get(key)!;
    expect(upgraded.revision).toBe(first.revision + 1);
    expect(upgraded.attribution).toMatchObject({ confidence: 'high', matchedBy: 'session', sessionId: 's_late', visitorId: 'v_late', source: { channel: 'social' } });
    expect({ ...upgraded, attribution: null, revision: 0, updatedAt: null }).toEqual({ ...first, attribution: null, revision: 0, updatedAt: null });
  });

  it('checkout + PaymentIntent + charge events, apart and again → one state', async () => {
    const w = website();
    const scenario = stripe.oneTimeCheckoutScenario({ apiVersion: basil, amount: 7300, currency: 'usd', paymentIntentMetadata: { metrivo_visitor_id: 'v_3' } });
    const key = `stripe:${scenario.ids.paymentIntent}`;
    const events = normalizeStripe(w, emailHashKey, scenario.events);
    expect(new Set(events.map((e) => e.source.eventType))).toEqual(new Set(['checkout.session.completed', 'payment_intent.succeeded', 'charge.succeeded']));
    for (const [i, e] of events.entries()) {
      await sendPayments(producer, [e]);
      await reader.waitFor(() => reader.latest(w).get(key)?.eventIds.length === i + 1, `report ${i + 1} folded in`);
    }
    const revisionsBefore = reader.states(w).length;
    await sendAndDrain(w, [...events].reverse()); // the provider retries everything

    const state = onlyLive(w, key);
    expect(reader.live(w)).toHaveLength(2); // + the marker
    expect(state).toMatchObject({
      grossMinor: 7300,
      currency: 'usd',
      refs: { paymentIntent: scenario.ids.paymentIntent, checkoutSession: scenario.ids.checkoutSession, charges: [scenario.ids.charge], invoice: null },
    });
    expect([...reader.latest(w).values()].filter((s) => s.status === 'merged')).toEqual([]);
    // The duplicates changed nothing: the only new record is the marker's.
    expect(reader.states(w).filter((s) => s.paymentKey === key)).toHaveLength(revisionsBefore);
  });

  it('subscription with renewals → each renewal inherits the first payment attribution', async () => {
    const w = website();
    await sendTracker(producer, [
      trackerSession(w, { sessionId: 's_sub', visitorId: 'v_sub', startedMinutesAgo: 300, referrer: 'https://mail.example.net/', utm: { source: 'newsletter', medium: 'email', campaign: 'nov' } }),
    ]);
    await sessionsStored(w, ['s_sub']);
    const now = Math.floor(Date.now() / 1000);
    const ids = { metrivo_session_id: 's_sub', metrivo_visitor_id: 'v_sub' };
    const initial = stripe.subscriptionCheckoutScenario({ apiVersion: basil, amount: 1900, sessionMetadata: ids, subscriptionMetadata: ids, at: now - 3 * 3600 });
    await sendPayments(producer, normalizeStripe(w, emailHashKey, initial.events));
    const initialKey = `stripe:${initial.ids.invoice}`;
    await reader.waitFor(() => reader.latest(w).get(initialKey)?.eventIds.length === initial.events.length, 'the initial payment');

    const renewals = [2, 1].map((hoursAgo) =>
      stripe.subscriptionRenewalScenario({ apiVersion: basil, amount: 1900, subscription: initial.ids.subscription!, customer: initial.ids.customer!, at: now - hoursAgo * 3600 }),
    );
    await sendPayments(producer, normalizeStripe(w, emailHashKey, renewals.flatMap((r) => r.events)));
    const renewalKeys = renewals.map((r) => `stripe:${r.ids.invoice}`);
    await reader.waitFor(() => renewalKeys.every((k) => reader.latest(w).get(k)?.eventIds.length === 4), 'both renewals');

    const live = reader.live(w);
    expect(live.map((s) => s.paymentKey).sort()).toEqual([initialKey, ...renewalKeys].sort());
    const first = onlyLive(w, initialKey);
    expect(first).toMatchObject({ kind: 'subscription_initial', subscriptionKey: `stripe:${initial.ids.subscription}`, attribution: { confidence: 'high', matchedBy: 'session', sessionId: 's_sub' } });
    for (const key of renewalKeys) {
      const renewal = onlyLive(w, key);
      expect(renewal.kind).toBe('subscription_renewal');
      expect(renewal.grossMinor).toBe(1900);
      expect(renewal.attribution).toEqual({ ...first.attribution, matchedBy: 'subscription' });
      expect(renewal.attribution.source?.channel).toBe('email');
    }
  });

  it('two partial refunds with duplicate deliveries → refundedMinor exact, attribution kept', async () => {
    const w = website();
    await sendTracker(producer, [trackerSession(w, { sessionId: 's_r', visitorId: 'v_r', startedMinutesAgo: 90, referrer: 'https://devblog.example.org/posts/tools' })]);
    await sessionsStored(w, ['s_r']);
    const scenario = stripe.oneTimeCheckoutScenario({ apiVersion: basil, amount: 10_000, paymentIntentMetadata: { metrivo_visitor_id: 'v_r' } });
    const key = `stripe:${scenario.ids.paymentIntent}`;
    await sendPayments(producer, normalizeStripe(w, emailHashKey, scenario.events));
    await reader.waitFor(() => reader.latest(w).get(key)?.eventIds.length === 3, 'the payment');
    const paid = reader.latest(w).get(key)!;
    expect(paid.attribution).toMatchObject({ confidence: 'medium', matchedBy: 'visitor', sessionId: 's_r', source: { channel: 'referral' } });

    const ref = { apiVersion: basil, charge: scenario.ids.charge, paymentIntent: scenario.ids.paymentIntent };
    const refundOne = normalizeStripe(w, emailHashKey, [
      stripe.refundEvent('refund.created', { ...ref, id: shortId('re'), amount: 2000 }),
      stripe.chargeRefunded({ apiVersion: basil, id: scenario.ids.charge, amount: 10_000, amountRefunded: 2000, paymentIntent: scenario.ids.paymentIntent }),
    ]);
    const refundTwo = normalizeStripe(w, emailHashKey, [
      stripe.refundEvent('refund.created', { ...ref, id: shortId('re'), amount: 3000 }),
      stripe.chargeRefunded({ apiVersion: basil, id: scenario.ids.charge, amount: 10_000, amountRefunded: 5000, paymentIntent: scenario.ids.paymentIntent }),
    ]);
    await sendPayments(producer, [...refundOne, ...refundOne]);
    await reader.waitFor(() => reader.latest(w).get(key)!.refundedMinor === 2000, 'the first refund');
    await sendPayments(producer, [...refundTwo, ...refundOne, ...refundTwo]);
    await reader.waitFor(() => reader.latest(w).get(key)!.refundedMinor === 5000, 'the second refund');
    await sendAndDrain(w, [...refundTwo, ...refundOne, ...normalizeStripe(w, emailHashKey, scenario.events)]);

    const final = onlyLive(w, key);
    expect(final).toMatchObject({ grossMinor: 10_000, refundedMinor: 5000, netMinor: 5000, status: 'partially_refunded' });
    expect(final.attribution).toEqual(paid.attribution);
    const refundedSeen = reader.states(w).filter((s) => s.paymentKey === key).map((s) => s.refundedMinor);
    expect(refundedSeen.filter((v, i) => v !== refundedSeen[i - 1])).toEqual([0, 2000, 5000]); // never more, never summed twice
  });

  it('email only: none until a late identify event ties the email to a visitor (low), then low at once', async () => {
    const w = website();
    await sendTracker(producer, [trackerSession(w, { sessionId: 's_e', visitorId: 'v_e', startedMinutesAgo: 120 })]);
    await sessionsStored(w, ['s_e']);
    const early = stripe.oneTimeCheckoutScenario({ apiVersion: basil, amount: 900, email: ' SAM@example.com ' });
    const earlyKey = `stripe:${early.ids.paymentIntent}`;
    await sendPayments(producer, normalizeStripe(w, emailHashKey, early.events));
    await reader.waitFor(() => reader.latest(w).get(earlyKey)?.eventIds.length === 3, 'the first payment');
    expect(reader.latest(w).get(earlyKey)!.attribution).toEqual({ confidence: 'none', matchedBy: 'none', visitorId: null, sessionId: null, source: null });

    await sendTracker(producer, [trackerIdentify(w, 'v_e', 'sam@example.com', emailHashKey, 110)]);
    await reader.waitFor(() => reader.latest(w).get(earlyKey)!.attribution.confidence === 'low', 'the late identify upgrade');
    const lowAttribution = { confidence: 'low', matchedBy: 'email', visitorId: 'v_e', sessionId: 's_e', source: { channel: 'direct' } };
    expect(reader.latest(w).get(earlyKey)!.attribution).toMatchObject(lowAttribution);

    const later = stripe.oneTimeCheckoutScenario({ apiVersion: basil, amount: 1200, email: 'sam@example.com' });
    const laterKey = `stripe:${later.ids.paymentIntent}`;
    await sendPayments(producer, normalizeStripe(w, emailHashKey, later.events));
    await reader.waitFor(() => reader.latest(w).get(laterKey)?.eventIds.length === 3, 'the second payment');
    expect(reader.states(w).filter((s) => s.paymentKey === laterKey).map((s) => s.attribution.confidence)).toEqual(
      reader.states(w).filter((s) => s.paymentKey === laterKey).map(() => 'low'),
    );
    expect(reader.latest(w).get(laterKey)!.attribution).toMatchObject(lowAttribution);
  });

  it('a produce that Kafka refuses is retried; nothing is lost or published twice with different content', async () => {
    const w = website();
    const scenario = stripe.oneTimeCheckoutScenario({ apiVersion: basil, amount: 3100, sessionMetadata: { metrivo_session_id: 's_f', metrivo_visitor_id: 'v_f' } });
    const key = `stripe:${scenario.ids.paymentIntent}`;
    const failuresBefore = app.consumer.stats().handlerFailures;
    failNextPublishes = 2;
    await sendPayments(producer, normalizeStripe(w, emailHashKey, scenario.events));
    await reader.waitFor(() => reader.latest(w).get(key)?.eventIds.length === 3, 'the payment after the retries', 30_000);
    expect(failNextPublishes).toBe(0);
    expect(app.consumer.stats().handlerFailures).toBeGreaterThanOrEqual(failuresBefore + 2);
    // The outbox is cleared right after the acknowledgement (the reader may be quicker than that).
    await waitFor(async () => (await app.stores.records.findByKeys(w, [key]))[0]?.pendingPublish === null, 10_000, 'the outbox to be cleared');
    expect((await app.stores.records.findByKeys(w, [key]))[0]!.state).toEqual(reader.latest(w).get(key));
  });

  it('serves health, readiness and metrics', async () => {
    const fetchJson = (path: string) =>
      new Promise<{ status: number; body: any }>((resolve, reject) => {
        get({ host: '127.0.0.1', port: app.port, path }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        }).on('error', reject);
      });
    expect(await fetchJson('/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await fetchJson('/readyz')).toEqual({ status: 200, body: { status: 'ready', checks: { mongodb: 'ok', consumer: 'ok', producer: 'ok' } } });
    const { status, body } = await fetchJson('/metrics');
    expect(status).toBe(200);
    expect(body.groupId).toBe(groupId);
    expect(body.consumer.recordsProcessed).toBeGreaterThan(0);
    expect(typeof body.consumer.lagTotal).toBe('number');
    expect(body.consumer.lag[TOPICS.payments.name]).toBeDefined();
    expect(body.processor.statesPublished).toBeGreaterThan(0);
    expect(body.processor.paymentEvents).toBeGreaterThan(0);
    expect(body.processor.rates.paymentEventsPerSecond).toBeGreaterThan(0);
    expect(body.producer.healthy).toBe(true);
    expect((await fetchJson('/nope')).status).toBe(404);
    // The same counters as OpenTelemetry metrics (an exporter sends them on).
    await expectCountersMatchStats(meters, () => app.metrics(), {
      'metrivo.attribution.states.published': (m) => m.processor.statesPublished,
      'metrivo.attribution.payment_events': (m) => m.processor.paymentEvents,
      'metrivo.consumer.records.processed': (m) => m.consumer.recordsProcessed,
    });
  });
});
