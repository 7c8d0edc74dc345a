import { TOPICS } from '@metrivo/contracts';
import { createKafka } from './client';
import { runConsumer, type ConsumedRecord } from './consumer';
import { KafkaUnavailableError } from './errors';
import { BatchingProducer } from './producer';
import {
  createTestTopic,
  deleteTestTopics,
  fastConsumer,
  runId,
  sessionEvent,
  testKafka,
  testLogger,
  uniqueName,
  waitFor,
} from './test-support/int-helpers';

const kafka = testKafka('producer-int');
const topics: string[] = [];
afterAll(() => deleteTestTopics(kafka, topics));

describe('BatchingProducer (real broker)', () => {
  it('(a) acknowledges 200 concurrent publishes in few batches; a consumer receives each record exactly once', async () => {
    const topic = uniqueName('concurrent');
    topics.push(topic);
    await createTestTopic(kafka, topic, 3);
    const schemas = { [topic]: TOPICS.visitorSessions.schema };
    const producer = new BatchingProducer(kafka, { schemas, logger: testLogger });
    await producer.connect();

    const acks = await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const websiteId = `w_${runId}_${i % 10}`;
        return producer.publish(topic, { key: websiteId, value: sessionEvent(websiteId, i) });
      }),
    );
    const stats = producer.stats();
    expect(stats.recordsAcknowledged).toBe(200);
    expect(stats.batchesSent).toBeLessThanOrEqual(3);
    const ackOf = new Map(acks.map((a, i) => [`s_${i}`, `${a.partition}/${a.offset}`]));
    expect(new Set(ackOf.values()).size).toBe(200); // every record got its own position
    await producer.disconnect();

    const received: Array<ConsumedRecord<{ sessionId: string; websiteId: string }>> = [];
    const handle = await runConsumer<{ sessionId: string; websiteId: string }>({
      ...fastConsumer,
      kafka,
      groupId: uniqueName('group'),
      topics: [topic],
      schemas,
      handler: async ({ records }) => {
        received.push(...records);
      },
    });
    try {
      await waitFor(() => received.length >= 200, 15_000, '200 records');
      await new Promise((r) => setTimeout(r, 300)); // a duplicate would arrive now
    } finally {
      await handle.stop();
    }
    expect(received).toHaveLength(200);
    for (const r of received) {
      expect(`${r.partition}/${r.offset}`).toBe(ackOf.get(r.value.sessionId));
      expect(r.key).toBe(r.value.websiteId);
    }
    expect(handle.stats()).toMatchObject({ recordsProcessed: 200, recordsDeadLettered: 0 });
  });

  it('rejects with KafkaUnavailableError within sendTimeoutMs when no broker answers', async () => {
    // Nothing listens on port 1 of the loopback address.
    const nowhere = createKafka({ brokers: '127.0.0.1:1', clientId: `unavailable-${runId}`, logger: testLogger, connectionTimeout: 500 });
    const producer = new BatchingProducer(nowhere, { sendTimeoutMs: 1500 });
    const started = Date.now();
    const websiteId = `w_${runId}`;
    await expect(producer.publish(TOPICS.visitorSessions.name, { key: websiteId, value: sessionEvent(websiteId, 1) })).rejects.toBeInstanceOf(
      KafkaUnavailableError,
    );
    expect(Date.now() - started).toBeLessThan(3000);
    expect(producer.isHealthy()).toBe(false);
  });
});
