import { openSecrets, ApiKeyStore, DeliveryLog, IntegrationStore, type DeliveryDoc } from '@metrivo/integration-store';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { decryptSecret, generateKeyringEntry, parseKeyring } from '@metrivo/crypto';
import { runSecretsCli } from './cli/secrets';
import type { AuditDoc } from './audit';
import { HttpLedgerClient } from './ledger-client';
import { FakeLedgerServer, testPaymentState } from './test-support/fake-ledger';
import { createStaff, mongoUri, SessionClient, startAdminHarness, type AdminHarness } from './test-support/harness';

const STRIPE_SECRET = 'whsec_TopSecretValue1234567890abcdEFGH';
const ROLLED_SECRET = 'whsec_RolledSecret0987654321zyxwvuQRST';

let h: AdminHarness;
const ledger = new FakeLedgerServer();

beforeAll(async () => {
  await ledger.start();
  h = await startAdminHarness({ name: 'api', ledger: new HttpLedgerClient(ledger.url, 2000) });
});
afterAll(async () => {
  await h?.close();
  await ledger.stop();
});

type Json = Record<string, any>;
async function api(method: string, path: string, o: { body?: unknown; token?: string | null; rawBody?: string } = {}): Promise<{ status: number; body: Json; headers: Headers }> {
  const headers: Record<string, string> = {};
  const token = o.token === undefined ? h.adminToken : o.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (o.body !== undefined || o.rawBody !== undefined) {
    headers['content-type'] = 'application/json';
    body = o.rawBody ?? JSON.stringify(o.body);
  }
  const res = await fetch(`${h.baseUrl}${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Json) : {}, headers: res.headers };
}

const auditFor = (targetId: string) => h.db.collection<AuditDoc>('admin_audit').find({ 'target.id': targetId }).sort({ at: 1 }).toArray();
const rawDump = async (...collections: string[]) => JSON.stringify(await Promise.all(collections.map((c) => h.db.collection(c).find({}).toArray())));

async function createIntegration(websiteId = `w_${randomUUID().slice(0, 8)}`, provider = 'stripe') {
  const r = await api('POST', '/api/integrations', { body: { websiteId, provider } });
  expect(r.status).toBe(201);
  return r.body as { id: string; websiteId: string; provider: string; webhookUrl: string | null };
}

function expectErrorShape(body: Json, code: string) {
  expect(body).toEqual({ error: expect.objectContaining({ code, message: expect.any(String) }) });
}

describe('health', () => {
  it('/healthz is alive and /readyz pings MongoDB', async () => {
    expect((await fetch(`${h.baseUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${h.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', checks: { mongodb: 'ok' } });
  });
});

