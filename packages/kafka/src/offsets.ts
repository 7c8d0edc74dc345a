import type { Kafka } from 'kafkajs';
import { sleep } from './backoff';

export interface PartitionOffsets {
  partition: number;
  /** First retained offset. */
  low: string;
  /** Offset the next record will get (the end). */
  high: string;
}

/**
 * Broker answers that mean "ask again in a moment": right after a topic is created (or a leader moves) the
 * metadata can already name a leader that has not yet taken the partition over, and ListOffsets answers
 * NOT_LEADER_OR_FOLLOWER until it has. kafkajs marks these protocol errors `retriable`.
 */
export function isRetriableKafkaError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { retriable?: unknown; type?: unknown; name?: unknown };
  if (e.retriable === true) return true;
  // kafkajs wraps an exhausted retrier's last error; its cause tells.
  const cause = (error as { cause?: unknown }).cause;
  return cause !== undefined && cause !== error && isRetriableKafkaError(cause);
}

/**
 * First and end offsets of every partition of `topic`, asking again on retriable broker answers until
 * `timeoutMs` has passed. kafkajs gives up at once on NOT_LEADER_OR_FOLLOWER (a leader hand-over, or a topic
 * created a moment ago) and keeps its cached metadata, so every attempt uses a new admin client.
 */
export async function fetchPartitionOffsets(kafka: Kafka, topic: string, timeoutMs = 15_000): Promise<PartitionOffsets[]> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      return (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, low: p.low, high: p.high }));
    } catch (e) {
      if (!isRetriableKafkaError(e) || Date.now() + delay > deadline) throw e;
    } finally {
      await admin.disconnect();
    }
    await sleep(delay);
  }
}

/**
 * Commits `offsets` (per topic and partition) for a consumer group that has no running members (else it
 * throws), by joining it for a moment with a paused consumer. (kafkajs' admin.setOffsets does the same but waits out a full
 * 5-second fetch of its own; this takes a few hundred milliseconds.)
 */
export async function commitGroupOffsets(
  kafka: Kafka,
  groupId: string,
  offsets: ReadonlyArray<{ topic: string; partition: number; offset: string }>,
): Promise<void> {
  const topics = [...new Set(offsets.map((o) => o.topic))];
  if (topics.length === 0) return;
  // Joining a group that has members would take partitions away from them for a moment: refuse, as
  // admin.setOffsets does.
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [group] = (await admin.describeGroups([groupId])).groups;
    if (group && group.members.length > 0) {
      throw new Error(`consumer group "${groupId}" has ${group.members.length} running member(s): stop them before moving its offsets`);
    }
  } finally {
    await admin.disconnect();
  }
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 50, sessionTimeout: 6000, heartbeatInterval: 1000, rebalanceTimeout: 6000 });
  let markJoined!: () => void;
  const joined = new Promise<void>((resolve) => (markJoined = resolve));
  consumer.on(consumer.events.GROUP_JOIN, () => markJoined());
  await consumer.connect();
  try {
    await consumer.subscribe({ topics });
    // Nothing is read: the handler never resolves an offset, autoCommit is off, and every topic is paused.
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => undefined });
    consumer.pause(topics.map((topic) => ({ topic })));
    await joined;
    await consumer.commitOffsets(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })));
  } finally {
    await consumer.disconnect();
  }
}
