import { dlqTopicName, TRACEPARENT_HEADER } from '@metrivo/contracts';
import { observeMetrics, withSpan, type MeterProvider, type WithSpanOptions } from '@metrivo/observability';
import { ROOT_CONTEXT, SpanKind, type Link } from '@opentelemetry/api';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { backoffDelayMs, DEFAULT_BACKOFF, sleep, type BackoffOptions } from './backoff';
import { consumerMetrics } from './consumer-metrics';
import { chunk } from './batching';
import { decodeValue, schemaForTopic, type ContractSchema, type SchemaOverrides } from './codec';
import { PoisonRecordError, RetryLaterError } from './errors';
import { buildDlqHeaders, headersToStrings, type DeadLetterInfo, type DeadLetterReason } from './headers';
import { silentLogger, type Logger } from './logger';
import { BatchingProducer } from './producer';
import { contextFromHeaders, extractTraceparent, parseTraceparent } from './trace';

/** A valid, decoded record handed to the handler. */
export interface ConsumedRecord<T = unknown> {
  topic: string;
  partition: number;
  offset: string;
  /** The record key as UTF-8 (null when the record has none). */
  key: string | null;
  /** The value parsed from JSON and validated against the topic's contract. */
  value: T;
  /** Kafka record timestamp, epoch milliseconds as a string (as kafkajs gives it). */
  timestamp: string;
  headers: Record<string, string>;
  /** The producer's W3C traceparent, when it sent a valid one. See contextFromHeaders. */
  traceparent: string | undefined;
}

/** Records from one partition, in offset order. */
export interface RecordBatch<T = unknown> {
  topic: string;
  partition: number;
  records: Array<ConsumedRecord<T>>;
  /**
   * Keeps the group membership alive during a long handler call (kafkajs heartbeats only between calls;
   * a call longer than sessionTimeout loses the partition). Optional to use.
   */
  heartbeat: () => Promise<void>;
}

/**
 * Handles a batch; resolving means every record's effect is durable (the offsets are committed next).
 * Throwing retries the batch with backoff, unless the error is a PoisonRecordError (that record goes to the
 * DLQ). A batch that keeps failing with errors that are not transient is split record by record, and a
 * record that keeps failing alone goes to the DLQ (see `isolateAfterFailures`).
 * Effects must be idempotent: after a crash or rebalance, records are delivered again.
 */
export type BatchHandler<T = unknown> = (batch: RecordBatch<T>) => Promise<void>;

export interface RunConsumerOptions<T = unknown> {
  kafka: Kafka;
  groupId: string;
  topics: string[];
  handler: BatchHandler<T>;
  /** Schema overrides; catalog topics are validated against their contract by default. */
  schemas?: SchemaOverrides;
  logger?: Logger;
  /** Where a new group starts. Default true: a service deployed after records were written still sees them. */
  fromBeginning?: boolean;
  /** The handler gets at most this many records per call; offsets are committed after each call. Default 500. */
  maxRecordsPerCall?: number;
  /** Backoff between handler retries. Default 200 ms doubling to 30 s, with jitter. */
  retryBackoff?: Partial<BackoffOptions>;
  sessionTimeout?: number;
  heartbeatInterval?: number;
  rebalanceTimeout?: number;
  maxWaitTimeInMs?: number;
  maxBytesPerPartition?: number;
  /** Partitions handled in parallel (order is kept within each partition). Default 1. */
  partitionsConsumedConcurrently?: number;
  /** A producer for DLQ records; by default the consumer makes (and closes) its own. */
  deadLetterProducer?: BatchingProducer;
  /**
   * After this many failed calls in a row with errors that are not transient (see `isTransientError`), the
   * records are handled one at a time; a record that fails alone this many times goes to the DLQ with reason
   * `handler_error` and the others go on. Default 5; 0: retry forever (every error treated as transient).
   */
  isolateAfterFailures?: number;
  /**
   * Errors that say "try again later" (an unreachable database or broker): retried forever with backoff and
   * never counted towards isolation. Default: `isTransientError` (MongoDB and Kafka client errors, timeouts,
   * connection errors).
   */
  isTransientError?: (error: unknown) => boolean;
  /** Called once per record sent to a DLQ (metrics, alerts). */
  onDeadLetter?: (info: DeadLetterInfo) => void;
  /** The consumer crashed and kafkajs will not restart it: the process should exit and be restarted. */
  onFatalError?: (error: Error) => void;
  /** Clock for DLQ timestamps (tests). */
  now?: () => Date;
  /** Where the consumer's metrics go (consumerMetrics); default the global one (the SDK's, when telemetry exports). */
  meterProvider?: MeterProvider;
}

