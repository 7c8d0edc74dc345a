import { z } from 'zod';

/** Variables every app reads; apps extend this with their own. */
export const commonEnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  METRIVO_OTEL_EXPORTER: z.enum(['none', 'console', 'otlp']).default('none'),
  KAFKA_BROKERS: z
    .string()
    .default('127.0.0.1:9092')
    .transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean))
    .refine((list) => list.length > 0 && list.every((b) => /^[^:\s]+:\d+$/.test(b)), 'must be a comma-separated list of host:port'),
  MONGODB_URI: z.string().regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// or mongodb+srv:// URI').default('mongodb://127.0.0.1:27017'),
  SHUTDOWN_DEADLINE_MS: z.coerce.number().int().positive().default(25000),
});

export class EnvError extends Error {
  override name = 'EnvError';
}

/**
 * Validates `env` against `schema`; on failure throws an EnvError listing every bad variable, so an
 * app fails fast at start with one readable message instead of misbehaving later.
 */
export function loadEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const r = schema.safeParse(env);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `  - ${i.path.join('.') || '(env)'}: ${i.message}`);
  throw new EnvError(`invalid configuration:\n${lines.join('\n')}`);
}

/** Entry-point helper: print a config error without a stack trace and exit 1. */
export function exitOnEnvError(err: unknown): never {
  if (err instanceof EnvError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
