// `npm run simulate -- [--website w_demo] [--visitors 200] [--rate 100] [--days 1] [--live] [--seed 7]`
//
// Publishes a realistic tracker stream (what the Metrivo tracker sends) to metrivo.visitor-sessions.v1 for one
// demo website, so that attribution can be watched locally: visitors from Google (organic and paid, with
// UTM tags), a newsletter, Facebook, blogs and direct traffic; sessions re-sent as they grow (same
// sessionId, later lastSeenAt); identify events (emailHash = HMAC of the email with METRIVO_EMAIL_HASH_KEY,
// as the tracker computes it); and returns from Stripe Checkout (a session that is not a traffic source).
//
// Default: N visitors spread over the last --days, sent in time order at --rate events per second, then a
// summary with ids to put on a test payment. --live: keeps N visitors active with timestamps of "now",
// until Ctrl-C. Every event is validated against the SessionEvent contract by the producer.
import { TOPICS, type SessionEvent } from '@metrivo/contracts';
import { BatchingProducer, createKafka, provisionTopics } from '@metrivo/kafka';
import { cli as createCli } from './cli';
import { devSetting } from './dev-secrets';
import { createTrafficModel, suggestTestPayment, type Step, type VisitorPlan } from './simulate-model';

const DAY_MS = 24 * 60 * 60_000;

// ---------------------------------------------------------------------------------------------- options

const cli = createCli(
  [
    'usage: npm run simulate -- [options]',
    '  --website <id>    website id (default w_demo)',
    '  --visitors <n>    visitors to simulate; with --live: visitors active at a time (default 200)',
    '  --rate <n>        tracker events per second at most (default 100)',
    '  --days <n>        spread visitors over the last n days (default 1; ignored with --live)',
    '  --live            run until Ctrl-C with current timestamps',
    '  --seed <n>        reproducible ids and choices (a whole number)',
    'env: KAFKA_BROKERS (default 127.0.0.1:9092), METRIVO_EMAIL_HASH_KEY (else .local/dev-secrets.json)',
  ].join('\n'),
);

