import { CompressionTypes, Partitioners, type IHeaders, type Kafka, type Message, type Producer, type ProducerConfig, type RetryOptions } from 'kafkajs';
import { assignRecordMetadata, groupByTopic, takeBatch, type PublishedRecord } from './batching';
import { encodeValue, schemaForTopic, type SchemaOverrides } from './codec';
import { KafkaUnavailableError, ProducerClosedError } from './errors';
import type { OutgoingHeaders } from './headers';
import { silentLogger, type Logger } from './logger';
import { injectTraceparent } from './trace';

export interface PublishRecord {
  /** Partitioning key (the topic catalog says what goes here, e.g. websiteId). */
  key: string | Buffer | null;
  /** An object (validated against the topic's contract, sent as JSON), raw JSON bytes, or null (tombstone). */
  value: unknown;
  headers?: OutgoingHeaders | IHeaders;
}

export interface BatchingProducerOptions {
  /** How long the first queued record waits for company before its batch is sent. Default 2 ms. */
  lingerMs?: number;
  /** A batch is sent as soon as this many records are queued. Default 500. */
  maxBatchRecords?: number;
  /** A publish not acknowledged within this time rejects with KafkaUnavailableError. Default 5000 ms. */
  sendTimeoutMs?: number;
  /** Schema overrides (see SchemaOverrides); catalog topics are validated by default. */
  schemas?: SchemaOverrides;
  /** Set false only for pass-through producers (e.g. re-driving a DLQ). Default true. */
  validate?: boolean;
  /** After a failed batch, isHealthy() stays false this long unless a later batch succeeds. Default 10 s. */
  unhealthyAfterFailureMs?: number;
  /** kafkajs producer retry; default derived from sendTimeoutMs so retries end near the deadline. */
  retry?: RetryOptions;
  compression?: CompressionTypes;
  logger?: Logger;
}

export interface ProducerStats {
  queued: number;
  inFlight: number;
  batchesSent: number;
  batchesFailed: number;
  recordsAcknowledged: number;
  recordsFailed: number;
  recordsTimedOut: number;
}

interface Pending {
  topic: string;
  message: Message;
  settled: boolean;
  resolve(meta: PublishedRecord): void;
  reject(error: Error): void;
  deadline: NodeJS.Timeout;
  done: Promise<void>;
}

/**
 * An idempotent, acks=all producer shared by many concurrent callers: `publish` queues the record and
 * resolves only once the broker acknowledged it. Queued records leave as one `sendBatch` when `lingerMs`
 * has passed or `maxBatchRecords` are waiting. One batch is in flight at a time: kafkajs assigns the
 * idempotence sequence numbers per send, and concurrent sends to one partition would race them; the
 * records that arrive meanwhile form the next batch, so batching grows with load by itself.
 */
export class BatchingProducer {
  private readonly kafka: Kafka;
  private readonly producerConfig: ProducerConfig;
  private producer: Producer;
  private readonly lingerMs: number;
  private readonly maxBatchRecords: number;
  private readonly sendTimeoutMs: number;
  private readonly schemas: SchemaOverrides | undefined;
  private readonly validate: boolean;
  private readonly unhealthyAfterFailureMs: number;
  private readonly compression: CompressionTypes;
  private readonly logger: Logger;
  /** The partition kafkajs chose for each message we handed it (per-record offsets in the acknowledgement). */
  private readonly partitionOf = new WeakMap<Message, number>();

  private queue: Pending[] = [];
  private inFlight: Pending[] = [];
  private lingerTimer: NodeJS.Timeout | undefined;
  private sending = false;
  private connected = false;
  private everConnected = false;
  private connecting: { producer: Producer; promise: Promise<void> } | undefined;
  private closed = false;
  private lastSuccessAt = 0;
  private lastFailureAt = 0;
  private readonly counters = { batchesSent: 0, batchesFailed: 0, recordsAcknowledged: 0, recordsFailed: 0, recordsTimedOut: 0 };

