import { commonEnvSchema, loadEnv } from '@metrivo/observability';
import { z } from 'zod';

export const adminEnvSchema = commonEnvSchema.extend({
  ADMIN_PORT: z.coerce.number().int().min(0).max(65535).default(8084),
  MONGODB_DB: z.string().min(1).default('metrivo'),
  /** Bearer token for scripts and automation on /api. */
  METRIVO_ADMIN_TOKEN: z.string().min(24, 'must be at least 24 characters'),
  METRIVO_SECRET_KEYS: z.string().min(1, 'must list at least one keyId:base64Key'),
  METRIVO_PUBLIC_GATEWAY_URL: z.url('must be an absolute URL such as https://hooks.metrivo.example').default('http://localhost:8081'),
  METRIVO_LEDGER_URL: z.url().default('http://127.0.0.1:8083'),
});
export type AdminConfig = z.infer<typeof adminEnvSchema>;
export const loadAdminConfig = (env: NodeJS.ProcessEnv = process.env): AdminConfig => loadEnv(adminEnvSchema, env);