const { values: args } = cli.parse({
  options: {
    website: { type: 'string', default: 'w_demo' },
    visitors: { type: 'string', default: '200' },
    rate: { type: 'string', default: '100' },
    days: { type: 'string', default: '1' },
    live: { type: 'boolean', default: false },
    seed: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) cli.help();

const websiteId = args.website!;
const visitorCount = cli.positiveInteger('visitors', args.visitors);
const rate = cli.positiveNumber('rate', args.rate);
const days = cli.positiveNumber('days', args.days);
const live = args.live!;
// Checked here, with the other options: a seed that is not a number would silently be seed 0.
const seed = args.seed !== undefined ? cli.integer('seed', args.seed) : Date.now();

/** The tracker's key: explicit environment first, else the development secrets `npm start` generated. */
function emailHashKey(): string {
  const key = devSetting('METRIVO_EMAIL_HASH_KEY');
  if (key) return key;
  process.stderr.write('METRIVO_EMAIL_HASH_KEY is not set and .local/dev-secrets.json has none: run `npm start` once, or set it.\n');
  process.exit(2);
}

// ----------------------------------------------------------------------------------------------- sending

async function main(): Promise<void> {
  const model = createTrafficModel({ websiteId, live, seed, hashKey: emailHashKey() });
  const { random } = model;
  const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
  const kafka = createKafka({ brokers, clientId: 'metrivo-simulator', logLevel: 1 });
  await provisionTopics(kafka);
  const producer = new BatchingProducer(kafka, { lingerMs: 20 });
  await producer.connect();

  let stopping = false;
  process.once('SIGINT', () => {
    stopping = true;
  });
  const counts = new Map<string, number>();
  let sent = 0;
  /**
   * Of the visitors kept for the summary (`plans`), the session ids and identified visitors Kafka acknowledged: the
   * only ones the summary may suggest. Only theirs: in --live mode everything else would pile up until Ctrl-C.
   */
  const sentSessions = new Set<string>();
  const identifiedVisitors = new Set<string>();
  const sampleVisitors = new Set<string>();
  const startedAt = Date.now();
  const plans: VisitorPlan[] = [];
  const keep = (plan: VisitorPlan) => {
    plans.push(plan);
    sampleVisitors.add(plan.visitorId);
  };

  /** At most `rate` events per second, in chunks every 100 ms (each chunk awaited: acks=all). */
  const chunkSize = Math.max(1, Math.round(rate / 10));
  async function send(events: SessionEvent[]): Promise<void> {
    for (let i = 0; i < events.length && !stopping; i += chunkSize) {
      const chunk = events.slice(i, i + chunkSize);
      const tick = Date.now();
      await Promise.all(chunk.map((value) => producer.publish(TOPICS.visitorSessions.name, { key: websiteId, value })));
      sent += chunk.length;
      for (const e of chunk) {
        if (!sampleVisitors.has(e.visitorId)) continue;
        if (e.type === 'session') sentSessions.add(e.sessionId);
        else identifiedVisitors.add(e.visitorId);
      }
      const wait = (chunk.length / rate) * 1000 - (Date.now() - tick);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
  const count = (label: string) => counts.set(label, (counts.get(label) ?? 0) + 1);

  try {
    if (!live) {
      // History: arrivals over the last --days; only what has happened by now is sent, in time order.
      const now = Date.now();
      for (let i = 0; i < visitorCount; i += 1) keep(model.planVisitor(now - random() * days * DAY_MS));
      const steps = plans.flatMap((p) => p.steps).filter((s) => s.at <= now).sort((a, b) => a.at - b.at);
      for (const s of steps) count(s.label);
      process.stdout.write(`sending ${steps.length} tracker events for ${visitorCount} visitors of ${websiteId} at ≤ ${rate}/s to ${brokers}\n`);
      await send(steps.map((s) => s.event()));
    } else {
      // Live: keep --visitors planned ahead with current timestamps; send each step when it is due.
      process.stdout.write(`live tracker stream for ${websiteId} (${visitorCount} active visitors, ≤ ${rate}/s) to ${brokers}; Ctrl-C stops\n`);
      const queue: Array<Step & { visitorId: string }> = [];
      const remaining = new Map<string, number>(); // steps not sent yet, per active visitor
      const addVisitor = (arrival: number) => {
        const plan = model.planVisitor(arrival);
        if (plans.length < 10) keep(plan); // for the summary
        remaining.set(plan.visitorId, plan.steps.length);
        queue.push(...plan.steps.map((step) => ({ ...step, visitorId: plan.visitorId })));
        queue.sort((a, b) => a.at - b.at);
      };
      for (let i = 0; i < visitorCount; i += 1) addVisitor(Date.now() + random() * 5_000);
      let lastReport = Date.now();
      while (!stopping) {
        const now = Date.now();
        const due: Step[] = [];
        while (queue.length > 0 && queue[0]!.at <= now) {
          const step = queue.shift()!;
          due.push(step);
          count(step.label);
          const left = remaining.get(step.visitorId)! - 1;
          if (left > 0) remaining.set(step.visitorId, left);
          else remaining.delete(step.visitorId);
        }
        // A visitor who is done is replaced by a new one arriving within the next 20 seconds.
        while (remaining.size < visitorCount) addVisitor(now + random() * 20_000);
        await send(due.map((s) => s.event()));
        if (now - lastReport > 10_000) {
          process.stdout.write(`  ${sent} events sent\n`);
          lastReport = now;
        }
        if (due.length === 0) await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    await producer.disconnect();
  }

  const seconds = (Date.now() - startedAt) / 1000;
  process.stdout.write(`sent ${sent} events in ${seconds.toFixed(1)} s${stopping ? ' (interrupted)' : ''}\n`);
  for (const [label, n] of [...counts].sort((a, b) => b[1] - a[1])) process.stdout.write(`  ${String(n).padStart(6)}  ${label}\n`);
  const suggestion = suggestTestPayment(plans, { sessions: sentSessions, identifiedVisitors });
  process.stdout.write('\nTry a test payment that names one of these (Stripe metadata metrivo_session_id / metrivo_visitor_id):\n');
  for (const s of suggestion.sessions) process.stdout.write(`  session ${s.sessionId}  visitor ${s.visitorId}  (${s.source})\n`);
  if (suggestion.email) {
    process.stdout.write(`or pay with the email ${suggestion.email.email} (identified visitor ${suggestion.email.visitorId}) for a low-confidence match.\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`simulate failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
