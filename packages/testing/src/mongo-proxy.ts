import * as net from 'node:net';
import { mongodbUri } from './env';

/**
 * A TCP proxy in front of the test MongoDB server with a switch, to take "the database" away from one app under test
 * while the shared server keeps serving every other test. While down, open connections are cut and new ones closed
 * on arrival, which is what a failed-over or partitioned server looks like to the driver.
 */
export class SwitchableMongoProxy {
  private down = false;
  private readonly sockets = new Set<net.Socket>();
  private readonly server: net.Server;

  private constructor(upstream: { host: string; port: number }) {
    this.server = net.createServer((client) => {
      if (this.down) return void client.destroy();
      const server = net.connect(upstream);
      for (const [a, b] of [[client, server], [server, client]] as const) {
        this.sockets.add(a);
        a.once('close', () => {
          this.sockets.delete(a);
          b.destroy();
        });
        a.on('error', () => undefined);
        a.pipe(b);
      }
    });
  }

  /** Listens on a free loopback port in front of MONGODB_URI's server. */
  static async start(): Promise<SwitchableMongoProxy> {
    const upstream = new URL(mongodbUri());
    const proxy = new SwitchableMongoProxy({ host: upstream.hostname, port: Number(upstream.port || 27017) });
    await new Promise<void>((resolve, reject) => proxy.server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
    return proxy;
  }

  /** A connection string through the proxy (one server, no discovery of the real address). */
  get uri(): string {
    return `mongodb://127.0.0.1:${(this.server.address() as net.AddressInfo).port}/?directConnection=true`;
  }

  goDown(): void {
    this.down = true;
    for (const socket of this.sockets) socket.destroy();
  }

  comeBack(): void {
    this.down = false;
  }

  async close(): Promise<void> {
    this.goDown();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * For an HTTP app reaching MongoDB through `proxy`: `request` answers 200; with the proxy down it answers 503
 * `unavailable` with `Retry-After: <retryAfter>` (not a 500: callers and balancers retry); with the proxy back, 200
 * again within `recoverMs`. Throws naming what did not hold.
 */
export async function expectUnavailableWhileMongoDown(
  proxy: SwitchableMongoProxy,
  request: () => Promise<Response>,
  options: { retryAfter: string; recoverMs?: number },
): Promise<void> {
  const before = await request();
  if (before.status !== 200) throw new Error(`expected 200 before the outage, got ${before.status}`);
  proxy.goDown();
  try {
    const refused = await request();
    const body = (await refused.json().catch(() => null)) as { error?: { code?: string } } | null;
    const seen = { status: refused.status, retryAfter: refused.headers.get('retry-after'), code: body?.error?.code };
    const expected = { status: 503, retryAfter: options.retryAfter, code: 'unavailable' };
    if (JSON.stringify(seen) !== JSON.stringify(expected)) throw new Error(`while MongoDB was down: expected ${JSON.stringify(expected)}, got ${JSON.stringify(seen)}`);
  } finally {
    proxy.comeBack();
  }
  const deadline = Date.now() + (options.recoverMs ?? 15_000);
  for (;;) {
    const after = await request();
    if (after.status === 200) return;
    if (Date.now() > deadline) throw new Error(`still ${after.status} ${options.recoverMs ?? 15_000} ms after MongoDB came back`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
