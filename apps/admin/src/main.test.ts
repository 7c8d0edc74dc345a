import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { generateKeyringEntry } from '@metrivo/crypto';
import type { ShutdownManager } from '@metrivo/observability';
import { loadAdminConfig } from './env';
import { startAdmin } from './main';

/**
 * SIGTERM while admin starts: runApp runs the ShutdownManager it was handed. Admin hands it over before connecting to
 * MongoDB, with the steps of what it opened so far, so a database that accepts connections but never answers does not
 * keep the process from stopping.
 */
describe('startAdmin hands its shutdown over before it waits for MongoDB', () => {
  let silent: Server;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    // Accepts TCP connections and never answers: the MongoDB handshake hangs until server selection times out.
    silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('the manager arrives during the start, and shutting down then does not wait for the start', async () => {
    const port = (silent.address() as AddressInfo).port;
    const config = loadAdminConfig({
      METRIVO_ADMIN_TOKEN: 'a'.repeat(24), METRIVO_SECRET_KEYS: generateKeyringEntry('k1'), LOG_LEVEL: 'silent',
      MONGODB_URI: `mongodb://127.0.0.1:${port}/?directConnection=true`, ADMIN_PORT: '0',
    });
    let manager: ShutdownManager | undefined;
    const started = startAdmin(config, { onShutdownManager: (m) => (manager = m) });
    const outcome = started.then(() => 'started', () => 'failed');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(manager).toBeDefined();
    const before = Date.now();
    await manager!.shutdown('test: SIGTERM during start');
    expect(Date.now() - before).toBeLessThan(3000);
    // The start, left waiting on the silent server, fails once its client is closed (or server selection times out).
    expect(await outcome).toBe('failed');
  }, 20_000);
});
