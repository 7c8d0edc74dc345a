import { formatMinor, type PaymentState } from '@metrivo/contracts';
import type { IntegrationProvider } from '@metrivo/integration-store';
import type { ApiKeyView, DeliveryView } from '../admin-service';
import { href, html, raw, type SafeHtml } from '../html';
import type { ExplainEntry, PaymentExplanation } from '../ledger-client';
import { manualApiUrlFor, PROVIDER_LABELS } from '../providers';
import { CONFIDENCE_LABELS, explainAttribution } from './attribution-text';
import { alertBox, badge, csrfField, noticeBox, page, when, websiteTabs, type PageStaff } from './layout';
import { deliveriesTable } from './pages-integrations';

interface Common {
  staff: PageStaff;
  csrf: string;
  websiteId: string;
  notice?: string | null;
}

/** `formId`: a fresh random id per rendered form; the server creates at most one key per id (see routes.ts). */
export function apiKeysPage(o: Common & { keys: ApiKeyView[]; gatewayUrl: string; formId: string; created?: { key: string; view: ApiKeyView } | null; error?: string | null }): string {
  const title = `API keys of ${o.websiteId}`;
  const body = html`<h1>${title}</h1>
${websiteTabs(o.websiteId, 'api-keys')}
${noticeBox(o.notice)}${alertBox(o.error)}
${o.created ? html`<section class="panel" aria-labelledby="new-key-h">
  <h2 id="new-key-h" style="margin-top:0">New ${o.created.view.livemode ? 'live' : 'test'} API key: copy it now</h2>
  <p><strong>This is the only time the key is shown.</strong> Metrivo stores only a hash of it. Send it to the merchant over a secure channel.</p>
  <div class="copyrow">
    <label for="new-key" class="sr-only">New API key</label>
    <input id="new-key" class="url mono keybox" type="text" readonly value="${o.created.key}">
    <button type="button" data-copy-target="new-key" data-copy-status="copy-key-status">Copy key</button>
  </div>
  <p class="hint" id="copy-key-status" role="status" aria-live="polite"></p>
</section>` : ''}
<p>API keys authenticate the <strong>Manual Payment API</strong> (<code>POST ${manualApiUrlFor(o.gatewayUrl)}</code>,
  header <code>Authorization: Bearer &lt;key&gt;</code>). A test key reports test-mode payments.</p>
<form method="post" action="${href`/websites/${o.websiteId}/api-keys`}" class="panel">
  ${csrfField(o.csrf)}
  <input type="hidden" name="formId" value="${o.formId}">
  <fieldset style="border:none;padding:0;margin:0 0 1rem">
    <legend><strong>Mode</strong></legend>
    <label><input type="radio" name="livemode" value="false" checked> Test (for trying the integration)</label>
    <label><input type="radio" name="livemode" value="true"> Live (real payments)</label>
  </fieldset>
  <button type="submit">Create API key</button>
</form>
<h2>Keys</h2>
${o.keys.length ? html`<table><thead><tr><th scope="col">Key</th><th scope="col">Mode</th><th scope="col">Created</th><th scope="col">Status</th><th scope="col"><span class="sr-only">Action</span></th></tr></thead>
<tbody>${o.keys.map((k) => html`<tr>
  <td class="mono">${k.prefix}…</td>
  <td>${k.livemode ? badge('live') : badge('test')}</td>
  <td>${when(k.createdAt)}</td>
  <td>${k.revokedAt ? html`${badge('revoked')} ${when(k.revokedAt)}` : badge('active')}</td>
  <td>${k.revokedAt ? '' : html`<form method="post" action="${href`/websites/${o.websiteId}/api-keys/${k.id}/revoke`}" class="inline" data-confirm="Revoke this key? Calls using it will be refused at once.">
    ${csrfField(o.csrf)}<button type="submit" class="danger" aria-label="Revoke key ${k.prefix}">Revoke</button></form>`}</td>
</tr>`)}</tbody></table>` : html`<p>No API keys yet.</p>`}`;
  return page({ title, staff: o.staff, csrf: o.csrf, body });
}

function sourceFacts(p: PaymentState): SafeHtml {
  const s = p.attribution.source;
  if (!s) return html`<p>No session credited, so no traffic source.</p>`;
  return html`<dl class="facts">
  <dt>Channel</dt><dd>${s.channel}</dd>
  <dt>Referrer</dt><dd class="mono">${s.referrer ?? '—'}</dd>
  <dt>UTM</dt><dd class="mono">${s.utm ? Object.entries(s.utm).filter(([, v]) => v).map(([k, v]) => `${k}=${String(v)}`).join(' · ') || '—' : '—'}</dd>
  <dt>Landing page</dt><dd class="mono">${s.landingPage ?? '—'}</dd>
  <dt>Country</dt><dd>${s.country ?? '—'}</dd>
  <dt>Device</dt><dd>${s.device ?? '—'}</dd>
</dl>`;
}

