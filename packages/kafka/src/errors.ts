/**
 * Kafka did not acknowledge a record in time, or refused it. The gateway turns this into
 * `503 unavailable` with Retry-After so the payment provider retries later.
 */
export class KafkaUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KafkaUnavailableError';
  }
}

/** A value handed to `publish` as bytes is not UTF-8 JSON, so it cannot be checked against its topic's contract. */
export class InvalidJsonValueError extends Error {
  constructor(topic: string, detail: string) {
    super(`invalid ${topic} value: ${detail}`);
    this.name = 'InvalidJsonValueError';
  }
}

/**
 * Thrown by a consumer handler when one record can never be processed (retrying would not help).
 * That record goes to the DLQ with reason `handler_error`; the other records of the batch are retried.
 * Any other error is treated as transient and the whole batch is retried with backoff.
 */
export class PoisonRecordError extends Error {
  readonly offset: string;
  constructor(offset: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PoisonRecordError';
    this.offset = offset;
  }
}

/**
 * Thrown by a consumer handler for a failure that a later attempt will get past (a lost compare-and-set
 * race, contention): the batch is retried with backoff and never split or dead-lettered for it.
 */
export class RetryLaterError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RetryLaterError';
  }
}

/** The producer was disconnected on purpose; nothing more can be published through it. */
export class ProducerClosedError extends Error {
  constructor() {
    super('the producer is closed');
    this.name = 'ProducerClosedError';
  }
}
