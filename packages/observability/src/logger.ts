import { context, trace } from '@opentelemetry/api';
import { Writable } from 'node:stream';
import pino, { type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Paths whose values never reach a log line: webhook signatures and secrets, auth headers,
 * cookies, API keys, passwords and raw emails (DESIGN.md: secrets and raw emails are never logged).
 */
export const REDACT_PATHS = [
  'secret', '*.secret', '*.*.secret', 'secrets', '*.secrets',
  'password', '*.password', 'token', '*.token', 'apiKey', '*.apiKey', 'key', '*.key',
  'email', '*.email', '*.*.email', 'customer_email', '*.customer_email', 'receipt_email', '*.receipt_email',
  'authorization', '*.authorization', 'cookie', '*.cookie',
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["stripe-signature"]',
  'req.headers["x-razorpay-signature"]', 'req.headers["webhook-signature"]', 'res.headers["set-cookie"]',
  'headers.authorization', 'headers.cookie', 'headers["stripe-signature"]', 'headers["x-razorpay-signature"]',
  'headers["webhook-signature"]',
];

export interface LoggerConfig {
  service: string;
  level?: string;
  /** Extra redaction paths for an app's own objects. */
  redact?: string[];
  /** Write somewhere other than stdout (tests). */
  destination?: pino.DestinationStream;
}

/** Structured JSON logger; every line carries the active trace and span id when there is one. */
export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    name: config.service,
    level: config.level ?? 'info',
    base: { service: config.service },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...REDACT_PATHS, ...(config.redact ?? [])], censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    mixin() {
      const span = trace.getSpan(context.active());
      if (!span) return {};
      const { traceId, spanId } = span.spanContext();
      return { trace_id: traceId, span_id: spanId };
    },
  };
  // stdout written synchronously: pino's default asynchronous stream, flushed on exit, could put the last lines of a
  // shutdown out of order (a write still in flight lands after the ones flushed at exit; seen in runtime.test.ts) or
  // lose them on a crash. The apps log little (start, stop, warnings, admin's requests), so the cost does not show.
  return pino(options, config.destination ?? pino.destination({ dest: 1, sync: true }));
}

/** A logger like the apps' whose lines are kept in memory, parsed (tests that assert what was logged). */
export function createCapturingLogger(config: Omit<LoggerConfig, 'destination'>): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ ...config, destination }), lines };
}