/** The card support looks at while the merchant pays: amount, confidence label, and why. */
export function paymentCard(p: PaymentState, o: { isNew: boolean; explainLink?: boolean }): SafeHtml {
  const a = p.attribution;
  return html`<article class="panel" aria-labelledby="pay-h">
  <h2 id="pay-h" style="margin-top:0">${p.livemode ? 'Live' : 'Test'} payment ${o.isNew ? badge('ok', 'new') : ''}
    <span class="big">${formatMinor(p.grossMinor, p.currency)}</span></h2>
  <p><span class="badge ${a.confidence} big" data-testid="confidence">${CONFIDENCE_LABELS[a.confidence]}</span>
     matched by <strong data-testid="matched-by">${a.matchedBy}</strong></p>
  <p data-testid="why">${explainAttribution(a)}</p>
  <dl class="facts">
    <dt>Payment</dt><dd class="mono">${p.paymentKey}</dd>
    <dt>Paid at</dt><dd>${when(p.paidAt)}</dd>
    <dt>Status</dt><dd>${p.status}${p.refundedMinor > 0 ? html` (refunded ${formatMinor(p.refundedMinor, p.currency)}, net ${formatMinor(p.netMinor, p.currency)})` : ''}</dd>
    <dt>Session</dt><dd class="mono" data-testid="session">${a.sessionId ?? '—'}</dd>
    <dt>Visitor</dt><dd class="mono">${a.visitorId ?? '—'}</dd>
    <dt>Customer</dt><dd>${p.emailMasked ?? '—'}</dd>
    <dt>Revision</dt><dd>${p.revision} (updated ${when(p.updatedAt)})</dd>
  </dl>
  <h3>Source</h3>
  ${sourceFacts(p)}
  ${o.explainLink === false ? '' : html`<p><a href="${href`/websites/${p.websiteId}/payments/${p.paymentKey}`}">Explain trail for this payment</a></p>`}
</article>`;
}

export interface TestConnectionData {
  payment: PaymentState | null;
  isNew: boolean;
  deliveries: Array<DeliveryView & { provider: string }>;
  ledgerError: string | null;
}

export function testConnectionFragment(d: TestConnectionData): SafeHtml {
  return html`${d.ledgerError ? html`<div class="warnbox" role="status">The ledger did not answer (${d.ledgerError}); webhooks below are still live.</div>` : ''}
${d.payment ? paymentCard(d.payment, { isNew: d.isNew }) : html`<div class="panel" data-testid="waiting">
  <h2 style="margin-top:0">Waiting for a test payment…</h2>
  <p>Ask the merchant to make a payment in <strong>test mode</strong> on their website (Stripe test card <code>4242 4242 4242 4242</code>).
  It appears here within seconds of the webhook, with its confidence label.</p>
</div>`}
<h2>Latest test-mode webhooks</h2>
${deliveriesTable(d.deliveries, 'Latest test-mode webhook deliveries for this website')}`;
}

export function testConnectionPage(o: Common & { provider: IntegrationProvider | null; pollUrl: string; fragment: SafeHtml; fingerprint: string }): string {
  const title = `Test the connection of ${o.websiteId}`;
  const body = html`<h1>${title}</h1>
${websiteTabs(o.websiteId, 'test')}
<p class="lead">Shows the latest <strong>test-mode</strong> payment${o.provider ? html` from ${PROVIDER_LABELS[o.provider]}` : ''} and why it got its confidence label.
  ${o.provider ? html`<a href="${href`/websites/${o.websiteId}/test-connection`}">Show all providers</a>` : ''}</p>
<div data-poll-url="${o.pollUrl}" data-poll-every="2000">
  <p class="status-line" data-poll-status role="status" aria-live="polite">Refreshes every 2 s.</p>
  <div data-poll-target data-fingerprint="${o.fingerprint}" aria-live="polite">${o.fragment}</div>
</div>`;
  return page({ title, staff: o.staff, csrf: o.csrf, body });
}

