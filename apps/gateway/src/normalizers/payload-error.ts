/**
 * A verified webhook of a type we use whose payload lacks or garbles a field we need. The route answers
 * 400 `invalid_payload` with `message`; `field` is the dotted path inside the body (e.g.
 * `data.object.amount_total`) or the header name, so support can see at a glance what was wrong.
 */
export class PayloadError extends Error {
  readonly code = 'invalid_payload' as const;
  readonly field: string;

  constructor(field: string, problem: string) {
    super(`${field} ${problem}`);
    this.name = 'PayloadError';
    this.field = field;
  }
}

export function isPayloadError(e: unknown): e is PayloadError {
  return e instanceof PayloadError;
}
