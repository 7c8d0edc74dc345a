// The simulator's traffic model (`npm run simulate`, scripts/simulate.ts): seeded random visitors, their sessions
// and identify events as the Metrivo tracker sends them, and the ids the summary suggests for a test payment.
// Kept apart from the script so that it can be tested without a broker.
import type { SessionEvent, SessionRecord, Utm } from '@metrivo/contracts';
import { hashEmail } from '@metrivo/crypto';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

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

interface Source {
  name: string;
  referrer?: () => string;
  utm?: () => Utm;
  landingPages: readonly string[];
}

/** One tracker event of a visitor's plan, built when it is sent (`at`: its time, epoch ms). */
export interface Step {
  at: number;
  event: () => SessionEvent;
  label: string;
}

export interface VisitorPlan {
  visitorId: string;
  email: string | null;
  source: string;
  steps: Step[];
  /** Its sessions that are traffic sources (not checkout returns), for the summary. */
  sessions: Array<{ sessionId: string; start: number }>;
}

export interface TrafficModelOptions {
  websiteId: string;
  /** Live mode: sessions seconds apart (watching it happen); else hours and days apart (history). */
  live: boolean;
  seed: number;
  /** The tracker's email hash key (METRIVO_EMAIL_HASH_KEY). */
  hashKey: string;
}

export interface TrafficModel {
  /** One visitor's whole life, arriving at `arrival` (epoch ms): every tracker event with its time. */
  planVisitor(arrival: number): VisitorPlan;
  /** The model's seeded random numbers in [0, 1), for the caller's arrival times (one stream: one seed, one run). */
  random(): number;
}

export function createTrafficModel(options: TrafficModelOptions): TrafficModel {
  const { websiteId } = options;
  const random = createRandom(options.seed);
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

  /** Time scale of a visitor's life: hours and days in history mode, seconds when watching live. */
  const scale = options.live
    ? { sessionGap: [20_000, 120_000], duration: [5_000, 60_000] }
    : { sessionGap: [2 * HOUR_MS, 3 * DAY_MS], duration: [1 * MINUTE_MS, 25 * MINUTE_MS] };

  function planVisitor(arrival: number): VisitorPlan {
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
        steps.push({ at, label: 'identify', event: () => ({ schemaVersion: 1, type: 'identify', websiteId, visitorId, emailHash: hashEmail(email, options.hashKey), at: new Date(at).toISOString() }) });
      }
      last = { sessionId, start, duration };
      start += duration + between(scale.sessionGap[0]!, scale.sessionGap[1]!);
    }
    // Some visitors pay: they leave for Stripe Checkout and come back. That return is not a traffic source.
    if (last && random() < 0.15) {
      const at = last.start + last.duration + between(30_000, 180_000) * (options.live ? 0.1 : 1);
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

  return { planVisitor, random };
}

export interface PaymentSuggestion {
  sessions: Array<{ sessionId: string; visitorId: string; source: string }>;
  email: { email: string; visitorId: string } | null;
}

/**
 * What the summary suggests putting on a test payment: each sample visitor's latest session that Kafka acknowledged
 * (an interrupted run stops mid-way: a planned session that was never sent would give a payment with no match), at
 * most three, and a visitor whose identify event was acknowledged, for an email match.
 */
export function suggestTestPayment(
  plans: readonly VisitorPlan[],
  sent: { sessions: ReadonlySet<string>; identifiedVisitors: ReadonlySet<string> },
): PaymentSuggestion {
  const sessions: PaymentSuggestion['sessions'] = [];
  for (const plan of plans) {
    if (sessions.length === 3) break;
    const latest = [...plan.sessions].reverse().find((s) => sent.sessions.has(s.sessionId));
    if (latest) sessions.push({ sessionId: latest.sessionId, visitorId: plan.visitorId, source: plan.source });
  }
  const identified = plans.find((p) => p.email !== null && sent.identifiedVisitors.has(p.visitorId));
  return { sessions, email: identified ? { email: identified.email!, visitorId: identified.visitorId } : null };
}
