import { createHash } from 'node:crypto';
import { currencyCode, fieldIssues, normalizedPaymentEventSchema, type NormalizedPaymentEvent } from '@metrivo/contracts';
import { hashApiKey, hashEmail, looksLikeEmail, maskEmail } from '@metrivo/crypto';
import type { ApiKeyDoc } from '@metrivo/integration-store';
import { KafkaUnavailableError } from '@metrivo/kafka';
import type { NextFunction, Request, Response } from 'express';
import type { Collection } from 'mongodb';
import { z } from 'zod';
import type { DeliveryRecorder } from '../delivery-recorder';
import { sendError } from './errors';
import type { EventPublisher } from './webhook-route';

const MAX_PAST_MS = 5 * 365 * 86_400_000;
const MAX_FUTURE_MS = 24 * 3_600_000;

const callerId = z
  .string({ error: 'is required and must be a string' })
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .regex(/^[\w.:\-/@#]+$/, 'may contain only letters, digits and _ . : - / @ #');
// Trimmed like webhook signal ids (`cleanSignalId`): " v_9" from a template must match the tracker's "v_9".
// A blank one is refused rather than dropped: the caller sent it on purpose and should learn it is empty.
const optionalRef = z
  .string({ error: 'must be a string' })
  .trim()
  .min(1, 'must not be blank')
  .max(255, 'must be at most 255 characters (after trimming spaces)')
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
  { id: callerId, paymentId: callerId, amount, currency: currencyCode, occurredAt },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown field(s): ${iss.keys.join(', ')}` : undefined) },
);

/** Idempotency records: one per (website, kind, caller id), written after Kafka acknowledged. */
export interface ManualRequestDoc {
  _id: string;
  websiteId: string;
  kind: 'payment' | 'refund';
  requestHash: string;
  response: Record<string, unknown>;
  createdAt: Date;
}

export interface ManualApiDeps {
  findApiKey(hash: string): Promise<ApiKeyDoc | null>;
  requests: Collection<ManualRequestDoc>;
  publisher: EventPublisher;
  deliveries: Pick<DeliveryRecorder, 'record'>;
  emailHashKey: string;
  retryAfterSeconds: number;
}

type Authed = Request & { apiKey?: ApiKeyDoc };

/** `Authorization: Bearer <website API key>` → the key's document on req.apiKey, else 401. */
export function requireApiKey(deps: Pick<ManualApiDeps, 'findApiKey'>) {
  return async (req: Authed, res: Response, next: NextFunction): Promise<void> => {
    const header = req.get('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m?.[1]) return sendError(res, 401, 'invalid_api_key', 'Send the website API key as "Authorization: Bearer <key>".');
    const doc = await deps.findApiKey(hashApiKey(m[1]));
    if (!doc) return sendError(res, 401, 'invalid_api_key', 'This API key is unknown or has been revoked.');
    req.apiKey = doc;
    next();
  };
}

const stableHash = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex');

/** Pure: a validated manual payment → its NormalizedPaymentEvent. */
export function manualPaymentEvent(
  body: z.infer<typeof manualPaymentSchema>, key: ApiKeyDoc, emailHashKey: string, receivedAt: Date,
): NormalizedPaymentEvent {
  return normalizedPaymentEventSchema.parse({
    schemaVersion: 1,
    eventId: `manual:${key.websiteId}:payment:${body.id}`,
    websiteId: key.websiteId,
    integrationId: key._id,
    provider: 'manual',
    livemode: body.livemode ?? key.livemode,
    occurredAt: new Date(body.occurredAt ? Date.parse(body.occurredAt) : receivedAt.getTime()).toISOString(),
    source: { eventId: `payment:${body.id}`, eventType: 'manual.payment', apiVersion: 'v1', receivedAt: receivedAt.toISOString() },
    refs: { payment: body.id, subscription: body.subscriptionId ?? null },
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

export function manualRefundEvent(body: z.infer<typeof manualRefundSchema>, key: ApiKeyDoc, receivedAt: Date): NormalizedPaymentEvent {
  return normalizedPaymentEventSchema.parse({
    schemaVersion: 1,
    eventId: `manual:${key.websiteId}:refund:${body.id}`,
    websiteId: key.websiteId,
    integrationId: key._id,
    provider: 'manual',
    livemode: key.livemode,
    occurredAt: new Date(body.occurredAt ? Date.parse(body.occurredAt) : receivedAt.getTime()).toISOString(),
    source: { eventId: `refund:${body.id}`, eventType: 'manual.refund', apiVersion: 'v1', receivedAt: receivedAt.toISOString() },
    refs: { payment: body.paymentId },
    signals: {},
    type: 'refund',
    refundId: body.id,
    amountMinor: body.amount,
    currency: body.currency,
    status: 'succeeded',
  });
}

/**
 * POST /v1/payments and /v1/refunds. Idempotent on the caller's id: the first request publishes and
 * answers 202; the same id again answers 200 with the same body; the same id with different content
 * is a 409. The idempotency record is written after Kafka acknowledged, so a crash in between only
 * means the retry publishes again — harmless, because the event id is derived from the caller's id
 * and attribution ignores events it has already folded.
 */
export function manualHandler(kind: 'payment' | 'refund', deps: ManualApiDeps) {
  const schema = kind === 'payment' ? manualPaymentSchema : manualRefundSchema;
  return async (req: Authed, res: Response): Promise<void> => {
    const key = req.apiKey!;
    const receivedAt = new Date();
    const parsed = schema.safeParse(req.body);
    if (!parsed.success) {
      const fields = fieldIssues(parsed.error);
      return sendError(res, 422, 'validation_failed', `The ${kind} has ${fields.length} invalid field(s): ${fields.map((f) => f.path).join(', ')}.`, fields);
    }
    const body = parsed.data;
    const docId = `${key.websiteId}:${kind}:${body.id}`;
    // The mode the event gets is part of "the same request": an omitted livemode means the key's mode.
    const livemode = ('livemode' in body ? body.livemode : undefined) ?? key.livemode;
    const requestHash = stableHash({ ...body, livemode });
    const existing = await deps.requests.findOne({ _id: docId });
    if (existing) {
      if (existing.requestHash !== requestHash) {
        return sendError(res, 409, 'idempotency_conflict', `A ${kind} with id "${body.id}" was already received with different content.`);
      }
      res.status(200).json(existing.response);
      return;
    }
    const event = kind === 'payment'
      ? manualPaymentEvent(body as z.infer<typeof manualPaymentSchema>, key, deps.emailHashKey, receivedAt)
      : manualRefundEvent(body as z.infer<typeof manualRefundSchema>, key, receivedAt);
    const response = kind === 'payment' ? { paymentKey: `manual:${body.id}` } : { refundId: body.id, paymentKey: `manual:${(body as { paymentId: string }).paymentId}` };
    try {
      await deps.publisher.publish([event]);
    } catch (err) {
      if (err instanceof KafkaUnavailableError) {
        res.setHeader('Retry-After', String(deps.retryAfterSeconds));
        return sendError(res, 503, 'unavailable', 'Metrivo cannot store this right now; retry with the same id.');
      }
      throw err;
    }
    await deps.requests
      .insertOne({ _id: docId, websiteId: key.websiteId, kind, requestHash, response, createdAt: receivedAt })
      .catch((err: { code?: number }) => {
        if (err.code !== 11000) throw err; // a concurrent identical request won the race: same outcome
      });
    deps.deliveries.record({
      integrationId: key._id, websiteId: key.websiteId, provider: 'manual', receivedAt, providerEventId: body.id,
      eventType: `manual.${kind}`, livemode: event.livemode, outcome: 'accepted', httpStatus: 202, errorCode: null, published: 1,
      hadMetrivoSignals: event.type === 'payment' ? event.signals.sessionId !== null || event.signals.visitorId !== null : null,
      durationMs: Date.now() - receivedAt.getTime(),
    });
    res.status(202).json(response);
  };
}
