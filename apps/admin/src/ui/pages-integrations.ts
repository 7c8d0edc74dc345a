import { integrationProviders, type IntegrationProvider } from '@metrivo/integration-store';
import type { DeliveryView, IntegrationView } from '../admin-service';
import { describeActor, type AuditDoc } from '../audit';
import { href, html, raw, type SafeHtml } from '../html';
import { MAX_KEEP_PREVIOUS_HOURS } from '../http/validation';
import { manualApiUrlFor, PROVIDER_LABELS } from '../providers';
import type { SetupHealth } from '../setup-health';
import { alertBox, badge, csrfField, field, noticeBox, page, when, websiteTabs, type PageStaff } from './layout';

interface Common {
  staff: PageStaff;
  csrf: string;
  notice?: string | null;
}

export interface CreateFormState {
  values: { websiteId?: string | undefined; provider?: string | undefined; livemode?: string | undefined };
  errors: Partial<Record<'websiteId' | 'provider' | 'livemode', string>>;
}

export function integrationsPage(o: Common & { integrations: IntegrationView[]; websiteId: string | null; form: CreateFormState; status?: number }): string {
  const title = o.websiteId ? `Integrations of ${o.websiteId}` : 'Integrations';
  const providerError = o.form.errors.provider;
  const body = html`<h1>${title}</h1>
${o.websiteId ? websiteTabs(o.websiteId, 'integrations') : html`<p class="lead">Every payment-provider connection, newest first. Open one to hand the merchant its webhook URL and store the signing secret.</p>`}
${noticeBox(o.notice)}
<section aria-labelledby="create-h" class="panel">
  <h2 id="create-h" style="margin-top:0">Connect a payment provider</h2>
  ${Object.keys(o.form.errors).length ? alertBox('Please correct the marked fields.') : ''}
  <form method="post" action="/integrations">
    ${csrfField(o.csrf)}
    <div class="row">
      ${field({ id: 'websiteId', name: 'websiteId', label: 'Website id', value: o.form.values.websiteId ?? o.websiteId ?? '', required: true, error: o.form.errors.websiteId, hint: 'As shown in the Metrivo dashboard, e.g. w_123.' })}
      <div class="field">
        <label for="provider">Provider</label>
        <select id="provider" name="provider" required ${providerError ? raw('aria-invalid="true" aria-describedby="provider-error"') : ''}>
          ${integrationProviders.map((p) => html`<option value="${p}" ${o.form.values.provider === p ? raw('selected') : ''}>${PROVIDER_LABELS[p]}</option>`)}
        </select>
        ${providerError ? html`<p class="error-text" id="provider-error">${providerError}</p>` : ''}
        <p class="hint">&nbsp;</p>
      </div>
      <div class="field"><button type="submit">Create integration</button><p class="hint">&nbsp;</p></div>
    </div>
    <fieldset class="field" style="border:none;padding:0" ${o.form.errors.livemode ? raw('aria-describedby="livemode-error"') : ''}>
      <legend><strong>Mode</strong></legend>
      <label><input type="radio" name="livemode" value="false" ${o.form.values.livemode === 'false' ? raw('checked') : ''}> Test endpoint</label>
      <label><input type="radio" name="livemode" value="true" ${o.form.values.livemode === 'true' ? raw('checked') : ''}> Live endpoint</label>
      <p class="hint">Providers give test and live endpoints separate secrets: create one integration per mode. Razorpay and Dodo payloads do not say
        their mode, so payments are labelled with this choice. (Not needed for the Manual Payment API: its API keys carry the mode.)</p>
      ${o.form.errors.livemode ? html`<p class="error-text" id="livemode-error">Mode: ${o.form.errors.livemode}</p>` : ''}
    </fieldset>
  </form>
</section>
<h2>${o.integrations.length ? `${o.integrations.length} integration${o.integrations.length === 1 ? '' : 's'}` : 'No integrations yet'}</h2>
${o.integrations.length ? html`<table>
  <thead><tr><th scope="col">Website</th><th scope="col">Provider</th><th scope="col">Mode</th><th scope="col">Integration</th><th scope="col">Status</th><th scope="col">Signing secret</th><th scope="col">Created</th></tr></thead>
  <tbody>${o.integrations.map((i) => html`<tr>
    <td><a href="${href`/integrations?websiteId=${i.websiteId}`}" class="mono">${i.websiteId}</a></td>
    <td>${PROVIDER_LABELS[i.provider]}</td>
    <td>${i.provider === 'manual' ? 'per API key' : i.livemode ? badge('live') : badge('test')}</td>
    <td><a href="${href`/integrations/${i.id}`}" class="mono">${i.id}</a></td>
    <td>${badge(i.status)}</td>
    <td>${i.provider === 'manual' ? 'not needed' : i.secret.set ? (i.secret.last4 ? html`set, ends in <code>${i.secret.last4}</code>` : 'set') : badge('fail', 'missing')}</td>
    <td>${when(i.createdAt)}</td>
  </tr>`)}</tbody>
</table>` : html`<p>Create the first one with the form above.</p>`}`;
  return page({ title, staff: o.staff, csrf: o.csrf, body, section: 'integrations' });
}

