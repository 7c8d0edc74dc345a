import { createHmac, randomBytes } from 'node:crypto';
import { prefixedId, randomToken, unixNow } from './ids';

/**
 * Realistic Dodo Payments webhook bodies `{ business_id, type, timestamp, data }` following Dodo's
 * documented payment and refund payloads (currency upper case, amounts in minor units, ISO times).
 */

export type DodoJson = Record<string, any>;

const BUSINESS_ID = 'bus_P8wUHxEYfhHEa2qjR7Wm3';

const iso = (unixSeconds: number): string => new Date(unixSeconds * 1000).toISOString();

export interface DodoRefundOptions {
  refundId?: string;
  paymentId: string;
  /** Omit with `null` to mimic a payload without the optional amount. */
  amount?: number | null;
  currency?: string | null;
  isPartial?: boolean;
  status?: string;
  metadata?: Record<string, string>;
  createdAt?: number;
}

export function dodoRefundData(o: DodoRefundOptions): DodoJson {
  const data: DodoJson = {
    payload_type: 'Refund',
    business_id: BUSINESS_ID,
    refund_id: o.refundId ?? prefixedId('ref', 21),
    payment_id: o.paymentId,
    amount: o.amount === undefined ? 1000 : o.amount,
    currency: o.currency === undefined ? 'USD' : o.currency,
    is_partial: o.isPartial ?? true,
    reason: 'requested_by_customer',
    status: o.status ?? 'succeeded',
    metadata: o.metadata ?? {},
    created_at: iso(o.createdAt ?? unixNow() - 10),
  };
  for (const key of ['amount', 'currency']) if (data[key] === null) delete data[key];
  return data;
}

export interface DodoPaymentOptions {
  paymentId?: string;
  totalAmount?: number;
  currency?: string;
  email?: string | null;
  customerId?: string;
  metadata?: Record<string, string>;
  subscriptionId?: string | null;
  checkoutSessionId?: string | null;
  /** Embedded refunds (Dodo sends the latest state, so a late redelivery can include them). */
  refunds?: DodoJson[];
  createdAt?: number;
}

export function dodoPaymentData(o: DodoPaymentOptions = {}): DodoJson {
  const created = o.createdAt ?? unixNow() - 30;
  const total = o.totalAmount ?? 4900;
  return {
    payload_type: 'Payment',
    business_id: BUSINESS_ID,
    brand_id: BUSINESS_ID,
    payment_id: o.paymentId ?? prefixedId('pay', 21),
    status: 'succeeded',
    total_amount: total,
    settlement_amount: total,
    settlement_currency: 'USD',
    tax: 0,
    currency: o.currency ?? 'USD',
    customer: {
      customer_id: o.customerId ?? prefixedId('cus', 21),
      email: o.email === undefined ? null : o.email,
      name: 'Jenny Rosen',
    },
    billing: { city: 'Berlin', country: 'DE', state: 'BE', street: 'Unter den Linden 1', zipcode: '10117' },
    metadata: o.metadata ?? {},
    subscription_id: o.subscriptionId ?? null,
    checkout_session_id: o.checkoutSessionId ?? null,
    discount_id: null,
    payment_link: null,
    payment_method: 'card',
    payment_method_type: 'credit',
    card_last_four: '4242',
    card_network: 'VISA',
    card_type: 'CREDIT',
    card_issuing_country: 'US',
    product_cart: [{ product_id: prefixedId('pdt', 21), quantity: 1 }],
    digital_products_delivered: false,
    disputes: [],
    refunds: o.refunds ?? [],
    error_code: null,
    error_message: null,
    created_at: iso(created),
    updated_at: iso(created + 2),
  };
}

export function dodoEvent(type: string, data: DodoJson, at: number = unixNow()): DodoJson {
  return { business_id: BUSINESS_ID, type, timestamp: iso(at), data };
}

export const dodoPaymentSucceeded = (o: DodoPaymentOptions = {}): DodoJson => dodoEvent('payment.succeeded', dodoPaymentData(o));
export const dodoRefundSucceeded = (o: DodoRefundOptions): DodoJson => dodoEvent('refund.succeeded', dodoRefundData(o));

/** A Standard Webhooks secret: `whsec_` + base64 of 24 random bytes. */
export function dodoWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/** Standard Webhooks signing, written out independently of the verifier under test. */
export function dodoSignature(webhookId: string, timestamp: number, rawBody: Buffer | string, secret: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const mac = createHmac('sha256', key).update(`${webhookId}.${timestamp}.`).update(rawBody).digest('base64');
  return `v1,${mac}`;
}

export const dodoWebhookId = (): string => `msg_${randomToken(27)}`;

/** The raw body and headers Dodo would POST, with one v1 entry per secret. */
export function dodoWebhookRequest(
  body: DodoJson,
  secrets: string | readonly string[],
  opts: { webhookId?: string; timestamp?: number } = {},
): { rawBody: Buffer; headers: Record<string, string> } {
  const rawBody = Buffer.from(JSON.stringify(body), 'utf8');
  const webhookId = opts.webhookId ?? dodoWebhookId();
  const timestamp = opts.timestamp ?? unixNow();
  const all = typeof secrets === 'string' ? [secrets] : secrets;
  return {
    rawBody,
    headers: {
      'content-type': 'application/json',
      'webhook-id': webhookId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': all.map((s) => dodoSignature(webhookId, timestamp, rawBody, s)).join(' '),
    },
  };
}
