import { existsSync, mkdirSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { DeliveryLog, type DeliveryDoc } from '@metrivo/integration-store';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { HttpLedgerClient } from './ledger-client';
import { FakeLedgerServer, testPaymentState } from './test-support/fake-ledger';
import { createStaff, startAdminHarness, type AdminHarness } from './test-support/harness';

/**
 * Real headless Chromium (Debian `chromium`, driven by playwright-core) against the real admin app and
 * MongoDB. The ledger is a fake HTTP server speaking the ledger's read API, so this proves the pages
 * render and refresh. The full flow "signed test webhook → gateway → attribution → ledger → this view"
 * runs against the real apps in e2e/pipeline.int.test.ts.
 * Screenshots of the main pages go to .local/screenshots/, or to docs/screenshots/ (the README's) with
 * METRIVO_UPDATE_SCREENSHOTS=1 (`npm run screenshots`), so that `npm test` leaves the work tree clean.
 */

const CHROMIUM = process.env.METRIVO_CHROMIUM_PATH || '/usr/bin/chromium';
const SCREENSHOTS = path.resolve(__dirname, '../../..', process.env.METRIVO_UPDATE_SCREENSHOTS === '1' ? 'docs/screenshots' : '.local/screenshots');
const STRIPE_SECRET = 'whsec_BrowserTestSecret_0123456789abcdWXYZ';

let h: AdminHarness;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const ledger = new FakeLedgerServer();
jest.setTimeout(60_000);

const staff = { email: 'support@metrivo.test', password: 'correct horse battery staple' };
const websiteId = 'w_demo_shop';

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * playwright-core has no test runner and no auto-retrying `expect`: retry a jest assertion until it
 * passes or the time is up (the page may still be loading or polling).
 */
async function until(assertion: () => Promise<void>, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await assertion();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
const text = async (l: Locator) => (await l.innerText()).trim();

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`node scripts/ensure-chromium.mjs\` (installs the Debian chromium package)`);
  mkdirSync(SCREENSHOTS, { recursive: true });
  await ledger.start();
  h = await startAdminHarness({ name: 'browser', ledger: new HttpLedgerClient(ledger.url, 2000) });
  await createStaff(h.db, staff.email, staff.password);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: h.baseUrl });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: h.baseUrl });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
  await ledger.stop();
});

