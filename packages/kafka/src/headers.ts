import type { IHeaders } from 'kafkajs';
import { DLQ_HEADERS } from '@metrivo/contracts';

/** Headers the way `publish` accepts them (kafkajs also allows arrays; we never need repeated keys). */
export type OutgoingHeaders = Record<string, string | Buffer>;

/** Why a record was dead-lettered (`x-dlq-reason`), in the order operators are shown them. */
export const DEAD_LETTER_REASONS = ['handler_error', 'invalid_json', 'schema_validation'] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

/**
 * Kafka header values are bytes; a header repeated under one key arrives as an array: the first one wins.
 * A header may also carry no value at all (kafkajs gives `null`, outside its types): that reads as absent.
 */
export function headerValue(headers: IHeaders | undefined, name: string): string | undefined {
  const raw = headers?.[name] as IHeaders[string] | null;
  const first = (Array.isArray(raw) ? raw[0] : raw) as string | Buffer | null | undefined;
  if (first === undefined || first === null) return undefined;
  return typeof first === 'string' ? first : first.toString('utf8');
}

/** All headers as UTF-8 strings, for handlers and logs. */
export function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const name of Object.keys(headers)) {
    const value = headerValue(headers, name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

export interface DeadLetterInfo {
  reason: DeadLetterReason;
  /** Human sentence naming the failing fields. */
  error: string;
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: string;
  consumerGroup: string;
  failedAt: Date;
}

/** Kafka brokers cap record size; an error text is for people, so a few KB is plenty. */
const MAX_ERROR_HEADER_CHARS = 2000;

/**
 * The original record's headers (kept, so trace context and producer metadata survive) plus the DLQ
 * headers from the contract. DLQ headers overwrite same-named originals: a record that is dead-lettered
 * twice tells the latest reason.
 */
export function buildDlqHeaders(original: IHeaders | undefined, info: DeadLetterInfo): IHeaders {
  const error =
    info.error.length > MAX_ERROR_HEADER_CHARS ? `${info.error.slice(0, MAX_ERROR_HEADER_CHARS - 1)}…` : info.error;
  return {
    ...withoutEmptyValues(original),
    [DLQ_HEADERS.reason]: info.reason,
    [DLQ_HEADERS.error]: error,
    [DLQ_HEADERS.sourceTopic]: info.sourceTopic,
    [DLQ_HEADERS.sourcePartition]: String(info.sourcePartition),
    [DLQ_HEADERS.sourceOffset]: info.sourceOffset,
    [DLQ_HEADERS.consumerGroup]: info.consumerGroup,
    [DLQ_HEADERS.failedAt]: info.failedAt.toISOString(),
  };
}

/**
 * kafkajs reads a header without a value as null but cannot send one (it throws while sizing the record), so a
 * dead letter keeps only the original headers that have values: otherwise its DLQ write would fail forever.
 */
function withoutEmptyValues(headers: IHeaders | undefined): IHeaders {
  const out: IHeaders = {};
  for (const [name, raw] of Object.entries(headers ?? {}) as Array<[string, IHeaders[string] | null]>) {
    const values = (Array.isArray(raw) ? raw : [raw]).filter((v): v is string | Buffer => v !== null && v !== undefined);
    if (values.length > 0) out[name] = Array.isArray(raw) ? values : values[0];
  }
  return out;
}

/** Reads the DLQ headers back (operators' tools and tests). */
export function readDlqHeaders(headers: IHeaders | undefined): Partial<Record<keyof typeof DLQ_HEADERS, string>> {
  const out: Partial<Record<keyof typeof DLQ_HEADERS, string>> = {};
  for (const [field, name] of Object.entries(DLQ_HEADERS) as Array<[keyof typeof DLQ_HEADERS, string]>) {
    const value = headerValue(headers, name);
    if (value !== undefined) out[field] = value;
  }
  return out;
}
