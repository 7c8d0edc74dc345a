// One attribution instance under test, in its own process (as deployed): `startAttribution` from
// apps/attribution/src/main.ts with the environment the orchestrator passes. Sends {type:"ready"} over IPC
// once its consumer joined the group (with the time it joined), serves its usual GET /metrics, and on
// "stop" shuts down gracefully and sends {type:"stopped"} with its last metrics and where its MongoDB time went.
import { createLogger } from '@metrivo/observability';
import { loadAttributionConfig } from '../../apps/attribution/src/env';
import { startAttribution, type AttributionMetrics } from '../../apps/attribution/src/main';
import { CommandTimer, commandTable } from '../common/mongo-commands';

export interface InstanceReady {
  type: 'ready';
  port: number;
  /** Date.now() when the consumer had joined its group and got its partitions. */
  joinedAt: number;
}

export interface InstanceStopped {
  type: 'stopped';
  metrics: AttributionMetrics;
  /** MongoDB time of this run by command and collection (commandTable lines), the slowest first. */
  mongoCommands: string[];
}

async function main(): Promise<void> {
  const config = loadAttributionConfig();
  const logger = createLogger({ service: 'attribution-bench', level: config.LOG_LEVEL });
  const timer = new CommandTimer(config.MONGODB_DB, { byCollection: true });
  const app = await startAttribution(config, {
    logger,
    mongoClientOptions: { monitorCommands: true },
    onMongoClient: (client) => timer.attach(client),
    onFatalError: (error) => {
      logger.fatal({ err: error }, 'attribution consumer crashed during the benchmark');
      process.exit(1);
    },
  });
  await app.consumer.joined;
  process.send?.({ type: 'ready', port: app.port, joinedAt: Date.now() } satisfies InstanceReady);
  process.on('message', (message: { type?: string }) => {
    if (message?.type !== 'stop') return;
    const metrics = app.metrics();
    void app.stop().then(() => {
      process.send?.({ type: 'stopped', metrics, mongoCommands: commandTable(timer) } satisfies InstanceStopped, () => process.exit(0));
    });
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench] attribution instance failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
