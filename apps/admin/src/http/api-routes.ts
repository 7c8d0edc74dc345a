import type { PaymentState } from '@metrivo/contracts';
import type { IntegrationDoc } from '@metrivo/integration-store';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { AdminService, RequestContext } from '../admin-service';
import type { AuditLog } from '../audit';
import { actorOf, type Access } from '../auth/access';
import { LedgerUnavailableError, type LedgerClient } from '../ledger-client';
import { sendError, sendValidationFailed } from './errors';
import { limitParam, providerSchema, validateCreateApiKey, validateCreateIntegration, validateSetSecret, validateWebsiteId } from './validation';

type Handler = (req: Request, res: Response, next: NextFunction) => Promise<void>;

export interface ApiDeps {
  service: AdminService;
  audit: AuditLog;
  ledger: LedgerClient;
  access: Access;
}

export function requestContext(req: Request, res: Response): RequestContext {
  const actor = actorOf(res);
  if (!actor) throw new Error('requestContext called on an unauthenticated request');
  return { actor, ip: req.ip ?? null };
}

/**
 * JSON API under /api (DESIGN.md §4, fixed routes first, then what support needs beyond them).
 * Authentication: Bearer METRIVO_ADMIN_TOKEN or a staff session (+ CSRF header for writes).
 */
