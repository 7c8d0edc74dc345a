import type { Server } from 'node:http';
import { TOPICS, type PaymentState } from '@metrivo/contracts';
import { createKafka, provisionTopics, runConsumer, type ConsumerHandle, type ConsumerStats, type RunConsumerOptions } from '@metrivo/kafka';
import { createLogger, drainableHttpServer, healthzHandler, observeMetrics, readyzHandler, ShutdownManager, startTelemetry, type Logger, type MeterProvider, periodic, runApp, traceRequests, type StartHooks } from '@metrivo/observability';
import express from 'express';
import type { Kafka } from 'kafkajs';
import { MongoClient, type Db, type MongoClientOptions } from 'mongodb';
import { loadLedgerConfig, type LedgerConfig } from './env';
import { createLedgerRouter } from './http-api';
import { ledgerMetrics } from './ledger-metrics';
import { addApplyResult, createLedgerStore, emptyApplyResult, LedgerConflictError, type ApplyResult, type LedgerStore } from './ledger-store';
import { reconcileWithTopic } from './topic-replay';

/** Seams for tests and the benchmark; `npm start` passes none (runApp passes its StartHooks). */
export interface LedgerOverrides extends StartHooks {
  logger?: Logger;
  /** Consumer timing (tests use short session timeouts so groups form and rebalance quickly). */
  consumer?: Partial<Pick<RunConsumerOptions, 'sessionTimeout' | 'heartbeatInterval' | 'rebalanceTimeout' | 'maxWaitTimeInMs' | 'retryBackoff'>>;
  /** Consume this topic instead of metrivo.revenue.attributed.v1 (its values are validated as PaymentStates). */
  topic?: string;
  /**
   * States for which this returns false are skipped (and committed). Tests use it to leave alone what other
   * runs publish to the shared revenue topic; production consumes everything.
   */
  acceptState?: (state: PaymentState) => boolean;
  /** Wraps the database the store writes to (fault injection: a write that never returns, as a crash would). */
  wrapDb?: (db: Db) => Db;
  /** Where the ledger's and its consumer's metrics go (default: the global meter provider, the SDK's when exporting). */
  meterProvider?: MeterProvider;
  /** Wraps the store the consumer applies batches with (fault injection). */
  wrapStore?: (store: LedgerStore) => LedgerStore;
  /** Extra MongoClient options (the benchmark turns on command monitoring). */
  mongoClientOptions?: MongoClientOptions;
  /** Called with the MongoClient before anything runs (e.g. to attach command listeners). */
  onMongoClient?: (client: MongoClient) => void;
  /** Called when the consumer crashed for good; default: shut down and exit 1 (a supervisor restarts us). */
  onFatalError?: (error: Error) => void;
}

/** What the consumer did, for /metrics. */
export interface ApplyStats extends ApplyResult {
  /** Handler calls that applied a batch (successfully). */
  batches: number;
  statesApplied: number;
  /** States skipped by the acceptState filter (tests only). */
  statesSkipped: number;
  /** Batches refused with LedgerConflictError (another writer moved a record); the consumer retries them. */
  conflicts: number;
  /** Batches that failed with any other error (retried with backoff by the consumer). */
  failures: number;
  /** Time spent in successful store.applyStates calls. */
  applyMsTotal: number;
  lastApplyMs: number | null;
  lastAppliedAt: string | null;
  /** Payments whose pending transition was completed at startup or by the sweep (a crash left them). */
  pendingCompleted: number;
}

export interface LedgerMetrics {
  service: 'ledger';
  uptimeSeconds: number;
  groupId: string;
  topic: string;
  database: string;
  consumer: ConsumerStats & { lagTotal: number };
  apply: ApplyStats & { entriesPerSecondWhileApplying: number | null };
}

export interface LedgerApp {
  port: number;
  config: LedgerConfig;
  shutdown: ShutdownManager;
  /** Graceful stop (same steps as SIGTERM). */
  stop(): Promise<void>;
  store: LedgerStore;
  consumer: ConsumerHandle;
  kafka: Kafka;
  db: Db;
  mongo: MongoClient;
  server: Server;
  metrics(): LedgerMetrics;
}


