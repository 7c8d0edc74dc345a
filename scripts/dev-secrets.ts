// The development secrets of one checkout: `npm start` generates them once into .local/dev-secrets.json (git-ignored,
// mode 0600) and hands them to the apps; the demo and the simulator read the ones they need from there unless the
// environment sets them. Development only: production secrets come from the environment.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const DEV_SECRETS_FILE = join(__dirname, '..', '.local', 'dev-secrets.json');

/** What the file holds, or nothing before the first `npm start`. */
export function readDevSecrets(file = DEV_SECRETS_FILE): Record<string, string> {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>) : {};
}

/** The file's secrets, generated and written first if there is no file yet. */
export function ensureDevSecrets(file = DEV_SECRETS_FILE): Record<string, string> {
  if (existsSync(file)) return readDevSecrets(file);
  mkdirSync(dirname(file), { recursive: true });
  const secrets = {
    METRIVO_EMAIL_HASH_KEY: randomBytes(32).toString('hex'),
    METRIVO_SECRET_KEYS: `dev1:${randomBytes(32).toString('base64')}`,
    METRIVO_ADMIN_TOKEN: randomBytes(24).toString('base64url'),
  };
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return secrets;
}

/** A setting from the environment, else from the development secrets (an empty value counts as unset). */
export function devSetting(name: string, file = DEV_SECRETS_FILE): string | undefined {
  return process.env[name] || readDevSecrets(file)[name] || undefined;
}