  constructor(kafka: Kafka, options: BatchingProducerOptions = {}) {
    this.lingerMs = options.lingerMs ?? 2;
    this.maxBatchRecords = options.maxBatchRecords ?? 500;
    this.sendTimeoutMs = options.sendTimeoutMs ?? 5000;
    this.schemas = options.schemas;
    this.validate = options.validate ?? true;
    this.unhealthyAfterFailureMs = options.unhealthyAfterFailureMs ?? 10_000;
    this.compression = options.compression ?? CompressionTypes.None;
    this.logger = options.logger ?? silentLogger;
    if (this.maxBatchRecords < 1) throw new RangeError('maxBatchRecords must be at least 1');

    this.producerConfig = {
      idempotent: true,
      maxInFlightRequests: 1,
      // Topics come from provisioning with their retention and cleanup policy; never the broker defaults.
      allowAutoTopicCreation: false,
      // Bounded retries (kafkajs warns that this weakens idempotence across a failed batch): an unbounded
      // retry would keep a batch alive long after its callers were told 503 and moved on.
      retry: options.retry ?? {
        retries: 5,
        initialRetryTime: 100,
        maxRetryTime: Math.max(200, Math.floor(this.sendTimeoutMs / 4)),
      },
      createPartitioner: () => {
        const partition = Partitioners.DefaultPartitioner();
        return (args) => {
          const p = partition(args);
          this.partitionOf.set(args.message, p);
          return p;
        };
      },
    };
    this.kafka = kafka;
    this.producer = this.createProducer();
  }

  private createProducer(): Producer {
    const producer = this.kafka.producer(this.producerConfig);
    producer.on(producer.events.CONNECT, () => {
      if (producer === this.producer) this.connected = true;
    });
    producer.on(producer.events.DISCONNECT, () => {
      if (producer === this.producer) this.connected = false;
    });
    return producer;
  }

  /**
   * After a failed batch kafkajs may have rolled its idempotence sequence numbers back for records the
   * broker did write (a timeout after the write); every later batch would then fail with
   * OUT_OF_ORDER_SEQUENCE_NUMBER. A fresh producer gets a new producer id and starts clean.
   */
  private async replaceProducer(): Promise<void> {
    const old = this.producer;
    this.producer = this.createProducer();
    this.connected = false;
    await old.disconnect().catch((e: unknown) => this.logger.debug({ err: e }, 'disconnecting the failed kafka producer'));
    // Reconnect now rather than on the next publish, so the next caller does not pay for it.
    this.ensureConnected().catch((e: unknown) => this.logger.debug({ err: e }, 'kafka producer reconnect failed'));
  }

  /** Connects now (fail fast at startup). Publishing without it connects lazily on the first batch. */
  async connect(): Promise<void> {
    if (this.closed) throw new ProducerClosedError();
    await this.ensureConnected();
  }

  publish(topic: string, record: PublishRecord): Promise<PublishedRecord> {
    if (this.closed) return Promise.reject(new ProducerClosedError());
    const schema = this.validate ? schemaForTopic(topic, this.schemas) : null;
    const encoded = encodeValue(topic, record.value, schema);
    if (!encoded.ok) return Promise.reject(encoded.error);
    const headers = injectTraceparent({ ...(record.headers ?? {}) } as IHeaders);
    const message: Message = { key: record.key, value: encoded.bytes, headers };

    return new Promise<PublishedRecord>((resolve, reject) => {
      let markDone!: () => void;
      const done = new Promise<void>((r) => (markDone = r));
      const pending: Pending = {
        topic,
        message,
        settled: false,
        done,
        resolve: (meta) => {
          if (pending.settled) return;
          pending.settled = true;
          clearTimeout(pending.deadline);
          markDone();
          resolve(meta);
        },
        reject: (error) => {
          if (pending.settled) return;
          pending.settled = true;
          clearTimeout(pending.deadline);
          markDone();
          reject(error);
        },
        deadline: setTimeout(() => {
          this.counters.recordsTimedOut += 1;
          pending.reject(new KafkaUnavailableError(`Kafka did not acknowledge the record within ${this.sendTimeoutMs} ms`));
        }, this.sendTimeoutMs),
      };
      this.queue.push(pending);
      this.schedule();
    });
  }

