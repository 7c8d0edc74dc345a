import { createHash, randomBytes } from 'node:crypto';
import type { PaymentState } from '@metrivo/contracts';
import { ApiKeyIdTakenError, type IntegrationDoc } from '@metrivo/integration-store';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { AdminService, ApiKeyView } from '../admin-service';
import type { AuditLog } from '../audit';
import { access, type Access } from '../auth/access';
import { burnPasswordCheck, verifyPassword } from '../auth/passwords';
import type { SessionStore } from '../auth/session-store';
import type { StaffStore } from '../auth/staff-store';
import { href } from '../html';
import { requestContext } from '../http/api-routes';
import { hoursFromForm, providerSchema, safeNextPath, validateCreateIntegration, validateSetSecret, validateWebsiteId } from '../http/validation';
import { LedgerUnavailableError, type LedgerClient } from '../ledger-client';
import { SCRIPT } from './assets';
import type { PageStaff } from './layout';
import { errorPage, loginPage } from './pages-auth';
import { integrationDetailPage, integrationsPage, type CreateFormState } from './pages-integrations';
import { apiKeysPage, paymentDetailPage, paymentsPage, testConnectionFragment, testConnectionPage, type TestConnectionData } from './pages-website';

type Logger = { info(o: object, m: string): void; warn(o: object, m: string): void };

export interface UiDeps {
  service: AdminService;
  audit: AuditLog;
  staff: StaffStore;
  sessions: SessionStore;
  ledger: LedgerClient;
  access: Access;
  logger: Logger;
  publicGatewayUrl: string;
  loginRateLimit: { windowMs: number; limit: number };
  now: () => Date;
}

/** Fixed texts for ?notice=…: a redirect can say what happened without echoing user input. */
const NOTICES: Record<string, string> = {
  created: 'Integration created. Hand the merchant the webhook URL and the event list, then store the signing secret.',
  secret_saved: 'Signing secret saved (encrypted). Only its last 4 characters are shown (none of a secret shorter than 24 characters).',
  enabled: 'Integration enabled.',
  disabled: 'Integration disabled: the gateway now refuses its webhooks.',
  revoked: 'API key revoked.',
  logged_out: 'You are logged out.',
};
const notice = (req: Request) => (typeof req.query.notice === 'string' ? NOTICES[req.query.notice] ?? null : null);

const formBody = (req: Request) => (req.body ?? {}) as Record<string, unknown>;
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

function staffOf(res: Response): PageStaff {
  const s = access(res).session;
  if (!s) throw new Error('UI page rendered without a session');
  return { name: s.name, email: s.email };
}

function sendPage(res: Response, status: number, markup: string): void {
  res.status(status).type('html').send(markup);
}

