import { dlqTopicName } from '@metrivo/contracts';
import { runConsumer, type ConsumedRecord, type ConsumerHandle } from './consumer';
import { readDeadLetters, redriveDeadLetters } from './dead-letters';
import { createTestTopic, deleteTestTopics, fastConsumer, testKafka, uniqueName, waitFor } from './test-support/int-helpers';

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