export function apiRouter(deps: ApiDeps): Router {
  const { service } = deps;
  const r = express.Router();
  r.use(deps.access.requireApiAuth);
  r.use(express.json({ limit: '16kb', strict: false }));

  const withIntegration = (fn: (req: Request, res: Response, doc: IntegrationDoc) => Promise<void>): Handler => async (req, res) => {
    const doc = await service.getIntegration(String(req.params.id));
    if (!doc) return sendError(res, 404, 'unknown_integration', `No integration with id ${String(req.params.id)}.`);
    await fn(req, res, doc);
  };
  const withWebsite = (fn: (req: Request, res: Response, websiteId: string) => Promise<void>): Handler => async (req, res) => {
    const v = validateWebsiteId(req.params.websiteId);
    if (!v.ok) return sendValidationFailed(res, v.issues.map((i) => ({ ...i, path: 'websiteId' })));
    await fn(req, res, v.value);
  };
  const ledgerCall = async <T>(res: Response, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof LedgerUnavailableError)) throw err;
      res.setHeader('Retry-After', '5');
      sendError(res, 503, 'ledger_unavailable', err.message);
      return undefined;
    }
  };

  // ---- contract routes -------------------------------------------------------------------------
  r.post('/integrations', async (req, res) => {
    const v = validateCreateIntegration(req.body);
    if (!v.ok) return sendValidationFailed(res, v.issues);
    const view = await service.createIntegration(requestContext(req, res), v.value);
    res.status(201).location(`/api/integrations/${encodeURIComponent(view.id)}`).json({ id: view.id, websiteId: view.websiteId, provider: view.provider, webhookUrl: view.webhookUrl, livemode: view.livemode });
  });

  r.put('/integrations/:id/secret', withIntegration(async (req, res, doc) => {
    if (doc.provider === 'manual') {
      return sendError(res, 409, 'secret_not_applicable', 'Manual Payment API integrations have no webhook and no signing secret; create an API key instead.');
    }
    const v = validateSetSecret(doc.provider, req.body);
    if (!v.ok) return sendValidationFailed(res, v.issues);
    const view = await service.setSecret(requestContext(req, res), doc, v.value.secret, v.value.keepPreviousForHours ?? 0);
    if (!view) return sendError(res, 404, 'unknown_integration', `No integration with id ${doc._id}.`);
    res.status(204).end();
  }));

  r.get('/integrations/:id', withIntegration(async (_req, res, doc) => {
    const [health] = await Promise.all([service.setupHealth(doc)]);
    res.json({ ...service.integrationView(doc), health });
  }));

  r.get('/integrations/:id/deliveries', withIntegration(async (req, res, doc) => {
    res.json({ deliveries: await service.recentDeliveries(doc, limitParam(req.query.limit, 50, 500)) });
  }));

  r.post('/websites/:websiteId/api-keys', withWebsite(async (req, res, websiteId) => {
    const v = validateCreateApiKey(req.body);
    if (!v.ok) return sendValidationFailed(res, v.issues);
    const { view, key } = await service.createApiKey(requestContext(req, res), websiteId, v.value.livemode ?? true);
    res.status(201).setHeader('Cache-Control', 'no-store');
    res.json({ id: view.id, key, prefix: view.prefix, livemode: view.livemode });
  }));

  // ---- beyond the contract: what support and scripts need ----------------------------------------
  r.get('/integrations', async (req, res) => {
    let websiteId: string | undefined;
    if (req.query.websiteId !== undefined) {
      const v = validateWebsiteId(req.query.websiteId);
      if (!v.ok) return sendValidationFailed(res, v.issues.map((i) => ({ ...i, path: 'websiteId' })));
      websiteId = v.value;
    }
    res.json({ integrations: await service.listIntegrations(websiteId) });
  });

  for (const [action, status] of [['disable', 'disabled'], ['enable', 'active']] as const) {
    r.post(`/integrations/:id/${action}`, withIntegration(async (req, res, doc) => {
      const view = await service.setStatus(requestContext(req, res), doc, status);
      if (!view) return sendError(res, 404, 'unknown_integration', `No integration with id ${doc._id}.`);
      res.json(view);
    }));
  }

  r.get('/websites/:websiteId/api-keys', withWebsite(async (_req, res, websiteId) => {
    res.json({ apiKeys: await service.listApiKeys(websiteId) });
  }));

  r.delete('/websites/:websiteId/api-keys/:keyId', withWebsite(async (req, res, websiteId) => {
    const ok = await service.revokeApiKey(requestContext(req, res), websiteId, String(req.params.keyId));
    if (!ok) return sendError(res, 404, 'unknown_api_key', 'No active API key with this id for this website.');
    res.status(204).end();
  }));

  r.get('/websites/:websiteId/payments', withWebsite(async (req, res, websiteId) => {
    const livemode = req.query.livemode === undefined ? true : req.query.livemode === 'true' ? true : req.query.livemode === 'false' ? false : null;
    if (livemode === null) return sendValidationFailed(res, [{ path: 'livemode', message: 'must be true or false' }]);
    const payments = await ledgerCall(res, () => deps.ledger.listPayments(websiteId, { livemode, limit: limitParam(req.query.limit, 20, 100) }));
    if (payments) res.json({ payments });
  }));

  r.get('/websites/:websiteId/payments/:paymentKey', withWebsite(async (req, res, websiteId) => {
    const paymentKey = String(req.params.paymentKey);
    const found = await ledgerCall(res, () => deps.ledger.getPayment(websiteId, paymentKey));
    if (found === undefined) return;
    if (found === null) return sendError(res, 404, 'unknown_payment', `No payment ${paymentKey} for website ${websiteId}.`);
    res.json(found);
  }));

  /** The newest test-mode payment (optionally of one provider): what "test the connection" polls. */
  r.get('/websites/:websiteId/test-payments/latest', withWebsite(async (req, res, websiteId) => {
    let provider: PaymentState['provider'] | undefined;
    if (req.query.provider !== undefined) {
      const p = providerSchema.safeParse(req.query.provider);
      if (!p.success) return sendValidationFailed(res, [{ path: 'provider', message: p.error.issues[0]?.message ?? 'is invalid' }]);
      provider = p.data;
    }
    const payments = await ledgerCall(res, () => deps.ledger.listPayments(websiteId, { livemode: false, limit: 20 }));
    if (!payments) return;
    res.json({ payment: payments.find((p) => !provider || p.provider === provider) ?? null });
  }));

  r.get('/audit', async (req, res) => {
    const targetId = typeof req.query.targetId === 'string' ? req.query.targetId : undefined;
    const websiteId = typeof req.query.websiteId === 'string' ? req.query.websiteId : undefined;
    res.json({ entries: await deps.audit.recent({ targetId, websiteId }, limitParam(req.query.limit, 100, 1000)) });
  });

  r.use((req: Request, res: Response) => sendError(res, 404, 'not_found', `No API route for ${req.method} ${req.baseUrl}${req.path}.`));
  return r;
}
