import type { Keyring } from '@metrivo/crypto';
import { ApiKeyStore, DeliveryLog, IntegrationStore } from '@metrivo/integration-store';
import { healthzHandler, readyzHandler, traceRequests, type Logger } from '@metrivo/observability';
import cookieParser from 'cookie-parser';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import type { Db } from 'mongodb';
import { AdminService } from './admin-service';
import { AuditLog } from './audit';
import { access, createAccess } from './auth/access';
import { SessionStore } from './auth/session-store';
import { StaffStore } from './auth/staff-store';
import { apiRouter } from './http/api-routes';
import { errorAnswer, sendError } from './http/errors';
import type { LedgerClient } from './ledger-client';
import { errorPage } from './ui/pages-auth';
import { uiRouter } from './ui/routes';

export interface AdminAppConfig {
  /** METRIVO_ADMIN_TOKEN: Bearer token for /api. */
  adminToken: string;
  /** METRIVO_PUBLIC_GATEWAY_URL: base of the webhook URLs handed to merchants. */
  publicGatewayUrl: string;
  /** Secure cookies (and `__Host-` names, HSTS, upgrade-insecure-requests): on in production / behind https. */
  cookieSecure: boolean;
  sessionTtlMs: number;
  /** HMAC key of the CSRF tokens (csrf-csrf). */
  csrfSecret: string;
  /** Express "trust proxy": set when a load balancer terminates TLS, so req.ip (rate limit, audit) is the client's. */
  trustProxy: boolean | number | string;
  loginRateLimit: { windowMs: number; limit: number };
}

export interface AdminAppDeps {
  db: Db;
  keyring: Keyring;
  logger: Logger;
  ledger: LedgerClient;
  config: AdminAppConfig;
  isShuttingDown?: () => boolean;
  now?: () => Date;
}

/** Collections and indexes admin relies on; idempotent, run at start (and by tests). */
export async function ensureAdminIndexes(db: Db): Promise<void> {
  await Promise.all([
    new StaffStore(db).ensureIndexes(),
    new SessionStore(db, 1).ensureIndexes(),
    new AuditLog(db).ensureIndexes(),
    new IntegrationStore(db).ensureIndexes(),
    new ApiKeyStore(db).ensureIndexes(),
    // The gateway owns the delivery log, but admin's queries need its indexes even if admin starts first.
    new DeliveryLog(db).ensureIndexes(),
  ]);
}

export function createAdminApp(deps: AdminAppDeps): express.Express {
  const { db, config, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const audit = new AuditLog(db);
  const sessions = new SessionStore(db, config.sessionTtlMs);
  const staff = new StaffStore(db);
  const service = new AdminService({
    integrations: new IntegrationStore(db),
    apiKeys: new ApiKeyStore(db),
    deliveries: new DeliveryLog(db),
    audit,
    ledger: deps.ledger,
    keyring: deps.keyring,
    publicGatewayUrl: config.publicGatewayUrl,
    now,
    onLedgerError: (err) => logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'ledger unavailable; setup health uses the delivery log only'),
  });
  const acc = createAccess({ adminToken: config.adminToken, csrfSecret: config.csrfSecret, cookieSecure: config.cookieSecure, sessionTtlMs: config.sessionTtlMs }, sessions, staff);

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  // A trace per request: its log lines carry it, and the ledger calls it makes continue it.
  app.use(traceRequests('admin'));

  app.get('/healthz', healthzHandler());
  app.get('/readyz', readyzHandler({
    isShuttingDown: deps.isShuttingDown ?? (() => false),
    checks: { mongodb: async () => { await db.command({ ping: 1 }); } },
  }));

  app.use(helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
        upgradeInsecureRequests: config.cookieSecure ? [] : null,
      },
    },
    strictTransportSecurity: config.cookieSecure,
    referrerPolicy: { policy: 'same-origin' },
  }));
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    if (!req.path.startsWith('/assets/')) res.setHeader('Cache-Control', 'no-store');
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      logger.info({ method: req.method, path: req.originalUrl.split('?')[0], status: res.statusCode, ms: Math.round(ms * 10) / 10, staffId: access(res).session?.staffId, viaToken: access(res).viaToken }, 'request');
    });
    next();
  });
  app.use(cookieParser());
  app.use(acc.loadSession);

  app.use('/api', apiRouter({ service, audit, ledger: deps.ledger, access: acc }));
  app.use(uiRouter({ service, audit, staff, sessions, ledger: deps.ledger, access: acc, logger, publicGatewayUrl: config.publicGatewayUrl, loginRateLimit: config.loginRateLimit, now }));

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const isApi = req.originalUrl.startsWith('/api/') || req.originalUrl === '/api';
    const answer = errorAnswer(err);
    const { status: httpStatus, code, message } = answer;
    if (answer.kind === 'csrf') logger.warn({ path: req.path, method: req.method }, 'request refused: missing or invalid CSRF token');
    if (answer.kind === 'database' || answer.kind === 'bug') logger.error({ err, path: req.path }, answer.kind === 'database' ? 'database unavailable' : 'unhandled error');
    if (res.headersSent) return;
    if (answer.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(answer.retryAfterSeconds));
    if (isApi) return sendError(res, httpStatus, code, message);
    const session = access(res).session;
    let csrf = '';
    try {
      csrf = acc.csrfToken(req, res);
    } catch {
      /* a page without working forms is still better than none */
    }
    res.status(httpStatus).type('html').send(errorPage({
      status: httpStatus,
      title: httpStatus === 403 ? 'Request refused' : httpStatus >= 500 ? 'Something went wrong' : 'Request not understood',
      message,
      csrf,
      staff: session ? { name: session.name, email: session.email } : null,
    }));
  });
  return app;
}
