import type { Server } from 'node:http';
import { TOPICS } from '@metrivo/contracts';
import { BatchingProducer, createKafka, provisionTopics, runConsumer, type ConsumerHandle, type ConsumerStats, type ProducerStats, type RunConsumerOptions } from '@metrivo/kafka';
import { createLogger, observeMetrics, ShutdownManager, startTelemetry, type Logger, type MeterProvider, periodic, runApp, type StartHooks } from '@metrivo/observability';
import { MongoClient, type Db, type MongoClientOptions } from 'mongodb';
import { attributionMetrics } from './attribution-metrics';
import type { AttributionSettings } from './domain';
import { loadAttributionConfig, type AttributionConfig } from './env';
import { createAttributionServer } from './http';
import { AttributionProcessor, producerStatePublisher, type ProcessorHooks, type ProcessorStats, type StatePublisher } from './processor';
import { createStores, ensureIndexes, isFerretDb, type AttributionStores } from './stores';

/** Seams for tests and benchmarks; `npm start` passes none (runApp passes its StartHooks). */
export interface AttributionOverrides extends StartHooks {
  logger?: Logger;
  /** Consumer timing (tests use short session timeouts so groups form and rebalance quickly). */
  consumer?: Partial<Pick<RunConsumerOptions, 'sessionTimeout' | 'heartbeatInterval' | 'rebalanceTimeout' | 'maxWaitTimeInMs' | 'retryBackoff'>>;
  hooks?: ProcessorHooks;
  /** Wraps the state publisher (fault injection). */
  wrapPublisher?: (publisher: StatePublisher) => StatePublisher;
  /** Called when the consumer crashed for good; default: shut down and exit 1 (a supervisor restarts us). */
  onFatalError?: (error: Error) => void;
  clock?: () => Date;
  /** Extra MongoDB client options (benchmarks turn on command monitoring). */
  mongoClientOptions?: MongoClientOptions;
  /** Called with the MongoDB client before it connects (benchmarks attach command listeners). */
  onMongoClient?: (client: MongoClient) => void;
  /** Where the processor's and its consumer's metrics go (default: the global meter provider, the SDK's when exporting). */
  meterProvider?: MeterProvider;
}

export interface AttributionMetrics {
  service: 'attribution';
  uptimeSeconds: number;
  groupId: string;
  consumer: ConsumerStats & { lagTotal: number };
  processor: ProcessorStats;
  producer: ProducerStats & { healthy: boolean };
}

export interface AttributionApp {
  port: number;
  config: AttributionConfig;
  shutdown: ShutdownManager;
  /** Graceful stop (same steps as SIGTERM). */
  stop(): Promise<void>;
  processor: AttributionProcessor;
  consumer: ConsumerHandle;
  producer: BatchingProducer;
  stores: AttributionStores;
  db: Db;
  mongo: MongoClient;
  server: Server;
  metrics(): AttributionMetrics;
}

export function settingsFrom(config: AttributionConfig): AttributionSettings {
  return { windowDays: config.ATTRIBUTION_WINDOW_DAYS, lateUpgradeHours: config.LATE_UPGRADE_HOURS };
}


