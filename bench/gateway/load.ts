// The load generator, in its own process so it never shares an event loop with the server under test.
// On "prepare" it builds a pool of distinct, realistic, signed Stripe webhook requests (Checkout
// payments and subscription sign-ups, every event Stripe sends for them); on "run" it drives a target
// with autocannon (warm-up, then the measured phase) and reports which deliveries were accepted.
import autocannon from 'autocannon';
import { stripeFixtures } from '../../apps/gateway/src/test-fixtures';
import type { LoadResult, PoolReady, PreparePool, RunLoad } from './protocol';

const API_VERSIONS = stripeFixtures.STRIPE_API_VERSIONS;
const ACCEPTED_BODY = JSON.stringify({ received: true });

interface SignedRequest {
  eventId: string;
  eventType: string;
  headers: Record<string, string>;
  body: Buffer;
}

let secret = '';
let pool: SignedRequest[] = [];
let scenarioCount = 0;
let pending: SignedRequest[] = [];

/** The next scenario's events, signed: mostly one-time Checkout payments, every fourth a subscription sign-up. */
function nextScenarioRequests(): SignedRequest[] {
  scenarioCount += 1;
  const apiVersion = API_VERSIONS[scenarioCount % API_VERSIONS.length]!;
  const options = {
    apiVersion,
    livemode: false,
    amount: 500 + (scenarioCount % 200) * 100,
    currency: scenarioCount % 3 === 0 ? 'usd' : 'eur',
    email: `buyer${scenarioCount}@example.com`,
    sessionMetadata: { metrivo_session_id: `s_bench_${scenarioCount}`, metrivo_visitor_id: `v_bench_${scenarioCount}` },
  };
  const scenario = scenarioCount % 4 === 0
    ? stripeFixtures.subscriptionCheckoutScenario({ ...options, subscriptionMetadata: options.sessionMetadata })
    : stripeFixtures.oneTimeCheckoutScenario({ ...options, paymentIntentMetadata: options.sessionMetadata });
  return scenario.events.map((event) => {
    const { rawBody, headers } = stripeFixtures.stripeWebhookRequest(event, secret);
    return { eventId: event.id as string, eventType: event.type as string, headers, body: rawBody };
  });
}

function signedRequest(): SignedRequest {
  if (pending.length === 0) pending = nextScenarioRequests();
  return pending.shift()!;
}

function prepare(message: PreparePool): PoolReady {
  const started = Date.now();
  secret = message.secret;
  pool = [];
  const eventTypes: Record<string, number> = {};
  let bytes = 0;
  while (pool.length < message.poolSize) {
    const request = signedRequest();
    pool.push(request);
    bytes += request.body.length;
    eventTypes[request.eventType] = (eventTypes[request.eventType] ?? 0) + 1;
  }
  return { type: 'prepared', poolSize: pool.length, averageBodyBytes: Math.round(bytes / pool.length), eventTypes, ms: Date.now() - started };
}

async function run(message: RunLoad): Promise<LoadResult> {
  const url = new URL(message.url);
  // Every target starts at the head of the pool: each gateway variant has its own integration, so the
  // same Stripe event ids are new deliveries to it. Past the pool's end requests are signed on the fly.
  let next = 0;
  let generatedOnTheFly = 0;
  const acceptedEventIds: string[] = [];
  let otherOk = 0;
  const request: autocannon.AutocannonRequest = {
    method: 'POST',
    path: url.pathname,
    setupRequest: (req, context) => {
      let item = pool[next];
      next += 1;
      if (!item) {
        item = signedRequest();
        generatedOnTheFly += 1;
      }
      context.eventId = item.eventId;
      return { ...req, headers: item.headers, body: item.body };
    },
    onResponse: (status, body, context) => {
      if (status !== 200) return;
      if (body === ACCEPTED_BODY) acceptedEventIds.push(context.eventId as string);
      else otherOk += 1;
    },
  };
  const options = { url: url.origin, connections: message.connections, timeout: 30, requests: [request] };
  const warmup: autocannon.Result = await autocannon({ ...options, duration: message.warmupSeconds });
  const measured: autocannon.Result = await autocannon({ ...options, duration: message.durationSeconds });
  const statusCounts: Record<string, number> = {};
  for (const [status, { count }] of Object.entries(measured.statusCodeStats ?? {})) statusCounts[status] = Number(count);
  return {
    type: 'result',
    target: message.target,
    requestsPerSecond: measured.requests.average,
    warmupRequestsPerSecond: warmup.requests.average,
    latencyMs: { p50: measured.latency.p50, p90: measured.latency.p90, p99: measured.latency.p99, average: measured.latency.average, max: measured.latency.max },
    responses: measured.requests.total,
    statusCounts,
    errors: measured.errors,
    timeouts: measured.timeouts,
    acceptedEventIds,
    otherOk,
    generatedOnTheFly,
  };
}

process.on('message', (message: PreparePool | RunLoad | { type: 'exit' }) => {
  if (message.type === 'prepare') process.send!(prepare(message));
  else if (message.type === 'run') {
    run(message).then((result) => process.send!(result), (err: unknown) => {
      console.error('load run failed:', err);
      process.exit(1);
    });
  } else if (message.type === 'exit') process.exit(0);
});
