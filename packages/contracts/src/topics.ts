import type { z } from 'zod';
import { normalizedPaymentEventSchema } from './payment-event';
import { paymentStateSchema } from './payment-state';
import { sessionEventSchema } from './session-event';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface TopicSpec<S extends z.ZodType = z.ZodType> {
  name: string;
  /** Human description of the key rule (what the producer puts in the Kafka key). */
  key: string;
  /** Default partition count; provisioning can override per environment. */
  partitions: number;
  cleanupPolicy: 'delete' | 'compact';
  /** null: kept forever (compacted topics). */
  retentionMs: number | null;
  schema: S;
  producers: string[];
  consumers: string[];
}

export const TOPICS = {
  payments: {
    name: 'metrivo.payments.v1',
    key: 'websiteId',
    partitions: 6,
    cleanupPolicy: 'delete',
    retentionMs: 30 * DAY_MS,
    schema: normalizedPaymentEventSchema,
    producers: ['gateway'],
    consumers: ['attribution'],
  },
  visitorSessions: {
    name: 'metrivo.visitor-sessions.v1',
    key: 'websiteId',
    partitions: 6,
    cleanupPolicy: 'delete',
    retentionMs: 90 * DAY_MS,
    schema: sessionEventSchema,
    producers: ['tracker', 'simulator'],
    consumers: ['attribution'],
  },
  revenueAttributed: {
    name: 'metrivo.revenue.attributed.v1',
    key: '{websiteId}:{paymentKey}',
    partitions: 6,
    cleanupPolicy: 'compact',
    retentionMs: null,
    schema: paymentStateSchema,
    producers: ['attribution'],
    consumers: ['ledger', 'other Metrivo services'],
  },
} as const satisfies Record<string, TopicSpec>;

export type TopicName = (typeof TOPICS)[keyof typeof TOPICS]['name'];

export const DLQ_SUFFIX = '.dlq';
export const DLQ_RETENTION_MS = 30 * DAY_MS;
export function dlqTopicName(topic: string): string {
  return `${topic}${DLQ_SUFFIX}`;
}

/** Every topic the system needs, DLQs included, ready for provisioning. */
export function topicCatalog(): Array<Omit<TopicSpec, 'schema'> & { schema?: z.ZodType }> {
  const main = Object.values(TOPICS) as TopicSpec[];
  const dlqs = main.map((t) => ({
    name: dlqTopicName(t.name),
    key: `as ${t.name}`,
    partitions: t.partitions,
    cleanupPolicy: 'delete' as const,
    retentionMs: DLQ_RETENTION_MS,
    producers: t.consumers.filter((c) => !c.includes(' ')),
    consumers: ['operators'],
  }));
  return [...main, ...dlqs];
}

/** Kafka header names for DLQ records (values are UTF-8 strings). */
export const DLQ_HEADERS = {
  reason: 'x-dlq-reason', // 'invalid_json' | 'schema_validation' | 'handler_error'
  error: 'x-dlq-error', // human sentence naming the failing fields
  sourceTopic: 'x-dlq-source-topic',
  sourcePartition: 'x-dlq-source-partition',
  sourceOffset: 'x-dlq-source-offset',
  consumerGroup: 'x-dlq-consumer-group',
  failedAt: 'x-dlq-failed-at',
} as const;

/** W3C trace context header carried on every record. */
export const TRACEPARENT_HEADER = 'traceparent';
