import type { Response } from 'express';
import type { FieldIssue } from './validation';

/** DESIGN.md §4: every error body is {"error":{"code","message"}}; 422 adds the failing `fields`. */
export function sendError(res: Response, status: number, code: string, message: string, fields?: FieldIssue[]): void {
  res.status(status).json({ error: fields ? { code, message, fields } : { code, message } });
}

export function sendValidationFailed(res: Response, fields: FieldIssue[]): void {
  sendError(res, 422, 'validation_failed', `Invalid input: ${fields.map((f) => `${f.path} ${f.message}`).join('; ')}.`, fields);
}
