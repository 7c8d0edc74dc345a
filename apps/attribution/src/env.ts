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
});
export type AttributionConfig = z.infer<typeof attributionEnvSchema>;
export const loadAttributionConfig = (env: NodeJS.ProcessEnv = process.env): AttributionConfig => loadEnv(attributionEnvSchema, env);
