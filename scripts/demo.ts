// `npm run demo` (with `npm start` running): sets up a demo website the way support would, then plays
// a visitor who arrives from a Google ad, browses, and pays in Stripe test mode. Prints the admin URL
// where the payment shows up with its confidence label.
//
//   1. admin API: create a test-mode Stripe integration for the website and store its signing secret;
//   2. tracker: publish the visitor's sessions (and an identify event) to metrivo.visitor-sessions.v1;
//   3. Stripe: send signed test-mode webhooks (checkout.session.completed + payment_intent.succeeded +
//      charge.succeeded) to the gateway, exactly as Stripe would, with metrivo_* metadata on the session;
//   4. wait until the ledger has the attributed payment, and print where to look.
//
// Exits 1 when the demo did not work (an app refused a step, or the payment is not in the ledger after 30 s), 2 on
// bad usage.
import { randomBytes } from 'node:crypto';
import { TOPICS, type SessionEvent } from '@metrivo/contracts';
import { hashEmail } from '@metrivo/crypto';
import { BatchingProducer, createKafka } from '@metrivo/kafka';
import { stripeFixtures } from '../apps/gateway/src/test-fixtures';
import { cli as createCli, runMain } from './cli';
import { devSetting } from './dev-secrets';

export interface DemoOptions {
  websiteId: string;
  /** Base URLs of the apps. */
  admin: string;
  gateway: string;
  ledger: string;
  attribution: string;
  apiVersion: string;
  adminToken: string;
  emailHashKey: string;
  /** How long to wait for the payment in the ledger. */
  ledgerWaitMs: number;
}

/** What the demo talks to (tests pass stubs). */
export interface DemoDeps {
  fetch: typeof fetch;
  publishSessions(websiteId: string, events: SessionEvent[]): Promise<void>;
  log(line: string): void;
  sleep(ms: number): Promise<void>;
}

/** ok: the payment reached the ledger; otherwise what went wrong, for the exit message. */
export type DemoResult = { ok: true } | { ok: false; problem: string };

