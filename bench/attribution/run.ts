// `npm run bench:attribution [-- --sessions 30000 --payments 500 --rates 20,200 --duration 10 --keep]`: one
// attribution instance (its own process, as deployed) against the real broker and MongoDB (FerretDB locally).
// Prints numbers; asserts nothing about timings.
//
// 1. Sessions: --sessions tracker events (sessions re-sent as they grow, identify events) for 20 websites are
//    produced to metrivo.visitor-sessions.v1 first. Then a consumer that does nothing (kafkajs, counts and
//    commits) and the attribution instance each read exactly those records, from the offset before them to the
//    offset after them. Rate = records ÷ (last record processed − group joined). Ratio = attribution ÷ raw
//    (the issue's goal: ≥ 0.5).
// 2. Payments joined: --payments one-time Checkout payments (checkout.session.completed + payment_intent.succeeded
//    + charge.succeeded each, normalized by the gateway's real normalizer, carrying the Metrivo session id of a
//    visitor from step 1) are produced to metrivo.payments.v1 while the instance is stopped; it is restarted and
//    drains them. Payments/s = payments ÷ (all events processed − group joined), next to the raw consume rate.
// 3. End to end: the real gateway (bench/gateway/target.ts, its own process) with a Stripe integration, the same
//    attribution instance, and a reader of metrivo.revenue.attributed.v1. Signed webhooks (the three events of
//    each payment at once) are sent open-loop at each of --rates payments/s for --duration s. Latency of an
//    event = the reader first seeing a PaymentState whose eventIds hold it − the gateway's 2xx for it
//    (goal: p99 ≤ 500 ms at 200 payments/s). Events not seen within the drain timeout are counted, not hidden.
// The attribution database is dropped at the end unless --keep. Records stay on the dev broker's shared topics.
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { TOPICS, type NormalizedPaymentEvent, type PaymentState, type SessionEvent, type Utm } from '@metrivo/contracts';
import { generateKeyringEntry, hashEmail, parseKeyring } from '@metrivo/crypto';
import { IntegrationStore } from '@metrivo/integration-store';
import { BatchingProducer, commitGroupOffsets, createKafka, fetchPartitionOffsets, provisionTopics, startGroupAtEnd } from '@metrivo/kafka';
import { logLevel, type Kafka } from 'kafkajs';
import { MongoClient } from 'mongodb';
import type { AttributionMetrics } from '../../apps/attribution/src/main';
import { normalizeStripe } from '../../apps/attribution/src/test-support/gateway-events';
import { stripeFixtures } from '../../apps/gateway/src/test-fixtures';
import { infraDown, infraStatus, infraUp } from '../../infra/local/launcher';
import { exited, forkTs, nextMessage } from '../common/child';
import { coresUsed, cpuSnapshot, formatCores } from '../common/cpu';
import { benchLog as log, fmt, percentile, sleep } from '../common/report';
import type { TargetReady, TargetStopped } from '../gateway/protocol';
import type { InstanceReady, InstanceStopped } from './instance';

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    sessions: { type: 'string', default: '30000' },
    payments: { type: 'string', default: '500' },
    rates: { type: 'string', default: '20,200' },
    duration: { type: 'string', default: '10' },
    'drain-timeout': { type: 'string', default: '180' },
    keep: { type: 'boolean', default: false },
  },
});

