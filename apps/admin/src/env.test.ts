import { generateKeyringEntry } from '@metrivo/crypto';
import express from 'express';
import { cookieSecureFrom, csrfSecretFrom, loadAdminConfig, trustProxyFrom, trustProxyProblem } from './env';

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

  it('validates ADMIN_TRUST_PROXY at start, naming it, and accepts only what Express accepts', () => {
    expect(errorMessage(() => loadAdminConfig({ ...base, ADMIN_TRUST_PROXY: 'yes' }))).toMatch(/ADMIN_TRUST_PROXY: must be true, false, a hop count, or a comma-separated list .*"yes" is none of these/);
    const accepted = ['false', 'true', '', '0', '2', 'loopback', 'loopback, 10.0.0.0/8', '192.168.1.1', '::1', 'fd00::/8', '10.0.0.0/255.0.0.0', '::ffff:10.0.0.1/64', 'linklocal,uniquelocal'];
    for (const value of accepted) {
      expect([value, trustProxyProblem(value)]).toEqual([value, null]);
      expect(() => express().set('trust proxy', trustProxyFrom(value))).not.toThrow();
    }
    const refused = ['yes', 'TRUE', '10.0.0.0/33', '10.0.0.0/0', '::1/129', '10.0.0.0/255.0.255.0', 'loopback,', '10.0.0.0/x', 'example.com', '300.1.1.1'];
    for (const value of refused) {
      expect([value, trustProxyProblem(value)]).toEqual([value, expect.stringContaining('none of these')]);
      expect(() => express().set('trust proxy', trustProxyFrom(value))).toThrow(); // what start-up used to fail with
    }
  });

  it('parses trust proxy and derives a CSRF key that is not the token itself', () => {
    expect([trustProxyFrom('false'), trustProxyFrom('true'), trustProxyFrom('2'), trustProxyFrom('loopback')]).toEqual([false, true, 2, 'loopback']);
    const derived = csrfSecretFrom({ METRIVO_ADMIN_TOKEN: 'b'.repeat(24), ADMIN_CSRF_SECRET: undefined });
    expect(derived).not.toContain('b'.repeat(24));
    expect(derived).toBe(csrfSecretFrom({ METRIVO_ADMIN_TOKEN: 'b'.repeat(24), ADMIN_CSRF_SECRET: undefined }));
    expect(derived).not.toBe(csrfSecretFrom({ METRIVO_ADMIN_TOKEN: 'c'.repeat(24), ADMIN_CSRF_SECRET: undefined }));
    expect(csrfSecretFrom({ METRIVO_ADMIN_TOKEN: 'b'.repeat(24), ADMIN_CSRF_SECRET: 'x'.repeat(32) })).toBe('x'.repeat(32));
    expect(errorMessage(() => loadAdminConfig({ ...base, ADMIN_CSRF_SECRET: 'x'.repeat(31) }))).toMatch(/ADMIN_CSRF_SECRET: must be at least 32 characters/);
  });
});