describe('admin in a real browser', () => {
  let integrationPath = '';
  let webhookUrl = '';

  it('sends an anonymous visitor to the login page, which is keyboard-usable, and logs in', async () => {
    await page.goto('/integrations');
    await page.waitForURL(/\/login\?next=%2Fintegrations$/);
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement && document.activeElement.textContent')).toBe('Skip to content');
    await page.getByLabel('Email').fill(staff.email);
    await page.getByLabel('Password').fill(staff.password);
    await shot('login');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(/\/integrations$/);
    await until(async () => expect(await text(page.getByRole('heading', { level: 1 }))).toBe('Integrations'));
    expect(await page.getByText('Signed in as').textContent()).toContain('Sam Support');
  });

  it('creates a Stripe integration and shows the webhook URL with a working copy button and the events', async () => {
    await page.getByLabel('Website id', { exact: true }).fill(websiteId);
    await page.getByLabel('Provider', { exact: true }).selectOption('stripe');
    await page.getByLabel('Test endpoint').check();
    await page.getByRole('button', { name: 'Create integration' }).click();
    await page.waitForURL(/\/integrations\/int_[^/?]+\?notice=created$/);
    integrationPath = new URL(page.url()).pathname;
    const id = integrationPath.split('/').pop()!;
    await until(async () => expect(await text(page.getByRole('heading', { level: 1 }))).toBe(`Stripe test integration for ${websiteId} active`));
    webhookUrl = await page.getByLabel('Webhook URL', { exact: true }).inputValue();
    expect(webhookUrl).toBe(`https://hooks.metrivo.test/v1/webhooks/stripe/${id}`);
    await page.getByRole('button', { name: 'Copy URL' }).click();
    await until(async () => expect(await text(page.locator('#copy-url-status'))).toBe('Copied.'));
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(webhookUrl);
    const events = await page.locator('#event-list li').allTextContents();
    expect(events).toContain('checkout.session.completed');
    expect(events).toContain('invoice_payment.paid');
    expect(events).toHaveLength(9);
  });

  it('sets the signing secret and shows only its last 4 characters', async () => {
    await page.getByLabel('Signing secret', { exact: true }).fill(STRIPE_SECRET);
    await page.getByRole('button', { name: 'Save secret' }).click();
    await page.waitForURL(/notice=secret_saved$/);
    await until(async () => expect(await text(page.locator('#secret-last4'))).toBe(STRIPE_SECRET.slice(-4)));
    expect(await page.content()).not.toContain(STRIPE_SECRET);

    // What the gateway would have logged for a few test webhooks, so the health and delivery tables have content.
    const id = integrationPath.split('/').pop()!;
    const now = Date.now();
    const base = { integrationId: id, websiteId, provider: 'stripe', durationMs: 4, expireAt: new Date(now + 30 * 86_400_000) };
    const deliveries: DeliveryDoc[] = [
      { ...base, _id: randomUUID(), receivedAt: new Date(now - 120_000), providerEventId: null, eventType: null, livemode: null, outcome: 'rejected', httpStatus: 400, errorCode: 'invalid_signature', published: 0, hadMetrivoSignals: null },
      { ...base, _id: randomUUID(), receivedAt: new Date(now - 60_000), providerEventId: 'evt_1TestSession', eventType: 'checkout.session.completed', livemode: false, outcome: 'accepted', httpStatus: 200, errorCode: null, published: 1, hadMetrivoSignals: true },
      { ...base, _id: randomUUID(), receivedAt: new Date(now - 59_000), providerEventId: 'evt_2TestIntent', eventType: 'payment_intent.succeeded', livemode: false, outcome: 'accepted', httpStatus: 200, errorCode: null, published: 1, hadMetrivoSignals: false },
      { ...base, _id: randomUUID(), receivedAt: new Date(now - 58_000), providerEventId: 'evt_3TestCharge', eventType: 'charge.succeeded', livemode: false, outcome: 'accepted', httpStatus: 200, errorCode: null, published: 1, hadMetrivoSignals: false },
    ];
    await new DeliveryLog(h.db).insertMany(deliveries);
    await page.reload();
    await page.getByRole('heading', { name: /Setup health/ }).waitFor({ state: 'visible' });
    await until(async () => expect(await text(page.locator('ul.checks li', { hasText: 'Signature failures (24 h)' }))).toContain('later webhooks verified'));
    await until(async () => expect(await text(page.locator('ul.checks li', { hasText: 'Test-mode payment' }))).toContain('Seen'));
    await shot('integration-detail');
  });

  it('test the connection: waits, then shows the test payment with its confidence label and why, without a reload', async () => {
    await page.locator('a.button', { hasText: 'Test the connection' }).click();
    await page.waitForURL(/\/test-connection\?provider=stripe$/);
    await page.getByTestId('waiting').waitFor({ state: 'visible' });
    await page.evaluate('window.__sameDocument = true');

    // The payment "arrives" in the ledger after the page was opened; the poller must pick it up.
    ledger.upsert(
      testPaymentState({ websiteId, paymentKey: 'stripe:pi_3TestBrowser', paidAt: new Date().toISOString(), updatedAt: new Date().toISOString() }),
      [
        { revision: 1, seq: 0, kind: 'revenue', component: 'gross', currency: 'eur', amountMinor: 4900, occurredAt: new Date().toISOString(), rule: 'payment_recorded', explanation: 'Payment of 49.00 EUR recorded; credited to session s_3 (high: the payment named a recorded session).', attribution: { confidence: 'high', matchedBy: 'session', channel: 'paid_search' } },
      ],
    );
    await until(async () => expect(await text(page.getByTestId('confidence'))).toBe('High confidence'), 8000);
    await until(async () => expect(await text(page.getByTestId('matched-by'))).toBe('session'));
    await until(async () => expect(await text(page.getByTestId('session'))).toBe('s_3'));
    await until(async () => expect(await text(page.getByTestId('why'))).toContain('named session s_3'));
    await until(async () => expect(await text(page.locator('[data-poll-target]'))).toContain('paid_search'));
    await until(async () => expect(await text(page.locator('[data-poll-target]'))).toContain('49.00 EUR'));
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    await until(async () => expect(await text(page.locator('[data-poll-status]'))).toContain('Last checked'));
    await shot('test-connection');
  });

  it('payments view: live/test toggle and the explain trail', async () => {
    await page.getByRole('link', { name: 'Payments', exact: true }).click();
    await page.getByText('No live payments yet.').waitFor({ state: 'visible' });
    await page.getByRole('link', { name: 'Test', exact: true }).click();
    const row = page.locator('tbody tr', { hasText: 'stripe:pi_3TestBrowser' });
    await until(async () => expect(await text(row)).toContain('49.00 EUR'));
    await until(async () => expect(await text(row)).toContain('High confidence'));
    await until(async () => expect(await text(row)).toContain('paid_search'));
    await shot('payments');
    await row.getByRole('link', { name: 'stripe:pi_3TestBrowser' }).click();
    await page.getByRole('heading', { name: 'Explain trail (ledger entries)' }).waitFor({ state: 'visible' });
    await until(async () => expect(await text(page.locator('table').last())).toContain('payment_recorded'));
    await shot('payment-explain');
  });

  it('API keys: created once-shown, then listed by prefix', async () => {
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByLabel('Test (for trying the integration)').check();
    await page.getByRole('button', { name: 'Create API key' }).click();
    const key = await page.getByLabel('New API key', { exact: true }).inputValue();
    expect(key).toMatch(/^mtv_test_/);
    await page.getByRole('link', { name: 'API keys' }).click();
    expect(await page.content()).not.toContain(key);
    await until(async () => expect(await text(page.locator('tbody'))).toContain(`${key.slice(0, 12)}…`));
    await shot('api-keys');
    await page.goto('/integrations');
    await shot('integrations');
  });

  it('refuses a form POST that lacks the CSRF token', async () => {
    const before = await h.db.collection('integrations').countDocuments({ websiteId: 'w_forged' });
    // A forged form (what another site could make a browser submit), carrying everything but the token.
    await page.evaluate(`(() => {
      const form = document.createElement('form');
      form.method = 'post';
      form.action = '/integrations';
      for (const [name, value] of [['websiteId', 'w_forged'], ['provider', 'stripe'], ['livemode', 'false']]) {
        const input = document.createElement('input');
        input.type = 'hidden'; input.name = name; input.value = value;
        form.appendChild(input);
      }
      document.body.appendChild(form);
      form.submit();
    })()`);
    await until(async () => expect(await text(page.getByRole('heading', { level: 1 }))).toBe('Request refused'));
    await until(async () => expect(await text(page.getByRole('alert'))).toContain('did not come from this site'));
    expect(await h.db.collection('integrations').countDocuments({ websiteId: 'w_forged' })).toBe(before);
  });

  it('logs out: the session is gone and pages need a login again', async () => {
    await page.goto('/integrations');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(/\/login\?notice=logged_out$/);
    await until(async () => expect(await text(page.getByRole('alert'))).toContain('You are logged out'));
    await page.goto(integrationPath);
    await page.waitForURL(/\/login\?next=/);
    expect(await h.db.collection('admin_sessions').countDocuments({})).toBe(0);
  });

  // The same flow against the real gateway, attribution and ledger (signed Stripe webhooks → "High
  // confidence" in this view, from the real ledger) is e2e/pipeline.int.test.ts.
});

