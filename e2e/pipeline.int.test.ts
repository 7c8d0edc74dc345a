// The whole system in one process, against the real broker and database: support sets up a Stripe test
// integration in the admin UI (real Chromium), the tracker publishes the visitor's session, Stripe's signed
// test-mode webhooks hit the gateway, attribution joins them, the ledger records them, and the admin
// "test the connection" view shows the payment with its confidence label and why — without a reload.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { TOPICS, type SessionEvent } from '@metrivo/contracts';
import { generateKeyringEntry, hashEmail } from '@metrivo/crypto';
import { BatchingProducer, createKafka } from '@metrivo/kafka';
import type { ShutdownManager } from '@metrivo/observability';
import { MongoClient } from 'mongodb';
import { chromium, type Browser, type Page } from 'playwright-core';
import { loadAdminConfig } from '../apps/admin/src/env';
import { startAdmin } from '../apps/admin/src/main';
import { createStaff } from '../apps/admin/src/test-support/harness';
import { startAttribution } from '../apps/attribution/src/main';
import { fastConsumer, startGroupAtEnd, testLogger } from '../apps/attribution/src/test-support/int-helpers';
import { loadAttributionConfig } from '../apps/attribution/src/env';
import { loadGatewayConfig } from '../apps/gateway/src/env';
import { startGateway } from '../apps/gateway/src/main';
import { stripeFixtures } from '../apps/gateway/src/test-fixtures';
import { loadLedgerConfig } from '../apps/ledger/src/env';
import { startLedger } from '../apps/ledger/src/main';

const run = randomBytes(3).toString('hex');
const db = `e2e_${run}`;
const websiteId = `w_e2e_${run}`;
const emailHashKey = randomBytes(32).toString('hex');
const env = {
  ...process.env,
  MONGODB_DB: db,
  LOG_LEVEL: process.env.E2E_LOG ?? 'silent',
  METRIVO_EMAIL_HASH_KEY: emailHashKey,
  METRIVO_SECRET_KEYS: generateKeyringEntry('e2e'),
  METRIVO_ADMIN_TOKEN: randomBytes(24).toString('base64url'),
  GATEWAY_PORT: '0', ATTRIBUTION_PORT: '0', LEDGER_PORT: '0', ADMIN_PORT: '0',
};
const CHROMIUM = process.env.METRIVO_CHROMIUM_PATH ?? '/usr/bin/chromium';

let stops: Array<() => Promise<void>> = [];
let gatewayUrl = '';
let ledgerUrl = '';
let adminUrl = '';
let staff: { email: string; password: string };
let browser: Browser;
let page: Page;

// Response bodies are asserted field by field below.
const getJson = async (url: string): Promise<any> => (await fetch(url)).json();
const stopper = (app: { shutdown: ShutdownManager }) => () => app.shutdown.shutdown('test done');

beforeAll(async () => {
  const kafka = createKafka({ brokers: process.env.KAFKA_BROKERS!, clientId: 'e2e', logger: testLogger() });
  const attributionGroup = `e2e-attribution-${run}`;
  const ledgerGroup = `e2e-ledger-${run}`;
  // Fresh groups start at the end of the shared topics: earlier tests' records are not this test's business.
  await startGroupAtEnd(kafka, attributionGroup, [TOPICS.payments.name, TOPICS.visitorSessions.name]);
  await startGroupAtEnd(kafka, ledgerGroup, [TOPICS.revenueAttributed.name]);

  const gateway = await startGateway(loadGatewayConfig(env));
  gatewayUrl = `http://127.0.0.1:${gateway.port}`;
  const attribution = await startAttribution(loadAttributionConfig({ ...env, KAFKA_GROUP_ID: attributionGroup }), { logger: testLogger(), consumer: fastConsumer });
  const ledger = await startLedger(loadLedgerConfig({ ...env, KAFKA_GROUP_ID: ledgerGroup }), { logger: testLogger(), consumer: fastConsumer });
  ledgerUrl = `http://127.0.0.1:${ledger.port}`;
  const admin = await startAdmin(loadAdminConfig({ ...env, METRIVO_LEDGER_URL: ledgerUrl, METRIVO_PUBLIC_GATEWAY_URL: gatewayUrl }));
  adminUrl = `http://127.0.0.1:${admin.port}`;
  stops = [stopper(admin), () => ledger.stop(), () => attribution.stop(), stopper(gateway)];
  await Promise.all([attribution.consumer.joined, ledger.consumer.joined]);
  staff = await createStaff(admin.db);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: adminUrl })).newPage();
  page.setDefaultTimeout(20_000);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  for (const stop of stops) await stop().catch(() => undefined);
  const client = new MongoClient(process.env.MONGODB_URI!);
  await client.db(db).dropDatabase().catch(() => undefined);
  await client.close();
}, 60_000);

