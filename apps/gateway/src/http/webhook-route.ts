import type { NormalizedPaymentEvent } from '@metrivo/contracts';
import type { IntegrationProvider } from '@metrivo/integration-store';
import { KafkaUnavailableError } from '@metrivo/kafka';
import { isDatabaseUnavailable, requestTrace } from '@metrivo/observability';
import type { Request, Response } from 'express';
import type { DeliveryInput, DeliveryRecorder } from '../delivery-recorder';
import type { IntegrationCache } from '../integration-cache';
import type { JsonObject, VerificationResult, VerifyWebhookInput } from '../signatures';
import { sendError } from './errors';
import { RecentSet } from './lru';

export type WebhookProvider = Exclude<IntegrationProvider, 'manual'>;

export interface NormalizeContext {
  websiteId: string;
  integrationId: string;
  receivedAt: Date;
  emailHashKey: string;
  providerEventId?: string | null;
  /** The integration's mode, for providers whose payloads do not say (Razorpay, Dodo). */
  livemode?: boolean;
}

export interface NormalizeOutcome {
  events: NormalizedPaymentEvent[];
  ignored?: string;
}

/** What the route needs from a provider: verify raw bytes, then normalize the verified event. */
export interface ProviderAdapter {
  verify(input: VerifyWebhookInput): VerificationResult<JsonObject>;
  /** Throws a PayloadError (→ 400 invalid_payload) when a known event type lacks a field. */
  normalize(event: JsonObject, ctx: NormalizeContext): NormalizeOutcome;
  describe(event: JsonObject): { eventType: string | null; livemode: boolean | null };
}

export interface EventPublisher {
  /**
   * Resolves once Kafka acknowledged every event (acks=all); rejects with KafkaUnavailableError. `traceparent`: the
   * request's trace, sent on as the records' header (the consumers' logs then carry it).
   */
  publish(events: NormalizedPaymentEvent[], traceparent?: string): Promise<void>;
}

export interface WebhookDeps {
  integrations: Pick<IntegrationCache, 'get'>;
  adapters: Record<WebhookProvider, ProviderAdapter>;
  publisher: EventPublisher;
  deliveries: Pick<DeliveryRecorder, 'record'>;
  recentlyAccepted: RecentSet;
  emailHashKey: string;
  retryAfterSeconds: number;
  logger: { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void };
  isPayloadError(err: unknown): err is Error;
}

const hasSignals = (events: NormalizedPaymentEvent[]): boolean | null => {
  const payments = events.filter((e) => e.type === 'payment');
  if (payments.length === 0) return null;
  return payments.some((e) => e.signals.sessionId !== null || e.signals.visitorId !== null);
};

const UNREADABLE_WARNING_INTERVAL_MS = 60_000;

/**
 * POST /v1/webhooks/:provider/:integrationId. Order matters: look the integration up, verify the raw
 * bytes with its secrets, only then parse and normalize, publish, and answer 2xx after Kafka acked.
 * Every outcome goes to the delivery log; nothing rejected is published.
 */
