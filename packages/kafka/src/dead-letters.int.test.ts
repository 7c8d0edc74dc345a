import { dlqTopicName } from '@metrivo/contracts';
import { runConsumer, type ConsumedRecord, type ConsumerHandle } from './consumer';
import { CompactedTopicRedriveError, readDeadLetters, redriveDeadLetters } from './dead-letters';
import { buildDlqHeaders, type DeadLetterReason } from './headers';
import { fetchPartitionOffsets } from './offsets';
import { ensureTopics } from './provision';
import { createTestTopic, deleteTestTopics, fastConsumer, readRecords, testKafka, uniqueName, waitFor } from './test-support/int-helpers';

const kafka = testKafka('dead-letters-int');
const topics: string[] = [];
const handles: ConsumerHandle[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop()));
});
afterAll(() => deleteTestTopics(kafka, topics));

describe('a record the handler cannot process (real broker)', () => {
  it('is isolated from its batch into the DLQ, listed with its error, and re-driven once the bug is fixed', async () => {
    const topic = uniqueName('redrive');
    topics.push(topic);
    await createTestTopic(kafka, topic, 1);
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      messages: [0, 1, 2, 3].map((n) => ({ key: 'w_1', value: JSON.stringify({ n }), headers: { 'x-origin': 'test' } })),
    });
    await producer.disconnect();

    let bugFixed = false;
    const handled: number[] = [];
    const handle = await runConsumer({
      ...fastConsumer,
      kafka,
      groupId: uniqueName('group'),
      topics: [topic],
      schemas: { [topic]: null },
      isolateAfterFailures: 2,
      handler: async ({ records }: { records: Array<ConsumedRecord<{ n: number }>> }) => {
        if (!bugFixed && records.some((r) => r.value.n === 2)) throw new TypeError('n = 2 is not handled yet');
        handled.push(...records.map((r) => r.value.n));
      },
    });
    handles.push(handle);
    await waitFor(() => handled.length === 3, 20_000, 'the three other records');
    expect(handled.sort()).toEqual([0, 1, 3]);

    const { letters } = await readDeadLetters(kafka, topic);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ reason: 'handler_error', sourceOffset: '2', key: 'w_1', value: JSON.stringify({ n: 2 }) });
    expect(letters[0]!.error).toBe('failed 2 times alone: n = 2 is not handled yet');

    const dry = await redriveDeadLetters(kafka, topic, { dryRun: true });
    expect(dry.redriven.map((l) => l.sourceOffset)).toEqual(['2']);

    bugFixed = true;
    const first = await redriveDeadLetters(kafka, topic);
    expect(first.redriven).toHaveLength(1);
    await waitFor(() => handled.includes(2), 20_000, 'the re-driven record');
    const again = await redriveDeadLetters(kafka, topic);
    expect(again.redriven).toHaveLength(0); // the redrive group remembers what it sent back
    expect(handled.filter((n) => n === 2)).toHaveLength(1);
    // The DLQ itself keeps the record (for the audit trail); its original headers went back without the DLQ ones.
    expect((await readDeadLetters(kafka, topic)).letters).toHaveLength(1);
    expect(dlqTopicName(topic)).toBe(`${topic}.dlq`);
  });
});

interface Letter {
  key: string;
  value: string;
  reason: DeadLetterReason;
  sourcePartition?: number;
  sourceOffset?: string;
  dlqPartition?: number;
  failedAt?: Date;
}

/** Writes dead letters straight to `<topic>.dlq`, as a consumer would have. */
async function writeDeadLetters(topic: string, letters: Letter[]): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (const l of letters) {
      await producer.send({
        topic: dlqTopicName(topic),
        acks: -1,
        messages: [
          {
            key: l.key,
            value: l.value,
            partition: l.dlqPartition ?? 0,
            headers: buildDlqHeaders({ 'x-origin': 'test' }, {
              reason: l.reason,
              error: `${l.reason} in a test`,
              sourceTopic: topic,
              sourcePartition: l.sourcePartition ?? 0,
              sourceOffset: l.sourceOffset ?? '0',
              consumerGroup: 'test-group',
              failedAt: l.failedAt ?? new Date(),
            }),
          },
        ],
      });
    }
  } finally {
    await producer.disconnect();
  }
}

async function endOffset(topic: string): Promise<bigint> {
  return (await fetchPartitionOffsets(kafka, topic)).reduce((sum, p) => sum + BigInt(p.high), 0n);
}

