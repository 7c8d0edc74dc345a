import Stripe from 'stripe';
import chargeTemplate from './stripe-openapi/charge.json';
import checkoutSessionTemplate from './stripe-openapi/checkout.session.json';
import eventTemplate from './stripe-openapi/event.json';
import invoicePaymentTemplate from './stripe-openapi/invoice_payment.json';
import invoiceTemplate from './stripe-openapi/invoice.json';
import paymentIntentTemplate from './stripe-openapi/payment_intent.json';
import refundTemplate from './stripe-openapi/refund.json';
import { prefixedId, unixNow } from './ids';

/**
 * Realistic Stripe webhook events for tests and the benchmark. Objects start from Stripe's own OpenAPI
 * fixtures (./stripe-openapi, MIT) and are patched into terminal states (paid session, succeeded
 * PaymentIntent, captured charge, paid invoice), then rendered in the shape of the requested API version:
 * - before 2022-11-15: PaymentIntent.charges list instead of latest_charge; Charge.refunds list embedded;
 * - before 2025-03-31.basil: Invoice.subscription / payment_intent / charge / paid / subscription_details,
 *   PaymentIntent.invoice, Charge.invoice; no Invoice.parent;
 * - basil and later: Invoice.parent.subscription_details; no invoice on PaymentIntent / Charge.
 * All builders return plain JSON objects (what the webhook body parses to).
 */

export type StripeJson = Record<string, any>;

export const STRIPE_API_VERSIONS = ['2020-08-27', '2022-11-15', '2024-06-20', '2025-03-31.basil', '2026-10-28.endive'] as const;
export type StripeApiVersion = (typeof STRIPE_API_VERSIONS)[number];

const versionDate = (apiVersion: string): string => apiVersion.slice(0, 10);
/** Basil (2025-03-31) moved invoice ↔ payment links to InvoicePayment and subscription to Invoice.parent. */
export const isBasilOrLater = (apiVersion: string): boolean => versionDate(apiVersion) >= '2025-03-31';
/** 2022-11-15 removed PaymentIntent.charges and the embedded Charge.refunds. */
export const hasLegacyChargeLists = (apiVersion: string): boolean => versionDate(apiVersion) < '2022-11-15';

function clone<T>(template: T): StripeJson {
  return structuredClone(template) as unknown as StripeJson;
}

const list = (url: string, data: StripeJson[]): StripeJson => ({ object: 'list', data, has_more: false, total_count: data.length, url });

/** Dates as unix seconds; ids default to fresh random ones. */
interface ObjectBase {
  apiVersion: string;
  livemode?: boolean;
  created?: number;
}

// ---------------------------------------------------------------------------------------------- objects

export interface CheckoutSessionOptions extends ObjectBase {
  id?: string;
  mode?: 'payment' | 'subscription' | 'setup';
  paymentStatus?: 'paid' | 'unpaid' | 'no_payment_required';
  amountTotal?: number;
  currency?: string;
  metadata?: Record<string, string>;
  clientReferenceId?: string | null;
  email?: string | null;
  /** Payment mode: the PaymentIntent id (default: a fresh one); subscription mode: always null. */
  paymentIntent?: string | StripeJson | null;
  subscription?: string | StripeJson | null;
  invoice?: string | StripeJson | null;
  customer?: string | null;
}

