/**
 * The UI's only static assets, kept as strings so there is no build step and no file lookup. The
 * script is served from /assets/admin.js (same origin), which lets the Content-Security-Policy forbid
 * every inline script.
 */

export const STYLES = `
:root { --fg:#1b1f23; --muted:#4a5560; --bg:#fff; --panel:#f6f8fa; --line:#d0d7de; --link:#0a55c2; --focus:#0a55c2;
  --ok-fg:#0b5d2a; --ok-bg:#e3f4e8; --warn-fg:#6b4300; --warn-bg:#fff1cc; --fail-fg:#a00e0e; --fail-bg:#fde7e5; --pend-fg:#37424d; --pend-bg:#e9edf1; }
* { box-sizing: border-box; }
body { margin:0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
a { color:var(--link); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible, [tabindex]:focus-visible { outline:3px solid var(--focus); outline-offset:2px; }
.skip { position:absolute; left:-9999px; } .skip:focus { left:1rem; top:1rem; background:#fff; padding:.5rem; z-index:10; }
header.top { display:flex; flex-wrap:wrap; gap:1rem; align-items:center; padding:.75rem 1.5rem; border-bottom:1px solid var(--line); background:var(--panel); }
header.top .brand { font-weight:700; margin-right:1rem; color:var(--fg); text-decoration:none; }
header.top nav a { margin-right:1rem; }
header.top .who { margin-left:auto; display:flex; gap:.75rem; align-items:center; color:var(--muted); }
main { max-width:1150px; margin:0 auto; padding:1.5rem; }
h1 { font-size:1.6rem; margin:.2rem 0 1rem; } h2 { font-size:1.25rem; margin:2rem 0 .75rem; } h3 { font-size:1.05rem; margin:1.25rem 0 .5rem; }
p.lead { color:var(--muted); margin-top:-.5rem; }
.tabs { display:flex; flex-wrap:wrap; gap:.25rem; border-bottom:1px solid var(--line); margin:0 0 1.25rem; padding:0; list-style:none; }
.tabs a { display:block; padding:.4rem .8rem; text-decoration:none; border:1px solid transparent; border-bottom:none; border-radius:6px 6px 0 0; }
.tabs a[aria-current="page"] { border-color:var(--line); background:var(--bg); font-weight:600; color:var(--fg); margin-bottom:-1px; }
table { border-collapse:collapse; width:100%; margin:.5rem 0 1rem; font-size:.95rem; }
th, td { text-align:left; padding:.45rem .6rem; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:var(--panel); font-weight:600; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:.92em; overflow-wrap:break-word; }
td code, td.mono { word-break: break-word; }
form.inline { display:inline; }
.field { margin:0 0 1rem; } .field label { display:block; font-weight:600; margin-bottom:.25rem; }
.hint { color:var(--muted); font-size:.9rem; margin:.2rem 0 0; }
.error-text { color:var(--fail-fg); font-weight:600; margin:.25rem 0 0; }
input[type=text], input[type=email], input[type=password], input[type=number], input[type=search], select {
  font:inherit; padding:.45rem .6rem; border:1px solid #8c959f; border-radius:6px; min-width:18rem; max-width:100%; background:#fff; color:var(--fg); }
input[aria-invalid="true"] { border-color:var(--fail-fg); border-width:2px; }
input.url { width:100%; min-width:0; }
button, .button { font:inherit; padding:.45rem .9rem; border-radius:6px; border:1px solid #1f5fbf; background:#0a55c2; color:#fff; cursor:pointer; text-decoration:none; display:inline-block; white-space:nowrap; }
fieldset label { display:block; margin:.15rem 0; }
button.secondary, .button.secondary { background:#fff; color:#0a55c2; }
button.danger { background:#fff; color:var(--fail-fg); border-color:var(--fail-fg); }
button.linklike { background:none; border:none; color:var(--link); text-decoration:underline; padding:0; }
.row { display:flex; flex-wrap:wrap; gap:.75rem; align-items:flex-end; }
.panel { border:1px solid var(--line); border-radius:8px; padding:1rem 1.25rem; margin:0 0 1.25rem; background:var(--bg); }
.notice { border-left:4px solid var(--ok-fg); background:var(--ok-bg); padding:.6rem 1rem; margin:0 0 1rem; }
.alert { border-left:4px solid var(--fail-fg); background:var(--fail-bg); padding:.6rem 1rem; margin:0 0 1rem; }
.warnbox { border-left:4px solid var(--warn-fg); background:var(--warn-bg); padding:.6rem 1rem; margin:0 0 1rem; }
.badge { display:inline-block; padding:.05rem .5rem; border-radius:999px; font-size:.85rem; font-weight:600; white-space:nowrap; }
.badge.ok, .badge.high, .badge.accepted, .badge.active { color:var(--ok-fg); background:var(--ok-bg); }
.badge.warn, .badge.medium, .badge.duplicate, .badge.unavailable { color:var(--warn-fg); background:var(--warn-bg); }
.badge.fail, .badge.rejected, .badge.disabled, .badge.revoked { color:var(--fail-fg); background:var(--fail-bg); }
.badge.pending, .badge.low, .badge.none, .badge.ignored, .badge.test { color:var(--pend-fg); background:var(--pend-bg); }
.badge.live { color:#fff; background:#37424d; }
.big { font-size:1.35rem; font-weight:700; }
dl.facts { display:grid; grid-template-columns: max-content 1fr; gap:.35rem 1.25rem; margin:0; }
dl.facts dt { font-weight:600; color:var(--muted); } dl.facts dd { margin:0; }
ul.checks { list-style:none; padding:0; margin:0; } ul.checks li { padding:.5rem 0; border-bottom:1px solid var(--line); display:grid; grid-template-columns: 7rem 14rem 1fr; gap:.75rem; }
@media (max-width: 800px) { ul.checks li { grid-template-columns: 1fr; gap:.2rem; } dl.facts { grid-template-columns: 1fr; } }
ol.events { columns: 2; padding-left:1.5rem; }
.copyrow { display:flex; gap:.5rem; align-items:center; }
.status-line { color:var(--muted); font-size:.9rem; }
.keybox { font-size:1.1rem; padding:.75rem; background:var(--panel); border:2px dashed var(--warn-fg); border-radius:8px; }
.sr-only { position:absolute; width:1px; height:1px; overflow:hidden; clip:rect(0 0 0 0); white-space:nowrap; }
`;

