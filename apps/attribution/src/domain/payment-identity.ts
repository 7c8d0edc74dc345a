import type { PaymentKind, PaymentReport, PaymentState, Provider, RefundReport } from '@metrivo/contracts';
import type { AttributionBasis } from './attribution';
import { STRIPE_LINK_FIELDS, paymentKeyOf, subscriptionKeyOf, type StoredPaymentFact } from './payment-facts';
import { canonicalIso, compareIso, compareStrings, minString, sortedDistinct, stableStringify, toMs } from './util';

/**
 * Payment identity: which stored facts describe the same real-world money, and what that money is.
 * Everything here is a function of the SET of facts (never of their order or multiplicity), which is what
 * makes the published states order- and duplicate-independent.
 */

/** Facts that share a link key, transitively: one real-world payment. */
export interface PaymentCluster {
  provider: Provider;
  /** The key its PaymentState is published under (see survivorKey). */
  paymentKey: string;
  /** Every link key of its facts, sorted: the keys under which earlier, smaller clusters may have been published. */
  linkKeys: string[];
  /** Distinct facts, sorted by (occurredAt, factId). */
  facts: StoredPaymentFact[];
}

/** Same factId twice (redelivery): keep one, the same one whatever the order. */
export function distinctFacts(facts: Iterable<StoredPaymentFact>): StoredPaymentFact[] {
  const byId = new Map<string, StoredPaymentFact>();
  for (const fact of facts) {
    const existing = byId.get(fact.factId);
    if (existing === undefined || existing === fact) {
      byId.set(fact.factId, fact);
      continue;
    }
    // Redeliveries are identical; differing content under one id should not happen, but if it does the
    // choice must not depend on arrival order.
    const text = stableStringify(fact);
    const existingText = stableStringify(existing);
    if (text < existingText) byId.set(fact.factId, fact);
  }
  return [...byId.values()];
}

function byTimeThenId(a: StoredPaymentFact, b: StoredPaymentFact): number {
  return compareIso(a.event.occurredAt, b.event.occurredAt) || compareStrings(a.factId, b.factId);
}

/**
 * The key a cluster is published under: Stripe invoice id if the cluster has one (invoice payments),
 * else PaymentIntent id, else Checkout Session id (paid before a PI is known), else Charge id (legacy
 * charges), else the generic payment id; other providers: their payment id. Lowest id on ties. Because a
 * cluster only grows, its key can only move up this list, so a key that lost once never wins again.
 */
export function survivorKey(provider: Provider, facts: readonly StoredPaymentFact[]): string | null {
  const fields = provider === 'stripe' ? STRIPE_LINK_FIELDS : (['payment'] as const);
  for (const field of fields) {
    const id = minString(facts.map((f) => f.event.refs[field]));
    if (id !== null) return paymentKeyOf(provider, id);
  }
  return null;
}

/** Union-find over link keys. Facts without any link key cannot be placed and are returned apart. */
export function clusterPaymentFacts(facts: Iterable<StoredPaymentFact>): { clusters: PaymentCluster[]; unlinked: StoredPaymentFact[] } {
  const parent = new Map<string, string>();
  const find = (k: string): string => {
    let root = k;
    while (parent.get(root) !== root) root = parent.get(root) ?? root;
    // path compression
    let cur = k;
    while (cur !== root) {
      const next = parent.get(cur) ?? root;
      parent.set(cur, root);
      cur = next;
    }
    return root;
  };
  const union = (a: string, b: string): void => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent.set(ra < rb ? rb : ra, ra < rb ? ra : rb);
  };

  const all = distinctFacts(facts);
  const unlinked: StoredPaymentFact[] = [];
  for (const fact of all) {
    for (const k of fact.linkKeys) if (!parent.has(k)) parent.set(k, k);
    const [first, ...rest] = fact.linkKeys;
    if (first === undefined) continue;
    for (const k of rest) union(first, k);
  }

  const groups = new Map<string, StoredPaymentFact[]>();
  for (const fact of all) {
    const first = fact.linkKeys[0];
    if (first === undefined) {
      unlinked.push(fact);
      continue;
    }
    const root = find(first);
    const list = groups.get(root);
    if (list) list.push(fact);
    else groups.set(root, [fact]);
  }

  const clusters: PaymentCluster[] = [];
  for (const group of groups.values()) {
    group.sort(byTimeThenId);
    const provider = group[0]!.event.provider;
    const key = survivorKey(provider, group);
    if (key === null) continue; // only a trial-start key and no payment id: never revenue (its signals are read from the facts)
    clusters.push({ provider, paymentKey: key, linkKeys: sortedDistinct(group.flatMap((f) => f.linkKeys)), facts: group });
  }
  clusters.sort((a, b) => compareStrings(a.paymentKey, b.paymentKey));
  unlinked.sort(byTimeThenId);
  return { clusters, unlinked };
}