export function checkoutSessionObject(o: CheckoutSessionOptions): StripeJson {
  const s = clone(checkoutSessionTemplate);
  const livemode = o.livemode ?? false;
  const mode = o.mode ?? 'payment';
  const amount = o.amountTotal ?? 4900;
  s.id = o.id ?? prefixedId(livemode ? 'cs_live' : 'cs_test', 58);
  s.livemode = livemode;
  s.created = o.created ?? unixNow() - 120;
  s.expires_at = s.created + 86400;
  s.mode = mode;
  s.status = 'complete';
  s.url = null;
  s.payment_status = o.paymentStatus ?? 'paid';
  s.amount_subtotal = amount;
  s.amount_total = amount;
  s.currency = o.currency ?? 'eur';
  s.metadata = o.metadata ?? {};
  s.client_reference_id = o.clientReferenceId ?? null;
  s.customer = o.customer ?? (mode === 'subscription' ? prefixedId('cus', 14) : null);
  s.customer_details = { ...s.customer_details, email: o.email ?? null, name: o.email ? 'Jenny Rosen' : null };
  s.customer_email = null;
  s.payment_intent = mode === 'payment' ? (o.paymentIntent === undefined ? prefixedId('pi') : o.paymentIntent) : null;
  s.subscription = mode === 'subscription' ? (o.subscription === undefined ? prefixedId('sub') : o.subscription) : null;
  s.invoice = o.invoice === undefined ? (mode === 'subscription' ? prefixedId('in') : null) : o.invoice;
  s.shipping_cost = null;
  s.total_details = { amount_discount: 0, amount_shipping: 0, amount_tax: 0 };
  s.currency_conversion = null;
  s.shipping_address_collection = null;
  s.collected_information = null;
  if (mode === 'subscription') s.invoice_creation = null;
  if (mode === 'setup') {
    s.payment_intent = null;
    s.amount_total = null;
    s.amount_subtotal = null;
    s.currency = null;
    s.payment_status = 'no_payment_required';
    s.setup_intent = prefixedId('seti');
  }
  return s;
}

export interface ChargeOptions extends ObjectBase {
  id?: string;
  amount?: number;
  amountRefunded?: number;
  currency?: string;
  paymentIntent?: string | StripeJson | null;
  /** Rendered only before basil. */
  invoice?: string | null;
  customer?: string | null;
  metadata?: Record<string, string>;
  billingEmail?: string | null;
  receiptEmail?: string | null;
  captured?: boolean;
  /** Embedded only before 2022-11-15 (Charge.refunds list). */
  refunds?: StripeJson[];
}

export function chargeObject(o: ChargeOptions): StripeJson {
  const c = clone(chargeTemplate);
  const amount = o.amount ?? 4900;
  const refunded = o.amountRefunded ?? 0;
  const captured = o.captured ?? true;
  c.id = o.id ?? prefixedId('ch');
  c.livemode = o.livemode ?? false;
  c.created = o.created ?? unixNow() - 60;
  c.amount = amount;
  c.amount_captured = captured ? amount : 0;
  c.amount_refunded = refunded;
  c.captured = captured;
  c.paid = true;
  c.status = 'succeeded';
  c.refunded = refunded > 0 && refunded === amount;
  c.currency = o.currency ?? 'eur';
  c.payment_intent = o.paymentIntent ?? null;
  c.customer = o.customer ?? null;
  c.metadata = o.metadata ?? {};
  c.billing_details = { ...c.billing_details, email: o.billingEmail ?? null };
  c.receipt_email = o.receiptEmail ?? null;
  c.description = null;
  c.source = null;
  c.transfer_data = null;
  c.outcome = { ...c.outcome, network_status: 'approved_by_network', reason: null, risk_level: 'normal', seller_message: 'Payment complete.', type: 'authorized' };
  if (isBasilOrLater(o.apiVersion)) delete c.invoice;
  else c.invoice = o.invoice ?? null;
  if (hasLegacyChargeLists(o.apiVersion)) c.refunds = list(`/v1/charges/${c.id}/refunds`, o.refunds ?? []);
  else delete c.refunds;
  return c;
}

export interface PaymentIntentOptions extends ObjectBase {
  id?: string;
  amount?: number;
  currency?: string;
  metadata?: Record<string, string>;
  receiptEmail?: string | null;
  customer?: string | null;
  /** The succeeded charge: an id or a full charge object (needed for the pre-2022-11-15 `charges` list). */
  latestCharge?: string | StripeJson | null;
  /** Rendered only before basil. */
  invoice?: string | StripeJson | null;
}

