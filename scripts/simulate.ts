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
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOPICS, type SessionEvent, type SessionRecord, type Utm } from '@metrivo/contracts';
import { hashEmail } from '@metrivo/crypto';
import { BatchingProducer, createKafka, provisionTopics } from '@metrivo/kafka';
import { cli as createCli } from './cli';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
const root = join(__dirname, '..');

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
  const fromEnv = process.env.METRIVO_EMAIL_HASH_KEY;
  if (fromEnv) return fromEnv;
  const file = join(root, '.local', 'dev-secrets.json');
  if (existsSync(file)) {
    const key = (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>).METRIVO_EMAIL_HASH_KEY;
    if (key) return key;
  }
  process.stderr.write('METRIVO_EMAIL_HASH_KEY is not set and .local/dev-secrets.json has none: run `npm start` once, or set it.\n');
  process.exit(2);
}

// --------------------------------------------------------------------------------------- random choices

/** mulberry32: small, fast, seedable. */
function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = createRandom(seed);
const between = (min: number, max: number): number => min + random() * (max - min);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
function weighted<T>(items: ReadonlyArray<readonly [T, number]>): T {
  const total = items.reduce((sum, [, w]) => sum + w, 0);
  let r = random() * total;
  for (const [item, w] of items) {
    r -= w;
    if (r <= 0) return item;
  }
  return items[items.length - 1]![0];
}
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const token = (length: number): string => Array.from({ length }, () => pick([...ALPHABET])).join('');

// ----------------------------------------------------------------------------------------- traffic model

interface Source {
  name: string;
  referrer?: () => string;
  utm?: () => Utm;
  landingPages: readonly string[];
}

/** Where visitors come from, with roughly realistic shares for a small SaaS site. */
const SOURCES: ReadonlyArray<readonly [Source, number]> = [
  [{ name: 'google organic', referrer: () => pick(['https://www.google.com/', 'https://www.google.de/', 'https://www.google.co.uk/']), landingPages: ['/', '/blog/revenue-attribution-guide', '/features'] }, 28],
  [
    {
      name: 'google cpc',
      referrer: () => 'https://www.google.com/',
      utm: () => ({ source: 'google', medium: 'cpc', campaign: pick(['brand', 'competitors', 'bf-2026']), term: pick(['revenue analytics', 'stripe attribution', 'metrivo']) }),
      landingPages: ['/pricing', '/lp/attribution'],
    },
    14,
  ],
  [{ name: 'newsletter', referrer: () => 'https://mail.google.com/', utm: () => ({ source: 'newsletter', medium: 'email', campaign: pick(['nov-digest', 'launch-week']) }), landingPages: ['/changelog', '/pricing'] }, 9],
  [{ name: 'facebook', referrer: () => pick(['https://l.facebook.com/', 'https://m.facebook.com/']), landingPages: ['/', '/features'] }, 9],
  [{ name: 'twitter', referrer: () => 'https://t.co/', landingPages: ['/', '/blog/launch'] }, 4],
  [{ name: 'bing', referrer: () => 'https://www.bing.com/', landingPages: ['/', '/pricing'] }, 4],
  [{ name: 'referral blog', referrer: () => pick(['https://indiehackers.example.com/post/metrics', 'https://devblog.example.org/posts/best-tools', 'https://news.ycombinator.com/item?id=4242']), landingPages: ['/', '/features'] }, 10],
  [{ name: 'direct', landingPages: ['/', '/pricing', '/login'] }, 22],
];
const DIRECT = SOURCES.find(([s]) => s.name === 'direct')![0];
const COUNTRIES = ['DE', 'US', 'GB', 'FR', 'IN', 'NL', 'ES', 'BR', 'CA', 'SE'] as const;
const DEVICES: ReadonlyArray<readonly [string, number]> = [['desktop', 60], ['mobile', 35], ['tablet', 5]];
const FIRST_NAMES = ['jane', 'sam', 'alex', 'kim', 'noah', 'mia', 'lea', 'omar', 'yuki', 'ravi'] as const;

interface Step {
  at: number;
  event: () => SessionEvent;
  label: string;
}

interface VisitorPlan {
  visitorId: string;
  email: string | null;
  source: string;
  steps: Step[];
  /** Its sessions that are traffic sources (not checkout returns), for the summary. */
  sessions: Array<{ sessionId: string; start: number }>;
}

/** Time scale of a visitor's life: hours and days in history mode, seconds when watching live. */
const scale = live
  ? { sessionGap: [20_000, 120_000], duration: [5_000, 60_000] }
  : { sessionGap: [2 * HOUR_MS, 3 * DAY_MS], duration: [1 * MINUTE_MS, 25 * MINUTE_MS] };