function positive(name: string, raw: string | undefined): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got "${raw}"`);
  return value;
}

const settings = {
  sessions: Math.round(positive('sessions', args.sessions)),
  payments: Math.round(positive('payments', args.payments)),
  rates: (args.rates ?? '').split(',').filter((r) => r.trim() !== '').map((r) => positive('rates', r)),
  durationSeconds: positive('duration', args.duration),
  drainTimeoutMs: positive('drain-timeout', args['drain-timeout']) * 1000,
  websites: 20,
};

const SESSIONS = TOPICS.visitorSessions.name;
const PAYMENTS = TOPICS.payments.name;
const STATES = TOPICS.revenueAttributed.name;
const MINUTE_MS = 60_000;

// ---------------------------------------------------------------------------------------------- workload

interface Visitor {
  websiteId: string;
  visitorId: string;
  sessionId: string;
  email: string | null;
}

const SOURCES: Array<{ referrer?: string; utm?: Utm; landingPage: string }> = [
  { referrer: 'https://www.google.com/', landingPage: '/' },
  { referrer: 'https://www.google.com/', utm: { source: 'google', medium: 'cpc', campaign: 'brand' }, landingPage: '/pricing' },
  { referrer: 'https://mail.google.com/', utm: { source: 'newsletter', medium: 'email', campaign: 'nov-digest' }, landingPage: '/changelog' },
  { referrer: 'https://l.facebook.com/', landingPage: '/features' },
  { referrer: 'https://news.ycombinator.com/item?id=4242', landingPage: '/' },
  { landingPage: '/' },
];

/**
 * About `count` tracker events, the way the tracker sends them: visitors with one or two sessions, each
 * session re-sent one to three times as it grows (same sessionId, later lastSeenAt), an identify event for
 * every fifth visitor. Timestamps are within the last few hours, in time order per visitor.
 */
function trackerWorkload(runId: string, count: number, emailHashKey: string): { events: SessionEvent[]; visitors: Visitor[] } {
  const events: SessionEvent[] = [];
  const visitors: Visitor[] = [];
  const now = Date.now();
  for (let v = 0; events.length < count; v += 1) {
    const websiteId = `w_bench_${runId}_${v % settings.websites}`;
    const visitorId = `v_${runId}_${v}`;
    const sessions = 1 + (v % 2);
    let lastSessionId = '';
    for (let s = 0; s < sessions; s += 1) {
      const sessionId = `s_${runId}_${v}_${s}`;
      lastSessionId = sessionId;
      const source = SOURCES[(v + s) % SOURCES.length]!;
      const startedAt = now - (180 - s * 60) * MINUTE_MS - (v % 50) * 1000;
      const sends = 1 + ((v + s) % 3);
      for (let k = 0; k < sends; k += 1) {
        events.push({
          schemaVersion: 1,
          type: 'session',
          websiteId,
          visitorId,
          sessionId,
          startedAt: new Date(startedAt).toISOString(),
          lastSeenAt: new Date(startedAt + (k + 1) * 4 * MINUTE_MS).toISOString(),
          landingPage: source.landingPage,
          country: 'DE',
          device: v % 3 === 0 ? 'mobile' : 'desktop',
          ...(source.referrer !== undefined && { referrer: source.referrer }),
          ...(source.utm !== undefined && { utm: source.utm }),
        });
      }
    }
    const email = v % 5 === 0 ? `buyer.${runId}.${v}@example.com` : null;
    if (email) {
      events.push({ schemaVersion: 1, type: 'identify', websiteId, visitorId, emailHash: hashEmail(email, emailHashKey), at: new Date(now - 100 * MINUTE_MS).toISOString() });
    }
    visitors.push({ websiteId, visitorId, sessionId: lastSessionId, email });
  }
  return { events, visitors };
}

/** A one-time Checkout payment of `visitor`, carrying Metrivo's ids the way the merchant's integration puts them. */
function checkoutPayment(visitor: Visitor, n: number) {
  const apiVersion = stripeFixtures.STRIPE_API_VERSIONS[n % stripeFixtures.STRIPE_API_VERSIONS.length]!;
  const metadata = { metrivo_session_id: visitor.sessionId, metrivo_visitor_id: visitor.visitorId };
  return stripeFixtures.oneTimeCheckoutScenario({
    apiVersion,
    livemode: false,
    amount: 900 + (n % 40) * 100,
    currency: n % 3 === 0 ? 'usd' : 'eur',
    email: visitor.email,
    sessionMetadata: metadata,
    paymentIntentMetadata: metadata,
  });
}

// --------------------------------------------------------------------------------------------- measuring

type Offsets = Map<number, bigint>;

async function endOffsets(kafka: Kafka, topic: string): Promise<Offsets> {
  return new Map((await fetchPartitionOffsets(kafka, topic)).map((p) => [p.partition, BigInt(p.high)]));
}

const recordsBetween = (from: Offsets, to: Offsets): number => [...to].reduce((sum, [p, end]) => sum + Number(end - (from.get(p) ?? 0n)), 0);

async function setGroupOffsets(kafka: Kafka, groupId: string, topic: string, offsets: Offsets): Promise<void> {
  await commitGroupOffsets(kafka, groupId, [...offsets].map(([partition, offset]) => ({ topic, partition, offset: offset.toString() })));
}

/**
 * The floor: a kafkajs consumer group that reads `topic` from `from` to `to` and does nothing with the records
 * but count them and commit (as any consumer must). Records/s from joining the group to the last record.
 */
async function rawConsumeRate(kafka: Kafka, topic: string, from: Offsets, to: Offsets, runId: string): Promise<{ records: number; ms: number; perSecond: number }> {
  const groupId = `bench.attribution.${runId}.raw.${randomBytes(2).toString('hex')}`;
  await setGroupOffsets(kafka, groupId, topic, from);
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 500, sessionTimeout: 6000, heartbeatInterval: 1000 });
  const next = new Map(from);
  let records = 0;
  let joinedAt = 0;
  let doneAt = 0;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joinedAt ||= Date.now();
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic] });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const end = to.get(batch.partition) ?? 0n;
        for (const message of batch.messages) if (BigInt(message.offset) < end) records += 1;
        next.set(batch.partition, BigInt(batch.lastOffset()) + 1n);
        if ([...to].every(([p, e]) => (next.get(p) ?? 0n) >= e)) doneAt ||= Date.now();
      },
    });
    const deadline = Date.now() + 10 * MINUTE_MS;
    while (doneAt === 0) {
      if (Date.now() > deadline) throw new Error(`the raw consumer did not reach the end of ${topic} within 10 minutes`);
      await sleep(20);
    }
  } finally {
    await consumer.disconnect();
  }
  const ms = doneAt - joinedAt;
  return { records, ms, perSecond: records / (ms / 1000) };
}

class Instance {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly joinedAt: number,
  ) {}

  static async start(env: NodeJS.ProcessEnv): Promise<Instance> {
    const child = forkTs(path.join(__dirname, 'instance.ts'), env);
    const ready = await nextMessage<InstanceReady>(child, 'ready');
    return new Instance(child, ready.port, ready.joinedAt);
  }

  async metrics(): Promise<AttributionMetrics> {
    const res = await fetch(`http://127.0.0.1:${this.port}/metrics`);
    if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
    return (await res.json()) as AttributionMetrics;
  }

  /** Polls GET /metrics until `done` says so; returns when it first did (poll resolution 20 ms). */
  async waitFor(done: (m: AttributionMetrics) => boolean, what: string, timeoutMs = 30 * MINUTE_MS): Promise<{ at: number; metrics: AttributionMetrics }> {
    const deadline = Date.now() + timeoutMs;
    let lastLog = Date.now();
    for (;;) {
      const metrics = await this.metrics();
      if (done(metrics)) return { at: Date.now(), metrics };
      if (Date.now() > deadline) throw new Error(`attribution did not finish ${what} within ${timeoutMs / 1000} s`);
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        log(`… ${what}: ${fmt(metrics.consumer.recordsProcessed)} records processed, lag ${fmt(metrics.consumer.lagTotal)}`);
      }
      await sleep(20);
    }
  }

  async stop(): Promise<InstanceStopped> {
    this.child.send({ type: 'stop' });
    const stopped = await nextMessage<InstanceStopped>(this.child, 'stopped');
    await exited(this.child);
    return stopped;
  }
}

