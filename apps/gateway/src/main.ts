import { TOPICS, TRACEPARENT_HEADER } from '@metrivo/contracts';
import { parseKeyring } from '@metrivo/crypto';
import { ApiKeyStore, DeliveryLog, IntegrationStore } from '@metrivo/integration-store';
import { BatchingProducer, createKafka, provisionTopics, type CreateKafkaOptions } from '@metrivo/kafka';
import { createLogger, drainableHttpServer, ShutdownManager, startTelemetry, runApp, type Logger, type MeterProvider, type StartHooks } from '@metrivo/observability';
import { MongoClient } from 'mongodb';
import { createGatewayApp } from './app';
import { DeliveryRecorder } from './delivery-recorder';
import { loadGatewayConfig, type GatewayConfig } from './env';
import { RecentSet } from './http/lru';
import type { ManualRequestDoc } from './http/manual-api';
import type { EventPublisher } from './http/webhook-route';
import { IntegrationCache } from './integration-cache';
import { isPayloadError, providerAdapters } from './provider-adapters';
import { observeDeliveryLog, requestMetrics } from './request-metrics';

/** What the gateway publishes through, plus its lifecycle (connect at start, flush on shutdown, readiness). */
export interface GatewayPublisher extends EventPublisher {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  isHealthy(): boolean;
}

/** Seams for tests and the benchmark; `npm start` passes none (runApp passes its StartHooks). */
export interface GatewayOverrides extends StartHooks {
  logger?: Logger;
  /** kafkajs socketFactory: the integration test simulates a broker outage at the client with it. */
  kafkaSocketFactory?: CreateKafkaOptions['socketFactory'];
  /** Where the request and delivery-log metrics go (default: the global meter provider, the SDK's when exporting). */
  meterProvider?: MeterProvider;
  /** Replaces the batching publisher (the benchmark's naive one-send-per-request variant). */
  createPublisher?: (kafka: ReturnType<typeof createKafka>) => GatewayPublisher;
}

/** The default: concurrent requests share acks=all batches (BatchingProducer). */
function batchingPublisher(producer: BatchingProducer): GatewayPublisher {
  return {
    async publish(events, traceparent) {
      const headers = traceparent ? { [TRACEPARENT_HEADER]: traceparent } : undefined;
      await Promise.all(events.map((e) => producer.publish(TOPICS.payments.name, { key: e.websiteId, value: e, ...(headers ? { headers } : {}) })));
    },
    connect: () => producer.connect(),
    disconnect: () => producer.disconnect(),
    isHealthy: () => producer.isHealthy(),
  };
}

