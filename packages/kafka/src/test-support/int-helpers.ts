// Helpers for *.int.test.ts: a real broker (KAFKA_BROKERS from the jest integration global setup),
// topics and consumer groups named per run so tests never see each other's records.
import { randomBytes } from 'node:crypto';
import { dlqTopicName } from '@metrivo/contracts';
import { brokers, fastConsumer as fastGroupTimings, runId, waitFor as waitUntil } from '@metrivo/testing';
import { logLevel, type Kafka, type KafkaMessage } from 'kafkajs';
import { createKafka } from '../client';
import type { Logger } from '../logger';
import { ensureTopics } from '../provision';

export { brokers, runId };

export function uniqueName(what: string): string {
  return `test.kafka.${runId}.${what}.${randomBytes(3).toString('hex')}`;
}

/** Quiet unless KAFKA_TEST_LOG=1; errors always reach stderr so a failing test explains itself. */
export const testLogger: Logger = {
  debug: () => undefined,
  info: (obj, msg) => (process.env.KAFKA_TEST_LOG ? console.info(msg, obj) : undefined),
  warn: (obj, msg) => (process.env.KAFKA_TEST_LOG ? console.warn(msg, obj) : undefined),
  error: (obj, msg) => (process.env.KAFKA_TEST_LOG ? console.error(msg, obj) : undefined),
};

export function testKafka(clientId: string): Kafka {
  return createKafka({ brokers: brokers(), clientId: `${clientId}-${runId}`, logger: testLogger, logLevel: process.env.KAFKA_TEST_LOG ? logLevel.INFO : logLevel.ERROR });
}

/** Settings that keep group joins, rebalances and shutdowns within a second or two. */
export const fastConsumer = {
  ...fastGroupTimings,
  retryBackoff: { initialMs: 50, maxMs: 200 },
  logger: testLogger,
} as const;

/** A topic and its DLQ, created for this run (deleted by deleteTestTopics). */
export async function createTestTopic(kafka: Kafka, name: string, partitions = 3): Promise<void> {
  const definition = { partitions, cleanupPolicy: 'delete' as const, retentionMs: 60 * 60 * 1000 };
  await ensureTopics(kafka, [
    { name, ...definition },
    { name: dlqTopicName(name), ...definition },
  ]);
}

export async function deleteTestTopics(kafka: Kafka, names: string[]): Promise<void> {
  if (names.length === 0) return;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: names.flatMap((n) => [n, dlqTopicName(n)]) });
  } catch {
    // best effort: a leftover test topic only costs disk
  } finally {
    await admin.disconnect();
  }
}

export function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  return waitUntil(condition, timeoutMs, what, 25);
}

/** Reads `count` records of `topic` from the beginning with a throwaway group (plain kafkajs, no decoding). */
export async function readRecords(kafka: Kafka, topic: string, count: number, timeoutMs = 10_000): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('reader'), maxWaitTimeInMs: 100, sessionTimeout: 6000, heartbeatInterval: 1000 });
  const messages: KafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        messages.push(message);
      },
    });
    await waitFor(() => messages.length >= count, timeoutMs, `${count} records on ${topic}`);
    return messages;
  } finally {
    await consumer.disconnect();
  }
}

/** The group's committed offset per partition (-1: nothing committed). */
export async function committedOffsets(kafka: Kafka, groupId: string, topic: string): Promise<Map<number, string>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((result?.partitions ?? []).map((p) => [p.partition, p.offset]));
  } finally {
    await admin.disconnect();
  }
}

export function sessionEvent(websiteId: string, i: number): Record<string, unknown> {
  return {
    schemaVersion: 1,
    type: 'session',
    websiteId,
    visitorId: `v_${i}`,
    sessionId: `s_${i}`,
    startedAt: '2026-11-29T10:00:00.000Z',
    lastSeenAt: '2026-11-29T10:07:12.000Z',
    landingPage: '/pricing',
  };
}