/** Money of a cluster once a paid, non-zero report exists. */
export interface PaymentMoney {
  currency: string;
  grossMinor: number;
  refundedMinor: number;
  paidAt: string;
  refundedAt: string | null;
}

/** Everything about a cluster that does not depend on other clusters or on tracker data. */
export interface PaymentFold {
  provider: Provider;
  paymentKey: string;
  linkKeys: string[];
  livemode: boolean;
  /** null: not revenue (yet): no paid report, or only zero amounts. Refunds are held until then. */
  money: PaymentMoney | null;
  /** The kind some report stated (initial > renewal > one_time when reports disagree); null when none did. */
  explicitKind: PaymentKind | null;
  subscriptionKey: string | null;
  refs: PaymentState['refs'];
  emailMasked: string | null;
  eventIds: string[];
  /** Attribution signals of the payment reports (refund reports never change attribution). */
  signals: Pick<AttributionBasis, 'sessionIds' | 'visitorIds' | 'emailHashes'>;
}

type PaymentFactOf<T> = StoredPaymentFact & { event: T };
const isPayment = (f: StoredPaymentFact): f is PaymentFactOf<PaymentReport> => f.event.type === 'payment';
const isRefund = (f: StoredPaymentFact): f is PaymentFactOf<RefundReport> => f.event.type === 'refund';

const KIND_PRIORITY: readonly PaymentKind[] = ['subscription_initial', 'subscription_renewal', 'one_time'];

/**
 * Later status of the same refund wins; at the same instant a terminal status beats pending, and a
 * failure beats success (a succeeded refund can still fail later, never the reverse).
 */
const REFUND_STATUS_ORDER: Record<RefundReport['status'], number> = { pending: 0, succeeded: 1, canceled: 2, failed: 3 };

function chooseCurrency(paid: readonly PaymentFactOf<PaymentReport>[]): string | null {
  // All reports of one payment carry one currency. Should they ever disagree, the currency most reports
  // used wins (lowest code on ties); amounts in other currencies are ignored, never added.
  const counts = new Map<string, number>();
  for (const f of paid) counts.set(f.event.currency, (counts.get(f.event.currency) ?? 0) + 1);
  let best: string | null = null;
  for (const [c, n] of counts) {
    const bn = best === null ? -1 : counts.get(best)!;
    if (n > bn || (n === bn && best !== null && c < best)) best = c;
  }
  return best;
}

