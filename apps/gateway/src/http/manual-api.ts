import { createHash } from 'node:crypto';
import {
  currencyCode, fieldIssues, MAX_ID_LENGTH, normalizedPaymentEventSchema, parseContract, type FieldIssue, type NormalizedPaymentEvent, type ParseResult,
} from '@metrivo/contracts';
import { hashApiKey, hashEmail, looksLikeEmail, maskEmail } from '@metrivo/crypto';
import type { ApiKeyDoc } from '@metrivo/integration-store';
import { KafkaUnavailableError } from '@metrivo/kafka';
import { isDatabaseUnavailable, requestTrace } from '@metrivo/observability';
import type { NextFunction, Request, Response } from 'express';
import type { Collection } from 'mongodb';
import { z } from 'zod';
import type { DeliveryInput, DeliveryRecorder } from '../delivery-recorder';
import type { AttemptFigures } from '../request-metrics';
import { sendError } from './errors';
import type { EventPublisher } from './webhook-route';

const MAX_PAST_MS = 5 * 365 * 86_400_000;
const MAX_FUTURE_MS = 24 * 3_600_000;

const callerId = z
  .string({ error: 'is required and must be a string' })
  .min(1, 'must not be empty')
  .max(MAX_ID_LENGTH, `must be at most ${MAX_ID_LENGTH} characters`)
  .regex(/^[\w.:\-/@#]+$/, 'may contain only letters, digits and _ . : - / @ #');
// Trimmed like webhook signal ids (`cleanSignalId`): " v_9" from a template must match the tracker's "v_9".
// A blank one is refused rather than dropped: the caller sent it on purpose and should learn it is empty.
const optionalRef = z
  .string({ error: 'must be a string' })
  .trim()
  .min(1, 'must not be blank')
  .max(MAX_ID_LENGTH, `must be at most ${MAX_ID_LENGTH} characters (after trimming spaces)`)
  .optional();
const amount = z
  .number({ error: 'is required and must be an integer number of minor units (e.g. 4900 for 49.00)' })
  .int('must be an integer number of minor units (e.g. 4900 for 49.00), not a decimal')
  .positive('must be greater than 0')
  .max(Number.MAX_SAFE_INTEGER, 'is too large');
const occurredAt = z.iso
  .datetime({ offset: true, message: 'must be an ISO-8601 timestamp, e.g. 2026-11-29T10:09:30Z' })
  .refine((s) => {
    const t = Date.parse(s);
    // zod runs this even after the format check failed; that failure already says what is wrong.
    if (Number.isNaN(t)) return true;
    const now = Date.now();
    return t > now - MAX_PAST_MS && t < now + MAX_FUTURE_MS;
  }, 'must be within the last 5 years and not more than a day in the future')
  .optional();

export const manualPaymentSchema = z.strictObject(
  {
    id: callerId,
    amount,
    currency: currencyCode,
    occurredAt,
    email: z.string().max(320, 'must be at most 320 characters').refine(looksLikeEmail, 'must be an email address').optional(),
    visitorId: optionalRef,
    sessionId: optionalRef,
    subscriptionId: optionalRef,
    livemode: z.boolean({ error: 'must be true or false' }).optional(),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown field(s): ${iss.keys.join(', ')}` : undefined) },
);

export const manualRefundSchema = z.strictObject(
  {
    id: callerId,
    paymentId: callerId,
    amount,
    currency: currencyCode,
    occurredAt,
    // Additive: the refund of a test payment reported with a live key says `livemode: false` like its payment did.
    livemode: z.boolean({ error: 'must be true or false' }).optional(),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown field(s): ${iss.keys.join(', ')}` : undefined) },
);

export type ManualPayment = z.infer<typeof manualPaymentSchema>;
export type ManualRefund = z.infer<typeof manualRefundSchema>;
type Kind = 'payment' | 'refund';


/**
 * Caller ids in test mode are prefixed with this wherever Metrivo derives an id from them, so that a test
 * order and the live order with the same id never share a payment state, an event id or a saved request.
 * Live ids keep exactly today's shape (DESIGN §3: `manual:{id}`). A caller id may therefore not start with
 * it: a live `test:x` would be the test `x`.
 */
export const TEST_MODE_PREFIX = 'test:';

/** Every id Metrivo derives from a Manual API request. Pure; `paymentId` is the caller's payment id. */
export function manualIds(kind: Kind, websiteId: string, livemode: boolean, id: string, paymentId: string) {
  const mode = livemode ? '' : TEST_MODE_PREFIX;
  return {
    eventId: `manual:${websiteId}:${kind}:${mode}${id}`,
    sourceEventId: `${kind}:${mode}${id}`,
    /** refs.payment: attribution keys the payment `manual:{refs.payment}`. */
    paymentRef: `${mode}${paymentId}`,
    paymentKey: `manual:${mode}${paymentId}`,
    /** The saved request (idempotency record): the mode is part of "the same request". */
    requestId: `${websiteId}:${kind}:${mode}${id}`,
  };
}

/**
 * refs.subscription of a payment: test-mode subscription ids are prefixed like payment ids, or a test payment and a
 * live payment naming the same subscription id would be one subscription (the live one a "renewal" inheriting the
 * test payment's attribution).
 */
export function manualSubscriptionRef(livemode: boolean, subscriptionId: string): string {
  return `${livemode ? '' : TEST_MODE_PREFIX}${subscriptionId}`;
}

/**
 * The longest `id` / `paymentId` whose derived ids all fit the contract, for this website and mode. The
 * longest id built from `id` is the event id; `paymentId` only becomes refs.payment (and the payment key,
 * which the contract allows to be `manual:` + 255).
 */
export function maxCallerIdLengths(kind: Kind, websiteId: string, livemode: boolean): { id: number; paymentId: number } {
  const empty = manualIds(kind, websiteId, livemode, '', '');
  return {
    id: MAX_ID_LENGTH - Math.max(empty.eventId.length, empty.sourceEventId.length, empty.paymentRef.length),
    paymentId: MAX_ID_LENGTH - empty.paymentRef.length,
  };
}

/** The mode a request reports: the body's `livemode` when it is a boolean, else the key's mode. */
export function requestMode(body: unknown, key: Pick<ApiKeyDoc, 'livemode'>): boolean {
  const livemode = typeof body === 'object' && body !== null ? (body as { livemode?: unknown }).livemode : undefined;
  return typeof livemode === 'boolean' ? livemode : key.livemode;
}

/**
 * Checks that need the API key (its website and mode), on top of the schema. Pure. Runs on the raw body
 * so that one 422 lists every failing field; a field the schema already refused is not checked again.
 */
export function keyIssues(kind: Kind, body: unknown, key: Pick<ApiKeyDoc, 'websiteId' | 'livemode'>, refused: ReadonlySet<string>): FieldIssue[] {
  if (typeof body !== 'object' || body === null) return [];
  const raw = body as Record<string, unknown>;
  const issues: FieldIssue[] = [];
  if (!key.livemode && raw.livemode === true && !refused.has('livemode')) {
    issues.push({ path: 'livemode', message: 'must not be true with a test-mode API key: a test key reports test payments only (use a live key for real money)' });
  }
  const livemode = requestMode(body, key);
  const max = maxCallerIdLengths(kind, key.websiteId, livemode);
  const fields = kind === 'payment' ? (['id'] as const) : (['id', 'paymentId'] as const);
  for (const field of fields) {
    const value = raw[field];
    if (typeof value !== 'string' || refused.has(field)) continue;
    if (value.startsWith(TEST_MODE_PREFIX)) {
      issues.push({ path: field, message: `must not start with "${TEST_MODE_PREFIX}": Metrivo prefixes test-mode ids with it (send test payments with a test key or livemode: false)` });
    } else if (value.length > max[field]) {
      const example = field === 'id' ? manualIds(kind, key.websiteId, livemode, '…', '…').eventId : manualIds(kind, key.websiteId, livemode, '…', '…').paymentRef;
      issues.push({
        path: field,
        message: `must be at most ${Math.max(max[field], 0)} characters for this website${livemode ? '' : ' in test mode'}: Metrivo builds ids such as "${example}" from it, and those are limited to ${MAX_ID_LENGTH}`,
      });
    }
  }
  const subscriptionId = kind === 'payment' && typeof raw.subscriptionId === 'string' && !refused.has('subscriptionId') ? raw.subscriptionId.trim() : null;
  if (subscriptionId !== null) {
    const maxSubscription = MAX_ID_LENGTH - manualSubscriptionRef(livemode, '').length;
    if (subscriptionId.startsWith(TEST_MODE_PREFIX)) {
      issues.push({ path: 'subscriptionId', message: `must not start with "${TEST_MODE_PREFIX}": Metrivo prefixes test-mode subscription ids with it` });
    } else if (subscriptionId.length > maxSubscription) {
      issues.push({ path: 'subscriptionId', message: `must be at most ${maxSubscription} characters in test mode (after trimming spaces): Metrivo prefixes it with "${TEST_MODE_PREFIX}"` });
    }
  }
  return issues;
}

/** Idempotency records: one per (website, kind, mode, caller id), reserved before publishing. */
export interface ManualRequestDoc {
  _id: string;
  websiteId: string;
  kind: Kind;
  requestHash: string;
  response: Record<string, unknown>;
  /** The first attempt's receipt time: a repeat of a pending request rebuilds the identical event from it. */
  createdAt: Date;
  /**
   * True from the reservation until Kafka acknowledged the event (absent: done; records written before
   * reservations existed were written after the acknowledgement).
   */
  pending?: boolean;
  /** The request's mode (absent on records written before it was stored). */
  livemode?: boolean;
}

export interface ManualApiDeps {
  findApiKey(hash: string): Promise<ApiKeyDoc | null>;
  requests: Collection<ManualRequestDoc>;
  publisher: EventPublisher;
  deliveries: Pick<DeliveryRecorder, 'record'>;
  /**
   * Attempts without a valid key (401, or MongoDB failing on the key lookup): no website to log them under, so they
   * are only counted (request metrics). Every attempt with a valid key goes to `deliveries`.
   */
  countUnidentified?: (attempt: AttemptFigures) => void;
  emailHashKey: string;
  retryAfterSeconds: number;
}

type Authed = Request & { apiKey?: ApiKeyDoc };

/** `Authorization: Bearer <website API key>` → the key's document on req.apiKey, else 401. */
export function requireApiKey(deps: Pick<ManualApiDeps, 'findApiKey' | 'countUnidentified'>) {
  return async (req: Authed, res: Response, next: NextFunction): Promise<void> => {
    const started = Date.now();
    const count = (outcome: DeliveryInput['outcome'], httpStatus: number, errorCode: string) =>
      deps.countUnidentified?.({ provider: 'manual', outcome, httpStatus, errorCode, durationMs: Date.now() - started });
    const refuse401 = (message: string) => {
      count('rejected', 401, 'invalid_api_key');
      sendError(res, 401, 'invalid_api_key', message);
    };
    const header = req.get('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m?.[1]) return refuse401('Send the website API key as "Authorization: Bearer <key>".');
    let doc: ApiKeyDoc | null;
    try {
      doc = await deps.findApiKey(hashApiKey(m[1]));
    } catch (err) {
      // Answered by the app's error handler (503 when MongoDB is unreachable, else 500).
      if (isDatabaseUnavailable(err)) count('unavailable', 503, 'database_unavailable');
      else count('rejected', 500, 'internal_error');
      throw err;
    }
    if (!doc) return refuse401('This API key is unknown or has been revoked.');
    req.apiKey = doc;
    next();
  };
}

/** The delivery-log row of a Manual API attempt with a valid key (`req.apiKey`). */
function manualDelivery(
  req: Authed, kind: Kind, receivedAt: Date, outcome: DeliveryInput['outcome'], httpStatus: number, errorCode: string | null, extra: Partial<DeliveryInput> = {},
): DeliveryInput {
  const key = req.apiKey!;
  const body = req.body as { id?: unknown } | null | undefined;
  return {
    integrationId: key._id, websiteId: key.websiteId, provider: 'manual', receivedAt,
    providerEventId: typeof body?.id === 'string' ? body.id.slice(0, 255) : null, eventType: `manual.${kind}`,
    livemode: requestMode(req.body, key), outcome, httpStatus, errorCode, published: 0, hadMetrivoSignals: null,
    durationMs: Date.now() - receivedAt.getTime(), traceId: requestTrace(req)?.traceId ?? null, ...extra,
  };
}

/**
 * Error middleware of the Manual API routes, before the app's error handler answers: a body that is not JSON or too
 * large (the key was valid) is logged like a 422, so support sees it; an error the handler threw was logged there.
 */
export function recordManualBodyErrors(kind: Kind, deps: Pick<ManualApiDeps, 'deliveries'>) {
  return (err: unknown, req: Authed, _res: Response, next: NextFunction): void => {
    const type = (err as { type?: unknown } | null)?.type;
    if (req.apiKey && (type === 'entity.parse.failed' || type === 'entity.too.large')) {
      const [status, code] = type === 'entity.too.large' ? [413, 'payload_too_large'] : [400, 'invalid_payload'];
      deps.deliveries.record(manualDelivery(req, kind, new Date(), 'rejected', status, code, { durationMs: 0 }));
    }
    next(err);
  };
}

const stableHash = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex');

const occurredAtOf = (body: { occurredAt?: string | undefined }, receivedAt: Date) =>
  new Date(body.occurredAt ? Date.parse(body.occurredAt) : receivedAt.getTime()).toISOString();

/**
 * Pure: a validated manual payment → its NormalizedPaymentEvent, checked against the contract. Not ok
 * when a derived value does not fit the contract (the caller's request is then a 422, never a 500).
 */
export function manualPaymentEvent(
  body: ManualPayment, key: ApiKeyDoc, livemode: boolean, emailHashKey: string, receivedAt: Date,
): ParseResult<NormalizedPaymentEvent> {
  const ids = manualIds('payment', key.websiteId, livemode, body.id, body.id);
  return parseContract(normalizedPaymentEventSchema, 'manual payment event', {
    schemaVersion: 1,
    eventId: ids.eventId,
    websiteId: key.websiteId,
    integrationId: key._id,
    provider: 'manual',
    livemode,
    occurredAt: occurredAtOf(body, receivedAt),
    source: { eventId: ids.sourceEventId, eventType: 'manual.payment', apiVersion: 'v1', receivedAt: receivedAt.toISOString() },
    refs: { payment: ids.paymentRef, subscription: body.subscriptionId === undefined ? null : manualSubscriptionRef(livemode, body.subscriptionId) },
    signals: {
      sessionId: body.sessionId ?? null,
      visitorId: body.visitorId ?? null,
      emailHash: body.email ? hashEmail(body.email, emailHashKey) : null,
      emailMasked: body.email ? maskEmail(body.email) : null,
    },
    type: 'payment',
    amountMinor: body.amount,
    currency: body.currency,
    paid: true,
    kind: null,
  });
}

/** Pure: a validated manual refund → its NormalizedPaymentEvent (see manualPaymentEvent). */
export function manualRefundEvent(body: ManualRefund, key: ApiKeyDoc, livemode: boolean, receivedAt: Date): ParseResult<NormalizedPaymentEvent> {
  const ids = manualIds('refund', key.websiteId, livemode, body.id, body.paymentId);
  return parseContract(normalizedPaymentEventSchema, 'manual refund event', {
    schemaVersion: 1,
    eventId: ids.eventId,
    websiteId: key.websiteId,
    integrationId: key._id,
    provider: 'manual',
    livemode,
    occurredAt: occurredAtOf(body, receivedAt),
    source: { eventId: ids.sourceEventId, eventType: 'manual.refund', apiVersion: 'v1', receivedAt: receivedAt.toISOString() },
    refs: { payment: ids.paymentRef },
    signals: {},
    type: 'refund',
    refundId: body.id,
    amountMinor: body.amount,
    currency: body.currency,
    status: 'succeeded',
  });
}

type Body = { kind: 'payment'; value: ManualPayment } | { kind: 'refund'; value: ManualRefund };

function buildEvent(body: Body, key: ApiKeyDoc, livemode: boolean, emailHashKey: string, receivedAt: Date): ParseResult<NormalizedPaymentEvent> {
  return body.kind === 'payment'
    ? manualPaymentEvent(body.value, key, livemode, emailHashKey, receivedAt)
    : manualRefundEvent(body.value, key, livemode, receivedAt);
}

const isDuplicateKey = (err: unknown) => (err as { code?: number } | null)?.code === 11000;

/**
 * POST /v1/payments and /v1/refunds. Idempotent on (website, mode, caller id): the first request reserves
 * the id (a saved request with the body's hash, `pending`), publishes, then marks it done and answers 202;
 * the same id again answers 200 with the same body; the same id with different content is a 409 — also
 * when the two requests race, because only one reservation can be inserted, so only one content is ever
 * published under an event id. A reservation left pending (Kafka refused: 503; a crash) is published
 * again by the next request with the same content, rebuilt from the first attempt's receipt time, so
 * every copy on the topic is identical (attribution ignores events it has already folded).
 */
export function manualHandler(kind: Kind, deps: ManualApiDeps) {
  const schema = kind === 'payment' ? manualPaymentSchema : manualRefundSchema;
  return async (req: Authed, res: Response): Promise<void> => {
    const receivedAt = new Date();
    // Every attempt with a valid key goes to the delivery log, refusals included: support sees a merchant's 422s.
    const record = (outcome: DeliveryInput['outcome'], httpStatus: number, errorCode: string | null, extra: Partial<DeliveryInput> = {}) =>
      deps.deliveries.record(manualDelivery(req, kind, receivedAt, outcome, httpStatus, errorCode, extra));
    try {
      await handle(req, res, receivedAt, record);
    } catch (err) {
      // Answered by the app's error handler (503 when MongoDB is unreachable, else 500); logged here for support.
      if (isDatabaseUnavailable(err)) record('unavailable', 503, 'database_unavailable');
      else record('rejected', 500, 'internal_error');
      throw err;
    }
  };

  async function handle(req: Authed, res: Response, receivedAt: Date, record: (outcome: DeliveryInput['outcome'], httpStatus: number, errorCode: string | null, extra?: Partial<DeliveryInput>) => void): Promise<void> {
    const key = req.apiKey!;
    const parsed = schema.safeParse(req.body);
    const schemaFields = parsed.success ? [] : fieldIssues(parsed.error);
    const fields = [...schemaFields, ...keyIssues(kind, req.body, key, new Set(schemaFields.map((f) => f.path)))];
    if (!parsed.success || fields.length > 0) {
      record('rejected', 422, 'validation_failed');
      return refuse(res, kind, fields);
    }
    const body = { kind, value: parsed.data } as Body;
    // The mode of a request: the body's livemode, else the key's. It is part of "the same request".
    let livemode = requestMode(parsed.data, key);
    if (kind === 'refund' && key.livemode && parsed.data.livemode === undefined) {
      livemode = (await savedPaymentMode(deps.requests, key.websiteId, (parsed.data as ManualRefund).paymentId)) ?? livemode;
    }
    const ids = manualIds(kind, key.websiteId, livemode, body.value.id, body.kind === 'payment' ? body.value.id : body.value.paymentId);
    const requestHash = stableHash({ ...body.value, livemode });
    const built = buildEvent(body, key, livemode, deps.emailHashKey, receivedAt);
    if (!built.ok) {
      record('rejected', 422, 'validation_failed', { livemode });
      return refuse(res, kind, built.error.issues.map((i) => ({ path: `event.${i.path}`, message: `${i.message} (in the event Metrivo builds from this ${kind})` })));
    }
    let event = built.value;
    const response = kind === 'payment' ? { paymentKey: ids.paymentKey } : { refundId: body.value.id, paymentKey: ids.paymentKey };

    // Reserve the id; an existing record decides instead when there is one (read first: repeats are common).
    let existing = await deps.requests.findOne({ _id: ids.requestId });
    if (!existing) {
      try {
        await deps.requests.insertOne({ _id: ids.requestId, websiteId: key.websiteId, kind, requestHash, response, createdAt: receivedAt, pending: true, livemode });
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        existing = await deps.requests.findOne({ _id: ids.requestId }); // a concurrent request reserved it first
        if (!existing) throw err;
      }
    }
    if (existing) {
      if (existing.requestHash !== requestHash) {
        record('rejected', 409, 'idempotency_conflict', { livemode });
        return sendError(res, 409, 'idempotency_conflict', `A ${kind} with id "${body.value.id}" was already received with different content${livemode ? '' : ' (test mode)'}; send new content with a new id.`);
      }
      if (!existing.pending) {
        record('duplicate', 200, null, { livemode });
        res.status(200).json(existing.response);
        return;
      }
      // Pending: in flight elsewhere, or an earlier attempt failed before Kafka acknowledged it.
      const again = buildEvent(body, key, livemode, deps.emailHashKey, existing.createdAt);
      if (!again.ok) throw again.error; // the same content built at an earlier time cannot newly fail
      event = again.value;
    }
    try {
      await deps.publisher.publish([event], requestTrace(req)?.traceparent);
    } catch (err) {
      if (err instanceof KafkaUnavailableError) {
        record('unavailable', 503, 'unavailable', { livemode });
        res.setHeader('Retry-After', String(deps.retryAfterSeconds));
        return sendError(res, 503, 'unavailable', 'Metrivo cannot store this right now; retry with the same id and content.');
      }
      throw err;
    }
    await deps.requests.updateOne({ _id: ids.requestId, requestHash }, { $unset: { pending: '' } });
    record('accepted', 202, null, {
      providerEventId: body.value.id, livemode: event.livemode, published: 1,
      hadMetrivoSignals: event.type === 'payment' ? event.signals.sessionId !== null || event.signals.visitorId !== null : null,
    });
    res.status(202).json(response);
  }
}

/**
 * The mode of the payment a refund refers to, when the gateway received that payment in exactly one mode. A
 * refund sent with a live key and no `livemode` then follows its payment: a live key may report test payments
 * (`livemode: false`), and a refund that does not repeat the flag must not land on a live payment that does not
 * exist. (Only for live keys: a test key never reports live money.) Null when unknown or ambiguous.
 */
async function savedPaymentMode(requests: Collection<ManualRequestDoc>, websiteId: string, paymentId: string): Promise<boolean | null> {
  const [live, test] = await Promise.all([true, false].map((mode) => requests.findOne({ _id: manualIds('payment', websiteId, mode, paymentId, paymentId).requestId })));
  if (test && !live) return false;
  if (live && !test) return true;
  return null;
}

function refuse(res: Response, kind: Kind, fields: FieldIssue[]): void {
  sendError(res, 422, 'validation_failed', `The ${kind} has ${fields.length} invalid field(s): ${fields.map((f) => f.path).join(', ')}.`, fields);
}
