/**
 * Small deterministic helpers. Determinism matters here: the fold must give the same output for any order
 * of its input, so every choice among equals is broken by a total order, never by arrival.
 */

/** Code-unit order (not locale order): stable across machines and Node versions. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function sortedDistinct(values: Iterable<string>): string[] {
  return [...new Set(values)].sort(compareStrings);
}

export function minString(values: Iterable<string | null | undefined>): string | null {
  let best: string | null = null;
  for (const v of values) if (v !== null && v !== undefined && (best === null || v < best)) best = v;
  return best;
}

/**
 * Milliseconds of an ISO-8601 timestamp. Contract timestamps may or may not carry milliseconds, so
 * they are compared as instants, never as strings ("…:00Z" sorts after "…:00.500Z" as text).
 */
export function toMs(iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`not an ISO timestamp: ${iso}`);
  return ms;
}

export function compareIso(a: string, b: string): number {
  return toMs(a) - toMs(b);
}

/** One canonical spelling per instant (always with milliseconds) for everything we publish. */
export function canonicalIso(iso: string): string {
  return new Date(toMs(iso)).toISOString();
}

export function addMs(iso: string, ms: number): string {
  return new Date(toMs(iso) + ms).toISOString();
}

export const HOUR_MS = 60 * 60 * 1000;
export const DAY_MS = 24 * HOUR_MS;

/** JSON with object keys sorted: equal data gives equal text whatever the key order (e.g. from MongoDB). */
export function stableStringify(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort(compareStrings)) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}

export function sameData(a: unknown, b: unknown): boolean {
  return stableStringify(a) === stableStringify(b);
}
