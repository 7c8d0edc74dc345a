import type { Message, RecordMetadata, TopicMessages } from 'kafkajs';

/** RecordMetadata for one record: the partition's batch metadata plus the record's own offset. */
export type PublishedRecord = RecordMetadata & { offset?: string };

/**
 * Removes up to `max` records from the front of `queue` and returns them, dropping records that were
 * already settled (their caller gave up at the deadline, so they must not be sent any more).
 */
export function takeBatch<T extends { settled: boolean }>(queue: T[], max: number): T[] {
  const batch: T[] = [];
  let i = 0;
  while (i < queue.length && batch.length < max) {
    const item = queue[i]!;
    if (!item.settled) batch.push(item);
    i += 1;
  }
  queue.splice(0, i);
  return batch;
}

/** One kafkajs `topicMessages` entry per topic, topics and messages in submission order. */
export function groupByTopic(records: ReadonlyArray<{ topic: string; message: Message }>): TopicMessages[] {
  const byTopic = new Map<string, Message[]>();
  for (const { topic, message } of records) {
    const messages = byTopic.get(topic);
    if (messages) messages.push(message);
    else byTopic.set(topic, [message]);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

/**
 * Gives each sent record its metadata. Kafka answers one entry per topic-partition with the base offset
 * of what we appended there; within a partition kafkajs keeps submission order, so the n-th record we
 * sent to that partition got `baseOffset + n`.
 */
export function assignRecordMetadata(
  records: ReadonlyArray<{ topic: string; partition: number | undefined }>,
  metadata: readonly RecordMetadata[],
): PublishedRecord[] {
  const byPartition = new Map<string, RecordMetadata>();
  for (const m of metadata) byPartition.set(`${m.topicName}\u0000${m.partition}`, m);
  const seen = new Map<string, number>();
  return records.map(({ topic, partition }) => {
    const key = `${topic}\u0000${partition}`;
    const meta = partition === undefined ? undefined : byPartition.get(key);
    if (!meta) {
      const fallback = metadata.find((m) => m.topicName === topic);
      return { topicName: topic, partition: partition ?? fallback?.partition ?? -1, errorCode: fallback?.errorCode ?? 0 };
    }
    const index = seen.get(key) ?? 0;
    seen.set(key, index + 1);
    const base = meta.baseOffset ?? meta.offset;
    return base === undefined ? { ...meta } : { ...meta, offset: (BigInt(base) + BigInt(index)).toString() };
  });
}

/** The slices of `items` with at most `size` elements each, in order. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (size < 1) throw new RangeError('chunk size must be at least 1');
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