const DASHBOARD_STEPS: Record<Exclude<IntegrationProvider, 'manual'>, SafeHtml> = {
  stripe: html`In the <strong>Stripe Dashboard</strong>: <strong>Workbench → Webhooks → Create an event destination</strong>. Choose
    events from <em>Your account</em>, select the events below, choose <em>Webhook endpoint</em> and paste the URL. Then open the
    destination and click <strong>Reveal</strong> under <em>Signing secret</em> (it starts with <code>whsec_</code>). Test mode and live
    mode have separate destinations, each with its own secret.`,
  razorpay: html`In the <strong>Razorpay Dashboard</strong>: <strong>Accounts &amp; Settings → Webhooks</strong> (under <em>Website and app
    settings</em>) <strong>→ + Add New Webhook</strong>. Paste the URL, type a <em>Secret</em> (the merchant chooses it: 32 or more random
    characters), tick the <em>Active Events</em> below and save. Test mode and live mode are set up separately; the same secret may be used for both.`,
  dodo: html`In the <strong>Dodo Payments Dashboard</strong>: <strong>Developer → Webhooks → Add endpoint</strong>. Paste the URL and subscribe
    to the events below. The endpoint's page shows its <em>Signing secret</em> (<code>whsec_…</code>). Test mode and live mode have separate
    endpoints and secrets.`,
};

function healthSection(h: SetupHealth): SafeHtml {
  const overall: Record<SetupHealth['status'], string> = {
    ok: 'Everything checks out.',
    warn: 'Working, with something to look at.',
    fail: 'Not working yet: see the failing check.',
    pending: 'Set up so far; waiting for events.',
  };
  return html`<section aria-labelledby="health-h">
  <h2 id="health-h">Setup health ${badge(h.status)}</h2>
  <p>${overall[h.status]} ${h.ledgerAvailable ? '' : html`<strong>The ledger did not answer</strong>, so payments are judged from webhooks only.`}
    <span class="hint">From ${h.window.deliveries} webhook deliveries since ${when(h.window.from)}.</span></p>
  <ul class="checks">${h.checks.map((c) => html`<li><span>${badge(c.status)}</span><strong>${c.label}</strong><span>${c.detail}</span></li>`)}</ul>
  ${h.requiredEvents.length ? html`<h3>Event types</h3>
  <table><thead><tr><th scope="col">Event type</th><th scope="col">Seen</th><th scope="col">Last seen</th></tr></thead>
  <tbody>${h.requiredEvents.map((e) => html`<tr><td><code>${e.type}</code></td><td>${e.seen ? badge('ok', 'yes') : badge('pending', 'not yet')}</td><td>${when(e.lastSeenAt)}</td></tr>`)}</tbody></table>` : ''}
  ${h.metrivoSignals.byEventType.length ? html`<h3>Metrivo metadata per payment event type</h3>
  <table><thead><tr><th scope="col">Event type</th><th scope="col" class="num">Payment webhooks</th><th scope="col" class="num">With metadata</th></tr></thead>
  <tbody>${h.metrivoSignals.byEventType.map((r) => html`<tr><td><code>${r.type}</code></td><td class="num">${r.paymentWebhooks}</td><td class="num">${r.withSignals}</td></tr>`)}</tbody></table>` : ''}
</section>`;
}

