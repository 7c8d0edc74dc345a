import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import cookieParser from 'cookie-parser';
import express, { type NextFunction, type Request, type Response } from 'express';
import { actorOf, cookieNames, createAccess } from './access';
import type { SessionDoc, SessionStore } from './session-store';
import type { StaffDoc } from './staff-store';

// Unit tests of the request guards with in-memory session and staff stores (api.int.test.ts covers them end to end).
const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const names = cookieNames(false);

type Staff = Pick<StaffDoc, 'disabledAt' | 'credentialsVersion'>;

function session(id: string, staffId: string, credentialsVersion = 0): SessionDoc {
  const now = new Date();
  return { _id: id, staffId, email: `${staffId}@example.com`, name: staffId, createdAt: now, expiresAt: new Date(now.getTime() + 3600_000), credentialsVersion };
}

let server: Server;
let base: string;
const sessionsByToken = new Map<string, SessionDoc>();
const staffById = new Map<string, Staff>();
const deleted: string[] = [];

beforeAll(async () => {
  const sessions = {
    find: async (token: string) => sessionsByToken.get(token) ?? null,
    delete: async (token: string) => {
      deleted.push(token);
      sessionsByToken.delete(token);
    },
  } as unknown as SessionStore;
  const staff = { findById: async (id: string) => (staffById.get(id) ?? null) as StaffDoc | null };
  const acc = createAccess({ adminToken: ADMIN_TOKEN, csrfSecret: 'c'.repeat(32), cookieSecure: false, sessionTtlMs: 3600_000 }, sessions, staff);
  const app = express();
  app.use(cookieParser());
  app.use(express.json());
  app.use(acc.loadSession);
  app.get('/csrf', (req, res) => res.json({ token: acc.csrfToken(req, res) }));
  app.get('/api/who', acc.requireApiAuth, (_req, res) => res.json({ actor: actorOf(res) }));
  app.post('/api/write', acc.requireApiAuth, (_req, res) => res.json({ actor: actorOf(res) }));
  app.get('/page.json', acc.requireStaff, (_req, res) => res.json({ ok: true }));
  app.all('/page', acc.requireStaff, (_req, res) => res.json({ ok: true }));
  app.use((err: { statusCode?: number; code?: string }, _req: Request, res: Response, _next: NextFunction) => {
    res.status(err.statusCode ?? 500).json({ error: { code: err.code ?? 'internal_error' } });
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));
beforeEach(() => {
  sessionsByToken.clear();
  staffById.clear();
  deleted.length = 0;
});

/** Cookie header value from a response's Set-Cookie headers (name=value pairs only). */
function cookiesOf(res: globalThis.Response): string {
  return res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
}

async function csrfFor(sessionCookie: string): Promise<{ token: string; cookie: string }> {
  const res = await fetch(`${base}/csrf`, { headers: { cookie: sessionCookie } });
  const { token } = (await res.json()) as { token: string };
  return { token, cookie: `${sessionCookie}; ${cookiesOf(res)}` };
}

function loggedIn(token: string, staffId: string, staff: Staff = { disabledAt: null, credentialsVersion: 0 }, sessionVersion = 0): string {
  sessionsByToken.set(token, session(`id_${token}`, staffId, sessionVersion));
  staffById.set(staffId, staff);
  return `${names.session}=${token}`;
}

describe('requireApiAuth', () => {
  it('accepts exactly the admin token as Bearer, and refuses any other with 401 and WWW-Authenticate', async () => {
    const ok = await fetch(`${base}/api/who`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ actor: { type: 'token' } });
    for (const header of [`Bearer ${ADMIN_TOKEN}x`, 'Bearer nope', `Bearer ${ADMIN_TOKEN} trailing-junk`, `Basic Bearer ${ADMIN_TOKEN}`, 'Bearer']) {
      const res = await fetch(`${base}/api/who`, { headers: { authorization: header } });
      expect([header, res.status]).toEqual([header, 401]);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="metrivo-admin"');
    }
  });

  it('never falls back to the session cookie when the Authorization header is wrong', async () => {
    const cookie = loggedIn('A'.repeat(43), 'staff_1');
    expect((await fetch(`${base}/api/who`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${base}/api/who`, { headers: { cookie, authorization: 'Bearer wrong' } })).status).toBe(401);
  });

  it('a valid Bearer token acts as the token, not as the staff member whose cookie came along', async () => {
    const cookie = loggedIn('A'.repeat(43), 'staff_1');
    const res = await fetch(`${base}/api/write`, { method: 'POST', headers: { cookie, authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(await res.json()).toEqual({ actor: { type: 'token' } });
  });

  it('answers 401 without a session or token', async () => {
    expect((await fetch(`${base}/api/who`)).status).toBe(401);
  });
});

describe('CSRF on cookie-authenticated writes', () => {
  it('refuses a session-cookie API write without a CSRF token, and accepts one with the token of that session', async () => {
    const cookie = loggedIn('A'.repeat(43), 'staff_1');
    const without = await fetch(`${base}/api/write`, { method: 'POST', headers: { cookie } });
    expect(without.status).toBe(403);
    expect(await without.json()).toEqual({ error: { code: 'csrf_invalid' } });
    const csrf = await csrfFor(cookie);
    const withToken = await fetch(`${base}/api/write`, { method: 'POST', headers: { cookie: csrf.cookie, 'x-csrf-token': csrf.token } });
    expect(withToken.status).toBe(200);
    expect(await withToken.json()).toEqual({ actor: { type: 'staff', staffId: 'staff_1', email: 'staff_1@example.com' } });
  });

  it('binds the token to the session: a token and CSRF cookie issued to one session do not work for another', async () => {
    const mine = loggedIn('A'.repeat(43), 'staff_1');
    const other = loggedIn('B'.repeat(43), 'staff_2');
    const csrf = await csrfFor(other);
    const csrfCookie = csrf.cookie.split('; ').filter((c) => c.startsWith(`${names.csrf}=`)).join('; ');
    const res = await fetch(`${base}/api/write`, { method: 'POST', headers: { cookie: `${mine}; ${csrfCookie}`, 'x-csrf-token': csrf.token } });
    expect(res.status).toBe(403);
  });

  it('sets the CSRF cookie SameSite=Strict and HttpOnly', async () => {
    const res = await fetch(`${base}/csrf`, { headers: { cookie: loggedIn('A'.repeat(43), 'staff_1') } });
    const csrfCookie = res.headers.getSetCookie().find((c) => c.startsWith(`${names.csrf}=`));
    expect(csrfCookie).toMatch(/;\s*SameSite=Strict/i);
    expect(csrfCookie).toMatch(/;\s*HttpOnly/i);
  });
});

describe('loadSession', () => {
  it.each([
    ['a disabled account', { disabledAt: new Date(), credentialsVersion: 0 }, 0],
    ['a password changed since the login', { disabledAt: null, credentialsVersion: 1 }, 0],
  ])('refuses, deletes and clears the session of %s', async (_label, staff, sessionVersion) => {
    const token = 'A'.repeat(43);
    const cookie = loggedIn(token, 'staff_1', staff, sessionVersion);
    const res = await fetch(`${base}/api/who`, { headers: { cookie } });
    expect(res.status).toBe(401);
    expect(deleted).toEqual([token]);
    expect(res.headers.getSetCookie().some((c) => c.startsWith(`${names.session}=;`))).toBe(true);
  });

  it('refuses (and deletes) a session whose staff account is gone', async () => {
    const token = 'A'.repeat(43);
    const cookie = loggedIn(token, 'staff_1');
    staffById.clear();
    expect((await fetch(`${base}/api/who`, { headers: { cookie } })).status).toBe(401);
    expect(deleted).toEqual([token]);
  });
});

describe('requireStaff', () => {
  it('sends a GET without a session to the login page, and answers 401 to .json endpoints and other methods', async () => {
    const page = await fetch(`${base}/page?x=1`, { redirect: 'manual' });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe(`/login?next=${encodeURIComponent('/page?x=1')}`);
    const json = await fetch(`${base}/page.json`, { redirect: 'manual' });
    expect(json.status).toBe(401);
    expect(await json.json()).toMatchObject({ error: { code: 'unauthorized' } });
    expect((await fetch(`${base}/page`, { method: 'POST', redirect: 'manual' })).status).toBe(401);
    expect((await fetch(`${base}/page`, { headers: { cookie: loggedIn('A'.repeat(43), 'staff_1') } })).status).toBe(200);
  });
});

describe('cookieNames', () => {
  it('uses __Host- cookies when Secure, plain names otherwise', () => {
    expect(cookieNames(true)).toEqual({ session: '__Host-metrivo_admin_session', preSession: '__Host-metrivo_admin_pre', csrf: '__Host-metrivo_admin_csrf' });
    expect(cookieNames(false).session).toBe('metrivo_admin_session');
  });
});
