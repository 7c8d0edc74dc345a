import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { z } from 'zod';
import { commonEnvSchema, createLogger, EnvError, healthzHandler, loadEnv, readiness, readyzHandler, ShutdownManager } from './index';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  return { lines, destination };
}

describe('createLogger', () => {
  it('redacts secrets, signatures, auth headers and emails', () => {
    const { lines, destination } = capture();
    const log = createLogger({ service: 't', destination });
    log.info({
      secret: 'whsec_topsecret', email: 'jane@example.com',
      req: { headers: { authorization: 'Bearer mtv_live_abc', 'stripe-signature': 't=1,v1=deadbeef', host: 'x' } },
      integration: { secret: 'whsec_nested' }, customer: { email: 'joe@example.com' },
    }, 'hello');
    const out = lines.join('');
    for (const s of ['whsec_topsecret', 'jane@example.com', 'mtv_live_abc', 'deadbeef', 'whsec_nested', 'joe@example.com']) {
      expect(out).not.toContain(s);
    }
    const parsed = JSON.parse(lines[0]!);
    expect(parsed).toMatchObject({ service: 't', level: 'info', msg: 'hello', req: { headers: { host: 'x' } } });
  });
});

describe('createLogger redaction paths', () => {
  it('redacts every provider signature header, nested credentials and emails, and app-specific paths', () => {
    const { lines, destination } = capture();
    const log = createLogger({ service: 't', destination, redact: ['integration.webhookUrlToken'] });
    const sig = { 'stripe-signature': 'SIG_STRIPE', 'x-razorpay-signature': 'SIG_RAZORPAY', 'webhook-signature': 'SIG_DODO', authorization: 'AUTH_H', cookie: 'COOKIE_H' };
    log.info({
      req: { headers: { ...sig } },
      headers: { ...sig },
      res: { headers: { 'set-cookie': 'SET_COOKIE' } },
      body: { password: 'PASS_1', token: 'TOKEN_1', apiKey: 'APIKEY_1', key: 'KEY_1', authorization: 'AUTH_1', cookie: 'COOKIE_1',
        customer_email: 'CE_1@example.com', receipt_email: 'RE_1@example.com', secrets: ['SECRETS_1'] },
      a: { b: { secret: 'DEEP_SECRET', email: 'DEEP@example.com' } },
      integration: { webhookUrlToken: 'APP_SPECIFIC' },
    }, 'x');
    const out = lines.join('');
    for (const s of ['SIG_STRIPE', 'SIG_RAZORPAY', 'SIG_DODO', 'AUTH_H', 'COOKIE_H', 'SET_COOKIE', 'PASS_1', 'TOKEN_1', 'APIKEY_1', 'KEY_1', 'AUTH_1', 'COOKIE_1',
      'CE_1@', 'RE_1@', 'SECRETS_1', 'DEEP_SECRET', 'DEEP@', 'APP_SPECIFIC']) {
      expect([s, out.includes(s)]).toEqual([s, false]);
    }
  });
});

describe('loadEnv', () => {
  it('applies defaults', () => {
    const env = loadEnv(commonEnvSchema, {});
    expect(env.KAFKA_BROKERS).toEqual(['127.0.0.1:9092']);
    expect(env.METRIVO_OTEL_EXPORTER).toBe('none');
  });
  it('lists every bad variable in one readable error', () => {
    const schema = commonEnvSchema.extend({ PORT: z.coerce.number().int().min(1).max(65535) });
    try {
      loadEnv(schema, { KAFKA_BROKERS: 'nonsense', MONGODB_URI: 'http://x', PORT: '99999' });
      throw new Error('expected failure');
    } catch (err) {
      expect(err).toBeInstanceOf(EnvError);
      const msg = (err as Error).message;
      expect(msg).toContain('KAFKA_BROKERS: must be a comma-separated list of host:port');
      expect(msg).toContain('MONGODB_URI: must be a mongodb://');
      expect(msg).toContain('PORT');
    }
  });
});