export function deliveriesTable(deliveries: DeliveryView[], caption: string): SafeHtml {
  if (!deliveries.length) return html`<p>No deliveries yet.</p>`;
  return html`<table>
  <caption class="sr-only">${caption}</caption>
  <thead><tr><th scope="col">Received</th><th scope="col">Event</th><th scope="col">Event id</th><th scope="col">Mode</th><th scope="col">Outcome</th><th scope="col">Error</th><th scope="col">Metadata</th></tr></thead>
  <tbody>${deliveries.map((d) => html`<tr>
    <td>${when(d.receivedAt)}</td>
    <td><code>${d.eventType ?? '—'}</code></td>
    <td class="mono">${d.providerEventId ?? '—'}${d.traceId ? html`<br><span class="hint" title="Trace id: search the logs of the gateway and the apps after it for it">trace ${d.traceId}</span>` : ''}</td>
    <td>${d.livemode === null ? '—' : d.livemode ? badge('live') : badge('test')}</td>
    <td>${badge(d.outcome)} <span class="hint">HTTP ${d.httpStatus}</span></td>
    <td>${d.errorCode ? html`<code>${d.errorCode}</code>` : '—'}</td>
    <td>${d.hadMetrivoSignals === null ? '—' : d.hadMetrivoSignals ? 'yes' : 'no'}</td>
  </tr>`)}</tbody>
</table>`;
}

export interface SecretFormState {
  error?: string | undefined;
  hoursError?: string | undefined;
  hours?: string | undefined;
}