it('a signed Stripe test payment shows up in admin with its confidence label and why', async () => {
  // Support: log in, create a Stripe test integration, store the signing secret the merchant shares.
  await page.goto('/login');
  await page.getByLabel('Email').fill(staff.email);
  await page.getByLabel('Password').fill(staff.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(/\/integrations$/);
  await page.getByLabel('Website id', { exact: true }).fill(websiteId);
  await page.getByLabel('Provider', { exact: true }).selectOption('stripe');
  await page.getByLabel('Test endpoint').check();
  await page.getByRole('button', { name: 'Create integration' }).click();
  await page.waitForURL(/\/integrations\/int_[^/?]+\?notice=created$/);
  const webhookUrl = await page.getByLabel('Webhook URL', { exact: true }).inputValue();
  expect(webhookUrl).toMatch(new RegExp(`^${gatewayUrl}/v1/webhooks/stripe/int_`));
  const secret = stripeFixtures.stripeWebhookSecret();
  await page.getByLabel('Signing secret', { exact: true }).fill(secret);
  await page.getByRole('button', { name: 'Save secret' }).click();
  await page.waitForURL(/notice=secret_saved$/);

  // Open the test-connection view before the payment exists: it must update on its own.
  await page.locator('a.button', { hasText: 'Test the connection' }).click();
  await page.waitForURL(/\/test-connection/);

  // Tracker: the visitor came from a Google ad.
  const visitorId = `v_${run}`;
  const sessionId = `s_${run}`;
  const email = `buyer+${run}@example.com`;
  const now = Date.now();
  const session: SessionEvent = {
    schemaVersion: 1, type: 'session', websiteId, visitorId, sessionId,
    startedAt: new Date(now - 600_000).toISOString(), lastSeenAt: new Date(now - 60_000).toISOString(),
    referrer: 'https://www.google.com/', utm: { source: 'google', medium: 'cpc', campaign: 'bf' }, landingPage: '/pricing', country: 'DE', device: 'desktop',
  };
  const identify: SessionEvent = { schemaVersion: 1, type: 'identify', websiteId, visitorId, emailHash: hashEmail(email, emailHashKey), at: new Date(now - 120_000).toISOString() };
  const producer = new BatchingProducer(createKafka({ brokers: process.env.KAFKA_BROKERS!, clientId: 'e2e-tracker', logger: testLogger() }));
  await producer.connect();
  await Promise.all([session, identify].map((value) => producer.publish(TOPICS.visitorSessions.name, { key: websiteId, value })));
  await producer.disconnect();

  // Stripe: the three events of one Checkout payment, in Stripe's usual (unordered) way, signed.
  const scenario = stripeFixtures.oneTimeCheckoutScenario({
    apiVersion: '2025-03-31.basil', livemode: false, amount: 4900, currency: 'eur', email,
    sessionMetadata: { metrivo_session_id: sessionId, metrivo_visitor_id: visitorId },
  });
  for (const event of scenario.events) {
    const { rawBody, headers } = stripeFixtures.stripeWebhookRequest(event, secret);
    const res = await fetch(webhookUrl, { method: 'POST', headers, body: rawBody });
    expect({ type: event.type, status: res.status, body: await res.json() }).toEqual({ type: event.type, status: 200, body: { received: true } });
  }

  // Admin shows it, labelled, with the reason, without a reload.
  const card = page.locator('main');
  await card.getByText('High confidence').waitFor({ state: 'visible', timeout: 30_000 });
  const text = (await card.textContent()) ?? '';
  expect(text).toContain('49.00 EUR');
  expect(text).toContain(`stripe:${scenario.ids.paymentIntent}`);
  expect(text).toContain(sessionId);
  expect(text).toContain('paid_search');
  expect(text).not.toContain(email);
  const shots = join(__dirname, '..', process.env.METRIVO_UPDATE_SCREENSHOTS === '1' ? 'docs/screenshots' : '.local/screenshots');
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, 'e2e-test-connection.png'), fullPage: true });

  // The ledger agrees: one payment of 4900 EUR in test mode, counted once despite three events, none live.
  const test = await getJson(`${ledgerUrl}/v1/websites/${websiteId}/summary?livemode=false`);
  expect(test.currencies).toEqual({ eur: { grossMinor: 4900, refundedMinor: 0, netMinor: 4900, payments: 1 } });
  expect(test.byConfidence.high).toEqual({ eur: 4900 });
  const live = await getJson(`${ledgerUrl}/v1/websites/${websiteId}/summary?livemode=true`);
  expect(live.currencies).toEqual({});
  const explain = await getJson(`${ledgerUrl}/v1/websites/${websiteId}/payments/${encodeURIComponent(`stripe:${scenario.ids.paymentIntent}`)}`);
  expect(explain.state).toMatchObject({
    grossMinor: 4900, netMinor: 4900, status: 'paid', livemode: false, emailMasked: 'b***@example.com',
    attribution: { confidence: 'high', matchedBy: 'session', visitorId, sessionId, source: { channel: 'paid_search' } },
    refs: { paymentIntent: scenario.ids.paymentIntent, checkoutSession: scenario.ids.checkoutSession, charges: [scenario.ids.charge] },
  });
  expect(explain.entries.length).toBeGreaterThan(0);
}, 120_000);
