import { healthzHandler, isDatabaseUnavailable, readyzHandler, requestTrace, traceRequests, type HealthOptions } from '@metrivo/observability';
import express, { type NextFunction, type Request, type Response } from 'express';
import { sendError } from './http/errors';
import { manualHandler, recordManualBodyErrors, requireApiKey, type ManualApiDeps } from './http/manual-api';
import { webhookHandler, type WebhookDeps, type WebhookProvider } from './http/webhook-route';

export interface GatewayAppDeps {
  webhooks: WebhookDeps;
  manual: ManualApiDeps;
  health: HealthOptions;
  bodyLimitBytes: number;
  logger: WebhookDeps['logger'];
}

const WEBHOOK_PROVIDERS: WebhookProvider[] = ['stripe', 'razorpay', 'dodo'];

/** Express 5 forwards rejected promises to the error handler; this keeps handlers typed as async. */
const wrap = <R extends Request>(fn: (req: R, res: Response, next: NextFunction) => Promise<void>) =>
  (req: Request, res: Response, next: NextFunction) => fn(req as R, res, next);

const isJson = (req: Request) => /^application\/([\w.+-]+\+)?json\b/i.test(req.get('content-type') ?? '');

export function createGatewayApp(deps: GatewayAppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Answers are small JSON acknowledgements that nobody caches: skip hashing every body for an ETag.
  app.set('etag', false);
  app.set('trust proxy', true);
  // A trace per request (the caller's traceparent when it sends one), handed on explicitly to the published events,
  // the delivery log and the log lines (no active context: its promise hook costs CPU on the hot path; see traceRequests).
  app.use(traceRequests('gateway', { activeContext: false }));

  app.get('/healthz', healthzHandler());
  app.get('/readyz', readyzHandler(deps.health));

  // Raw bytes for webhooks: signatures are computed over the exact body, before any parsing.
  const rawBody = express.raw({ type: () => true, limit: deps.bodyLimitBytes });
  // Refusals made before the route handler runs (content type, body limit) belong in the delivery log too.
  const recordEarlyRejection = (provider: WebhookProvider, req: Request, status: number, errorCode: string) =>
    deps.webhooks.deliveries.record({
      integrationId: String(req.params.integrationId ?? ''), websiteId: null, provider, receivedAt: new Date(), providerEventId: null,
      eventType: null, livemode: null, outcome: 'rejected', httpStatus: status, errorCode, published: 0, hadMetrivoSignals: null, durationMs: 0,
      traceId: requestTrace(req)?.traceId ?? null,
    });
  for (const provider of WEBHOOK_PROVIDERS) {
    app.post(`/v1/webhooks/${provider}/:integrationId`, (req: Request, res: Response, next: NextFunction) => {
      if (!isJson(req)) {
        recordEarlyRejection(provider, req, 415, 'unsupported_media_type');
        return sendError(res, 415, 'unsupported_media_type', 'Webhooks must be sent with Content-Type: application/json.');
      }
      next();
    }, rawBody, wrap(webhookHandler(provider, deps.webhooks)), (err: unknown, req: Request, _res: Response, next: NextFunction) => {
      if ((err as { type?: string }).type === 'entity.too.large') recordEarlyRejection(provider, req, 413, 'payload_too_large');
      next(err);
    });
  }

  const jsonBody = express.json({ limit: '64kb', strict: true, type: () => true });
  const auth = wrap(requireApiKey(deps.manual));
  app.post('/v1/payments', auth, jsonBody, wrap(manualHandler('payment', deps.manual)), recordManualBodyErrors('payment', deps.manual));
  app.post('/v1/refunds', auth, jsonBody, wrap(manualHandler('refund', deps.manual)), recordManualBodyErrors('refund', deps.manual));

  app.use((req: Request, res: Response) => sendError(res, 404, 'not_found', `No route for ${req.method} ${req.path}.`));

  // Body-parser errors carry `type`; infrastructure errors (MongoDB down) become 503 so providers retry.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; name?: string; message?: string };
    if (e.type === 'entity.too.large') return sendError(res, 413, 'payload_too_large', `The body exceeds ${deps.bodyLimitBytes} bytes.`);
    if (e.type === 'entity.parse.failed') return sendError(res, 400, 'invalid_payload', 'The body is not valid JSON.');
    if (e.type === 'request.aborted') return;
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return sendError(res, e.status, 'bad_request', e.message ?? 'Bad request.');
    const infra = isDatabaseUnavailable(err);
    deps.logger.error({ err, path: req.path, trace_id: requestTrace(req)?.traceId }, infra ? 'database unavailable' : 'unhandled error');
    if (res.headersSent) return;
    if (infra) {
      res.setHeader('Retry-After', String(deps.webhooks.retryAfterSeconds));
      return sendError(res, 503, 'unavailable', 'A Metrivo dependency is unavailable; retry shortly.');
    }
    sendError(res, 500, 'internal_error', 'Unexpected error; it has been logged.');
  });
  return app;
}
