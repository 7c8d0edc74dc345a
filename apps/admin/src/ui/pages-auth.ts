import { html } from '../html';
import { alertBox, csrfField, field, page } from './layout';

export function loginPage(o: { csrf: string; next: string; email?: string; error?: string | null }): string {
  return page({
    title: 'Log in',
    staff: null,
    csrf: o.csrf,
    body: html`<h1>Log in</h1>
<p class="lead">Staff access to Metrivo Revenue integrations. Accounts are created by an administrator with the staff CLI.</p>
${alertBox(o.error)}
<form method="post" action="/login" class="panel" style="max-width:32rem">
  ${csrfField(o.csrf)}
  <input type="hidden" name="next" value="${o.next}">
  ${field({ id: 'email', name: 'email', label: 'Email', type: 'email', value: o.email ?? '', required: true, autocomplete: 'username' })}
  ${field({ id: 'password', name: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'current-password' })}
  <button type="submit">Log in</button>
</form>`,
  });
}

export function errorPage(o: { status: number; title: string; message: string; csrf: string; staff: { name: string; email: string } | null }): string {
  return page({
    title: o.title,
    staff: o.staff,
    csrf: o.csrf,
    body: html`<h1>${o.title}</h1>${alertBox(o.message)}<p><a href="/integrations">Back to integrations</a></p>`,
  });
}
