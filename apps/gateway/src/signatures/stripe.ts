import Stripe from 'stripe';
import { checkedTolerance, fail, headerValue, timestampProblem, usableSecrets } from './common';
import type { JsonObject, VerificationResult, VerifyWebhookInput } from './types';

/** The envelope fields the gateway relies on; `data.object` is checked by the normalizer. */
export interface StripeWebhookEvent extends JsonObject {
  id: string;
  object: 'event';
  type: string;
  data: JsonObject;
}

const stripeWebhooks = Stripe.webhooks;
const SignatureVerificationError = Stripe.errors.StripeSignatureVerificationError;

interface ParsedStripeHeader {
  timestamp: number;
  v1Count: number;
}

/**
 * Our own reading of `t=<unix>,v1=<hex>[,v1=…][,v0=…]`, used to tell a malformed header apart from a
 * wrong signature and to check the future side of the window (stripe-node only rejects old ones).
 */
function parseStripeSignatureHeader(header: string): ParsedStripeHeader | string {
  let timestamp: number | null = null;
  let v1Count = 0;
  for (const item of header.split(',')) {
    const eq = item.indexOf('=');
    if (eq < 1) continue;
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (key === 't') {
      if (!/^\d{1,12}$/.test(value)) return 'the t= timestamp is not a unix time in seconds';
      timestamp = Number(value);
    } else if (key === 'v1' && value !== '') {
      v1Count += 1;
    }
  }
  if (timestamp === null) return 'it has no t= timestamp';
  if (v1Count === 0) return 'it has no v1= signature';
  return { timestamp, v1Count };
}

/**
 * Verify a Stripe webhook with stripe-node's `constructEvent` against every candidate secret (during a
 * roll Stripe signs with each active secret; any v1 matching any secret is enough). Adds what the SDK
 * leaves out: a future timestamp beyond the tolerance is refused too, and thin events
 * (`object: "v2.core.event"`) are reported as invalid_payload.
 */
export function verifyStripeSignature(input: VerifyWebhookInput): VerificationResult<StripeWebhookEvent> {
  const tolerance = checkedTolerance(input.toleranceSeconds);
  const now = input.now ?? new Date();
  const header = headerValue(input.headers, 'stripe-signature');
  if (header === undefined) return fail('missing_signature', 'the Stripe-Signature header is missing');

  const parsed = parseStripeSignatureHeader(header);
  if (typeof parsed === 'string') {
    return fail('invalid_signature', `the Stripe-Signature header is malformed: ${parsed}`);
  }
  if (input.rawBody.length === 0) return fail('invalid_payload', 'the request body is empty');

  const secrets = usableSecrets(input.secrets);
  if (secrets.length === 0) return fail('invalid_signature', 'no webhook signing secret is configured for this integration');

  // Decoded once here: given bytes, stripe-node decodes them twice per secret (to verify, then to parse).
  // The signature is computed over the same string either way.
  const payload = input.rawBody.toString('utf8');
  for (const { secret, index } of secrets) {
    let event: unknown;
    try {
      // Tolerance is always > 0 here: in stripe-node 0 would disable the age check.
      event = stripeWebhooks.constructEvent(payload, header, secret, tolerance, undefined, now.getTime());
    } catch (e) {
      if (e instanceof SignatureVerificationError) {
        // The SDK checks the signature before the age, so a tolerance failure means this secret matched.
        if (/tolerance/i.test(e.message)) {
          return fail('timestamp_out_of_tolerance', timestampProblem(parsed.timestamp, now, tolerance) ?? e.message);
        }
        continue; // not this secret; try the next one
      }
      // Anything else was thrown after the signature verified: the JSON or the event format is wrong.
      return fail('invalid_payload', `signature verified but the body is not a Stripe snapshot event: ${(e as Error).message}`);
    }

    const tooFar = timestampProblem(parsed.timestamp, now, tolerance);
    if (tooFar !== null) return fail('timestamp_out_of_tolerance', tooFar);

    const shapeProblem = stripeEventShapeProblem(event);
    if (shapeProblem !== null) return fail('invalid_payload', shapeProblem);
    const verified = event as StripeWebhookEvent;
    return { ok: true, secretIndex: index, event: verified, providerEventId: verified.id };
  }

  return fail(
    'invalid_signature',
    `none of the ${parsed.v1Count} v1 signature(s) matches the body with any of the ${secrets.length} configured secret(s)`,
  );
}

function stripeEventShapeProblem(event: unknown): string | null {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) return 'body must be a JSON object';
  const e = event as JsonObject;
  if (e.object === 'v2.core.event') return 'thin events (object "v2.core.event") are not supported: configure a snapshot event destination';
  if (e.object !== 'event') return `body.object must be "event", got ${JSON.stringify(e.object)}`;
  if (typeof e.id !== 'string' || e.id === '') return 'body.id (the event id) is missing';
  if (typeof e.type !== 'string' || e.type === '') return 'body.type (the event type) is missing';
  if (e.data === null || typeof e.data !== 'object' || Array.isArray(e.data)) return 'body.data is missing';
  return null;
}
