import { KNOWN_CURRENCIES } from '@metrivo/contracts';
import { PayloadError } from './payload-error';

/**
 * Small, path-aware readers for untyped provider JSON. Every failure names the exact field, so a
 * PayloadError tells support what the provider sent wrong. `path` is where `obj` sits in the body
 * ('' for the body itself).
 */
export type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function fieldPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `the string ${JSON.stringify(value.slice(0, 40))}` : `a ${typeof value}`;
}

export function asObject(value: unknown, path: string): JsonObject {
  if (!isJsonObject(value)) throw new PayloadError(path || 'body', `must be a JSON object, got ${describe(value)}`);
  return value;
}

export function requiredObject(obj: JsonObject, key: string, path: string): JsonObject {
  const value = obj[key];
  if (value === undefined || value === null) throw new PayloadError(fieldPath(path, key), 'is missing');
  return asObject(value, fieldPath(path, key));
}

export function optionalObject(obj: JsonObject, key: string, path: string): JsonObject | null {
  const value = obj[key];
  if (value === undefined || value === null) return null;
  return asObject(value, fieldPath(path, key));
}

export function requiredString(obj: JsonObject, key: string, path: string): string {
  const value = optionalString(obj, key, path);
  if (value === null) throw new PayloadError(fieldPath(path, key), 'is missing');
  return value;
}

/** null, undefined and '' all mean "not given". */
export function optionalString(obj: JsonObject, key: string, path: string): string | null {
  const value = obj[key];
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') throw new PayloadError(fieldPath(path, key), `must be a string, got ${describe(value)}`);
  return value;
}

export function optionalBoolean(obj: JsonObject, key: string, path: string): boolean | null {
  const value = obj[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'boolean') throw new PayloadError(fieldPath(path, key), `must be a boolean, got ${describe(value)}`);
  return value;
}

export function requiredBoolean(obj: JsonObject, key: string, path: string): boolean {
  const value = optionalBoolean(obj, key, path);
  if (value === null) throw new PayloadError(fieldPath(path, key), 'is missing');
  return value;
}

/** Money and counts: a non-negative safe integer (providers send minor units; a float is a bug upstream). */
export function optionalAmount(obj: JsonObject, key: string, path: string): number | null {
  const value = obj[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new PayloadError(fieldPath(path, key), `must be a non-negative integer amount in minor units, got ${describe(value)}${typeof value === 'number' ? ` ${value}` : ''}`);
  }
  return value;
}

export function requiredAmount(obj: JsonObject, key: string, path: string): number {
  const value = optionalAmount(obj, key, path);
  if (value === null) throw new PayloadError(fieldPath(path, key), 'is missing');
  return value;
}

/** ISO 4217 code, lower-cased (Razorpay and Dodo send upper case). */
export function requiredCurrency(obj: JsonObject, key: string, path: string): string {
  const raw = requiredString(obj, key, path);
  const code = raw.trim().toLowerCase();
  if (!/^[a-z]{3}$/.test(code) || !KNOWN_CURRENCIES.has(code)) {
    throw new PayloadError(fieldPath(path, key), `must be an ISO 4217 currency code, got ${JSON.stringify(raw)}`);
  }
  return code;
}

/** Unix seconds → ISO-8601 UTC. */
export function optionalUnixTime(obj: JsonObject, key: string, path: string): string | null {
  const value = obj[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new PayloadError(fieldPath(path, key), `must be a unix time in seconds, got ${describe(value)}`);
  }
  return new Date(value * 1000).toISOString();
}

export function requiredUnixTime(obj: JsonObject, key: string, path: string): string {
  const value = optionalUnixTime(obj, key, path);
  if (value === null) throw new PayloadError(fieldPath(path, key), 'is missing');
  return value;
}

/** An ISO-8601 string with an offset or Z → ISO-8601 UTC. */
export function optionalIsoTime(obj: JsonObject, key: string, path: string): string | null {
  const raw = optionalString(obj, key, path);
  if (raw === null) return null;
  const ms = Date.parse(raw);
  if (Number.isNaN(ms)) throw new PayloadError(fieldPath(path, key), `must be an ISO-8601 date-time, got ${JSON.stringify(raw)}`);
  return new Date(ms).toISOString();
}

/**
 * Stripe "expandable" fields are either an id string or, when the merchant's API call expanded them
 * (or Stripe inlined them), the object itself with an `id`.
 */
export function expandableId(obj: JsonObject, key: string, path: string): string | null {
  const value = obj[key];
  if (value === undefined || value === null || value === '') return null;
  if (typeof value === 'string') return value;
  if (isJsonObject(value)) return requiredString(value, 'id', fieldPath(path, key));
  throw new PayloadError(fieldPath(path, key), `must be an id or an object with an id, got ${describe(value)}`);
}

/** `{ object: "list", data: [...] }` → the array, or null when the list is absent. */
export function optionalListData(obj: JsonObject, key: string, path: string): JsonObject[] | null {
  const list = optionalObject(obj, key, path);
  if (list === null) return null;
  const data = list.data;
  if (!Array.isArray(data)) throw new PayloadError(fieldPath(fieldPath(path, key), 'data'), 'must be an array');
  return data.map((item, i) => asObject(item, `${fieldPath(path, key)}.data.${i}`));
}