function lagTotalOf(stats: ConsumerStats): number {
  return Object.values(stats.lag).reduce((sum, partitions) => sum + Object.values(partitions).reduce((a, b) => a + b, 0), 0);
}

/**
 * Starts the ledger: consumer of the revenue topic → MongoDB, and the read API. Resolves once the HTTP server
 * listens and the consumer runs (it may still be joining its group: `consumer.joined`).
 */
export async function startLedger(config: LedgerConfig, overrides: LedgerOverrides = {}): Promise<LedgerApp> {
  const startedAt = Date.now();
  const logger = overrides.logger ?? createLogger({ service: 'ledger', level: config.LOG_LEVEL });
  const telemetry = startTelemetry({ serviceName: 'metrivo-ledger', exporter: config.METRIVO_OTEL_EXPORTER });
  const shutdown = new ShutdownManager(logger, config.SHUTDOWN_DEADLINE_MS);
  // A signal during the start (rollups, pending transitions, the group join can take long) runs the steps registered so far.
  overrides.onShutdownManager?.(shutdown);
  const topic = overrides.topic ?? TOPICS.revenueAttributed.name;
  // Each resource registers its shutdown step as it comes up: SIGTERM runs them by phase, and a start that fails
  // half-way closes exactly what it opened.
  shutdown.add('telemetry: flush', () => telemetry.shutdown(), 'final');
  try {
    // ignoreUndefined: states read back exactly as they were written (no undefined → null).
    const mongo = new MongoClient(config.MONGODB_URI, { serverSelectionTimeoutMS: 5000, ignoreUndefined: true, ...overrides.mongoClientOptions });
    overrides.onMongoClient?.(mongo);
    await mongo.connect();
    shutdown.add('mongodb: close', () => mongo.close(), 'close');
    const db = mongo.db(config.MONGODB_DB);
    const store = createLedgerStore(overrides.wrapDb ? overrides.wrapDb(db) : db);
    await store.ensureIndexes();
    // A database written before rollups existed gets them built from its entries, once, before consuming.
    const rollupBackfill = await store.ensureRollups();
    if (rollupBackfill.built) logger.info(rollupBackfill, 'built day and month rollups from the existing entries');
    const applier = overrides.wrapStore ? overrides.wrapStore(store) : store;

    const apply: ApplyStats = {
      ...emptyApplyResult(),
      batches: 0,
      statesApplied: 0,
      statesSkipped: 0,
      conflicts: 0,
      failures: 0,
      applyMsTotal: 0,
      lastApplyMs: null,
      lastAppliedAt: null,
      pendingCompleted: 0,
    };
    const completePending = async (): Promise<void> => {
      // Bounded pages: each call settles up to 500 payments; loop until nothing is left pending.
      for (let page = 0; page < 100; page += 1) {
        const completed = await store.completePending();
        apply.pendingCompleted += completed;
        if (completed > 0) logger.info({ completed }, 'completed transitions left pending by a crash');
        if (completed === 0) return;
      }
    };
    // A crash between writing the intent and advancing a payment's record leaves a pending transition: finish it
    // before consuming, so that a re-delivered batch finds its payments settled.
    await completePending();

    const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'metrivo-ledger', logger });
    if (!overrides.topic) await provisionTopics(kafka, { logger });

    // Assigned once the HTTP server listens (readiness reports it missing until then).
    let consumer: ConsumerHandle | undefined = undefined;
    const app = express();
    app.disable('x-powered-by');
    app.use(traceRequests('ledger'));
    app.get('/healthz', healthzHandler());
    app.get(
      '/readyz',
      readyzHandler({
        isShuttingDown: () => shutdown.isShuttingDown(),
        checks: {
          mongodb: () => store.ping(),
          consumer: () => {
            if (!consumer?.isRunning()) throw new Error(consumer ? 'consumer stopped or crashed' : 'consumer not started yet');
          },
        },
      }),
    );
    app.get('/metrics', (_req, res) => {
      res.json(metrics());
    });
    app.use(
      createLedgerRouter({
        store,
        reconcileWithTopic: (websiteId) => reconcileWithTopic(store, { kafka, topic, websiteId, logger, timeoutMs: 60_000, consumerGroupId: config.KAFKA_GROUP_ID }),
        onError: (err, req) => logger.error({ err, path: req.path }, 'ledger API error'),
      }),
    );
    const server = app.listen(config.LEDGER_PORT);
    const http = drainableHttpServer(server, { logger });
    await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
    // HTTP closes before MongoDB: in-flight API requests still read from it. The drain closes kept-alive
    // connections as they go idle instead of waiting for their keep-alive timeout.
    shutdown.add('http: stop accepting, finish in-flight requests', ({ timeLeftMs }) => http.close(timeLeftMs), 'drain');
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.LEDGER_PORT;

    const onFatalError =
      overrides.onFatalError ??
      ((error: Error) => {
        logger.fatal({ err: error }, 'kafka consumer crashed for good; exiting so that we are restarted');
        void shutdown.shutdown('consumer crashed').then(() => process.exit(1));
      });
    const accept = overrides.acceptState;
    consumer = await runConsumer<PaymentState>({
      kafka,
      groupId: config.KAFKA_GROUP_ID,
      topics: [topic],
      // A custom topic (benchmark) carries PaymentStates too: validate it with the same contract.
      ...(overrides.topic ? { schemas: { [topic]: TOPICS.revenueAttributed.schema } } : {}),
      logger,
      maxRecordsPerCall: config.LEDGER_MAX_RECORDS_PER_BATCH,
      partitionsConsumedConcurrently: config.LEDGER_PARTITION_CONCURRENCY,
      maxWaitTimeInMs: 500,
      onFatalError,
      meterProvider: overrides.meterProvider,
      ...overrides.consumer,
      // Errors thrown here are retried by runConsumer with backoff, uncommitted (LedgerConflictError included);
      // invalid records never get here (they go to the DLQ).
      handler: async ({ records }) => {
        const all = records.map((r) => r.value);
        const states = accept ? all.filter(accept) : all;
        const skipped = all.length - states.length;
        if (states.length === 0) {
          apply.statesSkipped += skipped;
          return;
        }
        const began = Date.now();
        let result: ApplyResult;
        try {
          result = await applier.applyStates(states);
        } catch (err) {
          if (err instanceof LedgerConflictError) {
            apply.conflicts += 1;
            logger.info({ conflicts: err.conflicts }, 'payment records changed concurrently; the batch is retried');
          } else {
            apply.failures += 1;
          }
          throw err;
        }
        const ms = Date.now() - began;
        apply.batches += 1;
        apply.statesApplied += states.length;
        apply.statesSkipped += skipped;
        addApplyResult(apply, result);
        apply.applyMsTotal += ms;
        apply.lastApplyMs = ms;
        apply.lastAppliedAt = new Date().toISOString();
        logger.debug({ records: records.length, ms, ...result }, 'applied payment states');
      },
    });
    const consumerHandle = consumer;
    shutdown.add('kafka consumer: finish the in-flight batch, commit, leave the group', () => consumerHandle.stop(), 'intake');

    const sweep = periodic('pending sweep', config.LEDGER_PENDING_SWEEP_MS, logger, completePending);
    shutdown.add('pending sweep: stop', () => sweep.stop(), 'intake');

    observeMetrics('@metrivo/ledger', ledgerMetrics(() => apply), { meterProvider: overrides.meterProvider });

    function metrics(): LedgerMetrics {
      const consumerStats = consumerHandle.stats();
      return {
        service: 'ledger',
        uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
        groupId: config.KAFKA_GROUP_ID,
        topic,
        database: config.MONGODB_DB,
        consumer: { ...consumerStats, lagTotal: lagTotalOf(consumerStats) },
        apply: {
          ...apply,
          entriesPerSecondWhileApplying: apply.applyMsTotal > 0 ? Math.round((apply.entriesInserted * 1000) / apply.applyMsTotal) : null,
        },
      };
    }

    // SIGTERM: readiness turns false at once (ShutdownManager), then stop taking work → finish the batch in
    // flight and commit → stop the sweep → close HTTP (probes see the drain until then) → close MongoDB.

    logger.info({ port, groupId: config.KAFKA_GROUP_ID, topic, db: config.MONGODB_DB }, 'ledger running');
    return {
      port,
      config,
      shutdown,
      stop: () => shutdown.shutdown('stop requested'),
      store,
      consumer,
      kafka,
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

if (require.main === module) runApp('ledger', () => loadLedgerConfig(), startLedger);
