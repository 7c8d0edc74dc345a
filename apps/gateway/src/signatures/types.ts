/** Why a webhook was refused; the route answers 400 with this code (DESIGN.md section 4). */
export type SignatureFailureCode =
  | 'missing_signature'
  | 'invalid_signature'
  | 'timestamp_out_of_tolerance'
  | 'invalid_payload';

export type SignatureFailure = { ok: false; code: SignatureFailureCode; message: string };

/**
 * `secretIndex` says which of the candidate secrets verified (during a roll the route may log that
 * the old secret is still in use). `event` is the parsed body, only ever produced from verified bytes.
 * `providerEventId` is the provider's id for this delivery (Stripe `evt_…` from the body, Razorpay
 * `x-razorpay-event-id`, Dodo `webhook-id`), null when the provider did not send one.
 */
export type SignatureSuccess<E> = { ok: true; secretIndex: number; event: E; providerEventId: string | null };

export type VerificationResult<E> = SignatureSuccess<E> | SignatureFailure;

/** Node's IncomingHttpHeaders is assignable to this; names are matched case-insensitively. */
export type WebhookHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface VerifyWebhookInput {
  /** The exact bytes received: verification happens before any parsing. */
  rawBody: Buffer;
  headers: WebhookHeaders;
  /** Every secret that currently verifies (newest first, by convention); empty means none configured. */
  secrets: readonly string[];
  /** Clock for the timestamp window; defaults to the current time. */
  now?: Date;
  /** Allowed clock distance in seconds (past and future). Must be > 0; default 300. */
  toleranceSeconds?: number;
}

/** Anything that parses as a JSON object. Deeper checks belong to the normalizers. */
export type JsonObject = Record<string, unknown>;