export function integrationDetailPage(o: Common & {
  view: IntegrationView; health: SetupHealth; deliveries: DeliveryView[]; audit: AuditDoc[]; gatewayUrl: string; secretForm?: SecretFormState;
}): string {
  const v = o.view;
  const label = PROVIDER_LABELS[v.provider];
  const mode = v.provider === 'manual' ? '' : v.livemode ? 'live ' : 'test ';
  const title = `${label} ${mode}integration for ${v.websiteId}`;
  const form = o.secretForm ?? {};
  const defaultHours = v.secret.set ? '24' : '0';
  const body = html`<h1>${title} ${badge(v.status)}</h1>
${websiteTabs(v.websiteId, 'integrations')}
${noticeBox(o.notice)}
<dl class="facts panel">
  <dt>Integration id</dt><dd class="mono">${v.id}</dd>
  <dt>Website</dt><dd class="mono">${v.websiteId}</dd>
  <dt>Provider</dt><dd>${label}</dd>
  ${v.provider === 'manual' ? '' : html`<dt>Mode</dt><dd>${v.livemode ? badge('live') : badge('test')} <span class="hint">${v.livemode ? 'the provider\'s live-mode endpoint and secret' : 'the provider\'s test-mode endpoint and secret'}${v.provider === 'stripe' ? ' (Stripe events also carry their own mode)' : ''}</span></dd>`}
  <dt>Created</dt><dd>${when(v.createdAt)}</dd>
</dl>
${v.webhookUrl ? html`
<section aria-labelledby="url-h">
  <h2 id="url-h">1. Webhook URL for the merchant</h2>
  <div class="copyrow">
    <label for="webhook-url" class="sr-only">Webhook URL</label>
    <input id="webhook-url" class="url mono" type="text" readonly value="${v.webhookUrl}">
    <button type="button" data-copy-target="webhook-url" data-copy-status="copy-url-status">Copy URL</button>
  </div>
  <p class="hint" id="copy-url-status" role="status" aria-live="polite"></p>
  <p>${DASHBOARD_STEPS[v.provider as Exclude<IntegrationProvider, 'manual'>]}</p>
</section>
<section aria-labelledby="events-h">
  <h2 id="events-h">2. Events to subscribe to (${v.events.length})</h2>
  <ol class="events" id="event-list">${v.events.map((e) => html`<li><code>${e}</code></li>`)}</ol>
  <textarea id="event-names" class="sr-only" readonly tabindex="-1" aria-hidden="true">${v.events.join('\n')}</textarea>
  <button type="button" class="secondary" data-copy-target="event-names" data-copy-status="copy-events-status">Copy event names</button>
  <span class="hint" id="copy-events-status" role="status" aria-live="polite"></span>
</section>
<section aria-labelledby="secret-h">
  <h2 id="secret-h">3. Signing secret</h2>
  <p>${v.secret.set
    ? v.secret.last4 ? html`Stored encrypted; it ends in <code id="secret-last4">${v.secret.last4}</code>.` : html`Stored encrypted. It is shorter than 24 characters, so none of it is shown.`
    : html`<strong>Not set yet.</strong> Webhooks are refused until it is.`}
  ${v.secret.previous.map((p) => p.last4 ? html` The previous secret ending in <code>${p.last4}</code> stays valid until ${when(p.validUntil)}.` : html` The previous secret stays valid until ${when(p.validUntil)}.`)}</p>
  <form method="post" action="${href`/integrations/${v.id}/secret`}" class="panel" autocomplete="off">
    ${csrfField(o.csrf)}
    ${form.error ? alertBox(form.error) : ''}
    ${field({ id: 'secret', name: 'secret', label: v.secret.set ? 'New signing secret' : 'Signing secret', type: 'password', required: true, autocomplete: 'off', error: form.error,
      hint: v.provider === 'razorpay' ? 'The secret typed into the Razorpay webhook setup.' : 'Paste it exactly as the dashboard shows it (starts with whsec_).' })}
    ${field({ id: 'keepPreviousForHours', name: 'keepPreviousForHours', label: 'Keep the previous secret valid for (hours)', type: 'number', min: 0, max: MAX_KEEP_PREVIOUS_HOURS,
      value: form.hours ?? defaultHours, inputmode: 'numeric', error: form.hoursError,
      hint: 'During a roll both secrets verify. Use 24 when the merchant rolled the secret in the dashboard; 0 to replace a wrong secret at once.' })}
    <button type="submit">${v.secret.set ? 'Roll secret' : 'Save secret'}</button>
  </form>
</section>` : html`
<section aria-labelledby="manual-h">
  <h2 id="manual-h">Manual Payment API</h2>
  <p>This website reports payments itself: no webhook and no signing secret. The merchant calls
    <code>POST ${manualApiUrlFor(o.gatewayUrl)}</code> (and <code>/v1/refunds</code>) with an API key.</p>
  <p><a class="button" href="${href`/websites/${v.websiteId}/api-keys`}">Manage API keys</a></p>
</section>`}
${healthSection(o.health)}
<p><a class="button" href="${href`/websites/${v.websiteId}/test-connection?provider=${v.provider}`}">Test the connection</a>
   <a class="button secondary" href="${href`/websites/${v.websiteId}/payments`}">Payments of this website</a></p>
<section aria-labelledby="deliveries-h">
  <h2 id="deliveries-h">Recent deliveries</h2>
  ${deliveriesTable(o.deliveries, 'Recent webhook deliveries, newest first')}
</section>
<section aria-labelledby="status-h">
  <h2 id="status-h">${v.status === 'active' ? 'Disable' : 'Enable'}</h2>
  <form method="post" action="${href`/integrations/${v.id}/status`}" ${v.status === 'active' ? html`data-confirm="Disable this integration? The gateway will refuse its webhooks."` : ''}>
    ${csrfField(o.csrf)}
    <input type="hidden" name="status" value="${v.status === 'active' ? 'disabled' : 'active'}">
    <p>${v.status === 'active' ? 'Disabling makes the gateway refuse this integration\'s webhooks (the provider will retry, then give up).' : 'Enabling lets the gateway accept this integration\'s webhooks again.'}</p>
    <button type="submit" class="${v.status === 'active' ? 'danger' : ''}">${v.status === 'active' ? 'Disable integration' : 'Enable integration'}</button>
  </form>
</section>
<section aria-labelledby="history-h">
  <h2 id="history-h">History</h2>
  ${o.audit.length ? html`<table><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Details</th></tr></thead>
  <tbody>${o.audit.map((a) => html`<tr><td>${when(a.at)}</td><td>${describeActor(a.actor)}</td><td><code>${a.action}</code></td>
    <td>${Object.entries(a.details).map(([k, val]) => html`<span class="mono">${k}=${String(val)}</span> `)}</td></tr>`)}</tbody></table>` : html`<p>No changes recorded.</p>`}
</section>`;
  return page({ title, staff: o.staff, csrf: o.csrf, body, section: 'integrations' });
}
