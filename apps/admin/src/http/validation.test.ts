import { hoursFromForm, limitParam, safeNextPath, validateCreateApiKey, validateCreateIntegration, validateSetSecret, validateWebsiteId } from './validation';

describe('create integration input', () => {
  it('accepts a website id and a known provider', () => {
    expect(validateCreateIntegration({ websiteId: ' w_1 ', provider: 'stripe' })).toEqual({ ok: true, value: { websiteId: 'w_1', provider: 'stripe' } });
  });

  it('lists every failing field', () => {
    const r = validateCreateIntegration({ websiteId: 'a/b', provider: 'paypal' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map((i) => i.path).sort()).toEqual(['provider', 'websiteId']);
    expect(r.issues.find((i) => i.path === 'provider')?.message).toMatch(/stripe, razorpay, dodo, manual/);
  });

  it('rejects missing bodies, unknown fields and empty ids', () => {
    expect(validateCreateIntegration(undefined).ok).toBe(false);
    expect(validateCreateIntegration({ websiteId: 'w', provider: 'stripe', extra: 1 }).ok).toBe(false);
    expect(validateCreateIntegration({ websiteId: '', provider: 'stripe' }).ok).toBe(false);
    expect(validateWebsiteId('w 1').ok).toBe(false);
    expect(validateWebsiteId('x'.repeat(256)).ok).toBe(false);
    expect(validateWebsiteId('w\u0000').ok).toBe(false);
    for (const dots of ['.', '..', '...', ' .. ']) expect(validateWebsiteId(dots)).toEqual({ ok: false, issues: [{ path: '(body)', message: 'must not consist only of dots' }] });
    expect(validateWebsiteId('w.1').ok).toBe(true);
    expect(validateWebsiteId('w\u007f1').ok).toBe(false); // DEL is a control character too
    expect(validateWebsiteId('w\\1').ok).toBe(false); // a backslash is a slash to URL parsers
    expect(validateWebsiteId('.well').ok).toBe(true);
  });
});

describe('set secret input', () => {
  it('accepts a Stripe whsec_ secret with optional roll hours', () => {
    expect(validateSetSecret('stripe', { secret: 'whsec_abcdefghijklmnop1234', keepPreviousForHours: 24 })).toEqual({
      ok: true, value: { secret: 'whsec_abcdefghijklmnop1234', keepPreviousForHours: 24 },
    });
  });

  it('explains provider-specific mistakes', () => {
    const apiKey = validateSetSecret('stripe', { secret: 'sk_test_51Habcdefghijkl' });
    expect(apiKey.ok ? null : apiKey.issues[0]?.message).toMatch(/API key/);
    const dodo = validateSetSecret('dodo', { secret: 'whsec_not base64!' });
    expect(dodo.ok).toBe(false);
    expect(validateSetSecret('dodo', { secret: `whsec_${Buffer.alloc(24, 7).toString('base64')}` }).ok).toBe(true);
    expect(validateSetSecret('razorpay', { secret: 'short' }).ok).toBe(false);
    expect(validateSetSecret('razorpay', { secret: 'merchant-chosen-secret' }).ok).toBe(true);
  });

  it('caps the secret at 4096 characters', () => {
    expect(validateSetSecret('razorpay', { secret: 'a'.repeat(4096) }).ok).toBe(true);
    expect(validateSetSecret('razorpay', { secret: 'a'.repeat(4097) })).toEqual({ ok: false, issues: [{ path: 'secret', message: 'must be at most 4096 characters' }] });
  });

  it('bounds keepPreviousForHours to whole hours within a week', () => {
    for (const bad of [-1, 1.5, 169, '24']) {
      const r = validateSetSecret('stripe', { secret: 'whsec_abcdefghijklmnop1234', keepPreviousForHours: bad });
      expect(r.ok ? null : r.issues.map((i) => i.path)).toEqual(['keepPreviousForHours']);
    }
  });

  it('reads form hours as numbers, keeps junk for the schema to reject', () => {
    expect(hoursFromForm('24')).toBe(24);
    expect(hoursFromForm('')).toBeUndefined();
    expect(hoursFromForm('1e3')).toBe('1e3');
  });
});

describe('small parameters', () => {
  it('api key body defaults to {} and only takes a boolean livemode', () => {
    expect(validateCreateApiKey(undefined)).toEqual({ ok: true, value: {} });
    expect(validateCreateApiKey({ livemode: false })).toEqual({ ok: true, value: { livemode: false } });
    expect(validateCreateApiKey({ livemode: 'no' }).ok).toBe(false);
  });

  it('safeNextPath only allows same-site paths', () => {
    expect(safeNextPath('/integrations?websiteId=w_1')).toBe('/integrations?websiteId=w_1');
    for (const bad of ['//evil.example', 'https://evil.example', '/\\evil.example', 'javascript:alert(1)', undefined, '/a\nb']) expect(safeNextPath(bad)).toBe('/');
  });

  it('limitParam clamps and defaults', () => {
    expect(limitParam('10', 50, 100)).toBe(10);
    expect(limitParam('1000', 50, 100)).toBe(100);
    expect(limitParam('0', 50, 100)).toBe(1);
    expect(limitParam('x', 50, 100)).toBe(50);
  });
});
