import { href, html, raw, type HtmlValue, type SafeHtml } from '../html';
import { STYLES } from './assets';

export interface PageStaff {
  name: string;
  email: string;
}

export interface PageOptions {
  title: string;
  staff: PageStaff | null;
  csrf: string;
  body: SafeHtml;
  /** Top navigation entry to mark as current. */
  section?: 'integrations' | 'websites';
}

const STYLE_TAG = raw(`<style>${STYLES}</style>`);

export function page(o: PageOptions): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · Metrivo support</title>
${STYLE_TAG}
<script src="/assets/admin.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="/">Metrivo Revenue · Support</a>
  ${o.staff && html`<nav aria-label="Main">
    <a href="/integrations" ${o.section === 'integrations' ? raw('aria-current="page"') : ''}>Integrations</a>
  </nav>
  <form method="get" action="/websites" role="search" class="row" aria-label="Open a website">
    <label for="go-website" class="sr-only">Open a website by its id</label>
    <input id="go-website" name="websiteId" type="search" placeholder="Website id, e.g. w_123" required>
    <button type="submit" class="secondary">Open website</button>
  </form>
  <div class="who">
    <span>Signed in as <strong>${o.staff.name}</strong></span>
    <form method="post" action="/logout" class="inline">
      <input type="hidden" name="_csrf" value="${o.csrf}">
      <button type="submit" class="secondary">Log out</button>
    </form>
  </div>`}
</header>
<main id="main" tabindex="-1">
${o.body}
</main>
</body>
</html>`.toString();
}

export function badge(kind: string, text?: string): SafeHtml {
  return html`<span class="badge ${kind}">${text ?? kind}</span>`;
}

/** "2026-11-29 10:09:30 UTC" inside a <time> element carrying the exact instant. */
export function when(iso: string | Date | null | undefined): SafeHtml {
  if (!iso) return html`<span aria-label="never">—</span>`;
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  if (Number.isNaN(d.getTime())) return html`${String(iso)}`;
  const text = `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
  return html`<time datetime="${d.toISOString()}">${text}</time>`;
}

export function csrfField(token: string): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

/** A labelled input with its hint and error wired up for screen readers. */
export function field(o: {
  id: string; name: string; label: string; type?: string; value?: string; hint?: HtmlValue; error?: string | undefined;
  required?: boolean; autocomplete?: string; inputmode?: string; min?: number; max?: number; className?: string;
}): SafeHtml {
  const describedBy = [o.hint ? `${o.id}-hint` : '', o.error ? `${o.id}-error` : ''].filter(Boolean).join(' ');
  return html`<div class="field">
  <label for="${o.id}">${o.label}</label>
  <input id="${o.id}" name="${o.name}" type="${o.type ?? 'text'}" value="${o.value ?? ''}"
    ${o.className ? html`class="${o.className}"` : ''}
    ${o.required ? raw('required') : ''} ${o.autocomplete ? html`autocomplete="${o.autocomplete}"` : ''}
    ${o.inputmode ? html`inputmode="${o.inputmode}"` : ''} ${o.min !== undefined ? html`min="${o.min}"` : ''} ${o.max !== undefined ? html`max="${o.max}"` : ''}
    ${describedBy ? html`aria-describedby="${describedBy}"` : ''} ${o.error ? raw('aria-invalid="true"') : ''}>
  ${o.hint ? html`<p class="hint" id="${o.id}-hint">${o.hint}</p>` : ''}
  ${o.error ? html`<p class="error-text" id="${o.id}-error">${o.error}</p>` : ''}
</div>`;
}

export type WebsiteTab = 'integrations' | 'api-keys' | 'test' | 'payments';

/** Tabs shown on every page about one website. */
export function websiteTabs(websiteId: string, current: WebsiteTab): SafeHtml {
  const tabs: Array<[WebsiteTab, string, string]> = [
    ['integrations', 'Integrations', href`/integrations?websiteId=${websiteId}`],
    ['api-keys', 'API keys', href`/websites/${websiteId}/api-keys`],
    ['test', 'Test the connection', href`/websites/${websiteId}/test-connection`],
    ['payments', 'Payments', href`/websites/${websiteId}/payments`],
  ];
  return html`<nav aria-label="Website ${websiteId}"><ul class="tabs">${tabs.map(
    ([id, label, url]) => html`<li><a href="${url}" ${id === current ? raw('aria-current="page"') : ''}>${label}</a></li>`,
  )}</ul></nav>`;
}

export function noticeBox(text: string | null | undefined): SafeHtml {
  return text ? html`<div class="notice" role="status">${text}</div>` : html``;
}

export function alertBox(text: string | null | undefined): SafeHtml {
  return text ? html`<div class="alert" role="alert">${text}</div>` : html``;
}
