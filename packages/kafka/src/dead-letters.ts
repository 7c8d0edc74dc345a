import { DLQ_HEADERS, dlqTopicName } from '@metrivo/contracts';
import { ConfigResourceTypes, type IHeaders, type Kafka, type KafkaMessage } from 'kafkajs';
import { DEAD_LETTER_REASONS, readDlqHeaders, type DeadLetterReason } from './headers';
import { commitGroupOffsets, fetchPartitionOffsets } from './offsets';
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


/**
 * The group whose committed position per DLQ partition says up to where `redriveDeadLetters` has sent back the
 * letters of one reason. One group per reason, so that a redrive of some reasons leaves the letters of the others
 * redrivable; `handler_error` (the default) keeps the name the single group had, so upgrades keep their position.
 */
export const redriveGroupId = (topic: string, reason: DeadLetterReason = 'handler_error'): string =>
  reason === 'handler_error' ? `metrivo-dlq-redrive.${topic}` : `metrivo-dlq-redrive.${topic}.${reason}`;

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
  letters.sort(byFailureTime);
  return { letters, ends };
}

/** When the record failed: its `x-dlq-failed-at` header, else the DLQ record's Kafka timestamp. */
function failureTime(letter: DeadLetter): number {
  const failedAt = letter.failedAt === undefined ? NaN : Date.parse(letter.failedAt);
  return Number.isNaN(failedAt) ? Number(letter.message.timestamp) : failedAt;
}

/** Oldest failure first (newest last), across DLQ partitions; ties in partition/offset order. */
function byFailureTime(a: DeadLetter, b: DeadLetter): number {
  return failureTime(a) - failureTime(b) || byDlqPosition(a, b);
}

/** The DLQ's own log order: a key's letters are in one DLQ partition, in the order they were written. */
function byDlqPosition(a: DeadLetter, b: DeadLetter): number {
  const offset = BigInt(a.dlqOffset) - BigInt(b.dlqOffset);
  return a.dlqPartition - b.dlqPartition || (offset < 0n ? -1 : offset > 0n ? 1 : 0);
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
  /**
   * Compacted topic with `allowCompacted`: records not sent back because their key already has a later record on
   * the topic (or their source position is unknown); sending them would let compaction keep the older revision.
   */
  superseded: DeadLetter[];
}

/** `redriveDeadLetters` onto a compacted topic without `allowCompacted`: nothing was published. */
export class CompactedTopicRedriveError extends Error {
  constructor(readonly topic: string) {
    super(
      `${topic} is compacted: a re-driven record is appended after any newer record with the same key, and compaction ` +
        `would then keep the older revision (a refund could disappear). Nothing was sent back. Usually nothing needs to be: ` +
        `consumers catch up from the next revision of that key, and the ledger's \`npm run reconcile -w @metrivo/ledger\` ` +
        `shows what is still behind. To send back anyway, pass --allow-compacted (allowCompacted): records whose key ` +
        `already has a later record on the topic are then left out.`,
    );
    this.name = 'CompactedTopicRedriveError';
  }
}

/** Whether the broker compacts `topic` (cleanup.policy contains `compact`). */
export async function isCompactedTopic(kafka: Kafka, topic: string): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['cleanup.policy'] }],
    });
    const policy = resources[0]?.configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue ?? '';
    return policy.split(',').some((p) => p.trim() === 'compact');
  } finally {
    await admin.disconnect();
  }
}

/**
 * The letters whose key has a record on `topic` after the letter's source offset (same source partition), or whose
 * source position is unknown. Reads each source partition only from the earliest letter's source offset on.
 */
