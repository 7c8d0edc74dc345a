import { createHmac } from 'node:crypto';
import { constantTimeEqual } from '@metrivo/crypto';
import { fail, headerValue, parseJsonObject, usableSecrets } from './common';
import type { JsonObject, VerificationResult, VerifyWebhookInput } from './types';

export interface RazorpayWebhookEvent extends JsonObject {
  event: string;
}

/**
 * Razorpay: `X-Razorpay-Signature` is the hex HMAC-SHA256 of the raw body keyed with the webhook secret.
 * There is no timestamp, so `now`/`toleranceSeconds` are not used: dedupe on the event id is the only
 * replay protection. `providerEventId` comes from `x-razorpay-event-id`, which is NOT covered by the
 * signature (Razorpay signs only the body).
 */
export function verifyRazorpaySignature(input: VerifyWebhookInput): VerificationResult<RazorpayWebhookEvent> {
  const signature = headerValue(input.headers, 'x-razorpay-signature')?.trim();
  if (signature === undefined) return fail('missing_signature', 'the X-Razorpay-Signature header is missing');
  if (!/^[0-9a-fA-F]{64}$/.test(signature)) {
    return fail('invalid_signature', 'the X-Razorpay-Signature header is malformed: expected 64 hex characters');
  }
  const secrets = usableSecrets(input.secrets);
  if (secrets.length === 0) return fail('invalid_signature', 'no webhook secret is configured for this integration');

  const received = signature.toLowerCase();
  const match = secrets.find(({ secret }) =>
    constantTimeEqual(createHmac('sha256', secret).update(input.rawBody).digest('hex'), received),
  );
  if (match === undefined) {
    return fail('invalid_signature', `the signature does not match the body with any of the ${secrets.length} configured secret(s)`);
  }

  const parsed = parseJsonObject(input.rawBody);
  if (!parsed.ok) return fail('invalid_payload', parsed.message);
  if (typeof parsed.value.event !== 'string' || parsed.value.event === '') {
    return fail('invalid_payload', 'body.event (the event type) is missing');
  }
  return {
    ok: true,
    secretIndex: match.index,
    event: parsed.value as RazorpayWebhookEvent,
    providerEventId: headerValue(input.headers, 'x-razorpay-event-id')?.trim() ?? null,
  };
}
