export { createKafka, parseBrokers, KAFKA_CLIENT_DEFAULTS, type CreateKafkaOptions } from './client';
export { kafkaLogCreator, silentLogger, type Logger } from './logger';
export { KafkaUnavailableError, InvalidJsonValueError, PoisonRecordError, ProducerClosedError } from './errors';
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
} from './provision';
export { BatchingProducer, type BatchingProducerOptions, type PublishRecord, type ProducerStats } from './producer';
export type { PublishedRecord } from './batching';
export {
  runConsumer,
  decodeMessage,
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
  readDlqHeaders,
  headerValue,
  headersToStrings,
  type DeadLetterInfo,
  type DeadLetterReason,
  type OutgoingHeaders,
} from './headers';
export { injectTraceparent, extractTraceparent, contextFromHeaders, parseTraceparent, formatTraceparent } from './trace';
export { backoffDelayMs, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
