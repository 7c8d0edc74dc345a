import { randomBytes } from 'node:crypto';
import { constantTimeEqual } from '@metrivo/crypto';
import { doubleCsrf } from 'csrf-csrf';
import type { CookieOptions, NextFunction, Request, Response } from 'express';
import type { Actor } from '../audit';
import { sendError } from '../http/errors';
import type { SessionDoc, SessionStore } from './session-store';
import { staffAllowsSession, type StaffStore } from './staff-store';

/**
 * Who is calling, resolved once per request into `res.locals`:
 *   - `Authorization: Bearer $METRIVO_ADMIN_TOKEN` (scripts; /api only; compared in constant time);
 *   - a staff session cookie (browser; UI and /api).
 * CSRF (csrf-csrf, double-submit cookie whose HMAC is bound to the session id, or to a short-lived
 * pre-login id on the login form): required on every unsafe request that authenticates with a
 * cookie. Bearer requests carry no ambient credentials, so they skip it.
 */

export interface AccessConfig {
  adminToken: string;
  csrfSecret: string;
  cookieSecure: boolean;
  sessionTtlMs: number;
}

export interface CookieNames {
  session: string;
  preSession: string;
  csrf: string;
}

/** `__Host-` cookies are bound to this host and path / and require Secure: use them whenever we can. */
export function cookieNames(secure: boolean): CookieNames {
  const p = secure ? '__Host-' : '';
  return { session: `${p}metrivo_admin_session`, preSession: `${p}metrivo_admin_pre`, csrf: `${p}metrivo_admin_csrf` };
}

export interface AccessLocals {
  session?: SessionDoc;
  sessionToken?: string;
  viaToken?: boolean;
}

export function access(res: Response): AccessLocals {
  return res.locals as AccessLocals;
}

export function actorOf(res: Response): Actor | null {
  const a = access(res);
  if (a.viaToken) return { type: 'token' };
  if (a.session) return { type: 'staff', staffId: a.session.staffId, email: a.session.email };
  return null;
}

export function createAccess(config: AccessConfig, sessions: SessionStore, staff: Pick<StaffStore, 'findById'>) {
  const names = cookieNames(config.cookieSecure);
  const baseCookie: CookieOptions = { httpOnly: true, sameSite: 'lax', secure: config.cookieSecure, path: '/' };

  const csrf = doubleCsrf({
    getSecret: () => config.csrfSecret,
    getSessionIdentifier: (req) => {
      const res = req.res;
      const session = res ? access(res).session : undefined;
      if (session) return `s:${session._id}`;
      const pre = (req.cookies as Record<string, string | undefined>)[names.preSession];
      return pre ? `p:${pre}` : '';
    },
    cookieName: names.csrf,
    cookieOptions: { ...baseCookie, sameSite: 'strict' },
    size: 32,
    getCsrfTokenFromRequest: (req) => {
      const fromHeader = req.headers['x-csrf-token'];
      if (typeof fromHeader === 'string') return fromHeader;
      const body = req.body as Record<string, unknown> | undefined;
      return typeof body?._csrf === 'string' ? body._csrf : undefined;
    },
    errorConfig: { statusCode: 403, code: 'csrf_invalid', message: 'The form expired or did not come from this site. Reload the page and try again.' },
  });

  /**
   * Loads the session named by the cookie, if any (never fails the request). The staff account is read on
   * every request too: a session of a disabled account, or one created before the password changed, is
   * refused (and deleted) even if it was saved after the CLI deleted the account's sessions.
   */
  async function loadSession(req: Request, res: Response, next: NextFunction): Promise<void> {
    const token = (req.cookies as Record<string, string | undefined>)[names.session];
    if (token) {
      const session = await sessions.find(token);
      const valid = session !== null && staffAllowsSession(await staff.findById(session.staffId), session.credentialsVersion);
      if (session && valid) {
        access(res).session = session;
        access(res).sessionToken = token;
      } else {
        if (session) await sessions.delete(token);
        res.clearCookie(names.session, baseCookie);
      }
    }
    next();
  }

  function bearerToken(req: Request): string | null | undefined {
    const header = req.headers.authorization;
    if (header === undefined) return undefined;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return m ? m[1]! : null;
  }

  /** /api: Bearer token or session; 401 JSON otherwise. A present but wrong Authorization header never falls back to the cookie. */
  function requireApiAuth(req: Request, res: Response, next: NextFunction): void {
    const token = bearerToken(req);
    if (token !== undefined) {
      if (token !== null && constantTimeEqual(token, config.adminToken)) {
        access(res).viaToken = true;
        access(res).session = undefined;
        return next();
      }
      res.setHeader('WWW-Authenticate', 'Bearer realm="metrivo-admin"');
      return sendError(res, 401, 'unauthorized', 'The bearer token is not valid.');
    }
    if (!access(res).session) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="metrivo-admin"');
      return sendError(res, 401, 'unauthorized', 'Log in or send Authorization: Bearer <METRIVO_ADMIN_TOKEN>.');
    }
    // Cookie-authenticated API writes need the CSRF header like any form post.
    csrf.doubleCsrfProtection(req, res, next);
  }

  /** UI pages: a staff session, else the login page (GET), 401 JSON (the pages' .json endpoints) or 401 (other methods). */
  function requireStaff(req: Request, res: Response, next: NextFunction): void {
    if (access(res).session) return next();
    if (req.path.endsWith('.json')) return sendError(res, 401, 'unauthorized', 'Your session has ended; log in again.');
    if (req.method === 'GET' || req.method === 'HEAD') {
      res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
      return;
    }
    res.status(401).type('text/plain').send('Your session has ended. Log in again.');
  }

  /** The token for the forms of this response (sets/refreshes the CSRF cookie). */
  function csrfToken(req: Request, res: Response): string {
    return csrf.generateCsrfToken(req, res);
  }

  /** The login form has no session yet: bind its CSRF token to a random pre-login cookie. */
  function ensurePreSession(req: Request, res: Response): void {
    const cookies = req.cookies as Record<string, string | undefined>;
    if (cookies[names.preSession]) return;
    const id = randomBytes(24).toString('base64url');
    cookies[names.preSession] = id;
    res.cookie(names.preSession, id, { ...baseCookie, maxAge: 3600_000 });
  }

  function startSession(res: Response, token: string): void {
    res.clearCookie(names.preSession, baseCookie);
    res.cookie(names.session, token, { ...baseCookie, maxAge: config.sessionTtlMs });
  }

  function endSession(res: Response): void {
    res.clearCookie(names.session, baseCookie);
    res.clearCookie(names.csrf, { ...baseCookie, sameSite: 'strict' });
  }

  return { names, loadSession, requireApiAuth, requireStaff, csrfProtection: csrf.doubleCsrfProtection, csrfToken, ensurePreSession, startSession, endSession };
}

export type Access = ReturnType<typeof createAccess>;