/** Everything published to the attributed-revenue topic from now on for one website: when each provider event first showed up. */
class StateTap {
  readonly firstSeen = new Map<string, number>();
  readonly latest = new Map<string, PaymentState>();
  private constructor(private readonly consumer: ReturnType<Kafka['consumer']>) {}

  static async start(kafka: Kafka, websiteId: string, runId: string): Promise<StateTap> {
    const groupId = `bench.attribution.${runId}.tap`;
    await startGroupAtEnd(kafka, groupId, [STATES]);
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 20, sessionTimeout: 6000, heartbeatInterval: 1000 });
    const tap = new StateTap(consumer);
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = true;
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [STATES] });
    const prefix = `${websiteId}:`;
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const now = Date.now();
        for (const message of batch.messages) {
          if (!message.key?.toString('utf8').startsWith(prefix) || !message.value) continue;
          const state = JSON.parse(message.value.toString('utf8')) as PaymentState;
          for (const id of state.eventIds) if (!tap.firstSeen.has(id)) tap.firstSeen.set(id, now);
          const before = tap.latest.get(state.paymentKey);
          if (!before || before.revision < state.revision) tap.latest.set(state.paymentKey, state);
        }
      },
    });
    while (!joined) await sleep(20);
    return tap;
  }

  stop(): Promise<void> {
    return this.consumer.disconnect();
  }
}

