/**
 * Server-side HTML with escaping by default. `html` is a tagged template: every interpolated value is
 * escaped unless it is already SafeHtml (the result of another `html` call or of `raw`). Arrays are
 * rendered item by item with the same rule; null, undefined and false render as nothing, so
 * `${cond && html`…`}` works. No template engine, no build step.
 *
 * Attribute values must always be quoted in templates (`href="${x}"`): the escaper covers both quote
 * characters, so a value can never leave its attribute.
 */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c] ?? c);
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}

/** Trusted markup only (constants written in this code base), never data. */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

/**
 * A URL path whose interpolations are percent-encoded, so data stays one path segment (or one query
 * value): href`/integrations/${id}/secret`. The result is a plain string; put it in `html` as usual.
 */
export function href(strings: TemplateStringsArray, ...values: Array<string | number>): string {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += encodeURIComponent(String(v)) + (strings[i + 1] ?? '');
  });
  return out;
}
