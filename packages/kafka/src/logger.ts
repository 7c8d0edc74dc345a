import { logLevel, type logCreator } from 'kafkajs';

/**
 * The slice of a pino logger this package needs. A pino `Logger` satisfies it as is, so apps pass theirs
 * without this package depending on @metrivo/observability.
 */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export const silentLogger: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
};

/**
 * kafkajs warnings about choices this package makes on purpose (see BatchingProducer): logged at debug
 * so they do not read as problems every time a producer is created.
 */
const DELIBERATE = ['Limiting retries for the idempotent producer may invalidate EoS guarantees'];

/** kafkajs log creator that forwards every entry to `logger`, tagged with the kafkajs namespace. */
export function kafkaLogCreator(logger: Logger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, ...extra } = log;
      const fields = { kafkajs: namespace, ...extra };
      if (DELIBERATE.includes(message)) {
        logger.debug(fields, message);
        return;
      }
      switch (level) {
        case logLevel.ERROR:
          logger.error(fields, message);
          break;
        case logLevel.WARN:
          logger.warn(fields, message);
          break;
        case logLevel.INFO:
          logger.info(fields, message);
          break;
        default:
          logger.debug(fields, message);
      }
    };
}
