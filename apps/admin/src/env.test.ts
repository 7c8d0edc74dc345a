import { cookieSecureFrom, csrfSecretFrom, loadAdminConfig, trustProxyFrom } from './env';

const base = { METRIVO_ADMIN_TOKEN: 'a'.repeat(24), METRIVO_SECRET_KEYS: 'k1:AAAA' };

describe('admin configuration', () => {
  it('loads with defaults and fails fast with a readable list of problems', () => {
    const c = loadAdminConfig(base);
    expect(c).toMatchObject({ ADMIN_PORT: 8084, ADMIN_SESSION_TTL_HOURS: 12, ADMIN_COOKIE_SECURE: 'auto', ADMIN_LOGIN_MAX_ATTEMPTS: 10 });
    expect(() => loadAdminConfig({ METRIVO_ADMIN_TOKEN: 'short', ADMIN_COOKIE_SECURE: 'yes' })).toThrow(/METRIVO_ADMIN_TOKEN: must be at least 24[\s\S]*METRIVO_SECRET_KEYS[\s\S]*ADMIN_COOKIE_SECURE/);
  });

  it('uses Secure cookies in production unless told otherwise', () => {
    expect(cookieSecureFrom({ ADMIN_COOKIE_SECURE: 'auto', NODE_ENV: 'production' })).toBe(true);
    expect(cookieSecureFrom({ ADMIN_COOKIE_SECURE: 'auto', NODE_ENV: 'development' })).toBe(false);
    expect(cookieSecureFrom({ ADMIN_COOKIE_SECURE: 'true', NODE_ENV: 'development' })).toBe(true);
    expect(cookieSecureFrom({ ADMIN_COOKIE_SECURE: 'false', NODE_ENV: 'production' })).toBe(false);
  });

  it('parses trust proxy and derives a CSRF key that is not the token itself', () => {
    expect([trustProxyFrom('false'), trustProxyFrom('true'), trustProxyFrom('2'), trustProxyFrom('loopback')]).toEqual([false, true, 2, 'loopback']);
    const derived = csrfSecretFrom({ METRIVO_ADMIN_TOKEN: 'b'.repeat(24), ADMIN_CSRF_SECRET: undefined });
    expect(derived).not.toContain('b'.repeat(24));
    expect(derived).toBe(csrfSecretFrom({ METRIVO_ADMIN_TOKEN: 'b'.repeat(24), ADMIN_CSRF_SECRET: undefined }));
    expect(derived).not.toBe(csrfSecretFrom({ METRIVO_ADMIN_TOKEN: 'c'.repeat(24), ADMIN_CSRF_SECRET: undefined }));
    expect(csrfSecretFrom({ METRIVO_ADMIN_TOKEN: 'b'.repeat(24), ADMIN_CSRF_SECRET: 'x'.repeat(32) })).toBe('x'.repeat(32));
  });
});
