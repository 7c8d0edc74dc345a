import { dodoPaymentSucceeded, dodoSignature, dodoWebhookRequest, dodoWebhookSecret } from '../test-fixtures/dodo';
import { verifyDodoSignature } from './dodo';

const NOW = new Date('2026-11-29T10:00:00.000Z');
const NOW_S = Math.floor(NOW.getTime() / 1000);
const secret = dodoWebhookSecret();
const oldSecret = dodoWebhookSecret();
const body = dodoPaymentSucceeded({ email: 'jane@example.com' });
const request = dodoWebhookRequest(body, secret, { webhookId: 'msg_2k7YwPp3', timestamp: NOW_S });

function verify(headers: Record<string, string>, rawBody: Buffer = request.rawBody, secrets: string[] = [secret], now = NOW) {
  return verifyDodoSignature({ rawBody, headers, secrets, now });
}

function without(name: string): Record<string, string> {
  const copy = { ...request.headers };
  delete copy[name];
  return copy;
}

describe('verifyDodoSignature', () => {
  it('reproduces the Standard Webhooks specification test vector', () => {
    // Published with the specification (github.com/standard-webhooks/standard-webhooks).
    const result = verifyDodoSignature({
      rawBody: Buffer.from('{"test": 2432232314}'),
      headers: {
        'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
        'webhook-timestamp': '1614265330',
        'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
      },
      secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
      now: new Date(1614265330 * 1000),
    });
    expect(result).toMatchObject({ ok: false, code: 'invalid_payload' }); // verified; the body just has no `type`
  });

  it('accepts a valid delivery and returns the body and webhook-id', () => {
    expect(verify(request.headers)).toEqual({ ok: true, secretIndex: 0, event: body, providerEventId: 'msg_2k7YwPp3' });
  });

  it('accepts the secret without its whsec_ prefix', () => {
    expect(verify(request.headers, request.rawBody, [secret.slice('whsec_'.length)])).toMatchObject({ ok: true });
  });

  it('rejects a signature made with another secret', () => {
    expect(verify(request.headers, request.rawBody, [dodoWebhookSecret()])).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('accepts when one of two v1 entries matches', () => {
    const good = request.headers['webhook-signature']!;
    const bogus = `v1,${Buffer.alloc(32).toString('base64')}`;
    expect(verify({ ...request.headers, 'webhook-signature': `${bogus} ${good}` })).toMatchObject({ ok: true });
    expect(verify({ ...request.headers, 'webhook-signature': `${good} ${bogus}` })).toMatchObject({ ok: true });
  });

  it('during a secret roll accepts either secret and says which one verified', () => {
    const both = dodoWebhookRequest(body, [secret, oldSecret], { webhookId: 'msg_roll', timestamp: NOW_S });
    expect(verify(both.headers, both.rawBody, [secret, oldSecret])).toMatchObject({ ok: true, secretIndex: 0 });
    const oldOnly = dodoWebhookRequest(body, oldSecret, { webhookId: 'msg_roll', timestamp: NOW_S });
    expect(verify(oldOnly.headers, oldOnly.rawBody, [secret, oldSecret])).toMatchObject({ ok: true, secretIndex: 1 });
    expect(verify(oldOnly.headers, oldOnly.rawBody, [secret])).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it.each([
    ['301 s old', NOW_S - 301, 'old'],
    ['301 s in the future', NOW_S + 301, 'future'],
  ])('rejects a timestamp %s as timestamp_out_of_tolerance', (_label, timestamp, word) => {
    const signed = dodoWebhookRequest(body, secret, { webhookId: 'msg_t', timestamp });
    expect(verify(signed.headers, signed.rawBody)).toMatchObject({ ok: false, code: 'timestamp_out_of_tolerance', message: expect.stringContaining(word) });
  });

  it.each([NOW_S - 300, NOW_S + 300])('accepts a timestamp at the edge of the window (%s)', (timestamp) => {
    const signed = dodoWebhookRequest(body, secret, { webhookId: 'msg_t', timestamp });
    expect(verify(signed.headers, signed.rawBody)).toMatchObject({ ok: true });
  });

  it('rejects a changed timestamp or webhook-id (both are signed)', () => {
    expect(verify({ ...request.headers, 'webhook-timestamp': String(NOW_S + 1) })).toMatchObject({ ok: false, code: 'invalid_signature' });
    expect(verify({ ...request.headers, 'webhook-id': 'msg_other' })).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('rejects a tampered body and a body with whitespace added', () => {
    const tampered = Buffer.from(request.rawBody.toString('utf8').replace('"total_amount":4900', '"total_amount":1'));
    expect(tampered.equals(request.rawBody)).toBe(false);
    expect(verify(request.headers, tampered)).toMatchObject({ ok: false, code: 'invalid_signature' });
    expect(verify(request.headers, Buffer.from(`${request.rawBody.toString('utf8')}\n`))).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])('reports a missing %s header as missing_signature', (name) => {
    expect(verify(without(name))).toMatchObject({ ok: false, code: 'missing_signature', message: expect.stringContaining(name) });
  });

  it.each([
    ['signature without version', { 'webhook-signature': request.headers['webhook-signature']!.slice(3) }],
    ['only v1a entries', { 'webhook-signature': request.headers['webhook-signature']!.replace('v1,', 'v1a,') }],
    ['non-numeric timestamp', { 'webhook-timestamp': 'yesterday' }],
  ])('reports a malformed header (%s) as invalid_signature', (_label, patch) => {
    expect(verify({ ...request.headers, ...patch })).toMatchObject({ ok: false, code: 'invalid_signature', message: expect.stringContaining('malformed') });
  });

  it('refuses when no secret is configured', () => {
    expect(verify(request.headers, request.rawBody, [])).toMatchObject({ ok: false, code: 'invalid_signature' });
  });

  it('never verifies with a secret whose key is empty (a signature keyed with no bytes would otherwise pass)', () => {
    for (const empty of ['whsec_', '', ' ']) {
      const headers = { ...request.headers, 'webhook-signature': dodoSignature('msg_2k7YwPp3', NOW_S, request.rawBody, empty) };
      expect(verify(headers, request.rawBody, [empty])).toMatchObject({ ok: false, code: 'invalid_signature' });
    }
  });

  it('reports a verified body that is not JSON as invalid_payload', () => {
    const rawBody = Buffer.from('<xml/>');
    const headers = { ...request.headers, 'webhook-signature': dodoSignature('msg_2k7YwPp3', NOW_S, rawBody, secret) };
    expect(verify(headers, rawBody)).toMatchObject({ ok: false, code: 'invalid_payload' });
  });

  it('refuses a non-positive tolerance', () => {
    expect(() => verifyDodoSignature({ rawBody: request.rawBody, headers: request.headers, secrets: [secret], now: NOW, toleranceSeconds: 0 })).toThrow(RangeError);
  });
});