function refundTotals(refunds: readonly PaymentFactOf<RefundReport>[], currency: string): { refunded: number; refundedAt: string | null } {
  const inCurrency = refunds.filter((f) => f.event.currency === currency);

  // One refund per refundId: its latest status decides whether it counts.
  const latestById = new Map<string, PaymentFactOf<RefundReport>>();
  for (const f of inCurrency) {
    const id = f.event.refundId;
    if (id === null || f.event.amountMinor === null) continue;
    const cur = latestById.get(id);
    if (
      !cur ||
      compareIso(f.event.occurredAt, cur.event.occurredAt) > 0 ||
      (compareIso(f.event.occurredAt, cur.event.occurredAt) === 0 &&
        (REFUND_STATUS_ORDER[f.event.status] > REFUND_STATUS_ORDER[cur.event.status] ||
          (REFUND_STATUS_ORDER[f.event.status] === REFUND_STATUS_ORDER[cur.event.status] && f.factId < cur.factId)))
    ) {
      latestById.set(id, f);
    }
  }
  let distinctSum = 0;
  const counted: string[] = [];
  for (const f of latestById.values()) {
    if (f.event.status !== 'succeeded') continue;
    distinctSum += f.event.amountMinor ?? 0;
    counted.push(f.event.occurredAt);
  }

  // Running totals: max per charge (or per payment when the provider reports per payment), summed across
  // the charges of the payment. Never a sum of running totals of the same charge.
  const maxByScope = new Map<string, number>();
  for (const f of inCurrency) {
    const c = f.event.cumulativeRefundedMinor;
    if (c === null || f.event.status !== 'succeeded') continue;
    const r = f.event.refs;
    const scope = r.charge ?? r.paymentIntent ?? r.payment ?? r.invoice ?? r.order ?? '';
    maxByScope.set(scope, Math.max(maxByScope.get(scope) ?? 0, c));
    if (c > 0) counted.push(f.event.occurredAt);
  }
  let cumulativeSum = 0;
  for (const v of maxByScope.values()) cumulativeSum += v;

  const refunded = Math.max(distinctSum, cumulativeSum);
  if (refunded === 0 || counted.length === 0) return { refunded, refundedAt: null };
  const latest = counted.reduce((a, b) => (toMs(b) > toMs(a) ? b : a));
  return { refunded, refundedAt: canonicalIso(latest) };
}

export function foldPaymentCluster(cluster: PaymentCluster): PaymentFold {
  const { facts, provider } = cluster;
  const payments = facts.filter(isPayment);
  const refunds = facts.filter(isRefund);
  const paid = payments.filter((f) => f.event.paid && f.event.amountMinor > 0);

  let money: PaymentMoney | null = null;
  const currency = chooseCurrency(paid);
  if (currency !== null) {
    const paidInCurrency = paid.filter((f) => f.event.currency === currency);
    // The same money is reported several times (session, PI, charge, invoice): take the largest report, never a sum.
    const gross = Math.max(...paidInCurrency.map((f) => f.event.amountMinor));
    const paidAtMs = Math.min(...paidInCurrency.map((f) => toMs(f.event.occurredAt)));
    const { refunded, refundedAt } = refundTotals(refunds, currency);
    money = {
      currency,
      grossMinor: gross,
      refundedMinor: Math.min(refunded, gross),
      paidAt: new Date(paidAtMs).toISOString(),
      refundedAt: refunded > 0 ? refundedAt : null,
    };
  }

  const statedKinds = new Set(payments.map((f) => f.event.kind).filter((k): k is PaymentKind => k !== null));
  const explicitKind = KIND_PRIORITY.find((k) => statedKinds.has(k)) ?? null;
  const ref = (field: 'paymentIntent' | 'invoice' | 'checkoutSession' | 'subscription'): string | null =>
    minString(facts.map((f) => f.event.refs[field]));

  const withPaymentsFirst = [...payments, ...refunds];
  return {
    provider,
    paymentKey: cluster.paymentKey,
    linkKeys: cluster.linkKeys,
    // Livemode is per provider account and never mixed within one payment; a test report taints it.
    livemode: (paid.length > 0 ? paid : facts).every((f) => f.event.livemode),
    money,
    explicitKind,
    subscriptionKey: subscriptionKeyOf(provider, ref('subscription')),
    refs: {
      paymentIntent: ref('paymentIntent'),
      invoice: ref('invoice'),
      checkoutSession: ref('checkoutSession'),
      charges: sortedDistinct(facts.map((f) => f.event.refs.charge).filter((c): c is string => c !== null)),
      subscription: ref('subscription'),
    },
    emailMasked: withPaymentsFirst.map((f) => f.event.signals.emailMasked).find((m) => m !== null) ?? null,
    eventIds: sortedDistinct(facts.map((f) => f.event.source.eventId)),
    signals: {
      sessionIds: sortedDistinct(payments.map((f) => f.event.signals.sessionId).filter((v): v is string => v !== null)),
      visitorIds: sortedDistinct(payments.map((f) => f.event.signals.visitorId).filter((v): v is string => v !== null)),
      emailHashes: sortedDistinct(payments.map((f) => f.event.signals.emailHash).filter((v): v is string => v !== null)),
    },
  };
}
