import Stripe from 'stripe';
import { checkoutCompleted, stripeWebhookRequest, stripeWebhookSecret } from '../test-fixtures/stripe';
import { verifyStripeSignature } from './stripe';

const NOW = new Date('2026-11-29T10:00:00.000Z');
const NOW_S = Math.floor(NOW.getTime() / 1000);

const event = checkoutCompleted({ apiVersion: '2026-10-28.endive', email: 'jane@example.com' });
const payload = JSON.stringify(event);
const secret = stripeWebhookSecret();
const oldSecret = stripeWebhookSecret();

const sign = (body: string, s: string, t = NOW_S): string => Stripe.webhooks.generateTestHeaderString({ payload: body, secret: s, timestamp: t });
/** The v1=… part of a header made by stripe-node. */
const v1Of = (header: string): string => header.split(',').find((p) => p.startsWith('v1='))!;

function verify(header: string | undefined, body: string | Buffer = payload, secrets: string[] = [secret], now = NOW) {
  const headers = header === undefined ? {} : { 'stripe-signature': header };
  return verifyStripeSignature({ rawBody: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'), headers, secrets, now });
}

describe('verifyStripeSignature', () => {
  it('accepts a body signed with the secret and returns the parsed event', () => {
    const result = verify(sign(payload, secret));
    expect(result).toEqual({ ok: true, secretIndex: 0, event, providerEventId: event.id });
  });

  it('rejects a signature made with another secret', () => {
    const result = verify(sign(payload, stripeWebhookSecret()));
    expect(result).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('accepts when one of two v1 signatures matches (the other one bogus)', () => {
    const good = sign(payload, secret);
    const bogus = `v1=${'0'.repeat(64)}`;
    expect(verify(`t=${NOW_S},${bogus},${v1Of(good)}`)).toMatchObject({ ok: true, secretIndex: 0 });
    expect(verify(`t=${NOW_S},${v1Of(good)},${bogus}`)).toMatchObject({ ok: true, secretIndex: 0 });
  });

  it('during a secret roll accepts signatures of the old and of the new secret, reporting which one verified', () => {
    const both = stripeWebhookRequest(event, [secret, oldSecret], NOW_S);
    const secrets = [secret, oldSecret];
    expect(verifyStripeSignature({ ...both, secrets, now: NOW })).toMatchObject({ ok: true, secretIndex: 0 });
    // An endpoint still signing only with the old secret verifies against the second candidate.
    expect(verify(sign(payload, oldSecret), payload, secrets)).toMatchObject({ ok: true, secretIndex: 1 });
    // Once the old secret is dropped from the candidates, its signature no longer verifies.
    expect(verify(sign(payload, oldSecret), payload, [secret])).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('rejects a timestamp older than the tolerance but accepts one just inside it', () => {
    expect(verify(sign(payload, secret, NOW_S - 301))).toMatchObject({ ok: false, code: 'timestamp_out_of_tolerance' });
    expect(verify(sign(payload, secret, NOW_S - 300))).toMatchObject({ ok: true });
  });

  it('rejects a timestamp more than the tolerance in the future (stripe-node alone would accept it)', () => {
    const header = sign(payload, secret, NOW_S + 301);
    expect(() => Stripe.webhooks.constructEvent(payload, header, secret, 300, undefined, NOW.getTime())).not.toThrow();
    expect(verify(header)).toMatchObject({ ok: false, code: 'timestamp_out_of_tolerance', message: expect.stringContaining('future') });
    expect(verify(sign(payload, secret, NOW_S + 300))).toMatchObject({ ok: true });
  });

  it('honours a custom positive tolerance and refuses 0 or negative ones', () => {
    const header = sign(payload, secret, NOW_S - 100);
    const input = { rawBody: Buffer.from(payload), headers: { 'stripe-signature': header }, secrets: [secret], now: NOW };
    expect(verifyStripeSignature({ ...input, toleranceSeconds: 60 })).toMatchObject({ ok: false, code: 'timestamp_out_of_tolerance' });
    expect(verifyStripeSignature({ ...input, toleranceSeconds: 120 })).toMatchObject({ ok: true });
    expect(() => verifyStripeSignature({ ...input, toleranceSeconds: 0 })).toThrow(RangeError);
    expect(() => verifyStripeSignature({ ...input, toleranceSeconds: -5 })).toThrow(RangeError);
  });

  it('reports a bad signature as invalid_signature even when the timestamp is also old', () => {
    expect(verify(sign(payload, stripeWebhookSecret(), NOW_S - 4000))).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('rejects a tampered body', () => {
    const header = sign(payload, secret);
    const tampered = payload.replace(String(event.data.object.amount_total), '1');
    expect(tampered).not.toBe(payload);
    expect(verify(header, tampered)).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('rejects the same JSON with whitespace added (verification is on the raw bytes)', () => {
    const header = sign(payload, secret);
    expect(verify(header, `${payload}\n`)).toMatchObject({ ok: false, code: 'invalid_signature' });
    expect(verify(header, JSON.stringify(event, null, 2))).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('reports a missing or empty header as missing_signature', () => {
    expect(verify(undefined)).toMatchObject({ ok: false, code: 'missing_signature' });
    expect(verify('')).toMatchObject({ ok: false, code: 'missing_signature' });
  });

  it.each([
    ['no timestamp', () => v1Of(sign(payload, secret))],
    ['non-numeric timestamp', () => `t=abc,${v1Of(sign(payload, secret))}`],
    ['no v1 signature', () => `t=${NOW_S}`],
    ['only a v0 signature', () => `t=${NOW_S},v0=${'a'.repeat(64)}`],
    ['garbage', () => 'not a signature header'],
  ])('reports a malformed header (%s) as invalid_signature', (_label, header) => {
    expect(verify(header())).toMatchObject({ ok: false, code: 'invalid_signature', message: expect.stringContaining('malformed') });
  });

  it('finds the header whatever its case', () => {
    const result = verifyStripeSignature({ rawBody: Buffer.from(payload), headers: { 'Stripe-Signature': sign(payload, secret) }, secrets: [secret], now: NOW });
    expect(result.ok).toBe(true);
  });

  it('refuses when no secret is configured', () => {
    expect(verify(sign(payload, secret), payload, [])).toMatchObject({ ok: false, code: 'invalid_signature' });
    expect(verify(sign(payload, secret), payload, ['  '])).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('never verifies with a blank configured secret, even a header signed with that blank secret', () => {
    for (const blank of ['', '  ']) {
      expect(verify(sign(payload, blank), payload, [blank])).toMatchObject({ ok: false, code: 'invalid_signature' });
    }
  });

  it('reports a thin event (v2.core.event) that verifies as invalid_payload', () => {
    const thin = JSON.stringify({ id: 'evt_test_65R', object: 'v2.core.event', type: 'v1.billing.meter.error_report_triggered', created: '2026-11-29T10:00:00.000Z' });
    expect(verify(sign(thin, secret), thin)).toMatchObject({ ok: false, code: 'invalid_payload', message: expect.stringContaining('thin') });
  });

  it('reports a verified body that is not a Stripe event as invalid_payload', () => {
    expect(verify(sign('not json', secret), 'not json')).toMatchObject({ ok: false, code: 'invalid_payload' });
    const notEvent = JSON.stringify({ id: 'ch_1', object: 'charge' });
    expect(verify(sign(notEvent, secret), notEvent)).toMatchObject({ ok: false, code: 'invalid_payload' });
    expect(verify(sign('[]', secret), '[]')).toMatchObject({ ok: false, code: 'invalid_payload' });
  });

  it('reports an empty body as invalid_payload', () => {
    expect(verify(sign(payload, secret), '')).toMatchObject({ ok: false, code: 'invalid_payload' });
  });
});