interface SignedWebhook {
  eventId: string;
  body: Buffer;
  headers: Record<string, string>;
}

interface RateResult {
  rate: number;
  payments: number;
  webhooks: number;
  accepted: number;
  refused: Record<string, number>;
  gatewayMs: number[];
  endToEndMs: number[];
  notSeen: number;
  sendSeconds: number;
  drainMs: number;
  cores: Record<string, number | null>;
  confidence: Record<string, number>;
}

/** Sends each payment's webhooks at once, payments open-loop at `rate` per second; waits until the tap saw every accepted event. */
async function endToEnd(
  url: string,
  rate: number,
  payments: SignedWebhook[][],
  tap: StateTap,
  pids: Record<string, number | undefined>,
): Promise<RateResult> {
  const acceptedAt = new Map<string, number>();
  const refused: Record<string, number> = {};
  const gatewayMs: number[] = [];
  const inFlight: Array<Promise<void>> = [];
  const send = async (webhook: SignedWebhook): Promise<void> => {
    const started = performance.now();
    try {
      const res = await fetch(url, { method: 'POST', headers: webhook.headers, body: webhook.body });
      const body = await res.text();
      gatewayMs.push(performance.now() - started);
      if (res.status === 200 && body.includes('"received":true')) acceptedAt.set(webhook.eventId, Date.now());
      else refused[String(res.status)] = (refused[String(res.status)] ?? 0) + 1;
    } catch (err) {
      refused[(err as Error).name] = (refused[(err as Error).name] ?? 0) + 1;
    }
  };
  const cpuBefore = cpuSnapshot(pids);
  const start = performance.now();
  const interval = 1000 / rate;
  for (let i = 0; i < payments.length; ) {
    const due = start + i * interval;
    const now = performance.now();
    if (now < due) {
      await sleep(Math.max(1, Math.floor(due - now)));
      continue;
    }
    for (const webhook of payments[i]!) inFlight.push(send(webhook));
    i += 1;
  }
  await Promise.all(inFlight);
  const sendSeconds = (performance.now() - start) / 1000;
  const drainStarted = Date.now();
  const deadline = drainStarted + settings.drainTimeoutMs;
  let lastLog = Date.now();
  const unseen = () => [...acceptedAt.keys()].filter((id) => !tap.firstSeen.has(id)).length;
  while (unseen() > 0 && Date.now() < deadline) {
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      log(`… ${rate}/s: waiting for ${fmt(unseen())} of ${fmt(acceptedAt.size)} accepted events to show up in a published state`);
    }
    await sleep(20);
  }
  const cores = coresUsed(cpuBefore, cpuSnapshot(pids));
  const endToEndMs = [...acceptedAt].flatMap(([id, at]) => {
    const seen = tap.firstSeen.get(id);
    return seen === undefined ? [] : [seen - at];
  });
  const keys = new Set(payments.flat().map((w) => w.eventId));
  const confidence: Record<string, number> = {};
  for (const state of tap.latest.values()) {
    if (!state.eventIds.some((id) => keys.has(id))) continue;
    confidence[state.attribution.confidence] = (confidence[state.attribution.confidence] ?? 0) + 1;
  }
  return {
    rate,
    payments: payments.length,
    webhooks: payments.flat().length,
    accepted: acceptedAt.size,
    refused,
    gatewayMs: gatewayMs.sort((a, b) => a - b),
    endToEndMs: endToEndMs.sort((a, b) => a - b),
    notSeen: unseen(),
    sendSeconds,
    drainMs: Date.now() - drainStarted,
    cores,
    confidence,
  };
}

