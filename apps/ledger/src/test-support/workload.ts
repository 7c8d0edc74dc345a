import { confidences, paymentStateSchema, type Confidence, type PaymentState } from '@metrivo/contracts';
import { highSession, mediumVisitor, nextRevision, paymentState, unattributed } from '../test-states';

/**
 * Generated payment histories for the ledger's integration tests and benchmark: deterministic for a seed, every
 * state valid per the PaymentState contract. Each payment is its list of revisions, oldest first.
 */

const lowEmail: PaymentState['attribution'] = { confidence: 'low', matchedBy: 'email', visitorId: 'v_email', sessionId: null, source: null };
const attributions = [unattributed, lowEmail, mediumVisitor, highSession] as const;

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed with the same seed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface WorkloadOptions {
  websiteId: string;
  payments: number;
  seed?: number;
  /** First paidAt; payments follow one every `spacingMinutes`. */
  start?: Date;
  spacingMinutes?: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * Histories with partial and full refunds (each at its own money time), attribution upgrades (also after a
 * refund), a merge of a duplicate key into the one that carries the money, test mode and three currencies.
 */
export function paymentHistories(options: WorkloadOptions): PaymentState[][] {
  const rnd = random(options.seed ?? 1);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
  const start = (options.start ?? new Date('2026-11-20T08:00:00.000Z')).getTime();
  const spacing = (options.spacingMinutes ?? 97) * 60_000;
  const histories: PaymentState[][] = [];
  for (let i = 0; i < options.payments; i += 1) {
    const paidAt = start + i * spacing;
    const currency = i % 7 === 3 ? 'usd' : i % 11 === 5 ? 'jpy' : 'eur';
    const grossMinor = currency === 'jpy' ? 500 + Math.floor(rnd() * 20) * 100 : 900 + Math.floor(rnd() * 90) * 100;
    const first = paymentState({
      websiteId: options.websiteId,
      paymentKey: `stripe:pi_${options.seed ?? 1}_${i}`,
      livemode: i % 9 !== 4,
      currency,
      grossMinor,
      attribution: pick(attributions),
      paidAt: iso(paidAt),
      updatedAt: iso(paidAt + 60_000),
      refs: { paymentIntent: `pi_${i}`, invoice: null, checkoutSession: `cs_${i}`, charges: [`ch_${i}`], subscription: null },
      eventIds: [`evt_${i}_1`],
    });
    const revisions: PaymentState[] = [first];
    let current = first;
    let at = paidAt + 3_600_000;
    const steps = Math.floor(rnd() * 4); // 0–3 changes after the first revision
    for (let s = 0; s < steps; s += 1) {
      at += Math.floor(1 + rnd() * 30) * 3_600_000;
      const kind = rnd();
      const eventIds = [...current.eventIds, `evt_${i}_${s + 2}`];
      if (kind < 0.45 && current.refundedMinor < current.grossMinor) {
        const left = current.grossMinor - current.refundedMinor;
        const refund = rnd() < 0.4 ? left : Math.max(1, Math.floor((left * (0.1 + rnd() * 0.5)) / 100) * 100);
        current = nextRevision(current, { refundedMinor: current.refundedMinor + refund, refundedAt: iso(at), updatedAt: iso(at), eventIds });
      } else {
        const better = attributions.filter((a) => confidences.indexOf(a.confidence) < confidences.indexOf(current.attribution.confidence));
        if (better.length === 0) continue;
        current = nextRevision(current, { attribution: pick(better), updatedAt: iso(at), eventIds });
      }
      revisions.push(current);
    }
    histories.push(revisions);
  }
  // Every fifth payment has a duplicate key that turns out to be the same money: first counted, then merged.
  for (let i = 0; i + 1 < options.payments; i += 5) {
    const target = histories[i]![0]!;
    const dup = paymentState({
      ...target,
      paymentKey: `stripe:ch_${options.seed ?? 1}_${i}_dup`,
      refs: { ...target.refs, paymentIntent: null },
      eventIds: [`evt_${i}_dup`],
      updatedAt: target.updatedAt,
    });
    const merged = nextRevision(dup, { status: 'merged', mergedInto: target.paymentKey, updatedAt: iso(Date.parse(target.updatedAt) + 120_000) });
    histories.push([dup, merged]);
  }
  for (const h of histories) for (const s of h) paymentStateSchema.parse(s);
  return histories;
}

export function latestOf(histories: readonly PaymentState[][]): PaymentState[] {
  return histories.map((h) => h[h.length - 1]!);
}

export interface ExpectedSummary {
  currencies: Record<string, { grossMinor: number; refundedMinor: number; netMinor: number; payments: number }>;
  byConfidence: Record<Confidence, Record<string, number>>;
}

/**
 * What the summary must say for the final states of one website in one mode, over all time: computed straight
 * from the states (no entries), so that it checks the ledger's bookkeeping rather than repeating it.
 */
export function expectedSummary(latest: readonly PaymentState[], livemode: boolean): ExpectedSummary {
  const currencies: ExpectedSummary['currencies'] = {};
  const counted = latest.filter((s) => s.livemode === livemode && s.status !== 'merged');
  for (const s of counted) {
    const c = (currencies[s.currency] ??= { grossMinor: 0, refundedMinor: 0, netMinor: 0, payments: 0 });
    c.grossMinor += s.grossMinor;
    c.refundedMinor += s.refundedMinor;
    c.netMinor += s.netMinor;
    if (s.grossMinor > 0) c.payments += 1;
  }
  const codes = Object.keys(currencies).sort();
  const byConfidence = Object.fromEntries(confidences.map((k) => [k, Object.fromEntries(codes.map((c) => [c, 0]))])) as ExpectedSummary['byConfidence'];
  for (const s of counted) byConfidence[s.attribution.confidence][s.currency]! += s.netMinor;
  const sorted: ExpectedSummary['currencies'] = {};
  for (const c of codes) sorted[c] = currencies[c]!;
  return { currencies: sorted, byConfidence };
}

/** The same histories for another website (same keys, amounts, times and attributions). */
export function forWebsite(histories: readonly PaymentState[][], websiteId: string): PaymentState[][] {
  return histories.map((h) => h.map((s) => ({ ...s, websiteId })));
}

/** Revisions of each key in a random order (keys interleaved randomly too): what a misbehaving producer could send. */
export function shuffledPerKey(histories: readonly PaymentState[][], seed: number): PaymentState[] {
  const rnd = random(seed);
  const queues = histories.map((h) => {
    const q = [...h];
    for (let i = q.length - 1; i > 0; i -= 1) {
      const j = Math.floor(rnd() * (i + 1));
      [q[i], q[j]] = [q[j]!, q[i]!];
    }
    return q;
  });
  const out: PaymentState[] = [];
  while (queues.some((q) => q.length > 0)) {
    const open = queues.filter((q) => q.length > 0);
    out.push(open[Math.floor(rnd() * open.length)]!.shift()!);
  }
  return out;
}

/** Revisions in publication order: each key's revisions in order, keys interleaved by time of change. */
export function inOrder(histories: readonly PaymentState[][]): PaymentState[] {
  return histories.flat().sort((a, b) => a.updatedAt.localeCompare(b.updatedAt) || a.revision - b.revision);
}
