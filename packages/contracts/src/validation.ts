import type { z } from 'zod';

/** One failing field: `path` is dotted (`refs.paymentIntent`, `utm.source`, `charges.0`). */
export interface FieldIssue {
  path: string;
  message: string;
}

export function fieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((i) => ({
    path: i.path.length ? i.path.map(String).join('.') : '(root)',
    message: i.message,
  }));
}

/** "websiteId: must not be empty; currency: is not a known ISO 4217 currency code" */
export function describeIssues(error: z.ZodError): string {
  return fieldIssues(error)
    .map((i) => `${i.path}: ${i.message}`)
    .join('; ');
}

export class ContractViolation extends Error {
  readonly issues: FieldIssue[];
  constructor(what: string, error: z.ZodError) {
    super(`invalid ${what}: ${describeIssues(error)}`);
    this.name = 'ContractViolation';
    this.issues = fieldIssues(error);
  }
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: ContractViolation };

/** Validate `data` against a contract schema without throwing. */
export function parseContract<S extends z.ZodType>(schema: S, what: string, data: unknown): ParseResult<z.infer<S>> {
  const r = schema.safeParse(data);
  return r.success ? { ok: true, value: r.data } : { ok: false, error: new ContractViolation(what, r.error) };
}
