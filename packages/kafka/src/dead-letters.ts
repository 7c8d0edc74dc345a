import { DLQ_HEADERS, dlqTopicName } from '@metrivo/contracts';
import type { IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { readDlqHeaders, type DeadLetterReason } from './headers';
import { commitGroupOffsets } from './offsets';
import { readTopicRange } from './topic-range';
import { BatchingProducer } from './producer';

/** One record of `<topic>.dlq` as operators see it. */
export interface DeadLetter {
  dlqPartition: number;
  dlqOffset: string;
  key: string | null;
  reason: string | undefined;
  error: string | undefined;
  sourcePartition: string | undefined;
  sourceOffset: string | undefined;
  consumerGroup: string | undefined;
  failedAt: string | undefined;
  /** The original value bytes (UTF-8). */
  value: string | null;
  message: KafkaMessage;
}

/** The committed position of the redrive group per DLQ partition: what `redriveDeadLetters` has already sent back. */
export const redriveGroupId = (topic: string): string => `metrivo-dlq-redrive.${topic}`;

type Offsets = Map<number, bigint>;

/**
 * Reads `<topic>.dlq` from `from` (default: the first retained offset) to the end offsets taken at the start
 * (readTopicRange: a throwaway group that commits nothing). Records written meanwhile are not read.
 */
export async function readDeadLetters(kafka: Kafka, topic: string, from?: Offsets): Promise<{ letters: DeadLetter[]; ends: Offsets }> {
  const letters: DeadLetter[] = [];
  const { ends } = await readTopicRange(kafka, dlqTopicName(topic), {
    groupIdPrefix: `metrivo-dlq-read.${topic}`,
    timeoutMs: 120_000,
    ...(from !== undefined && { from }),
    onBatch: (partition, messages) => {
      for (const message of messages) letters.push(toDeadLetter(partition, message));
    },
  });
  letters.sort((a, b) => a.dlqPartition - b.dlqPartition || Number(BigInt(a.dlqOffset) - BigInt(b.dlqOffset)));
  return { letters, ends };
}

function toDeadLetter(partition: number, message: KafkaMessage): DeadLetter {
  const h = readDlqHeaders(message.headers);
  return {
    dlqPartition: partition,
    dlqOffset: message.offset,
    key: message.key?.toString('utf8') ?? null,
    reason: h.reason,
    error: h.error,
    sourcePartition: h.sourcePartition,
    sourceOffset: h.sourceOffset,
    consumerGroup: h.consumerGroup,
    failedAt: h.failedAt,
    value: message.value?.toString('utf8') ?? null,
    message,
  };
}

/** The record's own headers, without what the DLQ added; plus where it was re-driven from. */
export function redrivenHeaders(letter: Pick<DeadLetter, 'message' | 'dlqPartition' | 'dlqOffset'>, dlqTopic: string): IHeaders {
  const dlqNames = new Set<string>(Object.values(DLQ_HEADERS));
  const out: IHeaders = {};
  for (const [name, value] of Object.entries(letter.message.headers ?? {})) if (!dlqNames.has(name) && value !== undefined) out[name] = value;
  out['x-dlq-redriven-from'] = `${dlqTopic}/${letter.dlqPartition}/${letter.dlqOffset}`;
  return out;
}

export interface RedriveResult {
  /** Records published back to the source topic. */
  redriven: DeadLetter[];
  /** Records left in the DLQ because of their reason (invalid bytes would only fail validation again). */
  skipped: DeadLetter[];
}

/**
 * Publishes the dead letters of `topic` that were not re-driven before back to `topic` (same key, value bytes
 * and headers, minus the DLQ headers), then commits the redrive group so that the next run starts after them.
 * By default only `handler_error` records go back: `invalid_json` and `schema_validation` records would fail
 * validation again. Consumers are idempotent, so a record that was already handled is harmless.
 */
export async function redriveDeadLetters(
  kafka: Kafka,
  topic: string,
  options: { reasons?: readonly DeadLetterReason[]; dryRun?: boolean } = {},
): Promise<RedriveResult> {
  const reasons = new Set<string>(options.reasons ?? ['handler_error']);
  const dlq = dlqTopicName(topic);
  const groupId = redriveGroupId(topic);
  const admin = kafka.admin();
  await admin.connect();
  let from: Offsets;
  try {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [dlq] });
    from = new Map((committed?.partitions ?? []).filter((p) => BigInt(p.offset) >= 0n).map((p) => [p.partition, BigInt(p.offset)]));
  } finally {
    await admin.disconnect();
  }
  const { letters, ends } = await readDeadLetters(kafka, topic, from);
  const redriven = letters.filter((l) => l.reason !== undefined && reasons.has(l.reason));
  const skipped = letters.filter((l) => !redriven.includes(l));
  if (options.dryRun) return { redriven, skipped };
  if (redriven.length > 0) {
    // The records are the original bytes of valid records; pass them through as they are.
    const producer = new BatchingProducer(kafka, { validate: false, sendTimeoutMs: 30_000 });
    await producer.connect();
    try {
      await Promise.all(redriven.map((l) => producer.publish(topic, { key: l.message.key ?? null, value: l.message.value, headers: redrivenHeaders(l, dlq) })));
    } finally {
      await producer.disconnect();
    }
  }
  await commitGroupOffsets(kafka, groupId, [...ends].map(([partition, offset]) => ({ topic: dlq, partition, offset: offset.toString() })));
  return { redriven, skipped };
}
