import { createHmac } from 'node:crypto';
import { razorpayPaymentCaptured, razorpayWebhookRequest } from '../test-fixtures/razorpay';
import { verifyRazorpaySignature } from './razorpay';

const secret = 'rzp_webhook_secret_1';
const oldSecret = 'rzp_webhook_secret_0';
const body = razorpayPaymentCaptured();
const request = razorpayWebhookRequest(body, secret, 'Jb6KpQmF1yQ0xv');

const hmacHex = (raw: Buffer | string, key: string): string => createHmac('sha256', key).update(raw).digest('hex');

function verify(headers: Record<string, string>, rawBody: Buffer = request.rawBody, secrets: string[] = [secret]) {
  return verifyRazorpaySignature({ rawBody, headers, secrets });
}

describe('verifyRazorpaySignature', () => {
  it('accepts the hex HMAC-SHA256 of the raw body and returns the body and the x-razorpay-event-id', () => {
    expect(verify(request.headers)).toEqual({ ok: true, secretIndex: 0, event: body, providerEventId: 'Jb6KpQmF1yQ0xv' });
  });

  it('returns providerEventId null when the event id header is absent (the normalizer then refuses)', () => {
    const { 'x-razorpay-event-id': _omitted, ...headers } = request.headers;
    expect(verify(headers)).toMatchObject({ ok: true, providerEventId: null });
  });

  it('rejects a signature made with another secret', () => {
    const headers = { ...request.headers, 'x-razorpay-signature': hmacHex(request.rawBody, 'someone-else') };
    expect(verify(headers)).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('during a secret roll accepts the old secret too and says which one verified', () => {
    const signedWithOld = { ...request.headers, 'x-razorpay-signature': hmacHex(request.rawBody, oldSecret) };
    expect(verify(signedWithOld, request.rawBody, [secret, oldSecret])).toMatchObject({ ok: true, secretIndex: 1 });
    expect(verify(request.headers, request.rawBody, [secret, oldSecret])).toMatchObject({ ok: true, secretIndex: 0 });
    expect(verify(signedWithOld, request.rawBody, [secret])).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('accepts an upper-case hex signature', () => {
    const headers = { ...request.headers, 'x-razorpay-signature': request.headers['x-razorpay-signature']!.toUpperCase() };
    expect(verify(headers)).toMatchObject({ ok: true });
  });

  it('rejects a tampered body and a body with whitespace added', () => {
    const tampered = Buffer.from(request.rawBody.toString('utf8').replace('"amount":49900', '"amount":100'));
    expect(tampered.equals(request.rawBody)).toBe(false);
    expect(verify(request.headers, tampered)).toMatchObject({ ok: false, code: 'invalid_signature' });
    expect(verify(request.headers, Buffer.concat([request.rawBody, Buffer.from(' ')]))).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('reports a missing header as missing_signature', () => {
    const { 'x-razorpay-signature': _omitted, ...headers } = request.headers;
    expect(verify(headers)).toMatchObject({ ok: false, code: 'missing_signature' });
  });

  it.each([['too short', 'abc123'], ['not hex', 'z'.repeat(64)], ['base64 instead of hex', Buffer.alloc(32, 7).toString('base64')]])(
    'reports a malformed header (%s) as invalid_signature',
    (_label, value) => {
      expect(verify({ ...request.headers, 'x-razorpay-signature': value })).toMatchObject({ ok: false, code: 'invalid_signature', message: expect.stringContaining('malformed') });
    },
  );

  it('refuses when no secret is configured', () => {
    expect(verify(request.headers, request.rawBody, [])).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('never verifies with a blank configured secret (a signature keyed with "" would otherwise pass)', () => {
    for (const blank of ['', '   ']) {
      const headers = { ...request.headers, 'x-razorpay-signature': hmacHex(request.rawBody, blank) };
      expect(verify(headers, request.rawBody, [blank])).toMatchObject({ ok: false, code: 'invalid_signature' });
    }
  });

  it('reports a verified body that is not a Razorpay event as invalid_payload', () => {
    for (const raw of ['not json', '{"entity":"event"}', '[1,2]']) {
      const rawBody = Buffer.from(raw);
      expect(verify({ 'x-razorpay-signature': hmacHex(rawBody, secret) }, rawBody)).toMatchObject({ ok: false, code: 'invalid_payload' });
    }
  });
});
