// In-memory stand-ins for the few kafkajs calls BatchingProducer and runConsumer make, for unit tests.
// Integration tests use the real broker; these only make the batching and retry logic observable.
import type { EachBatchPayload, Kafka, KafkaMessage, Message, PartitionMetadata, ProducerConfig, RecordMetadata, TopicMessages } from 'kafkajs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- kafkajs event payloads differ per event
type Listener = (event: { payload: any }) => void;

class Emitter {
  private readonly listeners = new Map<string, Listener[]>();
  on(name: string, listener: Listener): () => void {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), listener]);
    return () => undefined;
  }
  emit(name: string, payload: unknown): void {
    for (const l of this.listeners.get(name) ?? []) l({ payload });
  }
}

export class FakeProducer extends Emitter {
  readonly events = { CONNECT: 'producer.connect', DISCONNECT: 'producer.disconnect' };
  readonly batches: TopicMessages[][] = [];
  connected = false;
  /** Errors thrown by the next sendBatch calls, in order. */
  failures: Error[] = [];
  /** When set, sendBatch never answers. */
  hang = false;
  sendDelayMs = 0;
  /** sendBatch calls that have answered (successfully or not). */
  answered = 0;
  readonly partitionCount = 3;
  private readonly nextOffset = new Map<string, bigint>();
  private readonly partition: (args: { topic: string; partitionMetadata: PartitionMetadata[]; message: Message }) => number;

  constructor(readonly config: ProducerConfig) {
    super();
    this.partition = config.createPartitioner
      ? config.createPartitioner()
      : ({ message }) => (message.key ? String(message.key).length % this.partitionCount : 0);
  }

  async connect(): Promise<void> {
    this.connected = true;
    this.emit(this.events.CONNECT, {});
  }

  async disconnect(): Promise<void> {
    this.connected = false;
    this.emit(this.events.DISCONNECT, {});
  }

  async sendBatch({ topicMessages }: { topicMessages: TopicMessages[]; acks?: number }): Promise<RecordMetadata[]> {
    this.batches.push(topicMessages);
    if (this.hang) return new Promise(() => undefined);
    if (this.sendDelayMs > 0) await new Promise((r) => setTimeout(r, this.sendDelayMs));
    this.answered += 1;
    const failure = this.failures.shift();
    if (failure) throw failure;
    const partitionMetadata: PartitionMetadata[] = Array.from({ length: this.partitionCount }, (_, partitionId) => ({
      partitionErrorCode: 0,
      partitionId,
      leader: 0,
      replicas: [0],
      isr: [0],
    }));
    const result: RecordMetadata[] = [];
    for (const { topic, messages } of topicMessages) {
      const counts = new Map<number, number>();
      for (const message of messages) {
        const p = this.partition({ topic, partitionMetadata, message });
        counts.set(p, (counts.get(p) ?? 0) + 1);
      }
      for (const [partition, count] of counts) {
        const key = `${topic}/${partition}`;
        const base = this.nextOffset.get(key) ?? 0n;
        this.nextOffset.set(key, base + BigInt(count));
        result.push({ topicName: topic, partition, errorCode: 0, baseOffset: base.toString(), logAppendTime: '-1', logStartOffset: '0' });
      }
    }
    return result;
  }

  /** Every message sent, flattened, with its topic. */
  sent(): Array<{ topic: string; message: Message }> {
    return this.batches.flatMap((b) => b.flatMap(({ topic, messages }) => messages.map((message) => ({ topic, message }))));
  }
}

export class FakeConsumer extends Emitter {
  readonly events = { GROUP_JOIN: 'consumer.group_join', CRASH: 'consumer.crash' };
  eachBatch: ((payload: EachBatchPayload) => Promise<void>) | undefined;
  runConfig: Record<string, unknown> | undefined;
  subscribed: { topics: string[]; fromBeginning?: boolean } | undefined;
  running = false;
  stopped = false;

  constructor(readonly config: Record<string, unknown>) {
    super();
  }
  async connect(): Promise<void> {}
  async subscribe(s: { topics: string[]; fromBeginning?: boolean }): Promise<void> {
    this.subscribed = s;
  }
  async run(config: Record<string, unknown> & { eachBatch: (payload: EachBatchPayload) => Promise<void> }): Promise<void> {
    this.runConfig = config;
    this.eachBatch = config.eachBatch;
    this.running = true;
  }
  async stop(): Promise<void> {
    this.running = false;
    this.stopped = true;
  }
  async disconnect(): Promise<void> {
    this.running = false;
  }
}

export class FakeKafka {
  readonly producers: FakeProducer[] = [];
  readonly consumers: FakeConsumer[] = [];
  producer(config: ProducerConfig = {}): FakeProducer {
    const p = new FakeProducer(config);
    this.producers.push(p);
    return p;
  }
  consumer(config: Record<string, unknown>): FakeConsumer {
    const c = new FakeConsumer(config);
    this.consumers.push(c);
    return c;
  }
  asKafka(): Kafka {
    return this as unknown as Kafka;
  }
}

export function kafkaMessage(offset: number, value: string | Buffer | null, key: string | null = 'k', headers: KafkaMessage['headers'] = {}): KafkaMessage {
  return {
    offset: String(offset),
    key: key === null ? null : Buffer.from(key),
    value: value === null ? null : Buffer.isBuffer(value) ? value : Buffer.from(value),
    timestamp: '1700000000000',
    attributes: 0,
    headers,
  } as KafkaMessage;
}

export interface FakeBatchPayload extends EachBatchPayload {
  resolved: string[];
  commits: Array<{ topic: string; partition: number; offset: string }>;
  heartbeats: number;
  running: boolean;
}

export function batchPayload(topic: string, partition: number, messages: KafkaMessage[], highWatermark?: string): FakeBatchPayload {
  const payload: FakeBatchPayload = {
    resolved: [],
    commits: [],
    heartbeats: 0,
    running: true,
    batch: {
      topic,
      partition,
      highWatermark: highWatermark ?? String(Number(messages[messages.length - 1]?.offset ?? -1) + 1),
      messages,
      isEmpty: () => messages.length === 0,
      firstOffset: () => messages[0]?.offset ?? null,
      lastOffset: () => messages[messages.length - 1]?.offset ?? '-1',
      offsetLag: () => '0',
      offsetLagLow: () => '0',
    },
    resolveOffset: (offset) => {
      payload.resolved.push(offset);
    },
    heartbeat: async () => {
      payload.heartbeats += 1;
    },
    pause: () => () => undefined,
    commitOffsetsIfNecessary: async (offsets) => {
      for (const t of offsets?.topics ?? []) {
        for (const p of t.partitions) payload.commits.push({ topic: t.topic, partition: p.partition, offset: p.offset });
      }
    },
    uncommittedOffsets: () => ({ topics: [] }),
    isRunning: () => payload.running,
    isStale: () => false,
  };
  return payload;
}