export function paymentsPage(o: Common & { livemode: boolean; payments: PaymentState[]; ledgerError: string | null }): string {
  const title = `Payments of ${o.websiteId}`;
  const mode = (live: boolean, label: string) =>
    html`<a href="${href`/websites/${o.websiteId}/payments?mode=${live ? 'live' : 'test'}`}" class="button ${live === o.livemode ? '' : 'secondary'}" ${live === o.livemode ? raw('aria-current="page"') : ''}>${label}</a>`;
  const body = html`<h1>${title}</h1>
${websiteTabs(o.websiteId, 'payments')}
<p role="group" aria-label="Mode">${mode(true, 'Live')} ${mode(false, 'Test')}</p>
${o.ledgerError ? alertBox(`The ledger did not answer: ${o.ledgerError}`) : ''}
${!o.ledgerError && !o.payments.length ? html`<p>No ${o.livemode ? 'live' : 'test'} payments yet.</p>` : ''}
${o.payments.length ? html`<table><caption class="sr-only">Latest ${o.livemode ? 'live' : 'test'} payments, newest first</caption>
<thead><tr><th scope="col">Paid</th><th scope="col">Payment</th><th scope="col" class="num">Amount</th><th scope="col" class="num">Net</th><th scope="col">Status</th><th scope="col">Confidence</th><th scope="col">Channel</th><th scope="col">Customer</th></tr></thead>
<tbody>${o.payments.map((p) => html`<tr>
  <td>${when(p.paidAt)}</td>
  <td><a class="mono" href="${href`/websites/${o.websiteId}/payments/${p.paymentKey}`}">${p.paymentKey}</a></td>
  <td class="num">${formatMinor(p.grossMinor, p.currency)}</td>
  <td class="num">${formatMinor(p.netMinor, p.currency)}</td>
  <td>${p.status}</td>
  <td>${badge(p.attribution.confidence, CONFIDENCE_LABELS[p.attribution.confidence])} <span class="hint">${p.attribution.matchedBy}</span></td>
  <td>${p.attribution.source?.channel ?? '—'}</td>
  <td>${p.emailMasked ?? '—'}</td>
</tr>`)}</tbody></table>` : ''}`;
  return page({ title, staff: o.staff, csrf: o.csrf, body });
}

function entryAmount(e: ExplainEntry): string {
  return e.amountMinor !== undefined && e.currency ? formatMinor(e.amountMinor, e.currency) : '—';
}

export function paymentDetailPage(o: Common & { paymentKey: string; explanation: PaymentExplanation | null; ledgerError: string | null }): string {
  const title = `Payment ${o.paymentKey}`;
  const x = o.explanation;
  const body = html`<h1>${title}</h1>
${websiteTabs(o.websiteId, 'payments')}
${o.ledgerError ? alertBox(`The ledger did not answer: ${o.ledgerError}`) : ''}
${!o.ledgerError && !x ? alertBox('The ledger has no payment with this key for this website.') : ''}
${x ? html`${paymentCard(x.state, { isNew: false, explainLink: false })}
<section aria-labelledby="refs-h"><h2 id="refs-h">Provider references</h2>
<dl class="facts">
  <dt>PaymentIntent</dt><dd class="mono">${x.state.refs.paymentIntent ?? '—'}</dd>
  <dt>Invoice</dt><dd class="mono">${x.state.refs.invoice ?? '—'}</dd>
  <dt>Checkout session</dt><dd class="mono">${x.state.refs.checkoutSession ?? '—'}</dd>
  <dt>Charges</dt><dd class="mono">${x.state.refs.charges.join(', ') || '—'}</dd>
  <dt>Subscription</dt><dd class="mono">${x.state.refs.subscription ?? '—'}</dd>
  <dt>Kind</dt><dd>${x.state.kind}</dd>
  <dt>Merged into</dt><dd class="mono">${x.state.mergedInto ?? '—'}</dd>
  <dt>Provider events</dt><dd class="mono">${x.state.eventIds.join(', ') || '—'}</dd>
</dl></section>
<section aria-labelledby="trail-h"><h2 id="trail-h">Explain trail (ledger entries)</h2>
${x.entries.length ? html`<table><thead><tr><th scope="col">Rev.</th><th scope="col">Kind</th><th scope="col" class="num">Amount</th><th scope="col">Money time</th><th scope="col">Attribution</th><th scope="col">Why</th></tr></thead>
<tbody>${x.entries.map((e) => html`<tr>
  <td>${e.revision ?? '—'}${e.seq !== undefined ? html` <span class="hint">#${e.seq}</span>` : ''}</td>
  <td><code>${e.kind ?? '—'}</code>${e.component ? html` <span class="hint">${e.component}</span>` : ''}</td>
  <td class="num">${entryAmount(e)}</td>
  <td>${when(e.occurredAt ?? null)}</td>
  <td>${e.attribution?.confidence ?? '—'} <span class="hint">${e.attribution?.matchedBy ?? ''} ${e.attribution?.channel ?? ''}</span></td>
  <td>${e.explanation ?? ''} ${e.rule ? html`<span class="hint">(<code>${e.rule}</code>)</span>` : ''}</td>
</tr>`)}</tbody></table>` : html`<p>No ledger entries.</p>`}
</section>` : ''}`;
  return page({ title, staff: o.staff, csrf: o.csrf, body });
}