export async function startGateway(config: GatewayConfig, overrides: GatewayOverrides = {}) {
  const logger = overrides.logger ?? createLogger({ service: 'gateway', level: config.LOG_LEVEL });
  const telemetry = startTelemetry({ serviceName: 'metrivo-gateway', exporter: config.METRIVO_OTEL_EXPORTER });
  const keyring = parseKeyring(config.METRIVO_SECRET_KEYS);
  const shutdown = new ShutdownManager(logger, config.SHUTDOWN_DEADLINE_MS);
  overrides.onShutdownManager?.(shutdown);
  // Each resource registers its shutdown step as it comes up: SIGTERM (during start too) runs them by phase —
  // HTTP → producer flush → delivery log flush → MongoDB → telemetry — and a start that fails half-way closes
  // exactly what it opened.
  shutdown.add('telemetry: flush', () => telemetry.shutdown(), 'final');
  try {
    const mongo = new MongoClient(config.MONGODB_URI, { serverSelectionTimeoutMS: 5000 });
    await mongo.connect();
    shutdown.add('mongodb: close', () => mongo.close(), 'close');
    const db = mongo.db(config.MONGODB_DB);
    const integrations = new IntegrationStore(db);
    const apiKeys = new ApiKeyStore(db);
    const deliveryLog = new DeliveryLog(db);
    const manualRequests = db.collection<ManualRequestDoc>('gateway_manual_requests');
    await Promise.all([deliveryLog.ensureIndexes(), apiKeys.ensureIndexes(), integrations.ensureIndexes()]);

    const kafka = createKafka({
      brokers: config.KAFKA_BROKERS, clientId: 'metrivo-gateway', logger,
      ...(overrides.kafkaSocketFactory ? { socketFactory: overrides.kafkaSocketFactory } : {}),
    });
    await provisionTopics(kafka, { logger });
    let producer: BatchingProducer | null = null; // null when createPublisher replaced it
    let publisher: GatewayPublisher;
    if (overrides.createPublisher) {
      publisher = overrides.createPublisher(kafka);
    } else {
      // validate: false — every event is already parsed with the contract schema where it is built (normalizers,
      // Manual API); validating the same object twice cost ~6% of the accept path's CPU (bench:gateway profile).
      producer = new BatchingProducer(kafka, { sendTimeoutMs: config.KAFKA_SEND_TIMEOUT_MS, logger, validate: false });
      publisher = batchingPublisher(producer);
    }
    await publisher.connect();
    shutdown.add('kafka producer: flush and disconnect', () => publisher.disconnect(), 'drain');
    const deliveries = new DeliveryRecorder(deliveryLog, logger, config.DELIVERY_LOG_RETENTION_DAYS);
    deliveries.start();
    // After the producer (same phase, added later): a request's delivery is recorded once its publish settled.
    shutdown.add('delivery log: flush', () => deliveries.stop(), 'drain');
    // Every attempt (webhook or Manual API) goes to the delivery log and to the request metrics.
    const countAttempt = requestMetrics(overrides.meterProvider);
    const attempts: Pick<DeliveryRecorder, 'record'> = {
      record: (attempt) => {
        deliveries.record(attempt); // first: the support record matters more than a metric
        countAttempt(attempt);
      },
    };
    observeDeliveryLog(deliveries, overrides.meterProvider);
    const retention = setInterval(() => void deliveryLog.deleteExpired().catch((err: unknown) => logger.warn({ err }, 'delivery log cleanup failed')), 3_600_000);
    retention.unref();

    const app = createGatewayApp({
      bodyLimitBytes: config.WEBHOOK_BODY_LIMIT_BYTES,
      logger,
      health: {
        isShuttingDown: () => shutdown.isShuttingDown(),
        checks: {
          kafka: () => {
            if (!publisher.isHealthy()) throw new Error('producer is not connected or its last batch failed');
          },
          mongodb: async () => {
            await db.command({ ping: 1 });
          },
        },
      },
      webhooks: {
        integrations: new IntegrationCache(integrations, keyring, {
          ttlMs: config.INTEGRATION_CACHE_TTL_MS,
          maxStaleMs: config.INTEGRATION_CACHE_MAX_STALE_MS,
          // At most once per TTL per integration (a failed reload is retried one TTL later).
          onStaleAnswer: (integrationId, err, ageMs) => logger.warn(
            { integrationId, err: err instanceof Error ? err.message : String(err), cachedCopyAgeMs: ageMs },
            'integration reload failed: MongoDB unavailable; webhooks answered from the cached copy',
          ),
        }),
        adapters: providerAdapters,
        publisher,
        deliveries: attempts,
        recentlyAccepted: new RecentSet(10 * 60_000, 100_000),
        emailHashKey: config.METRIVO_EMAIL_HASH_KEY,
        retryAfterSeconds: 30,
        logger,
        isPayloadError,
      },
      manual: {
        findApiKey: (hash) => apiKeys.collection.findOne({ hash, revokedAt: null }),
        requests: manualRequests,
        publisher,
        deliveries: attempts,
        countUnidentified: countAttempt,
        emailHashKey: config.METRIVO_EMAIL_HASH_KEY,
        retryAfterSeconds: 30,
      },
    });

    const server = app.listen(config.GATEWAY_PORT);
    const http = drainableHttpServer(server, { logger });
    await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
    // Longer than the usual load-balancer idle timeout (60 s), so that the balancer, not the gateway, closes an
    // idle connection and never sends a request on one the gateway is closing. The drain does not wait for it.
    server.keepAliveTimeout = 65_000;
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.GATEWAY_PORT;
    // Stop taking work (readiness already false) → let in-flight requests finish (answered with Connection: close,
    // each connection closed as it goes idle, the rest cut shortly before the deadline); before the producer and
    // MongoDB they use.
    shutdown.add('http: stop accepting, finish in-flight requests', ({ timeLeftMs }) => http.close(timeLeftMs), 'intake');
    logger.info({ port }, 'gateway listening');
    return { port, shutdown, producer, server, db, deliveries };
  } catch (err) {
    await shutdown.shutdown('start failed');
    throw err;
  }
}

if (require.main === module) runApp('gateway', () => loadGatewayConfig(), startGateway);
