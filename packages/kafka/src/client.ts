import { Kafka, logLevel, type ISocketFactory, type RetryOptions } from 'kafkajs';
import { kafkaLogCreator, silentLogger, type Logger } from './logger';

export interface CreateKafkaOptions {
  /** `['localhost:9092']` or the comma-separated form found in env (`KAFKA_BROKERS`). */
  brokers: string[] | string;
  clientId: string;
  logger?: Logger;
  /** kafkajs log level; default INFO. */
  logLevel?: logLevel;
  connectionTimeout?: number;
  requestTimeout?: number;
  /** Client-wide retry; producers and consumers derive from it. */
  retry?: RetryOptions;
  /** How broker connections are opened (kafkajs default: plain TCP). Tests use it to simulate an outage at the client. */
  socketFactory?: ISocketFactory;
}

/**
 * Defaults are short on purpose: a request to a dead broker must fail within a few seconds so the producer
 * can answer its `sendTimeoutMs` deadline, and consumers retry on their own loop anyway.
 */
export const KAFKA_CLIENT_DEFAULTS = {
  connectionTimeout: 3000,
  requestTimeout: 10000,
  retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 5 },
} as const;

export function parseBrokers(brokers: string[] | string): string[] {
  const list = (Array.isArray(brokers) ? brokers : brokers.split(','))
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  if (list.length === 0) throw new Error('no Kafka brokers configured');
  return list;
}

export function createKafka(options: CreateKafkaOptions): Kafka {
  return new Kafka({
    clientId: options.clientId,
    brokers: parseBrokers(options.brokers),
    logLevel: options.logLevel ?? logLevel.INFO,
    logCreator: kafkaLogCreator(options.logger ?? silentLogger),
    connectionTimeout: options.connectionTimeout ?? KAFKA_CLIENT_DEFAULTS.connectionTimeout,
    requestTimeout: options.requestTimeout ?? KAFKA_CLIENT_DEFAULTS.requestTimeout,
    retry: { ...KAFKA_CLIENT_DEFAULTS.retry, ...options.retry },
    ...(options.socketFactory ? { socketFactory: options.socketFactory } : {}),
  });
}
