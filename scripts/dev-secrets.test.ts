import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { devSetting, ensureDevSecrets, readDevSecrets } from './dev-secrets';

describe('development secrets', () => {
  let dir: string;
  const saved = process.env.METRIVO_EMAIL_HASH_KEY;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'metrivo-dev-secrets-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    if (saved === undefined) delete process.env.METRIVO_EMAIL_HASH_KEY;
    else process.env.METRIVO_EMAIL_HASH_KEY = saved;
  });

  it('are generated once (owner-only file), then read back unchanged', () => {
    const file = join(dir, '.local', 'dev-secrets.json');
    expect(readDevSecrets(file)).toEqual({});
    const made = ensureDevSecrets(file);
    expect(Object.keys(made).sort()).toEqual(['METRIVO_ADMIN_TOKEN', 'METRIVO_EMAIL_HASH_KEY', 'METRIVO_SECRET_KEYS']);
    expect(made.METRIVO_SECRET_KEYS).toMatch(/^dev1:[A-Za-z0-9+/]{43}=$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(ensureDevSecrets(file)).toEqual(made);
    expect(readDevSecrets(file)).toEqual(JSON.parse(readFileSync(file, 'utf8')));
  });

  it('a setting comes from the environment first, else from the file; empty counts as unset', () => {
    const file = join(dir, 'dev-secrets.json');
    const { METRIVO_EMAIL_HASH_KEY: fromFile } = ensureDevSecrets(file);
    process.env.METRIVO_EMAIL_HASH_KEY = 'from-the-environment';
    expect(devSetting('METRIVO_EMAIL_HASH_KEY', file)).toBe('from-the-environment');
    process.env.METRIVO_EMAIL_HASH_KEY = '';
    expect(devSetting('METRIVO_EMAIL_HASH_KEY', file)).toBe(fromFile);
    expect(devSetting('METRIVO_NOT_A_SECRET', file)).toBeUndefined();
    expect(devSetting('METRIVO_EMAIL_HASH_KEY', join(dir, 'missing.json'))).toBeUndefined();
  });
});