export function uiRouter(deps: UiDeps): Router {
  const { service, access: acc } = deps;
  const r = express.Router();
  const urlencoded = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 });

  r.get('/assets/admin.js', (_req, res) => {
    res.type('application/javascript').setHeader('Cache-Control', 'public, max-age=3600');
    res.send(SCRIPT);
  });

  // ---- login / logout --------------------------------------------------------------------------
  r.get('/login', (req, res) => {
    if (access(res).session) return res.redirect(303, safeNextPath(req.query.next));
    acc.ensurePreSession(req, res);
    sendPage(res, 200, loginPage({ csrf: acc.csrfToken(req, res), next: safeNextPath(req.query.next), error: notice(req) }));
  });

  const loginLimiter = rateLimit({
    windowMs: deps.loginRateLimit.windowMs,
    limit: deps.loginRateLimit.limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    skipSuccessfulRequests: true,
    handler: (req, res) => {
      deps.logger.warn({ ip: req.ip }, 'login rate limit reached');
      acc.ensurePreSession(req, res);
      sendPage(res, 429, loginPage({ csrf: acc.csrfToken(req, res), next: '/', error: 'Too many login attempts from this address. Wait a few minutes and try again.' }));
    },
  });

  r.post('/login', loginLimiter, urlencoded, acc.csrfProtection, async (req, res) => {
    const body = formBody(req);
    const email = str(body.email)?.trim() ?? '';
    const password = str(body.password) ?? '';
    const next = safeNextPath(body.next);
    const staff = email ? await deps.staff.findByEmail(email) : null;
    const ok = staff && staff.disabledAt === null ? await verifyPassword(staff.passwordHash, password) : (await burnPasswordCheck(password), false);
    if (!staff || !ok) {
      deps.logger.warn({ ip: req.ip }, 'login failed');
      return sendPage(res, 401, loginPage({ csrf: acc.csrfToken(req, res), next, email, error: 'Email or password is not correct (or the account is disabled).' }));
    }
    await deps.sessions.deleteExpired(deps.now());
    const { token, doc } = await deps.sessions.create(staff, deps.now());
    acc.startSession(res, token);
    await deps.audit.record({ actor: { type: 'staff', staffId: staff._id, email: staff.email }, ip: req.ip ?? null, action: 'staff.login', target: { type: 'session', id: doc._id.slice(0, 12) }, websiteId: null, details: {} });
    deps.logger.info({ staffId: staff._id }, 'staff logged in');
    res.redirect(303, next);
  });

  // Without a session there is nothing to end (and no token to check): just go to the login page.
  const skipWithoutSession = (_req: Request, res: Response, next: NextFunction) => (access(res).session ? next() : res.redirect(303, '/login'));
  r.post('/logout', skipWithoutSession, urlencoded, acc.csrfProtection, async (req, res) => {
    const a = access(res);
    if (a.session && a.sessionToken) {
      await deps.sessions.delete(a.sessionToken);
      await deps.audit.record({ actor: { type: 'staff', staffId: a.session.staffId, email: a.session.email }, ip: req.ip ?? null, action: 'staff.logout', target: { type: 'session', id: a.session._id.slice(0, 12) }, websiteId: null, details: {} });
    }
    acc.endSession(res);
    res.redirect(303, '/login?notice=logged_out');
  });

  // ---- everything below needs a staff session --------------------------------------------------
  r.use(acc.requireStaff);
  r.use(urlencoded);
  r.use(acc.csrfProtection);

  const csrf = (req: Request, res: Response) => acc.csrfToken(req, res);
  const notFound = (req: Request, res: Response, message: string) =>
    sendPage(res, 404, errorPage({ status: 404, title: 'Not found', message, csrf: csrf(req, res), staff: staffOf(res) }));
  const withIntegration = (fn: (req: Request, res: Response, doc: IntegrationDoc) => Promise<void>) => async (req: Request, res: Response) => {
    const doc = await service.getIntegration(String(req.params.id));
    if (!doc) return notFound(req, res, 'There is no integration with this id.');
    await fn(req, res, doc);
  };
  const withWebsite = (fn: (req: Request, res: Response, websiteId: string) => Promise<void>) => async (req: Request, res: Response, next: NextFunction) => {
    const v = validateWebsiteId(req.params.websiteId);
    if (!v.ok) return notFound(req, res, 'That is not a valid website id.');
    await fn(req, res, v.value).catch(next);
  };

  r.get('/', (_req, res) => res.redirect(303, '/integrations'));

  r.get('/websites', (req, res) => {
    const v = validateWebsiteId(req.query.websiteId);
    res.redirect(303, v.ok ? href`/integrations?websiteId=${v.value}` : '/integrations');
  });

  const renderIntegrations = async (req: Request, res: Response, websiteId: string | null, form: CreateFormState, status = 200) => {
    const integrations = await service.listIntegrations(websiteId ?? undefined);
    sendPage(res, status, integrationsPage({ staff: staffOf(res), csrf: csrf(req, res), notice: notice(req), integrations, websiteId, form }));
  };

  r.get('/integrations', async (req, res) => {
    const v = req.query.websiteId !== undefined ? validateWebsiteId(req.query.websiteId) : null;
    await renderIntegrations(req, res, v?.ok ? v.value : null, { values: {}, errors: v && !v.ok ? { websiteId: v.issues[0]?.message } : {} });
  });

  r.post('/integrations', async (req, res) => {
    const body = formBody(req);
    const livemode = body.livemode === 'true' ? true : body.livemode === 'false' ? false : undefined;
    const v = validateCreateIntegration({ websiteId: body.websiteId, provider: body.provider, livemode });
    // The mode decides how Razorpay/Dodo payments are labelled, so the form makes support choose it.
    const modeMissing = livemode === undefined && body.provider !== 'manual';
    if (!v.ok || modeMissing) {
      const errors: CreateFormState['errors'] = {};
      if (!v.ok) for (const i of v.issues) if (i.path === 'websiteId' || i.path === 'provider') errors[i.path] ??= i.message;
      if (modeMissing) errors.livemode = 'choose Test or Live';
      return renderIntegrations(req, res, null, { values: { websiteId: str(body.websiteId), provider: str(body.provider), livemode: str(body.livemode) }, errors }, 422);
    }
    const view = await service.createIntegration(requestContext(req, res), v.value);
    res.redirect(303, href`/integrations/${view.id}?notice=created`);
  });

  const renderDetail = async (req: Request, res: Response, doc: IntegrationDoc, secretForm?: Parameters<typeof integrationDetailPage>[0]['secretForm'], status = 200) => {
    const [health, deliveries, audit] = await Promise.all([service.setupHealth(doc), service.recentDeliveries(doc, 25), deps.audit.recent({ targetId: doc._id }, 20)]);
    sendPage(res, status, integrationDetailPage({
      staff: staffOf(res), csrf: csrf(req, res), notice: notice(req), view: service.integrationView(doc), health, deliveries, audit, gatewayUrl: deps.publicGatewayUrl, secretForm,
    }));
  };

  r.get('/integrations/:id', withIntegration((req, res, doc) => renderDetail(req, res, doc)));

  r.post('/integrations/:id/secret', withIntegration(async (req, res, doc) => {
    const body = formBody(req);
    if (doc.provider === 'manual') return renderDetail(req, res, doc, { error: 'Manual Payment API integrations have no signing secret.' }, 409);
    const v = validateSetSecret(doc.provider, { secret: body.secret, keepPreviousForHours: hoursFromForm(body.keepPreviousForHours) });
    if (!v.ok) {
      const secretIssue = v.issues.find((i) => i.path === 'secret');
      const hoursIssue = v.issues.find((i) => i.path === 'keepPreviousForHours');
      return renderDetail(req, res, doc, { error: secretIssue?.message, hoursError: hoursIssue?.message, hours: str(body.keepPreviousForHours) }, 422);
    }
    await service.setSecret(requestContext(req, res), doc, v.value.secret, v.value.keepPreviousForHours ?? 0);
    res.redirect(303, href`/integrations/${doc._id}?notice=secret_saved`);
  }));

  r.post('/integrations/:id/status', withIntegration(async (req, res, doc) => {
    const status = formBody(req).status;
    if (status !== 'active' && status !== 'disabled') return renderDetail(req, res, doc, undefined, 422);
    await service.setStatus(requestContext(req, res), doc, status);
    res.redirect(303, href`/integrations/${doc._id}?notice=${status === 'active' ? 'enabled' : 'disabled'}`);
  }));

  // ---- per website -----------------------------------------------------------------------------
  const renderApiKeys = async (req: Request, res: Response, websiteId: string, status: number, extra: { created?: { key: string; view: ApiKeyView }; error?: string } = {}) => {
    const keys = await service.listApiKeys(websiteId);
    const formId = randomBytes(16).toString('base64url');
    sendPage(res, status, apiKeysPage({ staff: staffOf(res), csrf: csrf(req, res), websiteId, notice: notice(req), keys, gatewayUrl: deps.publicGatewayUrl, formId, ...extra }));
  };

  r.get('/websites/:websiteId/api-keys', withWebsite((req, res, websiteId) => renderApiKeys(req, res, websiteId, 200)));

  // The new key is rendered in the POST response (not a redirect) so it never sits in a URL or the history. Reloading
  // that page re-posts the same form, so each rendered form carries a random formId and the key's _id is derived from
  // it: a second post of the same form hits the unique _id and creates nothing.
  // The website is part of the derivation: the same form posted to another website's URL is a new form there.
  const keyIdForForm = (websiteId: string, formId: string) =>
    `key_${createHash('sha256').update(JSON.stringify(['api-key-form', websiteId, formId])).digest('base64url').slice(0, 16)}`;
  r.post('/websites/:websiteId/api-keys', withWebsite(async (req, res, websiteId) => {
    const body = formBody(req);
    const formId = str(body.formId);
    if (!formId || !/^[A-Za-z0-9_-]{16,64}$/.test(formId)) {
      return renderApiKeys(req, res, websiteId, 422, { error: 'This form is out of date and created no key. Use the form below.' });
    }
    const id = keyIdForForm(websiteId, formId);
    try {
      const created = await service.createApiKey(requestContext(req, res), websiteId, str(body.livemode) === 'true', id);
      res.setHeader('Cache-Control', 'no-store');
      await renderApiKeys(req, res, websiteId, 201, { created });
    } catch (err) {
      if (!(err instanceof ApiKeyIdTakenError)) throw err;
      const existing = await service.getApiKey(id);
      const which = existing && existing.websiteId === websiteId ? ` (${existing.prefix}…, in the list below)` : '';
      await renderApiKeys(req, res, websiteId, 409, {
        error: `This form was already submitted, so no second key was created. The key it created${which} was shown only once and cannot be shown again: if it was not copied, revoke it and create a new one.`,
      });
    }
  }));

  r.post('/websites/:websiteId/api-keys/:keyId/revoke', withWebsite(async (req, res, websiteId) => {
    const ok = await service.revokeApiKey(requestContext(req, res), websiteId, String(req.params.keyId));
    if (!ok) return notFound(req, res, 'No active API key with this id for this website.');
    res.redirect(303, href`/websites/${websiteId}/api-keys?notice=revoked`);
  }));

  const testConnectionData = async (websiteId: string, provider: PaymentState['provider'] | null, since: Date | null): Promise<TestConnectionData> => {
    let payment: PaymentState | null = null;
    let ledgerError: string | null = null;
    try {
      const payments = await deps.ledger.listPayments(websiteId, { livemode: false, limit: 20 });
      payment = payments.find((p) => !provider || p.provider === provider) ?? null;
    } catch (err) {
      if (!(err instanceof LedgerUnavailableError)) throw err;
      ledgerError = err.message;
    }
    const deliveries = await service.recentWebsiteDeliveries(websiteId, { livemode: false, provider: provider ?? undefined, limit: 10 });
    const isNew = payment !== null && since !== null && Date.parse(payment.updatedAt) >= since.getTime();
    return { payment, isNew, deliveries, ledgerError };
  };
  const parseProvider = (v: unknown) => {
    const p = providerSchema.safeParse(v);
    return p.success ? p.data : null;
  };
  const fingerprint = (markup: string) => createHash('sha256').update(markup).digest('base64url').slice(0, 16);

  r.get('/websites/:websiteId/test-connection', withWebsite(async (req, res, websiteId) => {
    const provider = parseProvider(req.query.provider);
    const openedAt = deps.now();
    const fragment = testConnectionFragment(await testConnectionData(websiteId, provider, openedAt));
    const pollUrl = provider
      ? href`/websites/${websiteId}/test-connection.json?provider=${provider}&since=${openedAt.toISOString()}`
      : href`/websites/${websiteId}/test-connection.json?since=${openedAt.toISOString()}`;
    sendPage(res, 200, testConnectionPage({ staff: staffOf(res), csrf: csrf(req, res), websiteId, provider, pollUrl, fragment, fingerprint: fingerprint(fragment.value) }));
  }));

  r.get('/websites/:websiteId/test-connection.json', withWebsite(async (req, res, websiteId) => {
    const sinceMs = typeof req.query.since === 'string' ? Date.parse(req.query.since) : NaN;
    const data = await testConnectionData(websiteId, parseProvider(req.query.provider), Number.isNaN(sinceMs) ? null : new Date(sinceMs));
    const markup = testConnectionFragment(data).value;
    res.json({ checkedAt: deps.now().toISOString(), payment: data.payment, isNew: data.isNew, ledgerError: data.ledgerError, deliveries: data.deliveries, html: markup, fingerprint: fingerprint(markup) });
  }));

  r.get('/websites/:websiteId/payments', withWebsite(async (req, res, websiteId) => {
    const livemode = req.query.mode !== 'test';
    let payments: PaymentState[] = [];
    let ledgerError: string | null = null;
    try {
      payments = await deps.ledger.listPayments(websiteId, { livemode, limit: 50 });
    } catch (err) {
      if (!(err instanceof LedgerUnavailableError)) throw err;
      ledgerError = err.message;
    }
    sendPage(res, 200, paymentsPage({ staff: staffOf(res), csrf: csrf(req, res), websiteId, livemode, payments, ledgerError }));
  }));

  r.get('/websites/:websiteId/payments/:paymentKey', withWebsite(async (req, res, websiteId) => {
    const paymentKey = String(req.params.paymentKey);
    let explanation = null;
    let ledgerError: string | null = null;
    try {
      explanation = await deps.ledger.getPayment(websiteId, paymentKey);
    } catch (err) {
      if (!(err instanceof LedgerUnavailableError)) throw err;
      ledgerError = err.message;
    }
    sendPage(res, explanation || ledgerError ? 200 : 404, paymentDetailPage({ staff: staffOf(res), csrf: csrf(req, res), websiteId, paymentKey, explanation, ledgerError }));
  }));

  r.use((req: Request, res: Response) => notFound(req, res, 'There is no page at this address.'));
  return r;
}
