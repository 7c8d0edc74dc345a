import { runConsumer, type ConsumerHandle } from './consumer';
import { commitGroupOffsets, fetchPartitionOffsets } from './offsets';
import { startGroupAtEnd } from './provision';
import { committedOffsets, createTestTopic, deleteTestTopics, fastConsumer, testKafka, uniqueName, waitFor } from './test-support/int-helpers';

const kafka = testKafka('offsets-int');
const topics: string[] = [];
afterAll(() => deleteTestTopics(kafka, topics));

async function send(topic: string, values: string[]): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: values.map((value, i) => ({ key: `k${i}`, value })) });
  } finally {
    await producer.disconnect();
  }
}

describe('group offsets (real broker)', () => {
  it('startGroupAtEnd: a new group starts after the records already on the topic, and reads the ones that follow', async () => {
    const topic = uniqueName('at-end');
    topics.push(topic);
    await createTestTopic(kafka, topic, 3);
    await send(topic, ['"old1"', '"old2"', '"old3"', '"old4"']);
    const groupId = uniqueName('group');
    await startGroupAtEnd(kafka, groupId, [topic]);
    const ends = await fetchPartitionOffsets(kafka, topic);
    expect(Object.fromEntries(await committedOffsets(kafka, groupId, topic))).toEqual(Object.fromEntries(ends.map((p) => [p.partition, p.high])));

    await send(topic, ['"new1"', '"new2"']);
    const seen: unknown[] = [];
    const handle: ConsumerHandle = await runConsumer({ ...fastConsumer, kafka, groupId, topics: [topic], schemas: { [topic]: null }, handler: async ({ records }) => void seen.push(...records.map((r) => r.value)) });
    try {
      await waitFor(() => seen.length >= 2, 15_000, 'the two new records');
      await new Promise((r) => setTimeout(r, 300));
      expect(seen.sort()).toEqual(['new1', 'new2']);
    } finally {
      await handle.stop();
    }
  });

  it('commitGroupOffsets sets exactly the given offsets', async () => {
    const topic = uniqueName('commit');
    topics.push(topic);
    await createTestTopic(kafka, topic, 2);
    await send(topic, ['1', '2', '3', '4', '5', '6']);
    const groupId = uniqueName('group');
    await commitGroupOffsets(kafka, groupId, [
      { topic, partition: 0, offset: '1' },
      { topic, partition: 1, offset: '0' },
    ]);
    expect(Object.fromEntries(await committedOffsets(kafka, groupId, topic))).toEqual({ 0: '1', 1: '0' });

    // A group with a running member is left alone.
    const handle = await runConsumer({ ...fastConsumer, kafka, groupId, topics: [topic], schemas: { [topic]: null }, handler: async () => undefined });
    try {
      await handle.joined;
      await expect(commitGroupOffsets(kafka, groupId, [{ topic, partition: 0, offset: '0' }])).rejects.toThrow(/running member/);
    } finally {
      await handle.stop();
    }
  });
});
