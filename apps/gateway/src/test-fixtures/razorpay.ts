import { createHmac } from 'node:crypto';
import { prefixedId, randomToken, unixNow } from './ids';

/**
 * Realistic Razorpay webhook bodies (envelope `{ entity: "event", account_id, event, contains, payload, created_at }`)
 * as documented for payment.captured, order.paid and refund.processed. Amounts in paise, currency upper case
 * as Razorpay sends it, `notes` `[]` when empty.
 */

export type RazorpayJson = Record<string, any>;
export type RazorpayNotes = Record<string, string> | [];

export interface RazorpayPaymentOptions {
  id?: string;
  amount?: number;
  currency?: string;
  email?: string;
  contact?: string;
  notes?: RazorpayNotes;
  orderId?: string | null;
  invoiceId?: string | null;
  customerId?: string | null;
  amountRefunded?: number;
  createdAt?: number;
}

export function razorpayPaymentEntity(o: RazorpayPaymentOptions = {}): RazorpayJson {
  const amount = o.amount ?? 49900;
  const refunded = o.amountRefunded ?? 0;
  return {
    id: o.id ?? prefixedId('pay', 14),
    entity: 'payment',
    amount,
    currency: o.currency ?? 'INR',
    base_amount: amount,
    status: refunded > 0 ? 'refunded' : 'captured',
    order_id: o.orderId === undefined ? prefixedId('order', 14) : o.orderId,
    invoice_id: o.invoiceId ?? null,
    international: false,
    method: 'upi',
    amount_refunded: refunded,
    amount_transferred: 0,
    refund_status: refunded === 0 ? null : refunded >= amount ? 'full' : 'partial',
    captured: true,
    description: 'Pro plan',
    card_id: null,
    bank: null,
    wallet: null,
    vpa: 'success@razorpay',
    // Razorpay's stand-in when the checkout collected no email.
    email: o.email ?? 'void@razorpay.com',
    contact: o.contact ?? '+919000090000',
    customer_id: o.customerId ?? null,
    token_id: null,
    notes: o.notes ?? [],
    fee: Math.round(amount * 0.02),
    tax: Math.round(amount * 0.0036),
    error_code: null,
    error_description: null,
    error_source: null,
    error_step: null,
    error_reason: null,
    acquirer_data: { rrn: randomToken(12).replace(/\D/g, '7').padEnd(12, '1'), upi_transaction_id: randomToken(32) },
    created_at: o.createdAt ?? unixNow() - 30,
    upi: { payer_account_type: 'bank_account', vpa: 'success@razorpay' },
  };
}

export interface RazorpayOrderOptions {
  id?: string;
  amount?: number;
  currency?: string;
  notes?: RazorpayNotes;
  receipt?: string;
  createdAt?: number;
}

export function razorpayOrderEntity(o: RazorpayOrderOptions = {}): RazorpayJson {
  const amount = o.amount ?? 49900;
  return {
    id: o.id ?? prefixedId('order', 14),
    entity: 'order',
    amount,
    amount_paid: amount,
    amount_due: 0,
    currency: o.currency ?? 'INR',
    receipt: o.receipt ?? `rcpt_${randomToken(8)}`,
    offer_id: null,
    status: 'paid',
    attempts: 1,
    notes: o.notes ?? [],
    created_at: o.createdAt ?? unixNow() - 120,
  };
}

export interface RazorpayRefundOptions {
  id?: string;
  paymentId: string;
  amount?: number;
  currency?: string;
  notes?: RazorpayNotes;
  createdAt?: number;
}

export function razorpayRefundEntity(o: RazorpayRefundOptions): RazorpayJson {
  return {
    id: o.id ?? prefixedId('rfnd', 14),
    entity: 'refund',
    amount: o.amount ?? 10000,
    currency: o.currency ?? 'INR',
    payment_id: o.paymentId,
    notes: o.notes ?? [],
    receipt: null,
    acquirer_data: { rrn: null },
    created_at: o.createdAt ?? unixNow() - 10,
    batch_id: null,
    status: 'processed',
    speed_processed: 'normal',
    speed_requested: 'normal',
  };
}

function envelope(event: string, payload: RazorpayJson, createdAt?: number): RazorpayJson {
  return {
    entity: 'event',
    account_id: 'acc_BFQ7uQEaa7j2z7',
    event,
    contains: Object.keys(payload),
    payload,
    created_at: createdAt ?? unixNow(),
  };
}

export const razorpayPaymentCaptured = (payment: RazorpayJson = razorpayPaymentEntity()): RazorpayJson =>
  envelope('payment.captured', { payment: { entity: payment } });

/** order.paid: the same captured payment plus the order (with its own notes). */
export const razorpayOrderPaid = (payment: RazorpayJson, order: RazorpayJson): RazorpayJson =>
  envelope('order.paid', { payment: { entity: payment }, order: { entity: order } });

/** refund.processed: the refund, and the payment with its cumulative amount_refunded (omit with payment=null). */
export const razorpayRefundProcessed = (refund: RazorpayJson, payment: RazorpayJson | null): RazorpayJson =>
  envelope('refund.processed', payment === null ? { refund: { entity: refund } } : { refund: { entity: refund }, payment: { entity: payment } });

export const razorpayEvent = (event: string, payload: RazorpayJson): RazorpayJson => envelope(event, payload);

/** Razorpay's event id header value (`x-razorpay-event-id`). */
export const razorpayEventId = (): string => randomToken(14);

export function razorpaySignature(rawBody: Buffer | string, secret: string): string {
  return createHmac('sha256', secret).update(rawBody).digest('hex');
}

/** The raw body and headers Razorpay would POST. */
export function razorpayWebhookRequest(
  body: RazorpayJson,
  secret: string,
  eventId: string = razorpayEventId(),
): { rawBody: Buffer; headers: Record<string, string> } {
  const rawBody = Buffer.from(JSON.stringify(body), 'utf8');
  return {
    rawBody,
    headers: {
      'content-type': 'application/json',
      'x-razorpay-signature': razorpaySignature(rawBody, secret),
      'x-razorpay-event-id': eventId,
    },
  };
}
