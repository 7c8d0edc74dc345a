import { commonEnvSchema, loadEnv } from '@metrivo/observability';
import { z } from 'zod';

export const ledgerEnvSchema = commonEnvSchema.extend({
  LEDGER_PORT: z.coerce.number().int().min(0).max(65535).default(8083),
  MONGODB_DB: z.string().min(1).default('metrivo'),
  KAFKA_GROUP_ID: z.string().min(1).default('metrivo-ledger'),
});
export type LedgerConfig = z.infer<typeof ledgerEnvSchema>;
export const loadLedgerConfig = (env: NodeJS.ProcessEnv = process.env): LedgerConfig => loadEnv(ledgerEnvSchema, env);
