import { createHmac } from 'node:crypto';
import { isIP, isIPv4 } from 'node:net';
import { keyringProblem } from '@metrivo/crypto';
import { commonEnvSchema, loadEnv } from '@metrivo/observability';
import { z } from 'zod';

/**
 * Parsed at validation, not only in main, so a bad keyring is reported under METRIVO_SECRET_KEYS with the
 * other config problems (parseKeyring's messages never quote any part of a key or key id).
 */
const secretKeysSchema = z.string().superRefine((spec, ctx) => {
  const problem = keyringProblem(spec);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const adminEnvSchema = commonEnvSchema.extend({
  ADMIN_PORT: z.coerce.number().int().min(0).max(65535).default(8084),
  MONGODB_DB: z.string().min(1).default('metrivo'),
  /** Bearer token for scripts and automation on /api. */
  METRIVO_ADMIN_TOKEN: z.string().min(24, 'must be at least 24 characters'),
  METRIVO_SECRET_KEYS: secretKeysSchema,
  METRIVO_PUBLIC_GATEWAY_URL: z.url('must be an absolute URL such as https://hooks.metrivo.example').default('http://localhost:8081'),
  METRIVO_LEDGER_URL: z.url().default('http://127.0.0.1:8083'),
  LEDGER_TIMEOUT_MS: z.coerce.number().int().positive().default(3000),
  /** Staff sessions end this long after login. */
  ADMIN_SESSION_TTL_HOURS: z.coerce.number().positive().max(24 * 30).default(12),
  /** `auto`: Secure cookies when NODE_ENV=production. Set `true` whenever staff reach admin over https. */
  ADMIN_COOKIE_SECURE: z.enum(['auto', 'true', 'false']).default('auto'),
  /** Express "trust proxy": `false`, `true`, a hop count, or addresses/subnets (e.g. `loopback`). */
  ADMIN_TRUST_PROXY: z.string().default('false').superRefine((value, ctx) => {
    const problem = trustProxyProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  /** HMAC key for CSRF tokens; derived from METRIVO_ADMIN_TOKEN when unset (all instances then agree). */
  ADMIN_CSRF_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  ADMIN_LOGIN_MAX_ATTEMPTS: z.coerce.number().int().positive().default(10),
  ADMIN_LOGIN_WINDOW_MINUTES: z.coerce.number().positive().default(15),
});
export type AdminConfig = z.infer<typeof adminEnvSchema>;
export const loadAdminConfig = (env: NodeJS.ProcessEnv = process.env): AdminConfig => loadEnv(adminEnvSchema, env);

export function cookieSecureFrom(config: Pick<AdminConfig, 'ADMIN_COOKIE_SECURE' | 'NODE_ENV'>): boolean {
  return config.ADMIN_COOKIE_SECURE === 'auto' ? config.NODE_ENV === 'production' : config.ADMIN_COOKIE_SECURE === 'true';
}

const TRUST_PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** Prefix length of a contiguous IPv4 netmask ("255.255.0.0" → 16), else null. */
function netmaskBits(mask: string): number | null {
  const bits = mask.split('.').map((o) => Number(o).toString(2).padStart(8, '0')).join('');
  return /^1*0*$/.test(bits) ? bits.indexOf('0') === -1 ? 32 : bits.indexOf('0') : null;
}

/**
 * Checked at start so a typo fails with the variable's name, not later inside Express as "invalid IP address: yes".
 * Accepts the documented forms, a subset of what Express (proxy-addr) accepts: `true`, `false`, a hop count, or
 * a comma-separated list of loopback / linklocal / uniquelocal, IP addresses and subnets (`10.0.0.0/8`,
 * `10.0.0.0/255.0.0.0`, `fd00::/8`). Like proxy-addr, a /0 range and a non-contiguous netmask are refused.
 */
export function trustProxyProblem(value: string): string | null {
  if (value === '' || value === 'true' || value === 'false' || /^\d+$/.test(value)) return null;
  for (const item of value.split(',').map((v) => v.trim())) {
    if (TRUST_PROXY_NAMES.has(item)) continue;
    const slash = item.lastIndexOf('/');
    const ip = slash === -1 ? item : item.slice(0, slash);
    const range = slash === -1 ? null : item.slice(slash + 1);
    const kind = isIP(ip);
    const max = kind === 6 ? 128 : 32;
    const bits = range === null ? max : /^\d+$/.test(range) ? Number(range) : kind === 4 && isIPv4(range) ? netmaskBits(range) : null;
    if (kind === 0 || bits === null || bits < 1 || bits > max) {
      return `must be true, false, a hop count, or a comma-separated list of IP addresses, subnets (e.g. 10.0.0.0/8) or loopback, linklocal, uniquelocal; "${item}" is none of these`;
    }
  }
  return null;
}

export function trustProxyFrom(value: string): boolean | number | string {
  if (value === 'true') return true;
  if (value === 'false' || value === '') return false;
  if (/^\d+$/.test(value)) return Number(value);
  return value;
}

/** A separate key per purpose: the admin token itself never becomes an HMAC key. */
export function csrfSecretFrom(config: Pick<AdminConfig, 'ADMIN_CSRF_SECRET' | 'METRIVO_ADMIN_TOKEN'>): string {
  return config.ADMIN_CSRF_SECRET ?? createHmac('sha256', config.METRIVO_ADMIN_TOKEN).update('metrivo-admin-csrf-v1').digest('base64url');
}