  /** Sends everything queued now and waits until every queued or in-flight record is settled. */
  async flush(): Promise<void> {
    const waiting = [...this.inFlight, ...this.queue].map((p) => p.done);
    if (this.lingerTimer) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
    }
    void this.drain();
    await Promise.all(waiting);
  }

  /** Stops accepting records, flushes what is queued, then disconnects. */
  async disconnect(): Promise<void> {
    this.closed = true;
    await this.flush();
    // A connect still in flight would open sockets after the disconnect and keep the process alive.
    await this.connecting?.promise.catch(() => undefined);
    await this.producer.disconnect();
    this.connected = false;
  }

  isConnected(): boolean {
    return this.connected;
  }

  /**
   * For readiness: connected once, not closed, and no failed batch in the last `unhealthyAfterFailureMs`
   * unless a batch succeeded since. The failure is forgotten after that time on purpose: a gateway that
   * never turned ready again would never send the traffic that proves Kafka is back.
   */
  isHealthy(now: number = Date.now()): boolean {
    if (this.closed || !this.everConnected) return false;
    const failing = this.lastFailureAt > this.lastSuccessAt;
    return !failing || now - this.lastFailureAt > this.unhealthyAfterFailureMs;
  }

  stats(): ProducerStats {
    return { queued: this.queue.length, inFlight: this.inFlight.length, ...this.counters };
  }

  private schedule(): void {
    if (this.sending) return; // the drain loop picks new records up when the in-flight batch returns
    if (this.queue.length >= this.maxBatchRecords) {
      if (this.lingerTimer) clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
      void this.drain();
      return;
    }
    if (!this.lingerTimer) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = undefined;
        void this.drain();
      }, this.lingerMs);
    }
  }

  private async drain(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      for (;;) {
        const batch = takeBatch(this.queue, this.maxBatchRecords);
        if (batch.length === 0) break;
        await this.send(batch);
      }
    } finally {
      this.sending = false;
    }
  }

  private async send(batch: Pending[]): Promise<void> {
    this.inFlight = batch;
    try {
      await this.ensureConnected();
      const metadata = await this.producer.sendBatch({
        acks: -1,
        compression: this.compression,
        topicMessages: groupByTopic(batch),
      });
      const perRecord = assignRecordMetadata(
        batch.map((p) => ({ topic: p.topic, partition: this.partitionOf.get(p.message) })),
        metadata,
      );
      this.lastSuccessAt = Date.now();
      this.counters.batchesSent += 1;
      batch.forEach((p, i) => {
        if (!p.settled) this.counters.recordsAcknowledged += 1;
        p.resolve(perRecord[i]!);
      });
    } catch (e) {
      this.lastFailureAt = Date.now();
      this.counters.batchesFailed += 1;
      const error = new KafkaUnavailableError(`Kafka did not accept the batch: ${(e as Error).message}`, { cause: e });
      this.logger.warn({ err: e, records: batch.length }, 'kafka batch failed');
      for (const p of batch) {
        if (!p.settled) this.counters.recordsFailed += 1;
        p.reject(error);
      }
      if (!this.closed) await this.replaceProducer();
    } finally {
      this.inFlight = [];
    }
  }

  private ensureConnected(): Promise<void> {
    if (this.connected) return Promise.resolve();
    const producer = this.producer;
    if (this.connecting?.producer !== producer) {
      const promise: Promise<void> = producer
        .connect()
        .then(() => {
          this.everConnected = true;
          if (producer === this.producer) this.connected = true;
        })
        .finally(() => {
          if (this.connecting?.promise === promise) this.connecting = undefined;
        });
      this.connecting = { producer, promise };
    }
    return this.connecting.promise;
  }
}