describe('redrive with a reason filter (real broker)', () => {
  it('leaves the letters of other reasons redrivable later', async () => {
    const topic = uniqueName('reasons');
    topics.push(topic);
    await createTestTopic(kafka, topic, 1);
    await writeDeadLetters(topic, [
      { key: 'k_handler', value: '{"n":1}', reason: 'handler_error' },
      { key: 'k_json', value: 'not json', reason: 'invalid_json' },
      { key: 'k_schema', value: '{"n":"x"}', reason: 'schema_validation' },
    ]);

    const first = await redriveDeadLetters(kafka, topic);
    expect(first.redriven.map((l) => l.key)).toEqual(['k_handler']);
    expect(first.skipped.map((l) => l.key).sort()).toEqual(['k_json', 'k_schema']);

    const schema = await redriveDeadLetters(kafka, topic, { reasons: ['schema_validation'] });
    expect(schema.redriven.map((l) => l.key)).toEqual(['k_schema']);
    // Each reason remembers its own position: nothing is sent twice, invalid_json is still there to send.
    expect((await redriveDeadLetters(kafka, topic, { reasons: ['schema_validation'] })).redriven).toHaveLength(0);
    expect((await redriveDeadLetters(kafka, topic)).redriven).toHaveLength(0);
    const both = await redriveDeadLetters(kafka, topic, { reasons: ['handler_error', 'invalid_json'], dryRun: true });
    expect(both.redriven.map((l) => l.key)).toEqual(['k_json']);
    expect(await endOffset(topic)).toBe(2n);
  });
});

describe('redrive onto a compacted topic (real broker)', () => {
  it('is refused unless allowed, and then leaves out the letters whose key has a later record', async () => {
    const topic = uniqueName('compacted');
    topics.push(topic);
    await ensureTopics(kafka, [
      { name: topic, partitions: 1, cleanupPolicy: 'compact', retentionMs: null },
      { name: dlqTopicName(topic), partitions: 1, cleanupPolicy: 'delete', retentionMs: 60 * 60 * 1000 },
    ]);
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      messages: [
        { key: 'w_1:pay_1', value: '{"rev":1}' }, // 0: dead-lettered, then superseded by its refund
        { key: 'w_1:pay_1', value: '{"rev":2,"refunded":true}' }, // 1
        { key: 'w_1:pay_2', value: '{"rev":1}' }, // 2: dead-lettered, still its key's latest
      ],
    });
    await producer.disconnect();
    await writeDeadLetters(topic, [
      { key: 'w_1:pay_1', value: '{"rev":1}', reason: 'handler_error', sourceOffset: '0' },
      { key: 'w_1:pay_2', value: '{"rev":1}', reason: 'handler_error', sourceOffset: '2' },
    ]);

    await expect(redriveDeadLetters(kafka, topic)).rejects.toBeInstanceOf(CompactedTopicRedriveError);
    await expect(redriveDeadLetters(kafka, topic, { dryRun: true })).rejects.toThrow('--allow-compacted');
    expect(await endOffset(topic)).toBe(3n);

    const result = await redriveDeadLetters(kafka, topic, { allowCompacted: true });
    expect(result.redriven.map((l) => l.key)).toEqual(['w_1:pay_2']);
    expect(result.superseded.map((l) => l.key)).toEqual(['w_1:pay_1']);
    expect(await endOffset(topic)).toBe(4n);
    const records = await readRecords(kafka, topic, 4);
    expect(records[3]!.key!.toString()).toBe('w_1:pay_2');
  });
});

describe('listing dead letters (real broker)', () => {
  it('orders them by failure time across DLQ partitions, newest last', async () => {
    const topic = uniqueName('list-order');
    topics.push(topic);
    await createTestTopic(kafka, topic, 2);
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    await writeDeadLetters(topic, [
      { key: 'p1_old', value: '{}', reason: 'handler_error', dlqPartition: 1, failedAt: new Date(t0) },
      { key: 'p1_mid', value: '{}', reason: 'handler_error', dlqPartition: 1, failedAt: new Date(t0 + 2000) },
      { key: 'p0_new', value: '{}', reason: 'handler_error', dlqPartition: 0, failedAt: new Date(t0 + 3000) },
      { key: 'p0_older', value: '{}', reason: 'handler_error', dlqPartition: 0, failedAt: new Date(t0 + 1000) },
    ]);
    const { letters } = await readDeadLetters(kafka, topic);
    expect(letters.map((l) => l.key)).toEqual(['p1_old', 'p0_older', 'p1_mid', 'p0_new']);
  });
});