export function paymentIntentObject(o: PaymentIntentOptions): StripeJson {
  const pi = clone(paymentIntentTemplate);
  const amount = o.amount ?? 4900;
  pi.id = o.id ?? prefixedId('pi');
  pi.livemode = o.livemode ?? false;
  pi.created = o.created ?? unixNow() - 90;
  pi.client_secret = `${pi.id}_secret_${prefixedId('x', 25).slice(2)}`;
  pi.amount = amount;
  pi.amount_received = amount;
  pi.amount_capturable = 0;
  pi.currency = o.currency ?? 'eur';
  pi.status = 'succeeded';
  pi.canceled_at = null;
  pi.last_payment_error = null;
  pi.next_action = null;
  pi.processing = null;
  pi.transfer_data = null;
  pi.metadata = o.metadata ?? {};
  pi.receipt_email = o.receiptEmail ?? null;
  pi.customer = o.customer ?? null;
  pi.payment_method = prefixedId('pm');
  const latest = o.latestCharge === undefined ? prefixedId('ch') : o.latestCharge;
  if (hasLegacyChargeLists(o.apiVersion)) {
    delete pi.latest_charge;
    const chargeData =
      latest === null
        ? []
        : [typeof latest === 'string' ? chargeObject({ apiVersion: o.apiVersion, id: latest, amount, currency: pi.currency, paymentIntent: pi.id, livemode: pi.livemode }) : latest];
    pi.charges = list(`/v1/charges?payment_intent=${pi.id}`, chargeData);
  } else {
    pi.latest_charge = latest;
  }
  if (!isBasilOrLater(o.apiVersion)) pi.invoice = o.invoice ?? null;
  return pi;
}

export interface RefundOptions extends ObjectBase {
  id?: string;
  amount?: number;
  currency?: string;
  charge?: string | null;
  paymentIntent?: string | null;
  status?: 'succeeded' | 'pending' | 'requires_action' | 'failed' | 'canceled';
  metadata?: Record<string, string>;
}

export function refundObject(o: RefundOptions): StripeJson {
  const r = clone(refundTemplate);
  r.id = o.id ?? prefixedId('re');
  r.created = o.created ?? unixNow() - 30;
  r.amount = o.amount ?? 1000;
  r.currency = o.currency ?? 'eur';
  r.charge = o.charge ?? null;
  r.payment_intent = o.paymentIntent ?? null;
  r.status = o.status ?? 'succeeded';
  r.metadata = o.metadata ?? {};
  r.balance_transaction = r.status === 'succeeded' ? prefixedId('txn') : null;
  return r;
}

export interface InvoiceOptions extends ObjectBase {
  id?: string;
  amountPaid?: number;
  currency?: string;
  billingReason?: string;
  subscription?: string | StripeJson | null;
  /** Metadata snapshot of the subscription (Checkout's subscription_data.metadata). */
  subscriptionMetadata?: Record<string, string> | null;
  metadata?: Record<string, string>;
  customer?: string | null;
  customerEmail?: string | null;
  /** Rendered only before basil. */
  paymentIntent?: string | StripeJson | null;
  /** Rendered only before basil. */
  charge?: string | null;
  paidAt?: number;
}

export function invoiceObject(o: InvoiceOptions): StripeJson {
  const inv = clone(invoiceTemplate);
  const amount = o.amountPaid ?? 4900;
  const currency = o.currency ?? 'eur';
  const subscription = o.subscription === undefined ? prefixedId('sub') : o.subscription;
  const paidAt = o.paidAt ?? unixNow() - 60;
  inv.id = o.id ?? prefixedId('in');
  inv.livemode = o.livemode ?? false;
  inv.created = o.created ?? paidAt - 5;
  inv.number = `${inv.id.slice(3, 11).toUpperCase()}-0001`;
  inv.status = 'paid';
  inv.amount_due = amount;
  inv.amount_paid = amount;
  inv.amount_remaining = 0;
  inv.amount_overpaid = 0;
  inv.subtotal = amount;
  inv.subtotal_excluding_tax = amount;
  inv.total = amount;
  inv.total_excluding_tax = amount;
  inv.currency = currency;
  inv.attempted = true;
  inv.attempt_count = amount > 0 ? 1 : 0;
  inv.auto_advance = false;
  inv.billing_reason = o.billingReason ?? 'subscription_create';
  inv.customer = o.customer ?? prefixedId('cus', 14);
  inv.customer_email = o.customerEmail ?? null;
  inv.metadata = o.metadata ?? {};
  inv.due_date = null;
  inv.next_payment_attempt = null;
  inv.from_invoice = null;
  inv.last_finalization_error = null;
  inv.shipping_cost = null;
  inv.shipping_details = null;
  inv.status_transitions = { finalized_at: paidAt - 2, marked_uncollectible_at: null, paid_at: paidAt, voided_at: null };
  inv.effective_at = paidAt - 2;
  inv.period_start = paidAt - 2;
  inv.period_end = paidAt - 2;
  inv.webhooks_delivered_at = paidAt;
  const line = inv.lines.data[0];
  line.id = prefixedId('il');
  line.invoice = inv.id;
  line.amount = amount;
  line.subtotal = amount;
  line.currency = currency;
  line.livemode = inv.livemode;
  line.description = '1 × Pro plan (at €49.00 / month)';
  inv.lines.url = `/v1/invoices/${inv.id}/lines`;

  const subscriptionId = typeof subscription === 'string' || subscription === null ? subscription : subscription.id;
  const subscriptionMetadata = o.subscriptionMetadata === undefined ? {} : o.subscriptionMetadata;
  if (isBasilOrLater(o.apiVersion)) {
    for (const removed of ['subscription', 'subscription_details', 'payment_intent', 'charge', 'paid']) delete inv[removed];
    inv.parent = subscription === null
      ? null
      : { type: 'subscription_details', quote_details: null, subscription_details: { metadata: subscriptionMetadata, subscription } };
    line.parent = subscriptionId === null
      ? line.parent
      : { type: 'subscription_item_details', invoice_item_details: null, subscription_item_details: { invoice_item: null, proration: false, proration_details: { credited_items: null }, subscription: subscriptionId, subscription_item: prefixedId('si', 14) } };
  } else {
    delete inv.parent;
    delete inv.amount_overpaid;
    inv.subscription = subscription;
    inv.subscription_details = subscription === null ? null : { metadata: subscriptionMetadata };
    inv.payment_intent = o.paymentIntent ?? null;
    inv.charge = o.charge ?? null;
    inv.paid = true;
    line.subscription = subscriptionId;
    delete line.parent;
  }
  return inv;
}