export function webhookHandler(provider: WebhookProvider, deps: WebhookDeps) {
  const adapter = deps.adapters[provider];
  /** Integrations whose unreadable secret was warned about in the last minute (bounded). */
  const unreadableWarned = new RecentSet(UNREADABLE_WARNING_INTERVAL_MS, 10_000);
  return async (req: Request, res: Response): Promise<void> => {
    const started = Date.now();
    const receivedAt = new Date(started);
    const integrationId = String(req.params.integrationId ?? '');
    // Passed on explicitly, not through an active context: see traceRequests' `activeContext`.
    const trace = requestTrace(req);
    const delivery: DeliveryInput = {
      integrationId, websiteId: null, provider, receivedAt, providerEventId: null, eventType: null, livemode: null,
      outcome: 'rejected', httpStatus: 400, errorCode: null, published: 0, hadMetrivoSignals: null, durationMs: 0,
      traceId: trace?.traceId ?? null,
    };
    const finish = (status: number, outcome: DeliveryInput['outcome'], errorCode: string | null) => {
      deps.deliveries.record({ ...delivery, httpStatus: status, outcome, errorCode, durationMs: Date.now() - started });
    };
    /** `loggedCode`: a more specific code for the delivery log than the contract's answer code. */
    const reject = (status: number, code: string, message: string, loggedCode: string = code) => {
      sendError(res, status, code, message);
      finish(status, status === 503 ? 'unavailable' : 'rejected', loggedCode);
    };

    let integration: Awaited<ReturnType<WebhookDeps['integrations']['get']>>;
    try {
      integration = await deps.integrations.get(integrationId);
    } catch (err) {
      if (!isDatabaseUnavailable(err)) {
        finish(500, 'rejected', 'internal_error');
        throw err;
      }
      // MongoDB unreachable and no usable cached copy: the provider retries a 503. The attempt is still logged for
      // support (the recorder keeps it until MongoDB answers again).
      deps.logger.warn({ integrationId, err: (err as Error).message, trace_id: trace?.traceId }, 'integration lookup failed: MongoDB unavailable; webhook refused with 503');
      res.setHeader('Retry-After', String(deps.retryAfterSeconds));
      return reject(503, 'unavailable', 'Metrivo cannot look this integration up right now; the provider will retry.', 'database_unavailable');
    }
    if (!integration) return reject(404, 'unknown_integration', `No integration with id "${integrationId}".`);
    delivery.websiteId = integration.doc.websiteId;
    if (integration.doc.provider !== provider) {
      return reject(404, 'unknown_integration', `Integration "${integrationId}" is a ${integration.doc.provider} integration; this is the ${provider} webhook URL.`);
    }
    if (integration.doc.status !== 'active') {
      // DESIGN §4 defines one 404 for webhooks: providers and dashboards only know `unknown_integration`.
      // The message (and the delivery log) still tell support why.
      return reject(404, 'unknown_integration', `Integration "${integrationId}" is disabled in Metrivo admin; enable it there to receive this provider's webhooks.`);
    }
    if (!Buffer.isBuffer(req.body) || req.body.length === 0) {
      return reject(400, 'invalid_payload', 'The request body is empty or not JSON (expected Content-Type: application/json).');
    }
    // A secret whose key left METRIVO_SECRET_KEYS cannot be checked: a signature that matches none of the
    // readable secrets may still be valid, so the answer is the contract's 503 `unavailable` with Retry-After (the
    // provider retries, and succeeds once the key is back or the secret is set again), not a 400 that calls the
    // merchant's signature wrong. The delivery log keeps the specific reason, `secret_unreadable`, for support.
    // The answer stays generic (anyone can post to a webhook URL; the configuration detail is for the log), and the
    // warning comes at most once a minute per integration, so unsigned junk cannot flood the log.
    const unverifiable = () => {
      if (!unreadableWarned.has(integrationId, started)) {
        unreadableWarned.add(integrationId, started);
        deps.logger.warn(
          { integrationId, keyIds: [...new Set(integration.unreadable.map((u) => u.keyId))], reasons: [...new Set(integration.unreadable.map((u) => u.reason))], trace_id: trace?.traceId },
          'webhook signature not checkable: a signing secret of this integration cannot be opened with METRIVO_SECRET_KEYS (its key was removed or differs); repeated at most once a minute',
        );
      }
      res.setHeader('Retry-After', String(deps.retryAfterSeconds));
      reject(503, 'unavailable', 'Metrivo cannot verify this webhook right now; the provider will retry.', 'secret_unreadable');
    };
    if (integration.secrets.length === 0) {
      if (integration.unreadable.length > 0) return unverifiable();
      return reject(400, 'invalid_signature', `Integration "${integrationId}" has no signing secret yet; set it in Metrivo admin.`);
    }

    const verified = adapter.verify({ rawBody: req.body, headers: req.headers, secrets: integration.secrets, now: receivedAt });
    if (!verified.ok) {
      if (verified.code === 'invalid_signature' && integration.unreadable.length > 0) return unverifiable();
      return reject(400, verified.code === 'missing_signature' ? 'invalid_signature' : verified.code, verified.message);
    }
    const { eventType, livemode } = adapter.describe(verified.event);
    delivery.providerEventId = verified.providerEventId;
    delivery.eventType = eventType;
    delivery.livemode = livemode ?? integration.doc.livemode ?? true;

    const dedupeKey = verified.providerEventId ? `${integrationId}:${verified.providerEventId}` : null;
    if (dedupeKey && deps.recentlyAccepted.has(dedupeKey)) {
      res.status(200).json({ received: true, duplicate: true });
      return finish(200, 'duplicate', null);
    }

    let outcome: NormalizeOutcome;
    try {
      outcome = adapter.normalize(verified.event, {
        websiteId: integration.doc.websiteId, integrationId, receivedAt, emailHashKey: deps.emailHashKey,
        providerEventId: verified.providerEventId, livemode: integration.doc.livemode ?? true,
      });
    } catch (err) {
      if (deps.isPayloadError(err)) return reject(400, 'invalid_payload', err.message);
      finish(500, 'rejected', 'internal_error'); // the error handler answers 500; support still sees the attempt
      throw err;
    }
    if (outcome.events.length === 0) {
      res.status(200).json({ received: true, ignored: true });
      return finish(200, 'ignored', null);
    }
    delivery.hadMetrivoSignals = hasSignals(outcome.events);
    try {
      await deps.publisher.publish(outcome.events, trace?.traceparent);
    } catch (err) {
      if (err instanceof KafkaUnavailableError) {
        deps.logger.warn({ integrationId, providerEventId: verified.providerEventId, err: err.message, trace_id: trace?.traceId }, 'kafka unavailable; webhook refused with 503');
        res.setHeader('Retry-After', String(deps.retryAfterSeconds));
        return reject(503, 'unavailable', 'Metrivo cannot store this event right now; the provider will retry.');
      }
      finish(500, 'rejected', 'internal_error');
      throw err;
    }
    if (dedupeKey) deps.recentlyAccepted.add(dedupeKey);
    delivery.published = outcome.events.length;
    res.status(200).json({ received: true });
    finish(200, 'accepted', null);
  };
}