describe('ShutdownManager', () => {
  const quiet = { info() {}, warn() {}, error() {} };
  it('runs steps in order once, flags shutting down first, and survives a failing step', async () => {
    const order: string[] = [];
    const m = new ShutdownManager(quiet, 1000);
    m.add('a', () => { order.push(`a:${m.isShuttingDown()}`); })
      .add('b', () => { throw new Error('boom'); })
      .add('c', async () => { order.push('c'); });
    await Promise.all([m.shutdown('test'), m.shutdown('again')]);
    expect(order).toEqual(['a:true', 'c']);
  });
  it('drains once when the same process is signalled twice (a process tree kill), then exits 0', async () => {
    const before = { term: process.listeners('SIGTERM'), int: process.listeners('SIGINT') };
    const m = new ShutdownManager(quiet, 1000);
    let runs = 0;
    m.add('drain', async () => { runs += 1; await new Promise((r) => setTimeout(r, 20)); });
    const exits: number[] = [];
    m.installSignalHandlers((code) => exits.push(code));
    try {
      process.emit('SIGTERM', 'SIGTERM');
      process.emit('SIGTERM', 'SIGTERM');
      process.emit('SIGINT', 'SIGINT');
      await m.shutdown('wait');
      await new Promise((r) => setImmediate(r));
      expect(runs).toBe(1);
      expect(exits).toEqual([0]);
    } finally {
      for (const l of process.listeners('SIGTERM')) if (!before.term.includes(l)) process.removeListener('SIGTERM', l);
      for (const l of process.listeners('SIGINT')) if (!before.int.includes(l)) process.removeListener('SIGINT', l);
    }
  });
  it('runs steps by phase whatever order they were added in (resources come up in another order than they stop)', async () => {
    const order: string[] = [];
    const m = new ShutdownManager(quiet, 1000);
    const step = (name: string) => () => { order.push(name); };
    m.add('telemetry', step('telemetry'), 'final')
      .add('mongodb', step('mongodb'))
      .add('http', step('http'), 'drain')
      .add('consumer', step('consumer'), 'intake')
      .add('sweep', step('sweep'), 'intake')
      .add('other client', step('other client'), 'close');
    expect(m.plan().map((s) => s.name)).toEqual(['consumer', 'sweep', 'http', 'mongodb', 'other client', 'telemetry']);
    await m.shutdown('test');
    expect(order).toEqual(['consumer', 'sweep', 'http', 'mongodb', 'other client', 'telemetry']);
  });
  it('tells each step how much time is left before the deadline (an HTTP drain cuts connections before it)', async () => {
    const m = new ShutdownManager(quiet, 10_000);
    const left: number[] = [];
    m.add('slow', async ({ timeLeftMs }) => { left.push(timeLeftMs); await new Promise((r) => setTimeout(r, 100)); })
      .add('next', ({ timeLeftMs }) => { left.push(timeLeftMs); });
    await m.shutdown('test');
    expect(left[0]).toBeLessThanOrEqual(10_000);
    expect(left[0]).toBeGreaterThan(9_000);
    expect(left[0]! - left[1]!).toBeGreaterThanOrEqual(90);
  });
  it('exits 1 when the steps ran past the deadline, 0 otherwise', async () => {
    const late = new ShutdownManager(quiet, 30);
    // A step that blocks the event loop past the deadline (a step cut by its timer can be measured at exactly 30 ms).
    late.add('blocking', () => {
      const until = Date.now() + 60;
      while (Date.now() < until) { /* busy */ }
    });
    const lateExit = new Promise<number>((resolve) => late.shutdownAndExit('test', resolve));
    expect(await lateExit).toBe(1);
    const fine = new ShutdownManager(quiet, 1000);
    fine.add('quick', () => undefined);
    expect(await new Promise<number>((resolve) => fine.shutdownAndExit('test', resolve))).toBe(0);
  });
  it('exits 1 when a step was cut off at the deadline, even if the clock reads exactly the deadline', async () => {
    const now = jest.spyOn(Date, 'now').mockReturnValue(1_000_000); // a timer firing early: no time seems to pass
    try {
      const m = new ShutdownManager(quiet, 30);
      m.add('never finishes', () => new Promise<void>(() => undefined)).add('after', () => undefined);
      expect(await new Promise<number>((resolve) => m.shutdownAndExit('test', resolve))).toBe(1);
    } finally {
      now.mockRestore();
    }
  });
  it('skips the remaining steps when a step returned only after the deadline', async () => {
    const t0 = Date.now();
    // The first step returns at once by its timer, but the wall clock says 100 ms passed (a step that blocked the loop).
    // Readings: the deadline, the first step's time left and start; every later one is past the deadline.
    const now = jest.spyOn(Date, 'now').mockReturnValueOnce(t0).mockReturnValueOnce(t0).mockReturnValueOnce(t0).mockReturnValue(t0 + 100);
    try {
      const m = new ShutdownManager(quiet, 50);
      const ran: string[] = [];
      m.add('blocking', () => { ran.push('blocking'); }).add('after', () => { ran.push('after'); });
      await m.shutdown('test');
      expect(ran).toEqual(['blocking']);
    } finally {
      now.mockRestore();
    }
  });
  it('gives up on a hanging step at the deadline', async () => {
    const m = new ShutdownManager(quiet, 50);
    const ran: string[] = [];
    m.add('hang', () => new Promise(() => {})).add('after', () => { ran.push('after'); });
    await m.shutdown('test');
    expect(ran).toEqual([]);
  });
  it('also when the step\'s timer fires before the wall clock reaches the deadline (seen as a flaky CI run)', async () => {
    const t0 = Date.now();
    // The deadline is t0 + 50; every later reading says 49 ms have passed, whenever the 50 ms timer fires.
    const now = jest.spyOn(Date, 'now').mockReturnValueOnce(t0).mockReturnValue(t0 + 49);
    try {
      const m = new ShutdownManager(quiet, 50);
      const ran: string[] = [];
      m.add('hang', () => new Promise(() => {})).add('after', () => { ran.push('after'); });
      await m.shutdown('test');
      expect(ran).toEqual([]);
    } finally {
      now.mockRestore();
    }
  });
});

describe('readiness', () => {
  it('gives each check a deadline: a check that never answers fails instead of hanging readiness', async () => {
    const result = await readiness({ checks: { mongo: () => new Promise(() => {}), kafka: () => {} }, isShuttingDown: () => false, timeoutMs: 20 });
    expect(result).toEqual({ ready: false, checks: { mongo: 'failing: no answer within 20 ms', kafka: 'ok' } });
  });
});

describe('health handlers', () => {
  let server: Server;
  let base: string;
  let dbUp = true;
  let stopping = false;
  beforeAll(async () => {
    const ready = readyzHandler({
      checks: { kafka: () => {}, mongo: async () => { if (!dbUp) throw new Error('connection refused'); } },
      isShuttingDown: () => stopping,
    });
    const alive = healthzHandler();
    server = createServer((req, res) => (req.url === '/readyz' ? ready(req, res) : alive(req, res)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reports ready, then the failing dependency, then shutting down', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    let res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(200);
    dbUp = false;
    res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      error: { code: 'not_ready', message: 'Not ready (mongo: failing: connection refused).' },
      status: 'not_ready', checks: { kafka: 'ok', mongo: 'failing: connection refused' },
    });
    dbUp = true;
    stopping = true;
    res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: { code: 'not_ready', message: 'Not ready (process: shutting down).' } });
  });
});