// ------------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const runId = randomBytes(3).toString('hex');
  const infra = await infraUp({ log });
  const infraPids = Object.fromEntries((await infraStatus()).map((s) => [s.service, s.pid]));
  const kafkaBrokers = infra.kafkaBrokers.join(',');
  const kafka = createKafka({ brokers: kafkaBrokers, clientId: `bench-attribution-${runId}`, logLevel: logLevel.ERROR });
  await provisionTopics(kafka);
  const dbName = `metrivo_bench_attribution_${runId}`;
  const gatewayDbName = `${dbName}_gateway`;
  const emailHashKey = `bench-email-hash-key-${runId}-0123456789abcdef`;
  const groupId = `bench-attribution-${runId}`;
  const instanceEnv: NodeJS.ProcessEnv = {
    ...process.env,
    KAFKA_BROKERS: kafkaBrokers,
    MONGODB_URI: infra.mongodbUri,
    MONGODB_DB: dbName,
    KAFKA_GROUP_ID: groupId,
    ATTRIBUTION_PORT: '0',
    LOG_LEVEL: 'warn',
    KAFKAJS_NO_PARTITIONER_WARNING: '1',
  };
  const mongo = new MongoClient(infra.mongodbUri, { serverSelectionTimeoutMS: 5000 });
  await mongo.connect();
  const producer = new BatchingProducer(kafka, { sendTimeoutMs: 60_000 });
  await producer.connect();
  const lines: string[] = [];
  const out = (line = '') => {
    lines.push(line);
    log(line);
  };
  let instance: Instance | undefined;
  let gateway: ChildProcess | undefined;
  try {
    // ------------------------------------------------------------------------------------ 1. sessions
    const tracker = trackerWorkload(runId, settings.sessions, emailHashKey);
    const sessionsBefore = await endOffsets(kafka, SESSIONS);
    await Promise.all(tracker.events.map((e) => producer.publish(SESSIONS, { key: e.websiteId, value: e })));
    const sessionsAfter = await endOffsets(kafka, SESSIONS);
    const trackerRecords = recordsBetween(sessionsBefore, sessionsAfter);
    log(`produced ${fmt(tracker.events.length)} tracker events (${fmt(tracker.visitors.length)} visitors, ${settings.websites} websites); ${fmt(trackerRecords)} records between the offsets`);

    const rawSessions = await rawConsumeRate(kafka, SESSIONS, sessionsBefore, sessionsAfter, runId);
    log(`raw consumer: ${fmt(rawSessions.records)} records in ${fmt(rawSessions.ms)} ms`);

    await setGroupOffsets(kafka, groupId, SESSIONS, sessionsBefore);
    await startGroupAtEnd(kafka, groupId, [PAYMENTS]);
    /** Starts an instance (its group's offsets set beforehand) and times it from joining to `records` processed. */
    const drain = async (records: number, what: string) => {
      instance = await Instance.start(instanceEnv);
      const pids = { attribution: instance.child.pid, kafka: infraPids.kafka, mongodb: infraPids.mongo };
      const before = cpuSnapshot(pids);
      const done = await instance.waitFor((m) => m.consumer.recordsProcessed >= records, what);
      return { ms: done.at - instance.joinedAt, processor: done.metrics.processor, cores: coresUsed(before, cpuSnapshot(pids)) };
    };
    const { ms: sessionMs, processor: p, cores: sessionCores } = await drain(trackerRecords, 'the tracker events');
    const sessionsPerSecond = trackerRecords / (sessionMs / 1000);
    out(`attribution bench on ${infra.mongodbUri.includes('27017') ? 'the local MongoDB server' : infra.mongodbUri} (FerretDB unless mongod is on PATH), one instance, default settings`);
    out();
    out(`1. tracker events (${fmt(trackerRecords)}: ${fmt(p.sessionEvents)} session, ${fmt(p.identifyEvents)} identify):`);
    out(`   raw consumer (does nothing): ${fmt(rawSessions.perSecond)} records/s (${fmt(rawSessions.ms)} ms from group join to the last record)`);
    out(`   attribution:                 ${fmt(sessionsPerSecond)} records/s (${fmt(sessionMs)} ms; ${fmt(p.sessionsWritten)} session and ${fmt(p.identitiesWritten)} identity writes)`);
    out(`   ratio attribution/raw: ${fmt(sessionsPerSecond / rawSessions.perSecond, 2)} (goal ≥ 0.5)`);
    out(`   CPU (cores) while attribution ingested: ${formatCores(sessionCores)}`);

    out('   MongoDB time by command and collection (wall ms summed over commands, incl. start-up):');
    for (const line of (await instance!.stop()).mongoCommands.slice(0, 8)) out(`     ${line}`);
    instance = undefined;

    // --------------------------------------------------------------------------- 2. payments joined
    const withSession = tracker.visitors;
    const paymentEvents: NormalizedPaymentEvent[] = [];
    for (let n = 0; n < settings.payments; n += 1) {
      const visitor = withSession[(n * 7919) % withSession.length]!;
      paymentEvents.push(...normalizeStripe(visitor.websiteId, emailHashKey, checkoutPayment(visitor, n).events));
    }
    const paymentsBefore = await endOffsets(kafka, PAYMENTS);
    await Promise.all(paymentEvents.map((e) => producer.publish(PAYMENTS, { key: e.websiteId, value: e })));
    const paymentsAfter = await endOffsets(kafka, PAYMENTS);
    const paymentRecords = recordsBetween(paymentsBefore, paymentsAfter);
    log(`produced ${fmt(settings.payments)} payments as ${fmt(paymentEvents.length)} normalized events (${fmt(paymentRecords)} records)`);
    const rawPayments = await rawConsumeRate(kafka, PAYMENTS, paymentsBefore, paymentsAfter, runId);

    const { ms: paymentMs, processor: pp, cores: paymentCores } = await drain(paymentRecords, 'the payment events');
    out();
    out(`2. payments joined (${fmt(settings.payments)} one-time Checkout payments, ${fmt(paymentRecords)} events, drained from a backlog):`);
    out(`   raw consumer (does nothing): ${fmt(rawPayments.perSecond)} events/s`);
    out(`   attribution: ${fmt(settings.payments / (paymentMs / 1000), 1)} payments/s = ${fmt(paymentRecords / (paymentMs / 1000))} events/s (${fmt(paymentMs)} ms); ${fmt(pp.statesPublished)} states published; ratio to raw ${fmt(paymentRecords / (paymentMs / 1000) / rawPayments.perSecond, 3)}`);
    out(`   CPU (cores): ${formatCores(paymentCores)}`);
    out('   MongoDB time by command and collection:');
    for (const line of (await instance!.stop()).mongoCommands.slice(0, 8)) out(`     ${line}`);
    instance = undefined;

    // ------------------------------------------------------------------------------------ 3. end to end
    const secretKeys = generateKeyringEntry('bench');
    const stripeSecret = stripeFixtures.stripeWebhookSecret();
    const websiteId = `w_bench_${runId}_0`;
    const integrations = new IntegrationStore(mongo.db(gatewayDbName));
    const integration = await integrations.create(websiteId, 'stripe', new Date(), false);
    await integrations.setSecret(integration._id, stripeSecret, parseKeyring(secretKeys));
    gateway = forkTs(path.join(__dirname, '..', 'gateway', 'target.ts'), {
      ...process.env,
      TARGET: 'gateway',
      KAFKA_BROKERS: kafkaBrokers,
      MONGODB_URI: infra.mongodbUri,
      MONGODB_DB: gatewayDbName,
      METRIVO_EMAIL_HASH_KEY: emailHashKey,
      METRIVO_SECRET_KEYS: secretKeys,
      GATEWAY_PORT: '0',
      LOG_LEVEL: 'warn',
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
    });
    const { port } = await nextMessage<TargetReady>(gateway, 'ready');
    const url = `http://127.0.0.1:${port}/v1/webhooks/stripe/${integration._id}`;
    instance = await Instance.start(instanceEnv);
    const tap = await StateTap.start(kafka, websiteId, runId);
    const siteVisitors = tracker.visitors.filter((v) => v.websiteId === websiteId);
    const pids = { gateway: gateway.pid, attribution: instance.child.pid, bench: process.pid, kafka: infraPids.kafka, mongodb: infraPids.mongo };
    const results: RateResult[] = [];
    let n = settings.payments;
    for (const rate of settings.rates) {
      const count = Math.max(1, Math.round(rate * settings.durationSeconds));
      const signed = Array.from({ length: count }, () => {
        n += 1;
        const visitor = siteVisitors[(n * 31) % siteVisitors.length]!;
        return checkoutPayment(visitor, n).events.map((event) => {
          const { rawBody, headers } = stripeFixtures.stripeWebhookRequest(event, stripeSecret);
          return { eventId: event.id as string, body: rawBody, headers };
        });
      });
      log(`end to end at ${rate} payments/s: ${fmt(count)} payments (${fmt(count * 3)} webhooks) over ${settings.durationSeconds} s…`);
      results.push(await endToEnd(url, rate, signed, tap, pids));
      await sleep(1000);
    }
    await tap.stop();
    gateway.send({ type: 'stop' });
    await nextMessage<TargetStopped>(gateway, 'stopped');
    await exited(gateway);
    gateway = undefined;

    out();
    out('3. end to end: gateway 2xx → PaymentState on metrivo.revenue.attributed.v1 (seen by a consumer), per webhook event:');
    for (const r of results) {
      const e = r.endToEndMs;
      const g = r.gatewayMs;
      out(`   ${r.rate} payments/s (${fmt(r.payments)} payments, ${fmt(r.webhooks)} webhooks sent in ${fmt(r.sendSeconds, 1)} s; ${fmt(r.accepted)} accepted${Object.keys(r.refused).length ? `, refused ${JSON.stringify(r.refused)}` : ''}):`);
      out(`     end to end p50 ${fmt(percentile(e, 50))} ms, p99 ${fmt(percentile(e, 99))} ms, max ${fmt(e[e.length - 1] ?? NaN)} ms (goal at 200/s: p99 ≤ 500 ms)${r.notSeen ? `; ${fmt(r.notSeen)} accepted events not seen within ${fmt(settings.drainTimeoutMs / 1000)} s` : ''}`);
      out(`     gateway answer p50 ${fmt(percentile(g, 50))} ms, p99 ${fmt(percentile(g, 99))} ms; drained ${fmt(r.drainMs)} ms after the last answer`);
      out(`     confidence of the payments' latest states: ${JSON.stringify(r.confidence)}`);
      out(`     CPU (cores): ${formatCores(r.cores)}`);
    }
    out('   MongoDB time of attribution by command and collection:');
    for (const line of (await instance.stop()).mongoCommands.slice(0, 8)) out(`     ${line}`);
    instance = undefined;
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    if (gateway) gateway.kill('SIGTERM');
    if (instance) await instance.stop().catch(() => instance?.child.kill('SIGKILL'));
    await producer.disconnect().catch(() => undefined);
    if (!args.keep) {
      await mongo.db(dbName).dropDatabase().catch(() => undefined);
      await mongo.db(gatewayDbName).dropDatabase().catch(() => undefined);
    } else {
      log(`kept databases ${dbName} and ${gatewayDbName}`);
    }
    await mongo.close();
    if (infra.started.length) await infraDown(infra.started, { log });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