async function adminApi<T>(o: DemoOptions, deps: DemoDeps, method: string, path: string, body?: unknown): Promise<T> {
  const res = await deps.fetch(`${o.admin}/api${path}`, {
    method,
    headers: { authorization: `Bearer ${o.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`admin ${method} ${path} → ${res.status} ${await res.text()}`);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

export async function runDemo(o: DemoOptions, deps: DemoDeps): Promise<DemoResult> {
  const { websiteId } = o;

  // 1. Support's side: the integration and the secret the merchant shares.
  const integration = await adminApi<{ id: string; webhookUrl: string }>(o, deps, 'POST', '/integrations', { websiteId, provider: 'stripe', livemode: false });
  const signingSecret = `whsec_${randomBytes(24).toString('base64url')}`;
  await adminApi(o, deps, 'PUT', `/integrations/${integration.id}/secret`, { secret: signingSecret });
  deps.log(`✔ integration ${integration.id} for ${websiteId}; webhook URL ${integration.webhookUrl}`);

  // 2. The tracker's side: a visitor from a Google ad, then a return from Stripe Checkout (not a source).
  const run = randomBytes(3).toString('hex');
  const visitorId = `v_demo_${run}`;
  const sessionId = `s_demo_${run}`;
  const email = `demo+${run}@example.com`;
  const now = Date.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  const sessions: SessionEvent[] = [
    { schemaVersion: 1, type: 'session', websiteId, visitorId, sessionId, startedAt: iso(now - 9 * 60_000), lastSeenAt: iso(now - 2 * 60_000),
      referrer: 'https://www.google.com/', utm: { source: 'google', medium: 'cpc', campaign: 'black_friday' }, landingPage: '/pricing', country: 'DE', device: 'desktop' },
    { schemaVersion: 1, type: 'identify', websiteId, visitorId, emailHash: hashEmail(email, o.emailHashKey), at: iso(now - 3 * 60_000) },
    { schemaVersion: 1, type: 'session', websiteId, visitorId, sessionId: `${sessionId}_return`, startedAt: iso(now - 60_000), lastSeenAt: iso(now - 30_000),
      referrer: 'https://checkout.stripe.com/', landingPage: '/thanks', country: 'DE', device: 'desktop' },
  ];
  await deps.publishSessions(websiteId, sessions);
  deps.log(`✔ tracker: visitor ${visitorId}, session ${sessionId} (google / cpc / black_friday) and a checkout return`);

  // 3. Stripe's side: the three events of a Checkout payment, signed with the integration's secret.
  const scenario = stripeFixtures.oneTimeCheckoutScenario({
    apiVersion: o.apiVersion, livemode: false, amount: 4900, currency: 'eur', email,
    sessionMetadata: { metrivo_session_id: sessionId, metrivo_visitor_id: visitorId },
  });
  for (const event of scenario.events) {
    const { rawBody, headers } = stripeFixtures.stripeWebhookRequest(event, signingSecret);
    const res = await deps.fetch(`${o.gateway}/v1/webhooks/stripe/${integration.id}`, { method: 'POST', headers, body: rawBody });
    const answer = `webhook ${event.type as string} → ${res.status} ${await res.text()}`;
    // A refused webhook (Stripe would retry it) means the payment cannot reach the ledger: no point waiting for it.
    if (!res.ok) return { ok: false, problem: `${answer}: the gateway did not accept the payment (see its log)` };
    deps.log(`✔ ${answer}`);
  }

  // 4. Wait for the attributed payment to reach the ledger.
  const paymentKey = `stripe:${scenario.ids.paymentIntent}`;
  const deadline = Date.now() + o.ledgerWaitMs;
  let confidence: string | undefined;
  while (Date.now() < deadline) {
    const res = await deps.fetch(`${o.ledger}/v1/websites/${encodeURIComponent(websiteId)}/payments/${encodeURIComponent(paymentKey)}`);
    if (res.ok) {
      const body = (await res.json()) as { state: { attribution: { confidence: string; matchedBy: string } } };
      confidence = `${body.state.attribution.confidence} (matched by ${body.state.attribution.matchedBy})`;
      break;
    }
    await deps.sleep(500);
  }
  if (!confidence) return { ok: false, problem: `${paymentKey} not in the ledger after ${Math.round(o.ledgerWaitMs / 1000)} s${await backlogHint(o, deps)}` };
  deps.log(`✔ ledger: ${paymentKey} attributed with ${confidence}`);
  deps.log(`\nOpen ${o.admin}/websites/${encodeURIComponent(websiteId)}/test-connection`);
  deps.log('(log in with a staff account: npm run staff -w @metrivo/admin -- create --email you@example.com --name You)');
  return { ok: true };
}

/** Why the payment may be late: records left on the shared dev topics by benchmarks and tests (attribution's lag). */
async function backlogHint(o: DemoOptions, deps: DemoDeps): Promise<string> {
  try {
    const res = await deps.fetch(`${o.attribution}/metrics`);
    const lag = ((await res.json()) as { consumer?: { lagTotal?: number } }).consumer?.lagTotal ?? 0;
    if (lag > 1000) {
      return `: attribution is still ${lag.toLocaleString('en-US')} records behind on the dev topics (left there by benchmarks or tests). ` +
        'Wait, or stop npm start, run `npm run dev:skip-backlog`, start again and re-run the demo.';
    }
  } catch {
    // attribution not reachable: the generic advice below
  }
  return ': check the attribution and ledger logs';
}

function secrets(): { adminToken: string; emailHashKey: string } {
  return { adminToken: devSetting('METRIVO_ADMIN_TOKEN') ?? '', emailHashKey: devSetting('METRIVO_EMAIL_HASH_KEY') ?? '' };
}

async function main(): Promise<void> {
  const cli = createCli(
    [
      'usage: npm run demo -- [--website w_demo] [--admin <url>] [--gateway <url>] [--ledger <url>] [--attribution <url>] [--api-version <stripe version>]',
      '  the URLs default to METRIVO_ADMIN_URL, METRIVO_GATEWAY_URL, METRIVO_LEDGER_URL, METRIVO_ATTRIBUTION_URL, else the ports of npm start',
      'env: KAFKA_BROKERS (default 127.0.0.1:9092), METRIVO_ADMIN_TOKEN and METRIVO_EMAIL_HASH_KEY (else .local/dev-secrets.json)',
      'exit: 0 the payment reached the ledger, 1 the demo failed, 2 bad usage',
    ].join('\n'),
  );
  const { values: args } = cli.parse({
    options: {
      website: { type: 'string', default: 'w_demo' },
      admin: { type: 'string', default: process.env.METRIVO_ADMIN_URL ?? 'http://127.0.0.1:8084' },
      gateway: { type: 'string', default: process.env.METRIVO_GATEWAY_URL ?? 'http://127.0.0.1:8081' },
      ledger: { type: 'string', default: process.env.METRIVO_LEDGER_URL ?? 'http://127.0.0.1:8083' },
      attribution: { type: 'string', default: process.env.METRIVO_ATTRIBUTION_URL ?? 'http://127.0.0.1:8082' },
      'api-version': { type: 'string', default: '2026-10-28.endive' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (args.help) cli.help();
  const { adminToken, emailHashKey } = secrets();
  if (!adminToken || !emailHashKey) throw new Error('no METRIVO_ADMIN_TOKEN / METRIVO_EMAIL_HASH_KEY: run `npm start` first (it creates .local/dev-secrets.json)');
  const kafka = createKafka({ brokers: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092', clientId: 'metrivo-demo' });
  const result = await runDemo(
    {
      websiteId: args.website, admin: args.admin, gateway: args.gateway, ledger: args.ledger, attribution: args.attribution,
      apiVersion: args['api-version'], adminToken, emailHashKey, ledgerWaitMs: 30_000,
    },
    {
      fetch,
      async publishSessions(websiteId, events) {
        const producer = new BatchingProducer(kafka);
        await producer.connect();
        try {
          await Promise.all(events.map((value) => producer.publish(TOPICS.visitorSessions.name, { key: websiteId, value })));
        } finally {
          await producer.disconnect();
        }
      },
      log: (line) => console.log(line),
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    },
  );
  if (!result.ok) throw new Error(`the demo failed: ${result.problem}`);
}

// Imported by demo.test.ts: run only as a script.
if (require.main === module) runMain(main);
