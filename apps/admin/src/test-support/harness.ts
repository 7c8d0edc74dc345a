import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { generateKeyringEntry, parseKeyring, type Keyring } from '@metrivo/crypto';
import { createLogger } from '@metrivo/observability';
import { MongoClient, type Db } from 'mongodb';
import { createAdminApp, ensureAdminIndexes, type AdminAppConfig } from '../app';
import { StaffStore } from '../auth/staff-store';
import type { LedgerClient } from '../ledger-client';

/**
 * Starts the real admin app on port 0 against the real MongoDB (MONGODB_URI from the jest
 * integration global setup) in a database of its own, dropped by `close()`. Every log line is kept
 * in `logs` so tests can assert that no secret reaches a log.
 */
export interface AdminHarness {
  baseUrl: string;
  db: Db;
  keyring: Keyring;
  adminToken: string;
  logs: string[];
  close(): Promise<void>;
}

export function mongoUri(): string {
  const uri = process.env.MONGODB_URI;
  if (!uri) throw new Error('MONGODB_URI is not set: run integration tests through jest --selectProjects integration (its global setup starts MongoDB)');
  return uri;
}

/** `mongodbUri` / `serverSelectionTimeoutMS`: the outage test reaches MongoDB through a proxy it can switch off. */
export async function startAdminHarness(o: { name: string; ledger: LedgerClient; config?: Partial<AdminAppConfig>; mongodbUri?: string; serverSelectionTimeoutMS?: number }): Promise<AdminHarness> {
  const client = new MongoClient(o.mongodbUri ?? mongoUri(), { serverSelectionTimeoutMS: o.serverSelectionTimeoutMS ?? 10_000 });
  await client.connect();
  const dbName = `admin_${o.name}_${randomBytes(4).toString('hex')}`.slice(0, 60);
  const db = client.db(dbName);
  await ensureAdminIndexes(db);
  const keyring = parseKeyring(generateKeyringEntry('k1'));
  const adminToken = randomBytes(24).toString('base64url');
  const logs: string[] = [];
  const destination = new Writable({ write(chunk: Buffer, _e, cb) { logs.push(chunk.toString('utf8')); cb(); } });
  const logger = createLogger({ service: 'admin-test', level: 'debug', destination });
  const app = createAdminApp({
    db, keyring, logger, ledger: o.ledger,
    config: {
      adminToken,
      publicGatewayUrl: 'https://hooks.metrivo.test',
      cookieSecure: false,
      sessionTtlMs: 3600_000,
      csrfSecret: randomBytes(32).toString('hex'),
      trustProxy: false,
      loginRateLimit: { windowMs: 60_000, limit: 1000 },
      ...o.config,
    },
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseUrl, db, keyring, adminToken, logs,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await db.dropDatabase().catch(() => undefined);
      await client.close();
    },
  };
}

export async function createStaff(db: Db, email = 'support@metrivo.test', password = 'correct horse battery staple'): Promise<{ email: string; password: string }> {
  await new StaffStore(db).create({ email, name: 'Sam Support', password });
  return { email, password };
}

/** A minimal cookie jar for fetch: enough for one host. */
export class CookieJar {
  private readonly cookies = new Map<string, string>();
  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a)) || attrs.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  get(name: string): string | undefined {
    return this.cookies.get(name);
  }
}

/** A browser-like client: cookies, no automatic redirects, CSRF token scraped from the last page. */
export class SessionClient {
  readonly jar = new CookieJar();
  lastCsrf = '';
  constructor(private readonly baseUrl: string) {}

  async request(method: string, path: string, init: { form?: Record<string, string>; json?: unknown; headers?: Record<string, string> } = {}): Promise<{ res: Response; text: string }> {
    const headers: Record<string, string> = { cookie: this.jar.header(), ...init.headers };
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    } else if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    }
    const res = await fetch(`${this.baseUrl}${path}`, { method, headers, body, redirect: 'manual' });
    this.jar.store(res);
    const text = await res.text();
    const m = /name="_csrf" value="([^"]+)"/.exec(text);
    if (m) this.lastCsrf = m[1]!;
    return { res, text };
  }

  async login(email: string, password: string): Promise<Response> {
    await this.request('GET', '/login');
    const { res } = await this.request('POST', '/login', { form: { _csrf: this.lastCsrf, email, password, next: '/integrations' } });
    if (res.status === 303) await this.request('GET', '/integrations'); // picks up a CSRF token bound to the new session
    return res;
  }
}
