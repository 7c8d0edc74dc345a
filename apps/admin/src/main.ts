import { parseKeyring } from '@metrivo/crypto';
import { createLogger, drainableHttpServer, ShutdownManager, startTelemetry, runApp, type StartHooks } from '@metrivo/observability';
import { MongoClient } from 'mongodb';
import { createAdminApp, ensureAdminIndexes } from './app';
import { SessionStore } from './auth/session-store';
import { cookieSecureFrom, csrfSecretFrom, loadAdminConfig, trustProxyFrom, type AdminConfig } from './env';
import { HttpLedgerClient } from './ledger-client';

export async function startAdmin(config: AdminConfig, hooks: StartHooks = {}) {
  const logger = createLogger({ service: 'admin', level: config.LOG_LEVEL });
  const telemetry = startTelemetry({ serviceName: 'metrivo-admin', exporter: config.METRIVO_OTEL_EXPORTER });
  const keyring = parseKeyring(config.METRIVO_SECRET_KEYS);
  const shutdown = new ShutdownManager(logger, config.SHUTDOWN_DEADLINE_MS);
  // Handed over at once, and each resource registers its step as it comes up: SIGTERM during the start (e.g. while
  // MongoDB does not answer) stops the process cleanly instead of waiting for the start to end.
  hooks.onShutdownManager?.(shutdown);
  shutdown.add('telemetry: flush', () => telemetry.shutdown(), 'final');

  const mongo = new MongoClient(config.MONGODB_URI, { serverSelectionTimeoutMS: 5000 });
  shutdown.add('mongodb: close', () => mongo.close(), 'close');
  await mongo.connect();
  const db = mongo.db(config.MONGODB_DB);
  await ensureAdminIndexes(db);

  const cookieSecure = cookieSecureFrom(config);
  const sessionTtlMs = config.ADMIN_SESSION_TTL_HOURS * 3600_000;
  const ledger = new HttpLedgerClient(config.METRIVO_LEDGER_URL, config.LEDGER_TIMEOUT_MS, (what, problem) =>
    logger.warn({ what, problem }, 'ledger returned a record that does not match the contract; skipped'));

  const app = createAdminApp({
    db,
    keyring,
    logger,
    ledger,
    isShuttingDown: () => shutdown.isShuttingDown(),
    config: {
      adminToken: config.METRIVO_ADMIN_TOKEN,
      publicGatewayUrl: config.METRIVO_PUBLIC_GATEWAY_URL,
      cookieSecure,
      sessionTtlMs,
      csrfSecret: csrfSecretFrom(config),
      trustProxy: trustProxyFrom(config.ADMIN_TRUST_PROXY),
      loginRateLimit: { windowMs: config.ADMIN_LOGIN_WINDOW_MINUTES * 60_000, limit: config.ADMIN_LOGIN_MAX_ATTEMPTS },
    },
  });
  if (!cookieSecure && config.NODE_ENV === 'production') logger.warn('ADMIN_COOKIE_SECURE=false in production: session cookies travel without the Secure flag');

  // Expired sessions are filtered on read; this only keeps the collection small (no TTL index on FerretDB).
  const sessions = new SessionStore(db, sessionTtlMs);
  const cleanup = setInterval(() => void sessions.deleteExpired().catch((err: unknown) => logger.warn({ err }, 'expired session cleanup failed')), 3_600_000);
  cleanup.unref();

  const server = app.listen(config.ADMIN_PORT);
  const http = drainableHttpServer(server, { logger });
  shutdown.add('http: stop accepting, finish in-flight requests', ({ timeLeftMs }) => { clearInterval(cleanup); return http.close(timeLeftMs); }, 'intake');
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.ADMIN_PORT;
  logger.info({ port, cookieSecure, gateway: config.METRIVO_PUBLIC_GATEWAY_URL, ledger: config.METRIVO_LEDGER_URL }, 'admin listening');

  // Readiness is already false when the steps run (ShutdownManager flips it first).
  return { port, shutdown, server, db };
}

if (require.main === module) runApp('admin', () => loadAdminConfig(), startAdmin);