export interface ConsumerStats {
  running: boolean;
  /** Crashed for good (kafkajs will not restart it); false after a graceful stop. */
  crashed: boolean;
  /** Valid records whose handler call succeeded. */
  recordsProcessed: number;
  recordsDeadLettered: number;
  deadLetteredByReason: Record<DeadLetterReason, number>;
  handlerCalls: number;
  handlerFailures: number;
  /** Explicit offset commits sent. */
  commits: number;
  /** Records behind the partition's high watermark, per topic and partition, as of the last batch. */
  lag: Record<string, Record<number, number>>;
  /**
   * How long the oldest batch in progress has been in progress (ms; 0 when none). Grows while a batch is retried
   * (MongoDB down, a bug): lag, measured at fetches, stands still then.
   */
  busyForMs: number;
  lastError: string | undefined;
}

export interface ConsumerHandle {
  /** Graceful stop: no new fetches, the in-flight handler call finishes and is committed, then disconnect. */
  stop(): Promise<void>;
  stats(): ConsumerStats;
  /** False once stopped or crashed for good (for readiness). */
  isRunning(): boolean;
  /** Resolves when the consumer first joined its group (partitions assigned). */
  readonly joined: Promise<void>;
  /** The underlying kafkajs consumer (instrumentation events, pause/resume). */
  readonly consumer: Consumer;
}

/** Links from a batch span to the records' own traces: enough to follow a few, bounded for big batches. */
const MAX_SPAN_LINKS = 128;

/**
 * The span of one handler call: the records' trace when they all share one (a batch of one record, typically),
 * else a new trace linked to theirs. Log lines of the handler carry its trace id; what it produces carries the
 * traceparent (injectTraceparent), so a payment can be followed from the gateway's request onwards.
 */
function batchSpanOptions(records: ReadonlyArray<ConsumedRecord<unknown>>): WithSpanOptions {
  const parents = new Set(records.map((r) => r.traceparent));
  const only = parents.size === 1 ? records[0]?.traceparent : undefined;
  if (only !== undefined) return { kind: SpanKind.CONSUMER, parent: contextFromHeaders({ [TRACEPARENT_HEADER]: only }, ROOT_CONTEXT) };
  const links: Link[] = [];
  for (const traceparent of parents) {
    const spanContext = parseTraceparent(traceparent);
    if (spanContext) links.push({ context: spanContext });
    if (links.length >= MAX_SPAN_LINKS) break;
  }
  return { kind: SpanKind.CONSUMER, links };
}

const traceIdOf = (record: ConsumedRecord<unknown>): string | undefined => parseTraceparent(record.traceparent)?.traceId;

/** A DLQ write or handler call was abandoned because the consumer is stopping or lost the partition. */
const ABANDONED = Symbol('abandoned');

const TRANSIENT_NAMES = /^(Mongo(?!ParseError$|InvalidArgumentError$|MissingDependencyError$)|KafkaJS|KafkaUnavailableError$|RetryLaterError$|ProducerClosedError$|AbortError$|TimeoutError$)/;
/**
 * MongoDB server answers that are about the document or command itself, so the same record gets them again:
 * BadValue, FailedToParse, TypeMismatch, BSONObjectTooLarge, KeyTooLong, document too large after an update.
 * Any other server error (not primary, interrupted, shutting down, an internal error) is treated as transient:
 * a stuck partition shows as lag and alerts; a dead-lettered valid payment would quietly be missing.
 */
const RECORD_SPECIFIC_MONGO_CODES = new Set([2, 9, 14, 10334, 17280, 17419]);
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * The default `isTransientError`: an error of the MongoDB driver or server (except answers about the document
 * itself, RECORD_SPECIFIC_MONGO_CODES, and driver-side argument errors), of the Kafka client, a socket error, or
 * a RetryLaterError (or a subclass: `instanceof` or the name). Looks through `cause`. A
 * domain bug (TypeError, a failed invariant) is not transient: the same record would fail forever.
 */
