import { parseContract, TOPICS, type ContractViolation, type TopicSpec } from '@metrivo/contracts';
import { InvalidJsonValueError } from './errors';

/** A zod schema from @metrivo/contracts. */
export type ContractSchema = TopicSpec['schema'];

/**
 * Per-topic schema overrides. A topic listed with a schema is validated against it; listed with `null`
 * its values are only checked to be JSON. Topics not listed use the catalog (TOPICS), and topics outside
 * the catalog (DLQs, test topics) are JSON-only.
 */
export type SchemaOverrides = Readonly<Record<string, ContractSchema | null>>;

const catalogSchemas: ReadonlyMap<string, ContractSchema> = new Map(
  (Object.values(TOPICS) as TopicSpec[]).map((t) => [t.name, t.schema]),
);

export function schemaForTopic(topic: string, overrides?: SchemaOverrides): ContractSchema | null {
  if (overrides && Object.prototype.hasOwnProperty.call(overrides, topic)) return overrides[topic] ?? null;
  return catalogSchemas.get(topic) ?? null;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export type DecodeFailureReason = 'invalid_json' | 'schema_validation';
export type DecodeResult =
  | { ok: true; value: unknown }
  | { ok: false; reason: DecodeFailureReason; error: string; violation?: ContractViolation };

/** Bytes → JSON value, without schema. Kafka values are UTF-8 JSON by contract; invalid UTF-8 is rejected, not patched. */
export function parseJsonBytes(bytes: Buffer | null): { ok: true; value: unknown } | { ok: false; error: string } {
  if (bytes === null) return { ok: false, error: 'record has no value (null)' };
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return { ok: false, error: 'value is not valid UTF-8' };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (e) {
    return { ok: false, error: `value is not valid JSON: ${(e as Error).message}` };
  }
}

/** A consumed value: parsed JSON validated against the topic's contract (when it has one). */
export function decodeValue(topic: string, bytes: Buffer | null, schema: ContractSchema | null): DecodeResult {
  const json = parseJsonBytes(bytes);
  if (!json.ok) return { ok: false, reason: 'invalid_json', error: json.error };
  if (!schema) return { ok: true, value: json.value };
  const parsed = parseContract(schema, topic, json.value);
  return parsed.ok
    ? { ok: true, value: parsed.value }
    : { ok: false, reason: 'schema_validation', error: parsed.error.message, violation: parsed.error };
}

export type EncodeResult = { ok: true; bytes: Buffer | null } | { ok: false; error: Error };

/**
 * A value to publish → bytes. Objects are validated against the topic's contract and serialized from the
 * parsed result (so defaults are filled in and the wire holds exactly the contract). Buffers are sent as
 * they are, after checking they decode to a valid value. `null` is a tombstone (only valid on topics
 * without a schema).
 */
export function encodeValue(topic: string, value: unknown, schema: ContractSchema | null): EncodeResult {
  if (Buffer.isBuffer(value)) {
    if (!schema) return { ok: true, bytes: value };
    const json = parseJsonBytes(value);
    if (!json.ok) return { ok: false, error: new InvalidJsonValueError(topic, json.error) };
    const parsed = parseContract(schema, topic, json.value);
    return parsed.ok ? { ok: true, bytes: value } : { ok: false, error: parsed.error };
  }
  if (schema) {
    const parsed = parseContract(schema, topic, value);
    if (!parsed.ok) return { ok: false, error: parsed.error };
    value = parsed.value;
  }
  if (value === null) return { ok: true, bytes: null };
  if (value === undefined) return { ok: false, error: new InvalidJsonValueError(topic, 'value is undefined') };
  return { ok: true, bytes: Buffer.from(JSON.stringify(value), 'utf8') };
}