export interface InvoicePaymentOptions extends ObjectBase {
  id?: string;
  invoice: string | StripeJson;
  amountPaid?: number;
  currency?: string;
  paymentIntent?: string | StripeJson | null;
  charge?: string | null;
  paidAt?: number;
}

export function invoicePaymentObject(o: InvoicePaymentOptions): StripeJson {
  const ip = clone(invoicePaymentTemplate);
  const amount = o.amountPaid ?? 4900;
  const paidAt = o.paidAt ?? unixNow() - 60;
  ip.id = o.id ?? prefixedId('inpay');
  ip.livemode = o.livemode ?? false;
  ip.created = o.created ?? paidAt - 3;
  ip.invoice = o.invoice;
  ip.amount_paid = amount;
  ip.amount_requested = amount;
  ip.currency = o.currency ?? 'eur';
  ip.status = 'paid';
  ip.status_transitions = { canceled_at: null, paid_at: paidAt };
  ip.payment = o.charge
    ? { type: 'charge', charge: o.charge }
    : { type: 'payment_intent', payment_intent: o.paymentIntent === undefined ? prefixedId('pi') : o.paymentIntent };
  return ip;
}

// ----------------------------------------------------------------------------------------------- events

export interface EventOptions {
  apiVersion: string;
  type: string;
  object: StripeJson;
  id?: string;
  created?: number;
  livemode?: boolean;
}

/** Wrap an object in a snapshot Event envelope rendered at `apiVersion`. */
export function stripeEvent(o: EventOptions): StripeJson {
  const e = clone(eventTemplate);
  e.id = o.id ?? prefixedId('evt');
  e.api_version = o.apiVersion;
  e.created = o.created ?? unixNow();
  e.livemode = o.livemode ?? (typeof o.object.livemode === 'boolean' ? o.object.livemode : false);
  e.type = o.type;
  e.data = { object: o.object };
  e.pending_webhooks = 1;
  e.request = { id: null, idempotency_key: null };
  return e;
}

type EventMeta = Partial<Pick<EventOptions, 'id' | 'created'>>;

export const checkoutCompleted = (o: CheckoutSessionOptions & { event?: EventMeta }): StripeJson =>
  stripeEvent({ apiVersion: o.apiVersion, type: 'checkout.session.completed', object: checkoutSessionObject(o), ...o.event });

export const checkoutAsyncPaymentSucceeded = (o: CheckoutSessionOptions & { event?: EventMeta }): StripeJson =>
  stripeEvent({ apiVersion: o.apiVersion, type: 'checkout.session.async_payment_succeeded', object: checkoutSessionObject({ ...o, paymentStatus: 'paid' }), ...o.event });

