// The server under test, in its own process: TARGET=bare | gateway | naive. Sends {type:"ready",port}
// over IPC once listening, and shuts down gracefully (flushing Kafka and the delivery log) on "stop".
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { loadGatewayConfig } from '../../apps/gateway/src/env';
import { startGateway } from '../../apps/gateway/src/main';
import { naivePublisher } from './naive-publisher';
import type { TargetKind, TargetReady, TargetStopped } from './protocol';

/** The floor: Express 5 reading the same raw body (as the gateway must before verifying) and answering 200. */
interface RunningTarget {
  port: number;
  stop(): Promise<void>;
  /** The batching producer's counters (gateway only): how many records shared each Kafka round trip. */
  producerStats?: () => TargetStopped['producerStats'];
}

async function startBare(): Promise<RunningTarget> {
  const app = express();
  app.disable('x-powered-by');
  app.post('/v1/webhooks/stripe/:integrationId', express.raw({ type: () => true, limit: '1mb' }), (_req, res) => {
    res.status(200).json({ received: true });
  });
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  server.keepAliveTimeout = 65_000;
  return {
    port: (server.address() as AddressInfo).port,
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

async function startTarget(kind: TargetKind): Promise<RunningTarget> {
  if (kind === 'bare') return startBare();
  const config = loadGatewayConfig();
  const gateway = await startGateway(config, kind === 'naive' ? { createPublisher: naivePublisher } : {});
  const producer = gateway.producer;
  return {
    port: gateway.port,
    stop: () => gateway.shutdown.shutdown('benchmark done'),
    ...(producer ? { producerStats: () => producer.stats() } : {}),
  };
}

async function main(): Promise<void> {
  const kind = process.env.TARGET as TargetKind;
  if (!['bare', 'gateway', 'naive'].includes(kind)) throw new Error(`TARGET must be bare, gateway or naive, got ${String(kind)}`);
  const target = await startTarget(kind);
  process.on('message', (message: { type?: string }) => {
    if (message?.type !== 'stop') return;
    void target.stop().then(() => {
      process.send!({ type: 'stopped', producerStats: target.producerStats?.() ?? null } satisfies TargetStopped, () => process.exit(0));
    }, (err: unknown) => {
      console.error(`${kind}: shutdown failed`, err);
      process.exit(1);
    });
  });
  process.send!({ type: 'ready', port: target.port } satisfies TargetReady);
}

main().catch((err: unknown) => {
  console.error('bench target failed to start:', err);
  process.exit(1);
});
