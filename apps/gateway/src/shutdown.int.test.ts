// The gateway's SIGTERM drain with a keep-alive client (what a load balancer holds open): the request in flight
// when the shutdown starts gets its answer, the HTTP step ends right after it instead of waiting for the 65 s
// keep-alive timeout, and so the later steps (producer flush, delivery log flush, MongoDB close, telemetry) run.
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { Writable } from 'node:stream';
import { generateKeyringEntry, parseKeyring } from '@metrivo/crypto';
import { DeliveryLog, IntegrationStore } from '@metrivo/integration-store';
import { createLogger } from '@metrivo/observability';
import { MongoClient } from 'mongodb';
import { loadGatewayConfig } from './env';
import { startGateway, type GatewayPublisher } from './main';
import { stripeFixtures } from './test-fixtures';

jest.setTimeout(60_000);

const DEADLINE_MS = 15_000;
const runId = randomBytes(4).toString('hex');

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through the jest integration project`);
  return value;
}

/** A publisher whose publish waits until released, so that a webhook is in flight when the shutdown starts. */
function heldPublisher() {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let published!: () => void;
  const publishing = new Promise<void>((r) => (published = r));
  const state = { disconnected: false };
  const publisher: GatewayPublisher = {
    async publish() {
      published();
      await released;
    },
    connect: async () => undefined,
    disconnect: async () => {
      state.disconnected = true;
    },
    isHealthy: () => true,
  };
  return { publisher, publishing, release, state };
}

function request(options: http.RequestOptions, body?: Buffer): Promise<{ status: number; connection: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

it('SIGTERM with a keep-alive request in flight: it is answered, HTTP closes right after, and the later steps run', async () => {
  const dbName = `metrivo_gateway_shutdown_${runId}`;
  const secretKeys = generateKeyringEntry('sd1');
  const signingSecret = stripeFixtures.stripeWebhookSecret();
  const websiteId = `w_gwshutdown_${runId}`;
  const mongo = new MongoClient(env('MONGODB_URI'), { serverSelectionTimeoutMS: 5000 });
  await mongo.connect();
  const logLines: Array<{ msg: string; step?: string }> = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as { msg: string; step?: string });
      cb();
    },
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const db = mongo.db(dbName);
    const integration = await new IntegrationStore(db).create(websiteId, 'stripe', new Date(), false);
    await new IntegrationStore(db).setSecret(integration._id, signingSecret, parseKeyring(secretKeys));

    const held = heldPublisher();
    const config = loadGatewayConfig({
      ...process.env,
      KAFKA_BROKERS: env('KAFKA_BROKERS'),
      MONGODB_URI: env('MONGODB_URI'),
      MONGODB_DB: dbName,
      GATEWAY_PORT: '0',
      METRIVO_EMAIL_HASH_KEY: `gateway-shutdown-email-hash-key-${runId}`,
      METRIVO_SECRET_KEYS: secretKeys,
      SHUTDOWN_DEADLINE_MS: String(DEADLINE_MS),
    });
    const gateway = await startGateway(config, {
      createPublisher: () => held.publisher,
      logger: createLogger({ service: 'gateway-shutdown-test', level: 'info', destination }),
    });
    const target = { host: '127.0.0.1', port: gateway.port, agent };

    // The client's connection is kept alive (as a load balancer's would be).
    expect((await request({ ...target, path: '/healthz' })).connection).toBe('keep-alive');

    const event = stripeFixtures.paymentIntentSucceeded({ apiVersion: '2024-06-20', livemode: false });
    const { rawBody, headers } = stripeFixtures.stripeWebhookRequest(event, signingSecret);
    const inFlight = request({ ...target, method: 'POST', path: `/v1/webhooks/stripe/${integration._id}`, headers }, rawBody);
    await held.publishing;

    const started = Date.now();
    const stopped = gateway.shutdown.shutdown('SIGTERM').then(() => Date.now() - started);
    await new Promise((r) => setTimeout(r, 200));
    held.release();

    const answer = await inFlight;
    expect(answer).toMatchObject({ status: 200, connection: 'close' });
    // Far below the deadline (and the 65 s keep-alive timeout the HTTP close used to wait for).
    expect(await stopped).toBeLessThan(DEADLINE_MS / 3);

    const done = logLines.filter((l) => l.msg === 'shutdown step done').map((l) => l.step);
    expect(done).toEqual([
      'http: stop accepting, finish in-flight requests',
      'kafka producer: flush and disconnect',
      'delivery log: flush',
      'mongodb: close',
      'telemetry: flush',
    ]);
    expect(logLines.filter((l) => l.msg === 'shutdown step failed')).toEqual([]);
    expect(held.state.disconnected).toBe(true);
    // The delivery log flush ran before MongoDB closed: the webhook's attempt is recorded.
    const deliveries = await new DeliveryLog(db).recent(integration._id, 10);
    expect(deliveries.map((d) => [d.providerEventId, d.outcome, d.httpStatus])).toEqual([[event.id, 'accepted', 200]]);
  } finally {
    agent.destroy();
    await mongo.db(dbName).dropDatabase().catch(() => undefined);
    await mongo.close();
  }
});