export const paymentIntentSucceeded = (o: PaymentIntentOptions & { event?: EventMeta }): StripeJson =>
  stripeEvent({ apiVersion: o.apiVersion, type: 'payment_intent.succeeded', object: paymentIntentObject(o), ...o.event });

export const chargeSucceeded = (o: ChargeOptions & { event?: EventMeta }): StripeJson =>
  stripeEvent({ apiVersion: o.apiVersion, type: 'charge.succeeded', object: chargeObject(o), ...o.event });

/** charge.refunded: pass amountRefunded (cumulative) and, for pre-2022-11-15 versions, the embedded refunds. */
export const chargeRefunded = (o: ChargeOptions & { event?: EventMeta }): StripeJson =>
  stripeEvent({ apiVersion: o.apiVersion, type: 'charge.refunded', object: chargeObject(o), ...o.event });

export const refundEvent = (
  type: 'refund.created' | 'refund.updated' | 'charge.refund.updated',
  o: RefundOptions & { event?: EventMeta },
): StripeJson => stripeEvent({ apiVersion: o.apiVersion, type, object: refundObject(o), livemode: o.livemode ?? false, ...o.event });

export const invoicePaid = (
  o: InvoiceOptions & { event?: EventMeta; type?: 'invoice.paid' | 'invoice.payment_succeeded' },
): StripeJson => stripeEvent({ apiVersion: o.apiVersion, type: o.type ?? 'invoice.paid', object: invoiceObject(o), ...o.event });

export const invoicePaymentPaid = (o: InvoicePaymentOptions & { event?: EventMeta }): StripeJson =>
  stripeEvent({ apiVersion: o.apiVersion, type: 'invoice_payment.paid', object: invoicePaymentObject(o), ...o.event });

// -------------------------------------------------------------------------------------------- scenarios

export interface ScenarioOptions {
  apiVersion: string;
  livemode?: boolean;
  amount?: number;
  currency?: string;
  email?: string | null;
  /** Where the merchant put Metrivo's ids. */
  sessionMetadata?: Record<string, string>;
  paymentIntentMetadata?: Record<string, string>;
  subscriptionMetadata?: Record<string, string>;
  clientReferenceId?: string | null;
  /** Unix seconds of the payment; events follow within seconds. */
  at?: number;
}

export interface StripeScenario {
  ids: { checkoutSession: string | null; paymentIntent: string; charge: string; invoice: string | null; subscription: string | null; customer: string | null };
  /** In the order Stripe typically sends them (delivery order is not guaranteed). */
  events: StripeJson[];
}

/** Checkout in payment mode: session.completed + payment_intent.succeeded + charge.succeeded. */
export function oneTimeCheckoutScenario(o: ScenarioOptions): StripeScenario {
  const at = o.at ?? unixNow();
  const base = { apiVersion: o.apiVersion, livemode: o.livemode ?? false, currency: o.currency ?? 'eur' };
  const amount = o.amount ?? 4900;
  const pi = prefixedId('pi');
  const ch = prefixedId('ch');
  const piMetadata = o.paymentIntentMetadata ?? {};
  const session = checkoutCompleted({
    ...base, mode: 'payment', amountTotal: amount, paymentIntent: pi, email: o.email ?? null,
    metadata: o.sessionMetadata ?? {}, clientReferenceId: o.clientReferenceId ?? null, created: at - 300, event: { created: at + 1 },
  });
  const charge = chargeSucceeded({ ...base, id: ch, amount, paymentIntent: pi, metadata: piMetadata, billingEmail: o.email ?? null, created: at, event: { created: at } });
  const intent = paymentIntentSucceeded({
    ...base, id: pi, amount, metadata: piMetadata, latestCharge: hasLegacyChargeLists(o.apiVersion) ? charge.data.object : ch, created: at - 5, event: { created: at },
  });
  return {
    ids: { checkoutSession: session.data.object.id, paymentIntent: pi, charge: ch, invoice: null, subscription: null, customer: null },
    events: [charge, intent, session],
  };
}

/**
 * Checkout in subscription mode, first period: session.completed (subscription + invoice, no PaymentIntent)
 * + invoice.paid (subscription_create) + invoice_payment.paid (basil+) + payment_intent.succeeded + charge.succeeded.
 * Before basil the invoice, PaymentIntent and charge name each other; from basil only invoice_payment.paid links them.
 */
