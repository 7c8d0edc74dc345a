import { isDatabaseUnavailable } from '@metrivo/observability';
import type { Response } from 'express';
import type { FieldIssue } from './validation';

/** DESIGN.md §4: every error body is {"error":{"code","message"}}; 422 adds the failing `fields`. */
export function sendError(res: Response, status: number, code: string, message: string, fields?: FieldIssue[]): void {
  res.status(status).json({ error: fields ? { code, message, fields } : { code, message } });
}

export function sendValidationFailed(res: Response, fields: FieldIssue[]): void {
  sendError(res, 422, 'validation_failed', `Invalid input: ${fields.map((f) => `${f.path} ${f.message}`).join('; ')}.`, fields);
}

/** How the admin app answers an error that reached its error handler (API: JSON, pages: an error page). */
export interface ErrorAnswer {
  status: number;
  code: string;
  message: string;
  /** Seconds for a Retry-After header (503 only). */
  retryAfterSeconds?: number;
  /** What to log: `csrf` a warning, `database` / `bug` an error with the error itself, `client` nothing. */
  kind: 'csrf' | 'client' | 'database' | 'bug';
}

/**
 * Error → answer. Only "cannot reach MongoDB" (isDatabaseUnavailable) is a 503 the caller may retry; any other driver
 * error — a duplicate key, a bad query, authentication — is a bug or misconfiguration and a 500.
 */
export function errorAnswer(err: unknown): ErrorAnswer {
  const e = (err ?? {}) as { type?: string; status?: number; statusCode?: number; code?: string; message?: string };
  const status = e.status ?? e.statusCode;
  if (e.code === 'csrf_invalid') return { status: 403, code: 'csrf_invalid', message: e.message ?? 'Invalid CSRF token.', kind: 'csrf' };
  if (e.type === 'entity.parse.failed') return { status: 400, code: 'invalid_json', message: 'The body is not valid JSON.', kind: 'client' };
  if (e.type === 'entity.too.large') return { status: 413, code: 'payload_too_large', message: 'The body is too large.', kind: 'client' };
  if (typeof status === 'number' && status >= 400 && status < 500) return { status, code: 'bad_request', message: e.message ?? 'Bad request.', kind: 'client' };
  if (isDatabaseUnavailable(err)) {
    return { status: 503, code: 'unavailable', message: 'The database is unavailable; try again shortly.', retryAfterSeconds: 5, kind: 'database' };
  }
  return { status: 500, code: 'internal_error', message: 'Unexpected error; it has been logged.', kind: 'bug' };
}
