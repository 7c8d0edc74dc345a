import fc from 'fast-check';
import { escapeHtml, href, html, raw } from './html';

describe('html tagged template', () => {
  it('escapes every interpolated string, including quotes that would leave an attribute', () => {
    const evil = `"><script>alert('x')</script>&\``;
    const out = html`<input value="${evil}"><p>${evil}</p>`.toString();
    expect(out).toBe('<input value="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&#96;"><p>&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&#96;</p>');
    expect(out).not.toContain('<script>');
  });

  it('passes nested html and raw through, escapes array items, and drops null/undefined/false', () => {
    const items = ['<a>', html`<b>${'<c>'}</b>`];
    const out = html`<ul>${items.map((i) => html`<li>${i}</li>`)}</ul>${null}${undefined}${false}${0}${raw('<hr>')}`.toString();
    expect(out).toBe('<ul><li>&lt;a&gt;</li><li><b>&lt;c&gt;</b></li></ul>0<hr>');
  });

  it('never lets any string produce markup characters (property)', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const out = html`${s}`.toString();
        expect(out).not.toMatch(/[<>"'`]/);
        // Decoding the five entities gives the input back: nothing lost, nothing added.
        const decoded = out.replace(/&lt;|&gt;|&quot;|&#39;|&#96;|&amp;/g, (e) => ({ '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&#96;': '`', '&amp;': '&' })[e]!);
        expect(decoded).toBe(s);
      }),
    );
  });

  it('escapeHtml leaves plain text alone', () => {
    expect(escapeHtml('w_123 stripe:pi_3Q')).toBe('w_123 stripe:pi_3Q');
  });
});

describe('href', () => {
  it('percent-encodes data so it stays one path segment or query value', () => {
    expect(href`/websites/${'a/b?c#d'}/payments/${'stripe:pi_1'}`).toBe('/websites/a%2Fb%3Fc%23d/payments/stripe%3Api_1');
    expect(href`/x?next=${'/y?z=1&w=2'}`).toBe('/x?next=%2Fy%3Fz%3D1%26w%3D2');
  });
});