export async function startAttribution(config: AttributionConfig, overrides: AttributionOverrides = {}): Promise<AttributionApp> {
  const startedAt = Date.now();
  const logger = overrides.logger ?? createLogger({ service: 'attribution', level: config.LOG_LEVEL });
  const telemetry = startTelemetry({ serviceName: 'metrivo-attribution', exporter: config.METRIVO_OTEL_EXPORTER });
  const shutdown = new ShutdownManager(logger, config.SHUTDOWN_DEADLINE_MS);
  // A signal during the start (lookup-key backfills, the group join can take long) runs the steps registered so far.
  overrides.onShutdownManager?.(shutdown);
  // Each resource registers its shutdown step as it comes up: SIGTERM runs them by phase, and a start that fails
  // half-way closes exactly what it opened.
  shutdown.add('telemetry: flush', () => telemetry.shutdown(), 'final');
  try {
    // ignoreUndefined: stored records must read back exactly as the domain wrote them (no undefined → null).
    const mongo = new MongoClient(config.MONGODB_URI, { serverSelectionTimeoutMS: 5000, ignoreUndefined: true, ...overrides.mongoClientOptions });
    overrides.onMongoClient?.(mongo);
    await mongo.connect();
    shutdown.add('mongodb: close', () => mongo.close(), 'close');
    const db = mongo.db(config.MONGODB_DB);
    const ferretDb = await isFerretDb(db);
    const lastSeenResolutionMs = config.SESSION_LAST_SEEN_RESOLUTION_MS ?? (ferretDb ? 3_600_000 : 0);
    const stores = createStores(db, { sessions: { lastSeenResolutionMs } });
    const { lookupKeysBackfilled } = await ensureIndexes(stores);
    if (lookupKeysBackfilled) logger.info(lookupKeysBackfilled, 'lookup keys written for the stored documents (once per database)');

    const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'metrivo-attribution', logger });
    await provisionTopics(kafka, { logger });
    const producer = new BatchingProducer(kafka, { sendTimeoutMs: config.KAFKA_SEND_TIMEOUT_MS, logger });
    await producer.connect();
    shutdown.add('kafka producer: flush and disconnect', () => producer.disconnect(), 'drain');

    const basePublisher = producerStatePublisher(producer);
    const processor = new AttributionProcessor({
      stores,
      publisher: overrides.wrapPublisher ? overrides.wrapPublisher(basePublisher) : basePublisher,
      settings: settingsFrom(config),
      logger,
      sessionRetentionMarginDays: config.SESSION_RETENTION_MARGIN_DAYS,
      ...(overrides.clock ? { clock: overrides.clock } : {}),
      ...(overrides.hooks ? { hooks: overrides.hooks } : {}),
    });

    // Set once the consumer runs (the HTTP server answers before that).
    const running: { consumer?: ConsumerHandle } = {};
    const server = createAttributionServer({
      health: {
        isShuttingDown: () => shutdown.isShuttingDown(),
        checks: {
          mongodb: async () => {
            await db.command({ ping: 1 });
          },
          consumer: () => {
            if (!running.consumer?.isRunning()) throw new Error(running.consumer ? 'consumer stopped or crashed' : 'consumer not started yet');
          },
          producer: () => {
            if (!producer.isHealthy()) throw new Error('producer is not connected or its last batch failed');
          },
        },
      },
      metrics: () => metrics(),
    });
    server.listen(config.ATTRIBUTION_PORT);
    await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
    // After MongoDB (same phase, added later): health and metrics answer until the very end, so probes see the drain.
    shutdown.add('http: close', () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }), 'close');
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.ATTRIBUTION_PORT;

    const onFatalError =
      overrides.onFatalError ??
      ((error: Error) => {
        logger.fatal({ err: error }, 'kafka consumer crashed for good; exiting so that we are restarted');
        void shutdown.shutdown('consumer crashed').then(() => process.exit(1));
      });
    const consumer = await runConsumer({
      kafka,
      groupId: config.KAFKA_GROUP_ID,
      topics: [TOPICS.payments.name, TOPICS.visitorSessions.name],
      handler: processor.handleBatch,
      logger,
      maxRecordsPerCall: config.ATTRIBUTION_MAX_RECORDS_PER_BATCH,
      partitionsConsumedConcurrently: config.ATTRIBUTION_PARTITION_CONCURRENCY,
      maxWaitTimeInMs: 500,
      onFatalError,
      meterProvider: overrides.meterProvider,
      ...overrides.consumer,
    });
    running.consumer = consumer;
    observeMetrics('@metrivo/attribution', attributionMetrics(() => processor.stats()), { meterProvider: overrides.meterProvider });
    const consumerHandle = consumer;
    shutdown.add('kafka consumer: finish the in-flight batch, commit, leave the group', () => consumerHandle.stop(), 'intake');

    const sweep = periodic('pending-publish sweep', config.PENDING_SWEEP_INTERVAL_MS, logger, () => processor.sweepPendingPublishes(config.PENDING_STUCK_AFTER_MS));
    const cleanup = periodic('session retention', config.SESSION_CLEANUP_INTERVAL_MS, logger, async () => {
      const deleted = await processor.deleteExpiredSessions();
      if (deleted.sessions > 0) logger.info(deleted, 'expired sessions and their lookup keys deleted');
    });

    // SIGTERM: readiness turns false at once (ShutdownManager), then stop taking work → finish the batch in
    // flight and commit → stop the background tasks → flush the producer → close. HTTP stays up until the end.
    shutdown.add(
      'background tasks: stop',
      async () => {
        await Promise.all([sweep.stop(), cleanup.stop()]);
      },
      'intake',
    );

    function metrics(): AttributionMetrics {
      const consumerStats = consumerHandle.stats();
      const lagTotal = Object.values(consumerStats.lag).reduce((sum, partitions) => sum + Object.values(partitions).reduce((a, b) => a + b, 0), 0);
      return {
        service: 'attribution',
        uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
        groupId: config.KAFKA_GROUP_ID,
        consumer: { ...consumerStats, lagTotal },
        processor: processor.stats(),
        producer: { ...producer.stats(), healthy: producer.isHealthy() },
      };
    }

    logger.info({ port, groupId: config.KAFKA_GROUP_ID, db: config.MONGODB_DB, ferretDb, lastSeenResolutionMs }, 'attribution running');
    return {
      port,
      config,
      shutdown,
      stop: () => shutdown.shutdown('stop requested'),
      processor,
      consumer,
      producer,
      stores,
      db,
      mongo,
      server,
      metrics,
    };
  } catch (err) {
    await shutdown.shutdown('start failed');
    throw err;
  }
}

if (require.main === module) runApp('attribution', () => loadAttributionConfig(), startAttribution);
