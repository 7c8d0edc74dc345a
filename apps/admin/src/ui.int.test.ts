import { Readable, Writable } from 'node:stream';
import type { AuditDoc } from './audit';
import { SessionStore, sessionIdOf } from './auth/session-store';
import { StaffStore } from './auth/staff-store';
import { runStaffCli } from './cli/staff';
import { HttpLedgerClient } from './ledger-client';
import { FakeLedgerServer, testPaymentState } from './test-support/fake-ledger';
import { createStaff, mongoUri, SessionClient, startAdminHarness, type AdminHarness } from './test-support/harness';

let h: AdminHarness;
const ledger = new FakeLedgerServer();
let staff: { email: string; password: string };

beforeAll(async () => {
  await ledger.start();
  h = await startAdminHarness({ name: 'ui', ledger: new HttpLedgerClient(ledger.url, 2000) });
  staff = await createStaff(h.db);
});
afterAll(async () => {
  await h?.close();
  await ledger.stop();
});

async function loggedIn(): Promise<SessionClient> {
  const c = new SessionClient(h.baseUrl);
  expect((await c.login(staff.email, staff.password)).status).toBe(303);
  return c;
}

/** The single-use id of the API key form on a page. */
const formIdOf = (text: string) => /name="formId" value="([^"]+)"/.exec(text)![1]!;

