import { createHmac } from 'node:crypto';
import { constantTimeEqual } from '@metrivo/crypto';
import { checkedTolerance, fail, headerValue, parseJsonObject, timestampProblem, usableSecrets } from './common';
import type { JsonObject, VerificationResult, VerifyWebhookInput } from './types';

export interface DodoWebhookEvent extends JsonObject {
  type: string;
}

/** Standard Webhooks secrets are `whsec_<base64 key>`; the HMAC key is the decoded bytes. */
export function standardWebhooksKey(secret: string): Buffer {
  const trimmed = secret.trim();
  const encoded = trimmed.startsWith('whsec_') ? trimmed.slice('whsec_'.length) : trimmed;
  return Buffer.from(encoded, 'base64');
}

/** `v1,<base64>` entries of the webhook-signature header; other versions (e.g. v1a) are ignored. */
function v1Signatures(header: string): string[] {
  return header
    .split(/\s+/)
    .map((entry) => {
      const comma = entry.indexOf(',');
      return comma > 0 && entry.slice(0, comma) === 'v1' ? entry.slice(comma + 1) : '';
    })
    .filter((sig) => sig !== '');
}

/**
 * Dodo Payments signs with Standard Webhooks: base64 HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{raw body}`
 * keyed with the decoded `whsec_` secret. Any v1 entry matching any candidate secret verifies; the timestamp
 * must be within ±tolerance of `now` (checked after the signature, as for Stripe).
 */
export function verifyDodoSignature(input: VerifyWebhookInput): VerificationResult<DodoWebhookEvent> {
  const tolerance = checkedTolerance(input.toleranceSeconds);
  const now = input.now ?? new Date();
  const webhookId = headerValue(input.headers, 'webhook-id')?.trim();
  const timestamp = headerValue(input.headers, 'webhook-timestamp')?.trim();
  const signatureHeader = headerValue(input.headers, 'webhook-signature');
  const missing = [
    webhookId === undefined ? 'webhook-id' : null,
    timestamp === undefined ? 'webhook-timestamp' : null,
    signatureHeader === undefined ? 'webhook-signature' : null,
  ].filter((h): h is string => h !== null);
  if (webhookId === undefined || timestamp === undefined || signatureHeader === undefined) {
    return fail('missing_signature', `missing header(s): ${missing.join(', ')}`);
  }
  if (!/^\d{1,12}$/.test(timestamp)) {
    return fail('invalid_signature', 'the webhook-timestamp header is malformed: expected a unix time in seconds');
  }
  const candidates = v1Signatures(signatureHeader);
  if (candidates.length === 0) {
    return fail('invalid_signature', 'the webhook-signature header is malformed: expected space-separated "v1,<base64>" entries');
  }
  const secrets = usableSecrets(input.secrets)
    .map(({ secret, index }) => ({ key: standardWebhooksKey(secret), index }))
    .filter(({ key }) => key.length > 0);
  if (secrets.length === 0) return fail('invalid_signature', 'no usable webhook secret is configured for this integration');

  const signedContent = Buffer.concat([Buffer.from(`${webhookId}.${timestamp}.`, 'utf8'), input.rawBody]);
  const match = secrets.find(({ key }) => {
    const expected = createHmac('sha256', key).update(signedContent).digest('base64');
    return candidates.some((candidate) => constantTimeEqual(expected, candidate));
  });
  if (match === undefined) {
    return fail(
      'invalid_signature',
      `none of the ${candidates.length} v1 signature(s) matches the body with any of the ${secrets.length} configured secret(s)`,
    );
  }

  const window = timestampProblem(Number(timestamp), now, tolerance);
  if (window !== null) return fail('timestamp_out_of_tolerance', window);

  const parsed = parseJsonObject(input.rawBody);
  if (!parsed.ok) return fail('invalid_payload', parsed.message);
  if (typeof parsed.value.type !== 'string' || parsed.value.type === '') {
    return fail('invalid_payload', 'body.type (the event type) is missing');
  }
  return { ok: true, secretIndex: match.index, event: parsed.value as DodoWebhookEvent, providerEventId: webhookId };
}