export const SCRIPT = `'use strict';
(function () {
  // Copy buttons: <button data-copy-target="id">; the status is announced through a live region.
  document.addEventListener('click', function (e) {
    var btn = e.target instanceof Element ? e.target.closest('[data-copy-target]') : null;
    if (!btn) return;
    var el = document.getElementById(btn.getAttribute('data-copy-target'));
    if (!el) return;
    var text = 'value' in el ? el.value : el.textContent;
    var status = document.getElementById(btn.getAttribute('data-copy-status') || '');
    var done = function (msg) { if (status) status.textContent = msg; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done('Copied.'); }, function () { fallback(); });
    } else { fallback(); }
    function fallback() {
      if (typeof el.select === 'function') { el.focus(); el.select(); done('Selected: press Ctrl+C (or Cmd+C) to copy.'); }
    }
  });
  // Forms that change something important ask first: <form data-confirm="question">.
  document.addEventListener('submit', function (e) {
    var form = e.target;
    var q = form instanceof HTMLFormElement ? form.getAttribute('data-confirm') : null;
    if (q && !window.confirm(q)) e.preventDefault();
  });
  // Self-refreshing region: <div data-poll-url="/x.json" data-poll-every="2000"> holding
  // [data-poll-target] (replaced by the server-rendered, escaped "html" of the JSON answer) and
  // [data-poll-status] (when we last checked). Pauses while the tab is hidden.
  var region = document.querySelector('[data-poll-url]');
  if (region) {
    var url = region.getAttribute('data-poll-url');
    var every = Number(region.getAttribute('data-poll-every')) || 2000;
    var target = region.querySelector('[data-poll-target]');
    var status = region.querySelector('[data-poll-status]');
    var last = target ? target.getAttribute('data-fingerprint') : null;
    var timer = null;
    var stopped = false;
    var tick = function () {
      if (stopped) return;
      if (document.hidden) { timer = setTimeout(tick, every); return; }
      fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' })
        .then(function (res) {
          if (res.status === 401) { stopped = true; if (status) status.textContent = 'Your session ended. Reload the page to log in again.'; return null; }
          if (!res.ok) throw new Error('HTTP ' + res.status);
          return res.json();
        })
        .then(function (data) {
          if (!data) return;
          if (target && data.fingerprint !== last) { target.innerHTML = data.html; last = data.fingerprint; }
          if (status) status.textContent = 'Refreshes every ' + (every / 1000) + ' s. Last checked ' + new Date(data.checkedAt).toLocaleTimeString() + '.';
        })
        .catch(function (err) { if (status) status.textContent = 'Could not refresh (' + err.message + '); retrying.'; })
        .then(function () { if (!stopped) timer = setTimeout(tick, every); });
    };
    timer = setTimeout(tick, every);
  }
})();
`;