describe('staff access', () => {
  it('sends anonymous visitors to the login page and keeps where they wanted to go', async () => {
    const res = await fetch(`${h.baseUrl}/integrations?websiteId=w_1`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/login?next=${encodeURIComponent('/integrations?websiteId=w_1')}`);
    expect((await fetch(`${h.baseUrl}/integrations`, { method: 'POST', redirect: 'manual' })).status).toBe(401);
  });

  it('logs in with an httpOnly SameSite session cookie whose value is not stored', async () => {
    const c = new SessionClient(h.baseUrl);
    await c.request('GET', '/login');
    const { res } = await c.request('POST', '/login', { form: { _csrf: c.lastCsrf, email: staff.email.toUpperCase(), password: staff.password, next: '/integrations' } });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/integrations');
    const cookie = res.headers.getSetCookie().find((l) => l.startsWith('metrivo_admin_session='))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(cookie).toMatch(/Path=\//);
    const token = c.jar.get('metrivo_admin_session')!;
    const sessions = await h.db.collection('admin_sessions').find({}).toArray();
    expect(JSON.stringify(sessions)).not.toContain(token);
    expect(sessions.map((s) => s._id)).toContain(sessionIdOf(token));
    const page = await c.request('GET', '/integrations');
    expect(page.res.status).toBe(200);
    expect(page.text).toContain('Sam Support');
  });

  it('refuses a wrong password without a session, and a disabled account', async () => {
    const c = new SessionClient(h.baseUrl);
    await c.request('GET', '/login');
    const { res, text } = await c.request('POST', '/login', { form: { _csrf: c.lastCsrf, email: staff.email, password: 'wrong password!!' } });
    expect(res.status).toBe(401);
    expect(text).toContain('Email or password is not correct');
    expect(c.jar.get('metrivo_admin_session')).toBeUndefined();
    expect(h.logs.join('')).not.toContain('wrong password!!');

    const other = await createStaff(h.db, 'gone@metrivo.test', 'another long password');
    await h.db.collection('admin_staff').updateOne({ email: other.email }, { $set: { disabledAt: new Date() } });
    const d = new SessionClient(h.baseUrl);
    expect((await d.login(other.email, other.password)).status).toBe(401);
  });

  it('the login form itself needs its CSRF token', async () => {
    const c = new SessionClient(h.baseUrl);
    await c.request('GET', '/login');
    const { res } = await c.request('POST', '/login', { form: { email: staff.email, password: staff.password } });
    expect(res.status).toBe(403);
    expect(c.jar.get('metrivo_admin_session')).toBeUndefined();
  });

  it('logout ends the session server-side and is audited', async () => {
    const c = await loggedIn();
    const token = c.jar.get('metrivo_admin_session')!;
    // A forged logout (no token) is refused: another site cannot log staff out either.
    expect((await c.request('POST', '/logout', { form: {} })).res.status).toBe(403);
    expect(await h.db.collection('admin_sessions').countDocuments({ _id: sessionIdOf(token) as never })).toBe(1);
    const { res } = await c.request('POST', '/logout', { form: { _csrf: c.lastCsrf } });
    expect(res.status).toBe(303);
    expect(await h.db.collection('admin_sessions').countDocuments({ _id: sessionIdOf(token) as never })).toBe(0);
    // Replaying the old cookie does not work either.
    const replay = await fetch(`${h.baseUrl}/integrations`, { headers: { cookie: `metrivo_admin_session=${token}` }, redirect: 'manual' });
    expect(replay.status).toBe(303);
    const audit = await h.db.collection<AuditDoc>('admin_audit').find({ action: { $in: ['staff.login', 'staff.logout'] } }).toArray();
    expect(audit.some((a) => a.action === 'staff.logout' && a.actor.type === 'staff')).toBe(true);
  });

  it('rate-limits failed logins per address', async () => {
    const limited = await startAdminHarness({ name: 'ratelimit', ledger: new HttpLedgerClient(ledger.url), config: { loginRateLimit: { windowMs: 60_000, limit: 3 } } });
    try {
      await createStaff(limited.db, 'rl@metrivo.test', 'rate limited password');
      const c = new SessionClient(limited.baseUrl);
      await c.request('GET', '/login');
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await c.request('POST', '/login', { form: { _csrf: c.lastCsrf, email: 'rl@metrivo.test', password: `nope ${i} nope nope` } })).res.status);
      expect(statuses).toEqual([401, 401, 401, 429]);
      // Even the right password is refused while limited.
      const { res, text } = await c.request('POST', '/login', { form: { _csrf: c.lastCsrf, email: 'rl@metrivo.test', password: 'rate limited password' } });
      expect(res.status).toBe(429);
      expect(text).toContain('Too many login attempts');
    } finally {
      await limited.close();
    }
  });

  it('uses __Host- Secure cookies when configured for https', async () => {
    const secure = await startAdminHarness({ name: 'secure', ledger: new HttpLedgerClient(ledger.url), config: { cookieSecure: true } });
    try {
      const res = await fetch(`${secure.baseUrl}/login`);
      const cookies = res.headers.getSetCookie();
      expect(cookies.some((l) => l.startsWith('__Host-metrivo_admin_csrf=') && /;\s*Secure/i.test(l))).toBe(true);
      expect(cookies.every((l) => /;\s*Secure/i.test(l))).toBe(true);
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age/);
    } finally {
      await secure.close();
    }
  });
});

describe('forms', () => {
  it('refuses a form POST without or with a wrong CSRF token, accepts it with the token', async () => {
    const c = await loggedIn();
    const before = await h.db.collection('integrations').countDocuments({});
    expect((await c.request('POST', '/integrations', { form: { websiteId: 'w_csrf', provider: 'stripe', livemode: 'false' } })).res.status).toBe(403);
    expect((await c.request('POST', '/integrations', { form: { _csrf: `${c.lastCsrf.slice(0, -2)}xx`, websiteId: 'w_csrf', provider: 'stripe', livemode: 'false' } })).res.status).toBe(403);
    expect(await h.db.collection('integrations').countDocuments({})).toBe(before);
    const ok = await c.request('POST', '/integrations', { form: { _csrf: c.lastCsrf, websiteId: 'w_csrf', provider: 'stripe', livemode: 'false' } });
    expect(ok.res.status).toBe(303);
    expect(ok.res.headers.get('location')).toMatch(/^\/integrations\/int_[^?]+\?notice=created$/);
  });

  it('a CSRF token from another session is refused', async () => {
    const a = await loggedIn();
    const b = await loggedIn();
    expect((await b.request('POST', '/integrations', { form: { _csrf: a.lastCsrf, websiteId: 'w_x', provider: 'stripe', livemode: 'false' } })).res.status).toBe(403);
  });

  it('re-renders the create form with field errors (422) and escapes what was typed', async () => {
    const c = await loggedIn();
    const { res, text } = await c.request('POST', '/integrations', { form: { _csrf: c.lastCsrf, websiteId: '<img/src=x>', provider: 'nope' } });
    expect(res.status).toBe(422);
    expect(text).toContain('aria-invalid="true"');
    expect(text).toContain('&lt;img/src=x&gt;');
    expect(text).not.toContain('<img/src=x>');
  });

  it('makes support choose test or live for webhook providers', async () => {
    const c = await loggedIn();
    const { res, text } = await c.request('POST', '/integrations', { form: { _csrf: c.lastCsrf, websiteId: 'w_mode', provider: 'dodo' } });
    expect(res.status).toBe(422);
    expect(text).toContain('Mode: choose Test or Live');
    const ok = await c.request('POST', '/integrations', { form: { _csrf: c.lastCsrf, websiteId: 'w_mode', provider: 'dodo', livemode: 'false' } });
    expect(ok.res.status).toBe(303);
    const id = /\/integrations\/([^?]+)/.exec(ok.res.headers.get('location')!)![1]!;
    expect((await h.db.collection('integrations').findOne({ _id: id as never }))?.livemode).toBe(false);
    const manual = await c.request('POST', '/integrations', { form: { _csrf: c.lastCsrf, websiteId: 'w_mode', provider: 'manual' } });
    expect(manual.res.status).toBe(303);
  });

  it('escapes data from the database on every page', async () => {
    const c = await loggedIn();
    const { res } = await c.request('POST', '/integrations', { form: { _csrf: c.lastCsrf, websiteId: '<i>x"', provider: 'razorpay', livemode: 'true' } });
    expect(res.status).toBe(303);
    const detail = await c.request('GET', res.headers.get('location')!);
    expect(detail.text).toContain('&lt;i&gt;x&quot;');
    expect(detail.text).not.toContain('<i>x');
    const list = await c.request('GET', `/integrations?websiteId=${encodeURIComponent('<i>x"')}`);
    expect(list.text).not.toContain('<i>x');
  });

  it('sets the secret through the form: last4 shown, secret never in a page, wrong format explained', async () => {
    const c = await loggedIn();
    const created = await c.request('POST', '/integrations', { form: { _csrf: c.lastCsrf, websiteId: 'w_form', provider: 'stripe', livemode: 'false' } });
    const path = created.res.headers.get('location')!.split('?')[0]!;
    await c.request('GET', path);
    const secret = 'whsec_FormSecret_abcdefghijklmnopQRST';
    const saved = await c.request('POST', `${path}/secret`, { form: { _csrf: c.lastCsrf, secret, keepPreviousForHours: '0' } });
    expect(saved.res.status).toBe(303);
    const page = await c.request('GET', saved.res.headers.get('location')!);
    expect(page.text).toContain(`<code id="secret-last4">${secret.slice(-4)}</code>`);
    expect(page.text).toContain('Signing secret saved');
    expect(page.text).not.toContain(secret);

    const wrong = 'sk_live_thisIsAnApiKeyNotASecret';
    const bad = await c.request('POST', `${path}/secret`, { form: { _csrf: c.lastCsrf, secret: wrong, keepPreviousForHours: '24' } });
    expect(bad.res.status).toBe(422);
    expect(bad.text).toContain('looks like a Stripe API key');
    expect(bad.text).not.toContain(wrong);
    expect(h.logs.join('')).not.toContain(secret);
  });

  it('shows a new API key once, then only its prefix', async () => {
    const c = await loggedIn();
    const form = await c.request('GET', '/websites/w_ui_keys/api-keys');
    const created = await c.request('POST', '/websites/w_ui_keys/api-keys', { form: { _csrf: c.lastCsrf, formId: formIdOf(form.text), livemode: 'false' } });
    expect(created.res.status).toBe(201);
    expect(created.res.headers.get('cache-control')).toBe('no-store');
    const key = /value="(mtv_test_[^"]+)"/.exec(created.text)?.[1];
    expect(key).toBeDefined();
    const again = await c.request('GET', '/websites/w_ui_keys/api-keys');
    expect(again.text).not.toContain(key!);
    expect(again.text).toContain(`${key!.slice(0, 12)}…`);

    const action = /action="(\/websites\/w_ui_keys\/api-keys\/key_[^"]+\/revoke)"/.exec(again.text)![1]!;
    const revoked = await c.request('POST', action, { form: { _csrf: c.lastCsrf } });
    expect(revoked.res.status).toBe(303);
    expect(await h.db.collection('api_keys').countDocuments({ websiteId: 'w_ui_keys', revokedAt: null })).toBe(0);
    expect((await c.request('GET', revoked.res.headers.get('location')!)).text).toContain('API key revoked.');
  });
});

describe('API key form re-posted (reload of the page that shows the new key)', () => {
  it('creates one key for one form, says so clearly on the second post, and shows the key only once', async () => {
    const c = await loggedIn();
    const page = await c.request('GET', '/websites/w_ui_repost/api-keys');
    const body = { _csrf: c.lastCsrf, formId: formIdOf(page.text), livemode: 'false' };
    const first = await c.request('POST', '/websites/w_ui_repost/api-keys', { form: body });
    expect(first.res.status).toBe(201);
    const key = /value="(mtv_test_[^"]+)"/.exec(first.text)![1]!;
    expect(formIdOf(first.text)).not.toBe(body.formId); // the page's own form can create another key

    const again = await c.request('POST', '/websites/w_ui_repost/api-keys', { form: body });
    expect(again.res.status).toBe(409);
    expect(again.text).toContain('This form was already submitted, so no second key was created.');
    expect(again.text).toContain(`${key.slice(0, 12)}…`);
    expect(again.text).not.toContain(key);
    expect(await h.db.collection('api_keys').countDocuments({ websiteId: 'w_ui_repost' })).toBe(1);
    expect(await h.db.collection('admin_audit').countDocuments({ action: 'api_key.create', websiteId: 'w_ui_repost' })).toBe(1);

    const stale = await c.request('POST', '/websites/w_ui_repost/api-keys', { form: { _csrf: c.lastCsrf, livemode: 'false' } });
    expect(stale.res.status).toBe(422);
    expect(stale.text).toContain('created no key');
    const next = await c.request('POST', '/websites/w_ui_repost/api-keys', { form: { _csrf: c.lastCsrf, formId: formIdOf(stale.text), livemode: 'true' } });
    expect(next.res.status).toBe(201);
    expect(await h.db.collection('api_keys').countDocuments({ websiteId: 'w_ui_repost' })).toBe(2);

    // The same form posted to another website's URL is a new form there: a key for that website.
    const elsewhere = await c.request('POST', '/websites/w_ui_repost_other/api-keys', { form: body });
    expect(elsewhere.res.status).toBe(201);
    expect(await h.db.collection('api_keys').countDocuments({ websiteId: 'w_ui_repost_other' })).toBe(1);
  });
});

describe('test the connection (JSON polling endpoint)', () => {
  it('waits, then shows the latest test payment with its confidence and why, marked new', async () => {
    const c = await loggedIn();
    const page = await c.request('GET', '/websites/w_tc/test-connection?provider=stripe');
    expect(page.res.status).toBe(200);
    expect(page.text).toContain('data-testid="waiting"');
    const pollUrl = /data-poll-url="([^"]+)"/.exec(page.text)![1]!.replace(/&amp;/g, '&');
    const first = JSON.parse((await c.request('GET', pollUrl)).text) as { html: string; fingerprint: string; payment: unknown };
    expect(first.payment).toBeNull();

    ledger.upsert(testPaymentState({ websiteId: 'w_tc', paymentKey: 'stripe:pi_tc', attribution: { confidence: 'medium', matchedBy: 'visitor', visitorId: 'v_<b>', sessionId: 's_7', source: null } }));
    const second = JSON.parse((await c.request('GET', pollUrl)).text) as { html: string; fingerprint: string; isNew: boolean };
    expect(second.fingerprint).not.toBe(first.fingerprint);
    expect(second.isNew).toBe(true);
    expect(second.html).toContain('Medium confidence');
    expect(second.html).toContain('matched by <strong data-testid="matched-by">visitor</strong>');
    expect(second.html).toContain('v_&lt;b&gt;');
    expect(second.html).not.toContain('v_<b>');
    expect(second.html).toContain('49.00 EUR');
  });

  it('the JSON endpoint is 401 for anonymous callers (the poller then asks to reload)', async () => {
    const res = await fetch(`${h.baseUrl}/websites/w_tc/test-connection.json`, { redirect: 'manual' });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: expect.objectContaining({ code: 'unauthorized' }) });
  });
});

describe('staff CLI', () => {
  const io = (input: string) => {
    const out: string[] = [];
    const err: string[] = [];
    return {
      io: {
        stdin: Readable.from([input]),
        stdout: new Writable({ write(c: Buffer, _e, cb) { out.push(c.toString()); cb(); } }),
        stderr: new Writable({ write(c: Buffer, _e, cb) { err.push(c.toString()); cb(); } }),
      },
      out, err,
    };
  };
  const env = () => ({ MONGODB_URI: mongoUri(), MONGODB_DB: h.db.databaseName });

  it('creates an account from a piped password (argon2id), which can then log in; refuses duplicates and short passwords', async () => {
    const a = io('a very long cli password\n');
    expect(await runStaffCli(['create', '--email', 'Cli@Metrivo.test', '--name', 'Cli User'], a.io, env())).toBe(0);
    expect(a.out.join('')).toMatch(/created staff staff_\S+ <cli@metrivo.test>/);
    const doc = await h.db.collection('admin_staff').findOne({ email: 'cli@metrivo.test' });
    expect(doc?.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(JSON.stringify(doc)).not.toContain('a very long cli password');
    const c = new SessionClient(h.baseUrl);
    expect((await c.login('cli@metrivo.test', 'a very long cli password')).status).toBe(303);

    const dup = io('another long password\n');
    expect(await runStaffCli(['create', '--email', 'cli@metrivo.test', '--name', 'Again'], dup.io, env())).toBe(1);
    expect(dup.err.join('')).toContain('already exists');
    const short = io('short\n');
    expect(await runStaffCli(['create', '--email', 'x@metrivo.test', '--name', 'X'], short.io, env())).toBe(1);
    expect(short.err.join('')).toContain('at least 12 characters');
    expect((await h.db.collection<AuditDoc>('admin_audit').find({ action: 'staff.create' }).toArray()).map((d) => d.details.email)).toContain('cli@metrivo.test');
  });

  it('disable ends the sessions of that account', async () => {
    const c = new SessionClient(h.baseUrl);
    expect((await c.login('cli@metrivo.test', 'a very long cli password')).status).toBe(303);
    const d = io('');
    expect(await runStaffCli(['disable', '--email', 'cli@metrivo.test'], d.io, env())).toBe(0);
    expect((await c.request('GET', '/integrations')).res.status).toBe(303);
    expect((await new SessionClient(h.baseUrl).login('cli@metrivo.test', 'a very long cli password')).status).toBe(401);
  });

  // A login reads the account, spends tens of ms in argon2, then saves its session: a CLI change in between
  // deletes the account's sessions before that one exists. Such a session must still be refused.
  const withCookie = (path: string, token: string) => fetch(`${h.baseUrl}${path}`, { headers: { cookie: `metrivo_admin_session=${token}` }, redirect: 'manual' });
  async function expectRefused(token: string) {
    const page = await withCookie('/integrations', token);
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toMatch(/^\/login\?next=/);
    expect((await withCookie('/api/integrations', token)).status).toBe(401);
    expect(await h.db.collection('admin_sessions').countDocuments({ _id: sessionIdOf(token) as never })).toBe(0);
  }

  it('refuses a session saved after disable ended the sessions, also once the account is enabled again', async () => {
    const staffStore = new StaffStore(h.db);
    const sessions = new SessionStore(h.db, 3600_000);
    await staffStore.create({ email: 'race@metrivo.test', name: 'Race', password: 'a very long race password' });
    const readByLogin = (await staffStore.findByEmail('race@metrivo.test'))!;
    const before = await sessions.create(readByLogin);
    expect((await withCookie('/api/integrations', before.token)).status).toBe(200);

    expect(await runStaffCli(['disable', '--email', 'race@metrivo.test'], io('').io, env())).toBe(0);
    const late = await sessions.create(readByLogin); // saved after the CLI deleted the sessions
    await expectRefused(late.token);

    expect(await runStaffCli(['enable', '--email', 'race@metrivo.test'], io('').io, env())).toBe(0);
    await expectRefused((await sessions.create(readByLogin)).token);
    expect((await new SessionClient(h.baseUrl).login('race@metrivo.test', 'a very long race password')).status).toBe(303);
  });

  it('refuses sessions created before set-password, including one saved after it ended the sessions', async () => {
    const staffStore = new StaffStore(h.db);
    const sessions = new SessionStore(h.db, 3600_000);
    await staffStore.create({ email: 'reset@metrivo.test', name: 'Reset', password: 'the old long password' });
    const c = new SessionClient(h.baseUrl);
    expect((await c.login('reset@metrivo.test', 'the old long password')).status).toBe(303);
    const readByLogin = (await staffStore.findByEmail('reset@metrivo.test'))!;

    expect(await runStaffCli(['set-password', '--email', 'reset@metrivo.test'], io('the new long password\n').io, env())).toBe(0);
    await expectRefused((await sessions.create(readByLogin)).token);
    expect((await c.request('GET', '/integrations')).res.status).toBe(303);
    const fresh = new SessionClient(h.baseUrl);
    expect((await fresh.login('reset@metrivo.test', 'the new long password')).status).toBe(303);
    expect((await fresh.request('GET', '/integrations')).res.status).toBe(200);
  });
});
