import { commonEnvSchema, loadEnv } from '@metrivo/observability';
import { z } from 'zod';

export const ledgerEnvSchema = commonEnvSchema.extend({
  /** The read API (DESIGN.md section 4), health and metrics. 0 picks a free port (tests). */
  LEDGER_PORT: z.coerce.number().int().min(0).max(65535).default(8083),
  MONGODB_DB: z.string().min(1).default('metrivo'),
  KAFKA_GROUP_ID: z.string().min(1).default('metrivo-ledger'),
  /** Records handed to one store call (one write-ahead round, one entries insert, one commit). */
  LEDGER_MAX_RECORDS_PER_BATCH: z.coerce.number().int().min(1).max(10_000).default(500),
  /** Partitions one instance applies at the same time (keys never span partitions, so they never conflict). */
  LEDGER_PARTITION_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  /** How often transitions left pending by a crashed instance are completed (0: only at startup). */
  LEDGER_PENDING_SWEEP_MS: z.coerce.number().int().min(0).default(60_000),
});
export type LedgerConfig = z.infer<typeof ledgerEnvSchema>;
export const loadLedgerConfig = (env: NodeJS.ProcessEnv = process.env): LedgerConfig => loadEnv(ledgerEnvSchema, env);
