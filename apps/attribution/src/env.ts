import { commonEnvSchema, loadEnv } from '@metrivo/observability';
import { z } from 'zod';

export const attributionEnvSchema = commonEnvSchema.extend({
  /** Health and metrics only; attribution has no public API. */
  ATTRIBUTION_PORT: z.coerce.number().int().min(0).max(65535).default(8082),
  MONGODB_DB: z.string().min(1).default('metrivo'),
  KAFKA_GROUP_ID: z.string().min(1).default('metrivo-attribution'),
  ATTRIBUTION_WINDOW_DAYS: z.coerce.number().int().positive().max(365).default(30),
  /** Late tracker data upgrades published payments for at least this long (DESIGN: ≥ 24 h). */
  LATE_UPGRADE_HOURS: z.coerce.number().int().min(24).default(72),
  /** Sessions are kept for window + late-upgrade horizon + this margin, then deleted (no TTL indexes on FerretDB). */
  SESSION_RETENTION_MARGIN_DAYS: z.coerce.number().int().min(0).max(365).default(7),
  /**
   * A re-sent session with unchanged content is stored again only when its lastSeenAt moved at least this
   * far (attribution never reads lastSeenAt). Unset: 0 (exact) on MongoDB, 1 hour on FerretDB, where every
   * document update scans the collection.
   */
  SESSION_LAST_SEEN_RESOLUTION_MS: z.coerce.number().int().min(0).optional(),
  /** How often expired sessions are deleted. */
  SESSION_CLEANUP_INTERVAL_MS: z.coerce.number().int().positive().default(3_600_000),
  /** How often the outbox sweep looks for states written but not produced (a crash in between). */
  PENDING_SWEEP_INTERVAL_MS: z.coerce.number().int().positive().default(30_000),
  /** A pending state younger than this is probably being produced by its writer right now: left alone. */
  PENDING_STUCK_AFTER_MS: z.coerce.number().int().min(0).default(30_000),
  /** Partitions one instance processes at the same time (order is kept within a partition). */
  ATTRIBUTION_PARTITION_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(3),
  /** Records handed to one handler call (one commit each). */
  ATTRIBUTION_MAX_RECORDS_PER_BATCH: z.coerce.number().int().min(1).max(10_000).default(500),
  /** Produce deadline for attributed states (the batch is retried when Kafka does not acknowledge in time). */
  KAFKA_SEND_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
});
export type AttributionConfig = z.infer<typeof attributionEnvSchema>;
export const loadAttributionConfig = (env: NodeJS.ProcessEnv = process.env): AttributionConfig => loadEnv(attributionEnvSchema, env);
