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

export const gatewayEnvSchema = commonEnvSchema.extend({
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65535).default(8081),
  MONGODB_DB: z.string().min(1).default('metrivo'),
  /** Shared with the tracker: emails become HMAC hashes before anything else sees them. */
  METRIVO_EMAIL_HASH_KEY: z.string().min(16, 'must be at least 16 characters (shared with the tracker)'),
  /** "keyId:base64(32 bytes),…": the first seals new secrets; all of them open old ones. */
  METRIVO_SECRET_KEYS: secretKeysSchema,
  /** How long a webhook may wait for Kafka's acknowledgement before it gets 503 + Retry-After. */
  KAFKA_SEND_TIMEOUT_MS: z.coerce.number().int().positive().default(5000),
  WEBHOOK_BODY_LIMIT_BYTES: z.coerce.number().int().positive().default(1024 * 1024),
  /** Integrations and secrets are cached; admin changes are visible within this many ms (plus one reload) while MongoDB answers. */
  INTEGRATION_CACHE_TTL_MS: z.coerce.number().int().nonnegative().default(2000),
  /**
   * A cached integration still answers this far past the TTL while its reload runs, or after the reload failed with
   * MongoDB unavailable (retried a TTL later); see IntegrationCache.
   */
  INTEGRATION_CACHE_MAX_STALE_MS: z.coerce.number().int().nonnegative().default(60_000),
  DELIVERY_LOG_RETENTION_DAYS: z.coerce.number().int().positive().default(30),
});
export type GatewayConfig = z.infer<typeof gatewayEnvSchema>;
export const loadGatewayConfig = (env: NodeJS.ProcessEnv = process.env): GatewayConfig => loadEnv(gatewayEnvSchema, env);