export function subscriptionCheckoutScenario(o: ScenarioOptions): StripeScenario {
  return subscriptionPayment(o, 'subscription_create');
}

/** A later period: invoice.paid (subscription_cycle) + invoice_payment.paid (basil+) + PI + charge. No session. */
export function subscriptionRenewalScenario(o: ScenarioOptions & { subscription: string; customer: string }): StripeScenario {
  return subscriptionPayment(o, 'subscription_cycle');
}

function subscriptionPayment(
  o: ScenarioOptions & { subscription?: string; customer?: string },
  billingReason: 'subscription_create' | 'subscription_cycle',
): StripeScenario {
  const at = o.at ?? unixNow();
  const base = { apiVersion: o.apiVersion, livemode: o.livemode ?? false, currency: o.currency ?? 'eur' };
  const amount = o.amount ?? 4900;
  const basil = isBasilOrLater(o.apiVersion);
  const ids = {
    checkoutSession: null as string | null,
    paymentIntent: prefixedId('pi'),
    charge: prefixedId('ch'),
    invoice: prefixedId('in'),
    subscription: o.subscription ?? prefixedId('sub'),
    customer: o.customer ?? prefixedId('cus', 14),
  };
  const events: StripeJson[] = [];
  const charge = chargeSucceeded({
    ...base, id: ids.charge, amount, paymentIntent: ids.paymentIntent, invoice: ids.invoice, customer: ids.customer,
    metadata: o.paymentIntentMetadata ?? {}, billingEmail: o.email ?? null, created: at, event: { created: at },
  });
  events.push(charge);
  events.push(paymentIntentSucceeded({
    ...base, id: ids.paymentIntent, amount, invoice: ids.invoice, customer: ids.customer, metadata: o.paymentIntentMetadata ?? {},
    latestCharge: hasLegacyChargeLists(o.apiVersion) ? charge.data.object : ids.charge, created: at - 5, event: { created: at },
  }));
  events.push(invoicePaid({
    ...base, id: ids.invoice, amountPaid: amount, billingReason, subscription: ids.subscription, customer: ids.customer,
    customerEmail: o.email ?? null, subscriptionMetadata: o.subscriptionMetadata ?? {}, paymentIntent: ids.paymentIntent,
    charge: ids.charge, paidAt: at, event: { created: at + 1 },
  }));
  if (basil) {
    events.push(invoicePaymentPaid({ ...base, invoice: ids.invoice, amountPaid: amount, paymentIntent: ids.paymentIntent, paidAt: at, event: { created: at + 1 } }));
  }
  if (billingReason === 'subscription_create') {
    const session = checkoutCompleted({
      ...base, mode: 'subscription', amountTotal: amount, subscription: ids.subscription, invoice: ids.invoice, customer: ids.customer,
      email: o.email ?? null, metadata: o.sessionMetadata ?? {}, clientReferenceId: o.clientReferenceId ?? null,
      created: at - 300, event: { created: at + 2 },
    });
    ids.checkoutSession = session.data.object.id;
    events.push(session);
  }
  return { ids, events };
}

// ---------------------------------------------------------------------------------------------- signing

/** A Stripe-Signature header made by stripe-node itself (one v1). */
export function stripeSignatureHeader(payload: string, secret: string, timestamp: number = unixNow()): string {
  return Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
}

/** The raw body and headers Stripe would POST, signed with every given secret (as during a roll). */
export function stripeWebhookRequest(
  event: StripeJson,
  secrets: string | readonly string[],
  timestamp: number = unixNow(),
): { rawBody: Buffer; headers: Record<string, string> } {
  const payload = JSON.stringify(event, null, 2);
  const all = typeof secrets === 'string' ? [secrets] : secrets;
  const signatures = all.map((secret) => stripeSignatureHeader(payload, secret, timestamp).split(',').slice(1).join(','));
  return {
    rawBody: Buffer.from(payload, 'utf8'),
    headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': [`t=${timestamp}`, ...signatures].join(',') },
  };
}

export function stripeWebhookSecret(): string {
  return `whsec_${prefixedId('x', 32).slice(2)}`;
}
