import type { Response } from 'express';

export interface FieldError {
  path: string;
  message: string;
}

/** DESIGN.md section 4: every error body is {"error":{"code","message"}} (+ `fields` for 422). */
export function sendError(res: Response, status: number, code: string, message: string, fields?: FieldError[]): void {
  res.status(status).json({ error: fields ? { code, message, fields } : { code, message } });
}

/**
 * The MongoDB driver's errors (server selection timed out, network error, …): a dependency is down, not the request
 * wrong. Answered 503 `unavailable` with Retry-After so the provider or caller retries.
 */
export function isDatabaseError(err: unknown): boolean {
  return err instanceof Error && err.name.startsWith('Mongo');
}
