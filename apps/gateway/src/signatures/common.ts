import type { JsonObject, SignatureFailure, SignatureFailureCode, WebhookHeaders } from './types';

export const DEFAULT_TOLERANCE_SECONDS = 300;

export function fail(code: SignatureFailureCode, message: string): SignatureFailure {
  return { ok: false, code, message };
}

/**
 * Header lookup by case-insensitive name. Node lower-cases incoming names, but callers (tests, other
 * frameworks) may not. Repeated headers arrive as arrays; they are joined the way Node joins them.
 */
export function headerValue(headers: WebhookHeaders, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted || value === undefined) continue;
    const joined = typeof value === 'string' ? value : value.join(', ');
    return joined.trim() === '' ? undefined : joined;
  }
  return undefined;
}

/**
 * A zero or negative tolerance would switch the replay check off in stripe-node (tolerance 0 means
 * "don't check"): refuse it loudly instead of silently accepting replays.
 */
export function checkedTolerance(toleranceSeconds: number | undefined): number {
  const t = toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (!Number.isFinite(t) || t <= 0) {
    throw new RangeError(`toleranceSeconds must be a positive number of seconds, got ${String(toleranceSeconds)}`);
  }
  return t;
}

/** Where `timestampSeconds` lies relative to `now`, in the words of the failure message, or null when inside. */
export function timestampProblem(timestampSeconds: number, now: Date, toleranceSeconds: number): string | null {
  const nowSeconds = Math.floor(now.getTime() / 1000);
  const age = nowSeconds - timestampSeconds;
  if (age > toleranceSeconds) return `signature timestamp is ${age} s old (tolerance ${toleranceSeconds} s)`;
  if (-age > toleranceSeconds) return `signature timestamp is ${-age} s in the future (tolerance ${toleranceSeconds} s)`;
  return null;
}

/** Parse verified bytes; only a JSON object counts as a webhook body. */
export function parseJsonObject(rawBody: Buffer): { ok: true; value: JsonObject } | { ok: false; message: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawBody.toString('utf8'));
  } catch (e) {
    return { ok: false, message: `body is not valid JSON (${(e as Error).message})` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { ok: false, message: 'body must be a JSON object' };
  }
  return { ok: true, value: parsed as JsonObject };
}

/** Non-blank secrets with their original positions (so secretIndex refers to the caller's list). */
export function usableSecrets(secrets: readonly string[]): Array<{ secret: string; index: number }> {
  return secrets
    .map((secret, index) => ({ secret, index }))
    .filter(({ secret }) => typeof secret === 'string' && secret.trim() !== '');
}