export function isTransientError(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth += 1) {
    const code = (e as { code?: unknown }).code;
    if (e.name.startsWith('Mongo') && typeof code === 'number' && RECORD_SPECIFIC_MONGO_CODES.has(code)) return false;
    if (e instanceof RetryLaterError || TRANSIENT_NAMES.test(e.name)) return true;
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
    const labels = (e as { errorLabels?: unknown }).errorLabels;
    if (labels instanceof Set ? labels.has('RetryableWriteError') : Array.isArray(labels) && labels.includes('RetryableWriteError')) return true;
  }
  return false;
}

function isPoison(e: unknown): e is PoisonRecordError {
  return e instanceof PoisonRecordError || (e instanceof Error && e.name === 'PoisonRecordError' && typeof (e as PoisonRecordError).offset === 'string');
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A consumed message after decoding: a record for the handler, or why it goes to the DLQ. */
export interface DecodedMessage<T> {
  message: KafkaMessage;
  record?: ConsumedRecord<T>;
  failure?: { reason: DeadLetterReason; error: string };
}

/** Never throws: a record this cannot read is a poison record for the DLQ, not a reason to stop the partition. */
export function decodeMessage<T>(topic: string, partition: number, message: KafkaMessage, schema: ContractSchema | null): DecodedMessage<T> {
  try {
    return decodeMessageUnsafe<T>(topic, partition, message, schema);
  } catch (err) {
    return { message, failure: { reason: 'invalid_json', error: `record could not be read: ${err instanceof Error ? err.message : String(err)}` } };
  }
}

function decodeMessageUnsafe<T>(topic: string, partition: number, message: KafkaMessage, schema: ContractSchema | null): DecodedMessage<T> {
  const result = decodeValue(topic, message.value, schema);
  if (!result.ok) return { message, failure: { reason: result.reason, error: result.error } };
  return {
    message,
    record: {
      topic,
      partition,
      offset: message.offset,
      key: message.key === null ? null : message.key.toString('utf8'),
      value: result.value as T,
      timestamp: message.timestamp,
      headers: headersToStrings(message.headers),
      traceparent: extractTraceparent(message.headers),
    },
  };
}

/**
 * The lag entries of the partitions a member still owns after a rebalance. The others are reported by their new
 * owner; a frozen last value here would add to the group's total for ever (a false "lag" alert).
 */
export function lagOfAssigned(lag: Record<string, Record<number, number>>, assignment: Record<string, number[]>): Record<string, Record<number, number>> {
  const kept: Record<string, Record<number, number>> = {};
  for (const [topic, partitions] of Object.entries(lag)) {
    const owned = new Set(assignment[topic] ?? []);
    const mine = Object.entries(partitions).filter(([partition]) => owned.has(Number(partition)));
    if (mine.length > 0) kept[topic] = Object.fromEntries(mine);
  }
  return kept;
}

class BatchConsumer<T> {
  private stopping = false;
  private crashed = false;
  private readonly abort = new AbortController();
  private readonly backoff: BackoffOptions;
  private readonly isolateAfter: number;
  private readonly isTransient: (error: unknown) => boolean;
  private readonly heartbeatEveryMs: number;
  private readonly counters: Omit<ConsumerStats, 'running' | 'crashed' | 'busyForMs' | 'lag' | 'lastError'> = {
    recordsProcessed: 0,
    recordsDeadLettered: 0,
    deadLetteredByReason: { invalid_json: 0, schema_validation: 0, handler_error: 0 },
    handlerCalls: 0,
    handlerFailures: 0,
    commits: 0,
  };
  private lag: Record<string, Record<number, number>> = {};
  /** `topic:partition` → when its batch in progress started (Date.now()). */
  private readonly busySince = new Map<string, number>();
  private lastError: string | undefined;
  private readonly logger: Logger;

  constructor(
    private readonly options: RunConsumerOptions<T>,
    readonly consumer: Consumer,
    private readonly dlq: BatchingProducer,
  ) {
    this.logger = options.logger ?? silentLogger;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.retryBackoff };
    this.isolateAfter = options.isolateAfterFailures ?? 5;
    this.isTransient = options.isTransientError ?? isTransientError;
    this.heartbeatEveryMs = options.heartbeatInterval ?? 3000;
  }

  stats(): ConsumerStats {
    return {
      running: this.isRunning(),
      crashed: this.crashed,
      busyForMs: this.busySince.size === 0 ? 0 : Math.max(0, Date.now() - Math.min(...this.busySince.values())),
      ...this.counters,
      deadLetteredByReason: { ...this.counters.deadLetteredByReason },
      lag: Object.fromEntries(Object.entries(this.lag).map(([t, p]) => [t, { ...p }])),
      lastError: this.lastError,
    };
  }

  isRunning(): boolean {
    return !this.stopping && !this.crashed;
  }

  /** After a rebalance: see lagOfAssigned. */
  keepLagOf(assignment: Record<string, number[]>): void {
    this.lag = lagOfAssigned(this.lag, assignment);
  }

  markCrashed(error: Error): void {
    this.crashed = true;
    this.lastError = error.message;
  }

  beginStop(): void {
    this.stopping = true;
    this.abort.abort();
  }

  readonly eachBatch = async (payload: EachBatchPayload): Promise<void> => {
    const busyKey = `${payload.batch.topic}:${payload.batch.partition}`;
    this.busySince.set(busyKey, Date.now());
    try {
      await this.handleFetchedBatch(payload);
    } finally {
      this.busySince.delete(busyKey);
    }
  };

  private async handleFetchedBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    const schema = schemaForTopic(topic, this.options.schemas);
    const first = batch.firstOffset();
    if (first !== null) this.setLag(topic, partition, batch.highWatermark, first);
    for (const messages of chunk(batch.messages, this.options.maxRecordsPerCall ?? 500)) {
      if (this.shouldAbandon(payload)) return;
      const decoded = messages.map((m) => decodeMessage<T>(topic, partition, m, schema));
      const invalid = decoded.filter((d) => d.failure);
      if (invalid.length > 0) {
        const sent = await this.deadLetterAll(payload, topic, partition, invalid.map((d) => ({ message: d.message, ...d.failure! })));
        if (sent === ABANDONED) return;
      }
      const records = decoded.flatMap((d) => (d.record ? [d.record] : []));
      if (records.length > 0) {
        const handled = await this.handleWithRetry(payload, topic, partition, records);
        if (handled === ABANDONED) return; // not committed: redelivered to whoever owns the partition next
      }
      const last = messages[messages.length - 1]!.offset;
      const next = (BigInt(last) + 1n).toString();
      payload.resolveOffset(last);
      await payload.commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: next }] }] });
      this.counters.commits += 1;
      this.setLag(topic, partition, batch.highWatermark, next);
      this.busySince.set(`${topic}:${partition}`, Date.now()); // the next chunk starts now
      await payload.heartbeat();
    }
  }

  private shouldAbandon(payload: EachBatchPayload): boolean {
    return this.stopping || !payload.isRunning() || payload.isStale();
  }

  private setLag(topic: string, partition: number, highWatermark: string, nextOffset: string): void {
    const lag = BigInt(highWatermark) - BigInt(nextOffset);
    (this.lag[topic] ??= {})[partition] = lag > 0n ? Number(lag) : 0;
  }

  /**
   * Calls the handler until it succeeds; poison records leave for the DLQ and the rest is tried again. After
   * `isolateAfterFailures` non-transient failures in a row, the records are handled one by one (in order), so
   * that one record a handler can never process does not hold its partition forever.
   */
  private async handleWithRetry(payload: EachBatchPayload, topic: string, partition: number, records: Array<ConsumedRecord<T>>): Promise<true | typeof ABANDONED> {
    const outcome = await this.callUntilDone(payload, topic, partition, records);
    if (outcome === true || outcome === ABANDONED) return outcome;
    const left = outcome.isolate;
    if (left.length > 1) this.logger.error({ topic, partition, records: left.length, firstOffset: left[0]?.offset }, 'the same batch keeps failing: handling its records one by one');
    for (const record of left) {
      const single = left.length === 1 ? outcome : await this.callUntilDone(payload, topic, partition, [record]);
      if (single === ABANDONED) return ABANDONED;
      if (single !== true) {
        const message = payload.batch.messages.find((m) => m.offset === record.offset)!;
        const error = `failed ${this.isolateAfter} times alone: ${this.lastError ?? 'unknown error'}`;
        this.logger.error({ topic, partition, offset: record.offset, error, record_trace_id: traceIdOf(record) }, 'handler keeps failing on one record; sending it to the DLQ');
        if ((await this.deadLetterAll(payload, topic, partition, [{ message, reason: 'handler_error', error }])) === ABANDONED) return ABANDONED;
      }
    }
    return true;
  }

  /**
   * Calls the handler on `records` until it succeeds (true), until it failed `isolateAfterFailures` times
   * with non-transient errors (`isolate`: the records still to handle), or until the consumer lets go.
   */
  private async callUntilDone(
    payload: EachBatchPayload,
    topic: string,
    partition: number,
    records: Array<ConsumedRecord<T>>,
  ): Promise<true | { isolate: Array<ConsumedRecord<T>> } | typeof ABANDONED> {
    let remaining = records;
    const originals = new Map(records.map((r) => [r.offset, r]));
    let attempt = 0;
    let lasting = 0;
    while (remaining.length > 0) {
      if (this.shouldAbandon(payload)) return ABANDONED;
      try {
        this.counters.handlerCalls += 1;
        const batch = remaining;
        const span = batchSpanOptions(batch);
        await withSpan(`consume ${topic}`, span, async () => {
          // Links are exported by an SDK only: this line (debug) ties the batch's trace to its records' traces.
          if (span.links?.length) this.logger.debug({ topic, partition, records: batch.length, record_trace_ids: span.links.map((l) => l.context.traceId) }, 'handler call covers records of several traces');
          await this.options.handler({ topic, partition, records: batch, heartbeat: () => payload.heartbeat() });
        });
        this.counters.recordsProcessed += remaining.length;
        return true;
      } catch (e) {
        const poisonOffset = isPoison(e) ? e.offset : undefined;
        const poison = poisonOffset === undefined ? undefined : originals.get(poisonOffset);
        if (poison && remaining.includes(poison)) {
          this.logger.error({ err: e, topic, partition, offset: poison.offset, record_trace_id: traceIdOf(poison) }, 'handler rejected a record as poison; sending it to the DLQ');
          const message = payload.batch.messages.find((m) => m.offset === poison.offset)!;
          const sent = await this.deadLetterAll(payload, topic, partition, [{ message, reason: 'handler_error', error: errorMessage(e) }]);
          if (sent === ABANDONED) return ABANDONED;
          remaining = remaining.filter((r) => r !== poison);
          continue;
        }
        attempt += 1;
        this.counters.handlerFailures += 1;
        this.lastError = errorMessage(e);
        if (this.isolateAfter > 0 && !this.isTransient(e)) {
          lasting += 1;
          if (lasting >= this.isolateAfter) return { isolate: remaining };
        }
        const delay = backoffDelayMs(attempt, this.backoff);
        this.logger.warn({ err: e, topic, partition, records: remaining.length, attempt, retryInMs: delay }, 'consumer handler failed; retrying');
        if (!(await this.wait(payload, delay))) return ABANDONED;
      }
    }
    return true;
  }

  /** Publishes the original bytes to `<topic>.dlq`, retrying (with backoff) only the sends that failed. */
  private async deadLetterAll(
    payload: EachBatchPayload,
    topic: string,
    partition: number,
    items: Array<{ message: KafkaMessage; reason: DeadLetterReason; error: string }>,
  ): Promise<true | typeof ABANDONED> {
    let pending = items;
    for (let attempt = 1; pending.length > 0; attempt += 1) {
      const results = await Promise.allSettled(
        pending.map(async (item) => {
          const info: DeadLetterInfo = {
            reason: item.reason,
            error: item.error,
            sourceTopic: topic,
            sourcePartition: partition,
            sourceOffset: item.message.offset,
            consumerGroup: this.options.groupId,
            failedAt: this.options.now?.() ?? new Date(),
          };
          await this.dlq.publish(dlqTopicName(topic), {
            key: item.message.key,
            value: item.message.value,
            headers: buildDlqHeaders(item.message.headers, info),
          });
          this.logger.warn(
            { topic, partition, offset: info.sourceOffset, reason: info.reason, error: info.error, record_trace_id: parseTraceparent(extractTraceparent(item.message.headers))?.traceId },
            'record sent to DLQ',
          );
          this.counters.recordsDeadLettered += 1;
          this.counters.deadLetteredByReason[info.reason] += 1;
          this.options.onDeadLetter?.(info);
        }),
      );
      const failed = pending.filter((_, i) => results[i]!.status === 'rejected');
      if (failed.length === 0) return true;
      const firstError = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!.reason as unknown;
      this.lastError = errorMessage(firstError);
      const delay = backoffDelayMs(attempt, this.backoff);
      this.logger.warn({ err: firstError, topic, partition, records: failed.length, attempt, retryInMs: delay }, 'DLQ publish failed; retrying');
      pending = failed;
      if (!(await this.wait(payload, delay))) return ABANDONED;
    }
    return true;
  }

  /** Sleeps `ms` while keeping group membership alive; false when the consumer should let go instead. */
  private async wait(payload: EachBatchPayload, ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    for (;;) {
      if (this.shouldAbandon(payload)) return false;
      const left = until - Date.now();
      if (left <= 0) return true;
      const slept = await sleep(Math.min(left, this.heartbeatEveryMs), this.abort.signal);
      if (!slept) return false;
      // Throws when the group is rebalancing: the batch is then abandoned uncommitted, as it must be.
      await payload.heartbeat();
    }
  }
}

