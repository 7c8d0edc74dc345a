import { generateKeyringEntry } from '@metrivo/crypto';
import { cookieSecureFrom, csrfSecretFrom, loadAdminConfig, trustProxyFrom } from './env';

const base = { METRIVO_ADMIN_TOKEN: 'a'.repeat(24), METRIVO_SECRET_KEYS: generateKeyringEntry('k1') };

function errorMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

describe('admin configuration', () => {
  it('loads with defaults and fails fast with a readable list of problems', () => {
    const c = loadAdminConfig(base);
    expect(c).toMatchObject({ ADMIN_PORT: 8084, ADMIN_SESSION_TTL_HOURS: 12, ADMIN_COOKIE_SECURE: 'auto', ADMIN_LOGIN_MAX_ATTEMPTS: 10 });
    expect(() => loadAdminConfig({ METRIVO_ADMIN_TOKEN: 'short', ADMIN_COOKIE_SECURE: 'yes' })).toThrow(/METRIVO_ADMIN_TOKEN: must be at least 24[\s\S]*METRIVO_SECRET_KEYS[\s\S]*ADMIN_COOKIE_SECURE/);
  });

  it('validates METRIVO_SECRET_KEYS as a keyring and names it, without printing the key', () => {
    const key = base.METRIVO_SECRET_KEYS.slice(3);
    // Key and id swapped: the "id" is the key itself.
    const message = errorMessage(() => loadAdminConfig({ ...base, METRIVO_SECRET_KEYS: `${key}:dev1` }));
    expect(message).toMatch(/METRIVO_SECRET_KEYS: entry 1 of 1: the key after ":" must be 32 bytes of base64/);
    expect(message).not.toContain(key.slice(0, 8));
    expect(message).not.toContain('dev1');
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
