/**
 * @metrivo/kafka: the Kafka plumbing every Metrivo app shares, on kafkajs.
 *
 *   const kafka = createKafka({ brokers: process.env.KAFKA_BROKERS!, clientId: 'gateway', logger });
 *   await provisionTopics(kafka, { logger });                    // catalog topics + DLQs, idempotent
 *   const producer = new BatchingProducer(kafka, { logger });     // acks=all, idempotent, batched
 *   await producer.connect();
 *   await producer.publish(TOPICS.payments.name, { key: event.websiteId, value: event }); // resolves on broker ack
 *
 *   const consumer = await runConsumer({ kafka, groupId: 'attribution', topics: [...], logger,
 *     handler: async ({ topic, partition, records }) => { ...idempotent bulk write... } });
 *   process.on('SIGTERM', () => consumer.stop());
 *
 * Delivery: publish resolves only after the broker acknowledged (acks=all) and rejects with
 * KafkaUnavailableError after sendTimeoutMs. Consumers are at-least-once: offsets are committed after the
 * handler returns; invalid records go to `<topic>.dlq`; handler errors are retried with backoff forever,
 * except PoisonRecordError, which sends that one record to the DLQ.
 */
export { createKafka, parseBrokers, KAFKA_CLIENT_DEFAULTS, type CreateKafkaOptions } from './client';
export { kafkaLogCreator, silentLogger, type Logger } from './logger';
export { KafkaUnavailableError, InvalidJsonValueError, PoisonRecordError, ProducerClosedError, RetryLaterError } from './errors';
export {
  provisionTopics,
  ensureTopics,
  topicCreationConfigs,
  topicConfigEntries,
  replicationFactorFor,
  partitionsFor,
  type TopicDefinition,
  type PartitionsOverride,
  type ProvisionOptions,
  type ProvisionResult,
  startGroupAtEnd,
} from './provision';
export { fetchPartitionOffsets, commitGroupOffsets, isRetriableKafkaError, type PartitionOffsets } from './offsets';
export { readTopicRange, type TopicRangeOptions } from './topic-range';
export {
  readDeadLetters,
  redriveDeadLetters,
  redrivenHeaders,
  redriveGroupId,
  CompactedTopicRedriveError,
  type DeadLetter,
  type RedriveResult,
} from './dead-letters';
export { BatchingProducer, type BatchingProducerOptions, type PublishRecord, type ProducerStats } from './producer';
export type { PublishedRecord } from './batching';
export {
  runConsumer,
  isTransientError,
  decodeMessage,
  type DecodedMessage,
  type RunConsumerOptions,
  type ConsumerHandle,
  type ConsumerStats,
  type ConsumedRecord,
  type RecordBatch,
  type BatchHandler,
} from './consumer';
export { schemaForTopic, decodeValue, encodeValue, parseJsonBytes, type ContractSchema, type SchemaOverrides } from './codec';
export {
  buildDlqHeaders,
  DEAD_LETTER_REASONS,
  readDlqHeaders,
  headerValue,
  headersToStrings,
  type DeadLetterInfo,
  type DeadLetterReason,
  type OutgoingHeaders,
} from './headers';
export { injectTraceparent, extractTraceparent, contextFromHeaders, parseTraceparent, formatTraceparent } from './trace';
export { backoffDelayMs, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