async function supersededLetters(kafka: Kafka, topic: string, letters: DeadLetter[]): Promise<Set<DeadLetter>> {
  const superseded = new Set<DeadLetter>();
  const sourceOf = (l: DeadLetter): { partition: number; offset: bigint } | undefined =>
    l.sourcePartition !== undefined && /^\d+$/.test(l.sourcePartition) && l.sourceOffset !== undefined && /^\d+$/.test(l.sourceOffset)
      ? { partition: Number(l.sourcePartition), offset: BigInt(l.sourceOffset) }
      : undefined;
  const from = new Map<number, bigint>();
  for (const l of letters) {
    const source = sourceOf(l);
    if (source === undefined || l.key === null) superseded.add(l);
    else if (source.offset + 1n < (from.get(source.partition) ?? source.offset + 2n)) from.set(source.partition, source.offset + 1n);
  }
  if (from.size === 0) return superseded;
  // Partitions without letters are not read: start them at their end.
  for (const p of await fetchPartitionOffsets(kafka, topic)) if (!from.has(p.partition)) from.set(p.partition, BigInt(p.high));
  const keys = new Set(letters.map((l) => l.key));
  /** Latest offset per partition and key, among the keys of the letters. */
  const latest = new Map<string, bigint>();
  await readTopicRange(kafka, topic, {
    groupIdPrefix: `metrivo-dlq-latest.${topic}`,
    timeoutMs: 600_000,
    from,
    onBatch: (partition, messages) => {
      for (const m of messages) {
        const key = m.key?.toString('utf8') ?? null;
        if (key !== null && keys.has(key)) latest.set(`${partition}/${key}`, BigInt(m.offset));
      }
    },
  });
  for (const l of letters) {
    const source = sourceOf(l);
    if (source === undefined) continue;
    const later = latest.get(`${source.partition}/${l.key}`);
    if (later !== undefined && later > source.offset) superseded.add(l);
  }
  return superseded;
}

/**
 * Publishes the dead letters of `topic` of the given reasons that were not re-driven before back to `topic` (same
 * key, value bytes and headers, minus the DLQ headers), then commits each reason's redrive group so that the next
 * run for that reason starts after them; letters of other reasons stay redrivable. By default only `handler_error`
 * records go back: `invalid_json` and `schema_validation` records would fail validation again. Consumers are
 * idempotent, so a record that was already handled is harmless — except on a compacted topic, where an older
 * revision appended after a newer one would survive compaction: there it throws CompactedTopicRedriveError unless
 * `allowCompacted`, and then leaves out the letters whose key has a later record (`superseded`).
 */
export async function redriveDeadLetters(
  kafka: Kafka,
  topic: string,
  options: { reasons?: readonly DeadLetterReason[]; dryRun?: boolean; allowCompacted?: boolean } = {},
): Promise<RedriveResult> {
  const reasons = DEAD_LETTER_REASONS.filter((r) => (options.reasons ?? ['handler_error']).includes(r));
  const compacted = await isCompactedTopic(kafka, topic);
  if (compacted && !options.allowCompacted) throw new CompactedTopicRedriveError(topic);
  const dlq = dlqTopicName(topic);
  const admin = kafka.admin();
  await admin.connect();
  /** Per reason: where its group stands per DLQ partition (absent: from the first retained offset). */
  const positions = new Map<string, Offsets>();
  try {
    for (const reason of reasons) {
      const [committed] = await admin.fetchOffsets({ groupId: redriveGroupId(topic, reason), topics: [dlq] });
      positions.set(reason, new Map((committed?.partitions ?? []).filter((p) => BigInt(p.offset) >= 0n).map((p) => [p.partition, BigInt(p.offset)])));
    }
  } finally {
    await admin.disconnect();
  }
  // Read from the earliest position of the reasons' groups; a partition a group has no position for is read whole.
  const partitions = new Set([...positions.values()].flatMap((o) => [...o.keys()]));
  const from: Offsets = new Map();
  for (const p of partitions) {
    const starts = [...positions.values()].map((o) => o.get(p));
    if (starts.every((s) => s !== undefined)) from.set(p, starts.reduce((a, b) => (b < a ? b : a)));
  }
  const { letters, ends } = await readDeadLetters(kafka, topic, from);
  const due = (l: DeadLetter): boolean => {
    const position = l.reason === undefined ? undefined : positions.get(l.reason);
    return position !== undefined && BigInt(l.dlqOffset) >= (position.get(l.dlqPartition) ?? 0n);
  };
  const candidates = letters.filter(due);
  const superseded = compacted ? await supersededLetters(kafka, topic, candidates) : new Set<DeadLetter>();
  // Sent back in the DLQ's log order, not the listing's failure-time order: failure times come from the clocks of
  // whichever consumers failed, and two letters of one key must not swap places on the way back.
  const redriven = candidates.filter((l) => !superseded.has(l)).sort(byDlqPosition);
  const skipped = letters.filter((l) => l.reason === undefined || !positions.has(l.reason));
  const result = { redriven, skipped, superseded: candidates.filter((l) => superseded.has(l)) };
  if (options.dryRun) return result;
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
  for (const reason of reasons) {
    await commitGroupOffsets(kafka, redriveGroupId(topic, reason), [...ends].map(([partition, offset]) => ({ topic: dlq, partition, offset: offset.toString() })));
  }
  return result;
}
