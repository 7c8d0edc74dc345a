import { randomBytes } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { silentLogger, type Logger } from './logger';
import { commitGroupOffsets, fetchPartitionOffsets } from './offsets';

export interface TopicRangeOptions {
  /** Where to start per partition (default: the first retained offset). */
  from?: ReadonlyMap<number, bigint>;
  /**
   * The messages of one fetched batch that lie in the range, in offset order; resolve = done with them.
   * A rejection stops the read and is thrown by `readTopicRange`.
   */
  onBatch: (partition: number, messages: KafkaMessage[], heartbeat: () => Promise<void>) => Promise<void> | void;
  /** Prefix of the throwaway consumer group's id. */
  groupIdPrefix: string;
  /** Give up when the end offsets are not reached within this time. Default 10 minutes. */
  timeoutMs?: number;
  /** Session timeout of the reading member: longer than the slowest onBatch call. Default 60 s. */
  sessionTimeout?: number;
  logger?: Logger;
}

/**
 * Reads `topic` from `from` (default: the first retained offset) up to the end offsets captured at the start,
 * with a throwaway consumer group that never commits what it reads and is deleted afterwards. Records written
 * after the start are not read. Returns the end offsets it read up to.
 */
export async function readTopicRange(kafka: Kafka, topic: string, options: TopicRangeOptions): Promise<{ ends: Map<number, bigint> }> {
  const logger = options.logger ?? silentLogger;
  const offsets = await fetchPartitionOffsets(kafka, topic);
  const ends = new Map(offsets.map((p) => [p.partition, BigInt(p.high)]));
  // Next offset to read per partition; a partition is done at its end offset.
  const next = new Map(offsets.map((p) => [p.partition, options.from?.get(p.partition) ?? BigInt(p.low)]));
  const done = (): boolean => [...ends].every(([p, end]) => (next.get(p) ?? 0n) >= end);
  if (done()) return { ends };

  const groupId = `${options.groupIdPrefix}-${randomBytes(6).toString('hex')}`;
  if (options.from) {
    await commitGroupOffsets(kafka, groupId, [...next].map(([partition, offset]) => ({ topic, partition, offset: offset.toString() })));
  }
  const consumer = kafka.consumer({
    groupId,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 200,
    sessionTimeout: options.sessionTimeout ?? 60_000,
    heartbeatInterval: 3000,
  });
  let failure: unknown;
  let finished!: () => void;
  const finishedPromise = new Promise<void>((resolve) => (finished = resolve));
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat }) => {
        if (failure !== undefined || done()) return;
        const start = next.get(batch.partition) ?? 0n;
        const end = ends.get(batch.partition) ?? 0n;
        const messages = batch.messages.filter((m) => BigInt(m.offset) >= start && BigInt(m.offset) < end);
        try {
          if (messages.length > 0) await options.onBatch(batch.partition, messages, heartbeat);
        } catch (err) {
          failure = err;
          finished();
          return;
        }
        // lastOffset() is the batch's last offset even when compaction left gaps or filtered messages out.
        const reached = BigInt(batch.lastOffset()) + 1n;
        next.set(batch.partition, reached > end ? end : reached);
        if (done()) finished();
      },
    });
    const timeoutMs = options.timeoutMs ?? 600_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([finishedPromise.then(() => 'done' as const), timedOut]);
    clearTimeout(timer);
    if (failure !== undefined) throw failure;
    if (outcome === 'timeout') {
      const behind = [...ends].filter(([p, e]) => (next.get(p) ?? 0n) < e).map(([p, e]) => `${p}: ${next.get(p) ?? 0n}/${e}`);
      throw new Error(`reading ${topic} did not reach its end offsets within ${timeoutMs} ms (partition: next/end ${behind.join(', ')})`);
    }
  } finally {
    await consumer.disconnect().catch((err: unknown) => logger.warn({ err }, 'topic reader did not disconnect cleanly'));
    await deleteGroup(kafka, groupId, logger);
  }
  return { ends };
}

async function deleteGroup(kafka: Kafka, groupId: string, logger: Logger): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.deleteGroups([groupId]);
  } catch (err) {
    // The broker forgets an empty group on its own; deleting it is tidiness.
    logger.debug({ err, groupId }, 'could not delete the throwaway consumer group');
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