/**
 * Starts a consumer group member: every record is decoded and validated; invalid ones go to `<topic>.dlq`
 * with the original bytes and DLQ headers; valid ones reach `handler` in partition order. Offsets are
 * committed explicitly after the handler's effect (at-least-once). Resolves once the consumer runs.
 */
export async function runConsumer<T = unknown>(options: RunConsumerOptions<T>): Promise<ConsumerHandle> {
  const logger = options.logger ?? silentLogger;
  const consumer = options.kafka.consumer({
    groupId: options.groupId,
    allowAutoTopicCreation: false,
    ...(options.sessionTimeout !== undefined && { sessionTimeout: options.sessionTimeout }),
    ...(options.heartbeatInterval !== undefined && { heartbeatInterval: options.heartbeatInterval }),
    ...(options.rebalanceTimeout !== undefined && { rebalanceTimeout: options.rebalanceTimeout }),
    ...(options.maxWaitTimeInMs !== undefined && { maxWaitTimeInMs: options.maxWaitTimeInMs }),
    ...(options.maxBytesPerPartition !== undefined && { maxBytesPerPartition: options.maxBytesPerPartition }),
  });
  const ownsDlq = options.deadLetterProducer === undefined;
  const dlq = options.deadLetterProducer ?? new BatchingProducer(options.kafka, { validate: false, logger, sendTimeoutMs: 10_000 });
  const worker = new BatchConsumer<T>(options, consumer, dlq);

  let markJoined!: () => void;
  const joined = new Promise<void>((resolve) => (markJoined = resolve));
  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    logger.info({ groupId: options.groupId, assignment: event.payload.memberAssignment }, 'consumer joined group');
    worker.keepLagOf(event.payload.memberAssignment);
    markJoined();
  });
  consumer.on(consumer.events.CRASH, (event) => {
    const { error, restart } = event.payload;
    logger.error({ err: error, groupId: options.groupId, restart }, 'consumer crashed');
    if (!restart) {
      worker.markCrashed(error);
      options.onFatalError?.(error);
    }
  });

  try {
    await consumer.connect();
    if (ownsDlq) await dlq.connect();
    await consumer.subscribe({ topics: options.topics, fromBeginning: options.fromBeginning ?? true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
      eachBatch: worker.eachBatch,
    });
  } catch (e) {
    await consumer.disconnect().catch(() => undefined);
    if (ownsDlq) await dlq.disconnect().catch(() => undefined);
    throw e;
  }

  // Kept after stop (not unregistered): an SDK goes on exporting an unregistered instrument's last values anyway, and
  // the telemetry flush at the end of a shutdown should read the final figures.
  observeMetrics('@metrivo/kafka', consumerMetrics(() => worker.stats()), {
    attributes: { 'messaging.consumer.group.name': options.groupId },
    meterProvider: options.meterProvider,
  });
  let stopped: Promise<void> | undefined;
  return {
    consumer,
    joined,
    stats: () => worker.stats(),
    isRunning: () => worker.isRunning(),
    stop: () =>
      (stopped ??= (async () => {
        worker.beginStop();
        try {
          await consumer.stop();
          await consumer.disconnect();
        } finally {
          if (ownsDlq) await dlq.disconnect();
        }
        logger.info({ groupId: options.groupId }, 'consumer stopped');
      })()),
  };
}