describe('POST /api/integrations', () => {
  it('creates an integration and answers the contract shape with the webhook URL', async () => {
    const r = await api('POST', '/api/integrations', { body: { websiteId: 'w_create', provider: 'stripe' } });
    expect(r.status).toBe(201);
    expect(Object.keys(r.body).sort()).toEqual(['id', 'livemode', 'provider', 'webhookUrl', 'websiteId']);
    expect(r.body.livemode).toBe(true);
    expect(r.body).toMatchObject({ websiteId: 'w_create', provider: 'stripe' });
    expect(r.body.id).toMatch(/^int_/);
    expect(r.body.webhookUrl).toBe(`https://hooks.metrivo.test/v1/webhooks/stripe/${r.body.id}`);
    expect(r.headers.get('location')).toBe(`/api/integrations/${r.body.id}`);
    const stored = await new IntegrationStore(h.db).get(r.body.id);
    expect(stored).toMatchObject({ websiteId: 'w_create', provider: 'stripe', status: 'active', livemode: true, secrets: [] });
    const audit = await auditFor(r.body.id);
    expect(audit).toEqual([expect.objectContaining({ action: 'integration.create', actor: { type: 'token' }, websiteId: 'w_create', details: { provider: 'stripe', livemode: true } })]);
  });

  it('creates a test-mode integration when asked (Razorpay/Dodo payloads do not carry their mode)', async () => {
    const r = await api('POST', '/api/integrations', { body: { websiteId: 'w_mode', provider: 'razorpay', livemode: false } });
    expect(r.status).toBe(201);
    expect(r.body.livemode).toBe(false);
    expect((await new IntegrationStore(h.db).get(r.body.id))!.livemode).toBe(false);
    expect((await api('GET', `/api/integrations/${r.body.id}`)).body.livemode).toBe(false);
    const bad = await api('POST', '/api/integrations', { body: { websiteId: 'w_mode', provider: 'razorpay', livemode: 'test' } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.fields).toEqual([expect.objectContaining({ path: 'livemode' })]);
  });

  it('returns webhookUrl null for the manual provider (it has no webhook)', async () => {
    const r = await createIntegration('w_manual', 'manual');
    expect(r.webhookUrl).toBeNull();
  });

  it('401 without or with a wrong bearer token', async () => {
    for (const token of [null, 'not-the-token', `${h.adminToken}x`]) {
      const r = await api('POST', '/api/integrations', { body: { websiteId: 'w_1', provider: 'stripe' }, token });
      expect(r.status).toBe(401);
      expectErrorShape(r.body, 'unauthorized');
    }
    expect(await h.db.collection('integrations').countDocuments({ websiteId: 'w_1' })).toBe(0);
  });

  it('422 validation_failed listing every failing field; 400 on malformed JSON', async () => {
    const r = await api('POST', '/api/integrations', { body: { websiteId: '', provider: 'paypal' } });
    expect(r.status).toBe(422);
    expectErrorShape(r.body, 'validation_failed');
    expect(r.body.error.fields.map((f: Json) => f.path).sort()).toEqual(['provider', 'websiteId']);
    expect((await api('POST', '/api/integrations', {})).status).toBe(422);
    const bad = await api('POST', '/api/integrations', { rawBody: '{"websiteId":' });
    expect(bad.status).toBe(400);
    expectErrorShape(bad.body, 'invalid_json');
  });
});

describe('PUT /api/integrations/:id/secret', () => {
  it('stores the secret encrypted, never returns it, and audits without it', async () => {
    const { id } = await createIntegration();
    const r = await api('PUT', `/api/integrations/${id}/secret`, { body: { secret: STRIPE_SECRET } });
    expect(r.status).toBe(204);

    const got = await api('GET', `/api/integrations/${id}`);
    expect(got.status).toBe(200);
    expect(got.body.secret).toEqual({ set: true, last4: STRIPE_SECRET.slice(-4), previous: [] });
    expect(JSON.stringify(got.body)).not.toContain(STRIPE_SECRET);

    // Not readable in MongoDB: the raw documents of every collection admin writes lack it…
    const dump = await rawDump('integrations', 'admin_audit', 'admin_sessions');
    expect(dump).not.toContain(STRIPE_SECRET);
    expect(dump).not.toContain(STRIPE_SECRET.slice(6)); // not even without its prefix
    // …yet the gateway (same keyring) can open it: encrypted, not hashed or lost.
    const doc = (await new IntegrationStore(h.db).get(id))!;
    expect(doc.secrets[0]?.sealed.alg).toBe('aes-256-gcm');
    expect(openSecrets(doc, h.keyring, new Date())).toEqual([STRIPE_SECRET]);

    const audit = await auditFor(id);
    expect(audit.map((a) => a.action)).toEqual(['integration.create', 'integration.secret.set']);
    expect(audit[1]!.details).toEqual({ provider: 'stripe', roll: false, keepPreviousForHours: 0, last4: STRIPE_SECRET.slice(-4), last4Checked: true });
    expect(h.logs.join('')).not.toContain(STRIPE_SECRET);
  });

  it('shows no suffix of a secret shorter than 24 characters (page, API, audit), also one stored with last4 before that rule', async () => {
    const { id } = await createIntegration(undefined, 'razorpay');
    const short = 'Ab3-Qx9Z'; // Razorpay accepts 8 characters: its last 4 would be half of it
    expect((await api('PUT', `/api/integrations/${id}/secret`, { body: { secret: short } })).status).toBe(204);
    expect((await api('GET', `/api/integrations/${id}`)).body.secret).toEqual({ set: true, last4: null, previous: [] });
    expect((await auditFor(id)).at(-1)!.details).toMatchObject({ last4: null });
    expect(await rawDump('integrations', 'admin_audit')).not.toContain('Qx9Z');
    // An older document still carries last4: its ciphertext length (= the secret's) hides it.
    await h.db.collection('integrations').updateOne({ _id: id as never }, { $set: { 'secrets.0.last4': 'Qx9Z' } });
    expect((await api('GET', `/api/integrations/${id}`)).body.secret.last4).toBeNull();
    const c = new SessionClient(h.baseUrl);
    await createStaff(h.db, 'short@metrivo.test');
    await c.login('short@metrivo.test', 'correct horse battery staple');
    const page = await c.request('GET', `/integrations/${id}`);
    expect(page.text).toContain('shorter than 24 characters, so none of it is shown');
    expect(page.text).not.toContain('Qx9Z');

    const long = 'Rz_twenty-four_chars_Ok7'; // exactly 24: the suffix is shown, with the previous (short) one hidden
    expect(long).toHaveLength(24);
    expect((await api('PUT', `/api/integrations/${id}/secret`, { body: { secret: long, keepPreviousForHours: 1 } })).status).toBe(204);
    expect((await api('GET', `/api/integrations/${id}`)).body.secret).toMatchObject({ set: true, last4: '_Ok7', previous: [{ last4: null }] });

    // An audit entry written before the rule kept every secret's last 4 characters and cannot tell how long the
    // secret was: neither the API nor the page shows it; entries written under the rule keep theirs.
    await h.db.collection<AuditDoc>('admin_audit').insertOne({
      _id: 'aud_old_rule', at: new Date(Date.now() - 86_400_000), actor: { type: 'token' }, action: 'integration.secret.set',
      target: { type: 'integration', id }, websiteId: null, details: { provider: 'razorpay', roll: false, keepPreviousForHours: 0, last4: 'Qx9Z' }, ip: null,
    });
    const entries = (await api('GET', `/api/audit?targetId=${id}`)).body.entries as AuditDoc[];
    expect(entries.find((e) => e._id === 'aud_old_rule')!.details.last4).toBeNull();
    expect(entries.map((e) => e.details.last4)).toContain('_Ok7');
    expect(JSON.stringify(entries)).not.toContain('Qx9Z');
    expect((await c.request('GET', `/integrations/${id}`)).text).not.toContain('Qx9Z');
  });

  it('rolls: the previous secret stays valid for the chosen hours', async () => {
    const { id } = await createIntegration();
    await api('PUT', `/api/integrations/${id}/secret`, { body: { secret: STRIPE_SECRET } });
    const before = Date.now();
    expect((await api('PUT', `/api/integrations/${id}/secret`, { body: { secret: ROLLED_SECRET, keepPreviousForHours: 24 } })).status).toBe(204);
    const got = await api('GET', `/api/integrations/${id}`);
    expect(got.body.secret.last4).toBe(ROLLED_SECRET.slice(-4));
    expect(got.body.secret.previous).toHaveLength(1);
    expect(got.body.secret.previous[0].last4).toBe(STRIPE_SECRET.slice(-4));
    const validUntil = Date.parse(got.body.secret.previous[0].validUntil);
    expect(validUntil).toBeGreaterThanOrEqual(before + 24 * 3600_000);
    expect(validUntil).toBeLessThan(Date.now() + 24 * 3600_000 + 1000);
    const doc = (await new IntegrationStore(h.db).get(id))!;
    expect(openSecrets(doc, h.keyring, new Date())).toEqual([ROLLED_SECRET, STRIPE_SECRET]);
    const audit = await auditFor(id);
    expect(audit.at(-1)!.details).toMatchObject({ roll: true, keepPreviousForHours: 24 });
    expect(JSON.stringify(audit)).not.toContain(ROLLED_SECRET);
  });

  it('401, 404, 409 for manual, 422 with the failing fields', async () => {
    const { id } = await createIntegration();
    expect((await api('PUT', `/api/integrations/${id}/secret`, { body: { secret: STRIPE_SECRET }, token: null })).status).toBe(401);
    const unknown = await api('PUT', '/api/integrations/int_nope/secret', { body: { secret: STRIPE_SECRET } });
    expect(unknown.status).toBe(404);
    expectErrorShape(unknown.body, 'unknown_integration');
    const manual = await createIntegration(undefined, 'manual');
    expect((await api('PUT', `/api/integrations/${manual.id}/secret`, { body: { secret: 'whatever-secret' } })).status).toBe(409);

    const bad = await api('PUT', `/api/integrations/${id}/secret`, { body: { secret: 'sk_test_123456789012345', keepPreviousForHours: 1000 } });
    expect(bad.status).toBe(422);
    expectErrorShape(bad.body, 'validation_failed');
    expect(bad.body.error.fields.map((f: Json) => f.path).sort()).toEqual(['keepPreviousForHours', 'secret']);
    // A rejected secret is echoed nowhere either.
    expect(JSON.stringify(bad.body)).not.toContain('sk_test_123456789012345');
    expect((await new IntegrationStore(h.db).get(id))!.secrets).toEqual([]);
    expect((await auditFor(id)).map((a) => a.action)).toEqual(['integration.create']);
  });
});

describe('GET /api/integrations/:id', () => {
  it('returns the integration, secret {set:false} before a secret, events and setup health', async () => {
    const { id, websiteId } = await createIntegration();
    const r = await api('GET', `/api/integrations/${id}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id, websiteId, provider: 'stripe', status: 'active', secret: { set: false, last4: null }, webhookUrl: `https://hooks.metrivo.test/v1/webhooks/stripe/${id}` });
    expect(r.body.events).toContain('invoice_payment.paid');
    expect(r.body.health.status).toBe('fail');
    expect(r.body.health.checks.find((c: Json) => c.id === 'secret').status).toBe('fail');
  });

  it('401 and 404', async () => {
    const { id } = await createIntegration();
    expect((await api('GET', `/api/integrations/${id}`, { token: null })).status).toBe(401);
    const r = await api('GET', '/api/integrations/int_missing');
    expect(r.status).toBe(404);
    expectErrorShape(r.body, 'unknown_integration');
  });
});

describe('rotating METRIVO_SECRET_KEYS', () => {
  it('setup health fails when the secret was sealed with a key admin does not have; `secrets reseal` moves secrets to the active key', async () => {
    const { id } = await createIntegration();
    expect((await api('PUT', `/api/integrations/${id}/secret`, { body: { secret: STRIPE_SECRET } })).status).toBe(204);
    const secretCheck = async () => (await api('GET', `/api/integrations/${id}`)).body.health.checks.find((c: Json) => c.id === 'secret') as Json;
    expect((await secretCheck()).status).toBe('ok');

    const k1 = `k1:${h.keyring.keys.get('k1')!.toString('base64')}`;
    const k2 = generateKeyringEntry('k2');
    const run = async (args: string[], keys: string) => {
      const out: string[] = [];
      const sink = new Writable({ write(c: Buffer, _e, cb) { out.push(c.toString()); cb(); } });
      const code = await runSecretsCli(args, { stdout: sink, stderr: sink }, { MONGODB_URI: mongoUri(), MONGODB_DB: h.db.databaseName, METRIVO_SECRET_KEYS: keys });
      return { code, out: out.join('') };
    };
    const dry = await run(['reseal', '--dry-run'], `${k2},${k1}`);
    expect(dry.code).toBe(1); // k1 still needed
    expect(dry.out).toContain(`${id}: would re-seal 1 secret(s) under "k2"`);
    expect((await new IntegrationStore(h.db).get(id))!.secrets[0]!.sealed.kid).toBe('k1');

    const done = await run(['reseal'], `${k2},${k1}`);
    expect(done.code).toBe(0);
    expect(done.out).toContain('older keys can be removed');
    expect(done.out).not.toContain(STRIPE_SECRET);
    const stored = (await new IntegrationStore(h.db).get(id))!;
    expect(stored.secrets.map((s) => s.sealed.kid)).toEqual(['k2']);
    expect(decryptSecret(stored.secrets[0]!.sealed, parseKeyring(k2), `integration:${id}`)).toBe(STRIPE_SECRET);
    expect((await run(['reseal', '--dry-run'], k2)).code).toBe(0);
    expect((await auditFor(id)).map((a) => a.action)).toContain('integration.secrets.reseal');

    // This admin's keyring is k1 only: the secret's key is now missing from it.
    const check = await secretCheck();
    expect(check).toMatchObject({ status: 'fail', detail: expect.stringContaining('key "k2", which is not in METRIVO_SECRET_KEYS') });
    // Without the key the CLI cannot re-seal and says the old key is still needed.
    const stuck = await run(['reseal'], generateKeyringEntry('k3'));
    expect(stuck.code).toBe(1);
    expect(stuck.out).toContain(`${id}: a secret sealed with key "k2" cannot be opened`);
  });
});

describe('GET /api/integrations/:id/deliveries and setup health from the delivery log + ledger', () => {
  it('lists the most recent deliveries newest first and feeds the health', async () => {
    const { id, websiteId } = await createIntegration();
    await api('PUT', `/api/integrations/${id}/secret`, { body: { secret: STRIPE_SECRET } });
    const now = Date.now();
    const base = { integrationId: id, websiteId, provider: 'stripe', published: 1, durationMs: 3, expireAt: new Date(now + 30 * 86_400_000) };
    const docs: DeliveryDoc[] = [
      { ...base, _id: randomUUID(), receivedAt: new Date(now - 60_000), providerEventId: null, eventType: null, livemode: null, outcome: 'rejected', httpStatus: 400, errorCode: 'invalid_signature', published: 0, hadMetrivoSignals: null },
      { ...base, _id: randomUUID(), receivedAt: new Date(now - 30_000), providerEventId: 'evt_1', eventType: 'checkout.session.completed', livemode: false, outcome: 'accepted', httpStatus: 200, errorCode: null, hadMetrivoSignals: true, traceId: '4bf92f3577b34da6a3ce929d0e0e4736' },
      { ...base, _id: randomUUID(), receivedAt: new Date(now - 20_000), providerEventId: 'evt_2', eventType: 'customer.created', livemode: false, outcome: 'ignored', httpStatus: 200, errorCode: null, published: 0, hadMetrivoSignals: null },
    ];
    await new DeliveryLog(h.db).insertMany(docs);
    ledger.upsert(testPaymentState({ websiteId, paymentKey: 'stripe:pi_live_1', livemode: true }));

    const r = await api('GET', `/api/integrations/${id}/deliveries`);
    expect(r.status).toBe(200);
    expect(r.body.deliveries.map((d: Json) => d.providerEventId)).toEqual(['evt_2', 'evt_1', null]);
    expect(r.body.deliveries[2]).toMatchObject({ outcome: 'rejected', errorCode: 'invalid_signature', httpStatus: 400, livemode: null });
    expect(r.body.deliveries[1]).toMatchObject({ eventType: 'checkout.session.completed', livemode: false, outcome: 'accepted', receivedAt: docs[1]!.receivedAt.toISOString(), traceId: '4bf92f3577b34da6a3ce929d0e0e4736' });
    // Records written before the gateway kept trace ids say null.
    expect(r.body.deliveries[0].traceId).toBeNull();
    expect((await api('GET', `/api/integrations/${id}/deliveries?limit=1`)).body.deliveries).toHaveLength(1);

    const health = (await api('GET', `/api/integrations/${id}`)).body.health;
    expect(health.signatureFailures24h).toBe(1);
    expect(health.lastDelivery).toMatchObject({ eventType: 'customer.created', outcome: 'ignored' });
    expect(health.testPayment).toMatchObject({ seen: true, via: ['webhook'] });
    expect(health.livePayment).toMatchObject({ seen: true, via: ['ledger'] });
    expect(health.requiredEvents.find((e: Json) => e.type === 'checkout.session.completed').seen).toBe(true);
    expect(health.metrivoSignals).toMatchObject({ share: 1, paymentWebhooks: 1, withSignals: 1 });
    expect(health.checks.find((c: Json) => c.id === 'signature_failures').status).toBe('warn');
  });

  it('health still answers when the ledger is down', async () => {
    const { id } = await createIntegration();
    ledger.failing = true;
    try {
      const r = await api('GET', `/api/integrations/${id}`);
      expect(r.status).toBe(200);
      expect(r.body.health.ledgerAvailable).toBe(false);
    } finally {
      ledger.failing = false;
    }
  });

  it('401 and 404', async () => {
    const { id } = await createIntegration();
    expect((await api('GET', `/api/integrations/${id}/deliveries`, { token: null })).status).toBe(401);
    expect((await api('GET', '/api/integrations/int_missing/deliveries')).status).toBe(404);
  });
});

describe('POST /api/websites/:websiteId/api-keys', () => {
  it('creates a key shown once, stored only as a hash, audited by prefix', async () => {
    const r = await api('POST', '/api/websites/w_keys/api-keys', { body: { livemode: false } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ id: expect.stringMatching(/^key_/), key: expect.stringMatching(/^mtv_test_/), livemode: false });
    expect(r.headers.get('cache-control')).toBe('no-store');
    const key = r.body.key as string;
    const found = await new ApiKeyStore(h.db).findActive(key);
    expect(found).toMatchObject({ _id: r.body.id, websiteId: 'w_keys', livemode: false });
    expect(await rawDump('api_keys', 'admin_audit')).not.toContain(key);
    expect(await rawDump('api_keys', 'admin_audit')).not.toContain(key.slice(12));
    expect(h.logs.join('')).not.toContain(key);

    const list = await api('GET', '/api/websites/w_keys/api-keys');
    expect(list.body.apiKeys).toEqual([expect.objectContaining({ id: r.body.id, prefix: key.slice(0, 12), revokedAt: null })]);
    expect(JSON.stringify(list.body)).not.toContain(key);
    expect(await auditFor(r.body.id)).toEqual([expect.objectContaining({ action: 'api_key.create', websiteId: 'w_keys', details: { prefix: key.slice(0, 12), livemode: false } })]);
  });

  it('defaults to a live key without a body', async () => {
    const r = await api('POST', '/api/websites/w_keys2/api-keys');
    expect(r.status).toBe(201);
    expect(r.body.key).toMatch(/^mtv_live_/);
  });

  it('401 and 422', async () => {
    expect((await api('POST', '/api/websites/w_keys/api-keys', { body: {}, token: null })).status).toBe(401);
    const bad = await api('POST', '/api/websites/w_keys/api-keys', { body: { livemode: 'yes' } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.fields).toEqual([expect.objectContaining({ path: 'livemode' })]);
    const badSite = await api('POST', `/api/websites/${encodeURIComponent('w 1')}/api-keys`, { body: {} });
    expect(badSite.status).toBe(422);
    expect(badSite.body.error.fields[0].path).toBe('websiteId');
  });

  it('revokes (204, audited), then 404 for the same key', async () => {
    const created = await api('POST', '/api/websites/w_rev/api-keys', { body: {} });
    const del = await api('DELETE', `/api/websites/w_rev/api-keys/${created.body.id}`);
    expect(del.status).toBe(204);
    expect(await new ApiKeyStore(h.db).findActive(created.body.key)).toBeNull();
    expect((await api('DELETE', `/api/websites/w_rev/api-keys/${created.body.id}`)).status).toBe(404);
    expect((await api('DELETE', `/api/websites/other/api-keys/${created.body.id}`)).status).toBe(404);
    expect((await auditFor(created.body.id)).map((a) => a.action)).toEqual(['api_key.create', 'api_key.revoke']);
    // The revoke entry names the key by its prefix (as the create entry does), never the key itself.
    const audit = await api('GET', `/api/audit?targetId=${created.body.id}`);
    const revoke = (audit.body.entries as Json[]).find((e) => e.action === 'api_key.revoke')!;
    expect(revoke).toMatchObject({ target: { type: 'api_key', id: created.body.id }, websiteId: 'w_rev', details: { prefix: created.body.prefix, livemode: true } });
    expect(created.body.prefix).toBe(created.body.key.slice(0, 12));
    expect(JSON.stringify(audit.body)).not.toContain(created.body.key);
  });
});

describe('support extras', () => {
  it('lists integrations (all or per website), disables and enables with audit', async () => {
    const a = await createIntegration('w_list');
    await createIntegration('w_list', 'razorpay');
    const list = await api('GET', '/api/integrations?websiteId=w_list');
    expect(list.body.integrations.map((i: Json) => i.provider).sort()).toEqual(['razorpay', 'stripe']);
    expect((await api('GET', '/api/integrations')).body.integrations.length).toBeGreaterThanOrEqual(2);

    const off = await api('POST', `/api/integrations/${a.id}/disable`);
    expect(off.status).toBe(200);
    expect(off.body.status).toBe('disabled');
    expect((await new IntegrationStore(h.db).get(a.id))!.status).toBe('disabled');
    const on = await api('POST', `/api/integrations/${a.id}/enable`);
    expect(on.body.status).toBe('active');
    expect((await auditFor(a.id)).map((x) => x.action)).toEqual(['integration.create', 'integration.disable', 'integration.enable']);
    expect((await api('POST', `/api/integrations/${a.id}/disable`, { token: null })).status).toBe(401);
  });

  it('proxies the ledger payments and explain trail; 503 when the ledger is down', async () => {
    ledger.upsert(testPaymentState({ websiteId: 'w_pay', paymentKey: 'stripe:pi_a' }), [{ revision: 1, seq: 0, kind: 'revenue', amountMinor: 4900, currency: 'eur', explanation: 'Payment recorded' }]);
    const list = await api('GET', '/api/websites/w_pay/payments?livemode=false');
    expect(list.body.payments.map((p: Json) => p.paymentKey)).toEqual(['stripe:pi_a']);
    const one = await api('GET', `/api/websites/w_pay/payments/${encodeURIComponent('stripe:pi_a')}`);
    expect(one.body.entries[0].explanation).toBe('Payment recorded');
    expect((await api('GET', `/api/websites/w_pay/payments/${encodeURIComponent('stripe:pi_none')}`)).status).toBe(404);
    const latest = await api('GET', '/api/websites/w_pay/test-payments/latest?provider=stripe');
    expect(latest.body.payment.paymentKey).toBe('stripe:pi_a');
    expect((await api('GET', '/api/websites/w_pay/test-payments/latest?provider=dodo')).body.payment).toBeNull();
    ledger.failing = true;
    try {
      const down = await api('GET', '/api/websites/w_pay/payments');
      expect(down.status).toBe(503);
      expectErrorShape(down.body, 'ledger_unavailable');
    } finally {
      ledger.failing = false;
    }
  });

  it('the audit log is readable through the API', async () => {
    const { id } = await createIntegration('w_audit');
    const r = await api('GET', `/api/audit?targetId=${id}`);
    expect(r.body.entries).toEqual([expect.objectContaining({ action: 'integration.create', websiteId: 'w_audit' })]);
  });

  it('unknown /api routes are 404 JSON', async () => {
    const r = await api('GET', '/api/nope');
    expect(r.status).toBe(404);
    expectErrorShape(r.body, 'not_found');
  });
});

describe('/api with a staff session instead of the token', () => {
  it('reads freely, but writes need the CSRF header; the audit names the staff member', async () => {
    const staff = await createStaff(h.db, 'api-session@metrivo.test');
    const client = new SessionClient(h.baseUrl);
    expect((await client.login(staff.email, staff.password)).status).toBe(303);

    expect((await client.request('GET', '/api/integrations')).res.status).toBe(200);
    const refused = await client.request('POST', '/api/integrations', { json: { websiteId: 'w_sess', provider: 'dodo' } });
    expect(refused.res.status).toBe(403);
    expect(JSON.parse(refused.text)).toEqual({ error: expect.objectContaining({ code: 'csrf_invalid' }) });

    const ok = await client.request('POST', '/api/integrations', { json: { websiteId: 'w_sess', provider: 'dodo' }, headers: { 'x-csrf-token': client.lastCsrf } });
    expect(ok.res.status).toBe(201);
    const { id } = JSON.parse(ok.text) as { id: string };
    expect((await auditFor(id))[0]!.actor).toMatchObject({ type: 'staff', email: staff.email });
  });
});
