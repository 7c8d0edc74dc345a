import type { Response } from 'express';

export interface FieldError {
  path: string;
  message: string;
}

/** DESIGN.md section 4: every error body is {"error":{"code","message"}} (+ `fields` for 422). */
export function sendError(res: Response, status: number, code: string, message: string, fields?: FieldError[]): void {
  res.status(status).json({ error: fields ? { code, message, fields } : { code, message } });
}
