import { normalizeDodoEvent, normalizeRazorpayEvent, normalizeStripeEvent } from '../normalizers';
import { verifyDodoSignature, verifyRazorpaySignature, verifyStripeSignature } from '../signatures';
import { dodoPaymentSucceeded, dodoWebhookRequest, dodoWebhookSecret } from './dodo';
import { razorpayPaymentCaptured, razorpayPaymentEntity, razorpayWebhookRequest } from './razorpay';
import {
  STRIPE_API_VERSIONS,
  invoiceObject,
  paymentIntentObject,
  chargeObject,
  subscriptionCheckoutScenario,
  stripeWebhookRequest,
  stripeWebhookSecret,
} from './stripe';

const ctx = { websiteId: 'w_1', integrationId: 'int_1', receivedAt: new Date(), emailHashKey: 'k'.repeat(32) };

describe('Stripe fixtures render each API version in its own shape', () => {
  it.each([
    ['2020-08-27', { charges: true, latestCharge: false, chargeRefunds: true, piInvoice: true, invoiceParent: false }],
    ['2022-11-15', { charges: false, latestCharge: true, chargeRefunds: false, piInvoice: true, invoiceParent: false }],
    ['2024-06-20', { charges: false, latestCharge: true, chargeRefunds: false, piInvoice: true, invoiceParent: false }],
    ['2025-03-31.basil', { charges: false, latestCharge: true, chargeRefunds: false, piInvoice: false, invoiceParent: true }],
    ['2026-10-28.endive', { charges: false, latestCharge: true, chargeRefunds: false, piInvoice: false, invoiceParent: true }],
  ])('%s', (apiVersion, shape) => {
    const pi = paymentIntentObject({ apiVersion });
    const charge = chargeObject({ apiVersion });
    const invoice = invoiceObject({ apiVersion });
    expect('charges' in pi).toBe(shape.charges);
    expect('latest_charge' in pi).toBe(shape.latestCharge);
    expect('refunds' in charge).toBe(shape.chargeRefunds);
    expect('invoice' in pi).toBe(shape.piInvoice);
    expect('invoice' in charge).toBe(shape.piInvoice);
    expect('parent' in invoice).toBe(shape.invoiceParent);
    for (const legacy of ['subscription', 'payment_intent', 'charge', 'paid']) expect(legacy in invoice).toBe(!shape.invoiceParent);
    expect(pi.status).toBe('succeeded');
    expect(invoice.status).toBe('paid');
  });
});

describe('fixtures survive sign → verify → normalize', () => {
  it.each(STRIPE_API_VERSIONS)('Stripe %s subscription scenario', (apiVersion) => {
    const secret = stripeWebhookSecret();
    const scenario = subscriptionCheckoutScenario({ apiVersion, livemode: true });
    for (const event of scenario.events) {
      const verified = verifyStripeSignature({ ...stripeWebhookRequest(event, secret), secrets: [secret] });
      if (!verified.ok) throw new Error(verified.message);
      const { events } = normalizeStripeEvent(verified.event, ctx);
      expect(events.length).toBeGreaterThan(0);
      expect(events.every((e) => e.livemode)).toBe(true);
    }
  });

  it('Razorpay payment.captured', () => {
    const request = razorpayWebhookRequest(razorpayPaymentCaptured(razorpayPaymentEntity()), 'secret', 'evt_rzp_1');
    const verified = verifyRazorpaySignature({ ...request, secrets: ['secret'] });
    if (!verified.ok) throw new Error(verified.message);
    expect(normalizeRazorpayEvent(verified.event, { ...ctx, providerEventId: verified.providerEventId }).events).toHaveLength(1);
  });

  it('Dodo payment.succeeded', () => {
    const secret = dodoWebhookSecret();
    const verified = verifyDodoSignature({ ...dodoWebhookRequest(dodoPaymentSucceeded(), secret), secrets: [secret] });
    if (!verified.ok) throw new Error(verified.message);
    expect(normalizeDodoEvent(verified.event, { ...ctx, providerEventId: verified.providerEventId }).events).toHaveLength(1);
  });
});