function planVisitor(arrival: number, hashKey: string): VisitorPlan {
  const visitorId = `v_${token(12)}`;
  const source = weighted(SOURCES);
  const country = pick(COUNTRIES);
  const device = weighted(DEVICES);
  const steps: Step[] = [];
  const sessions = 1 + (random() < 0.35 ? 1 : 0) + (random() < 0.15 ? 1 : 0);
  const email = random() < 0.35 ? `${pick(FIRST_NAMES)}.${token(5)}@example.com` : null;
  let start = arrival;
  let last: { sessionId: string; start: number; duration: number } | null = null;
  const planned: VisitorPlan['sessions'] = [];
  // Most people sign up or log in on their first visit.
  const identifyIn = random() < 0.7 ? 0 : sessions - 1;
  for (let i = 0; i < sessions; i += 1) {
    // Returning visitors often come back directly; some come through the same channel again.
    const from = i === 0 || random() < 0.4 ? source : DIRECT;
    const sessionId = `s_${token(14)}`;
    const duration = between(scale.duration[0]!, scale.duration[1]!);
    const base: SessionRecord = {
      schemaVersion: 1,
      type: 'session',
      websiteId,
      visitorId,
      sessionId,
      startedAt: new Date(start).toISOString(),
      lastSeenAt: new Date(start).toISOString(),
      ...(from.referrer && { referrer: from.referrer() }),
      ...(from.utm && { utm: from.utm() }),
      landingPage: pick(from.landingPages),
      country,
      device,
    };
    // The tracker sends the session when it starts and again as it grows.
    const pings = [0, ...Array.from({ length: 1 + Math.floor(random() * 3) }, () => between(0.2, 1) * duration)].sort((a, b) => a - b);
    for (const offset of pings) {
      const at = start + offset;
      steps.push({ at, label: `session ${from.name}`, event: () => ({ ...base, lastSeenAt: new Date(at).toISOString() }) });
    }
    planned.push({ sessionId, start });
    if (email && i === identifyIn) {
      const at = start + duration * between(0.3, 0.9); // signs up or logs in
      steps.push({ at, label: 'identify', event: () => ({ schemaVersion: 1, type: 'identify', websiteId, visitorId, emailHash: hashEmail(email, hashKey), at: new Date(at).toISOString() }) });
    }
    last = { sessionId, start, duration };
    start += duration + between(scale.sessionGap[0]!, scale.sessionGap[1]!);
  }
  // Some visitors pay: they leave for Stripe Checkout and come back. That return is not a traffic source.
  if (last && random() < 0.15) {
    const at = last.start + last.duration + between(30_000, 180_000) * (live ? 0.1 : 1);
    const back: SessionRecord = {
      schemaVersion: 1,
      type: 'session',
      websiteId,
      visitorId,
      sessionId: `s_${token(14)}`,
      startedAt: new Date(at).toISOString(),
      lastSeenAt: new Date(at + 20_000).toISOString(),
      referrer: 'https://checkout.stripe.com/',
      landingPage: '/thank-you',
      country,
      device,
    };
    steps.push({ at, label: 'checkout return', event: () => back });
  }
  return { visitorId, email, source: source.name, steps, sessions: planned };
}

// ----------------------------------------------------------------------------------------------- sending

async function main(): Promise<void> {
  const hashKey = emailHashKey();
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
  /** Session ids and identified visitors that Kafka acknowledged: the only ones the summary may suggest. */
  const sentSessions = new Set<string>();
  const identifiedVisitors = new Set<string>();
  const startedAt = Date.now();
  const plans: VisitorPlan[] = [];

  /** At most `rate` events per second, in chunks every 100 ms (each chunk awaited: acks=all). */
  const chunkSize = Math.max(1, Math.round(rate / 10));
  async function send(events: SessionEvent[]): Promise<void> {
    for (let i = 0; i < events.length && !stopping; i += chunkSize) {
      const chunk = events.slice(i, i + chunkSize);
      const tick = Date.now();
      await Promise.all(chunk.map((value) => producer.publish(TOPICS.visitorSessions.name, { key: websiteId, value })));
      sent += chunk.length;
      for (const e of chunk) {
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
      for (let i = 0; i < visitorCount; i += 1) plans.push(planVisitor(now - random() * days * DAY_MS, hashKey));
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
        const plan = planVisitor(arrival, hashKey);
        if (plans.length < 10) plans.push(plan); // for the summary
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
  // Only what was sent (acknowledged by Kafka; an interrupted run stops mid-way): each sample visitor's latest session.
  const sample = plans
    .map((p) => ({ plan: p, session: [...p.sessions].reverse().find((x) => sentSessions.has(x.sessionId)) }))
    .filter((x) => x.session !== undefined)
    .slice(0, 3);
  const withEmail = plans.find((p) => p.email && identifiedVisitors.has(p.visitorId));
  process.stdout.write('\nTry a test payment that names one of these (Stripe metadata metrivo_session_id / metrivo_visitor_id):\n');
  for (const { plan, session } of sample) process.stdout.write(`  session ${session!.sessionId}  visitor ${plan.visitorId}  (${plan.source})\n`);
  if (withEmail) process.stdout.write(`or pay with the email ${withEmail.email} (identified visitor ${withEmail.visitorId}) for a low-confidence match.\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`simulate failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
