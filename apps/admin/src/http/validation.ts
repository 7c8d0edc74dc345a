import { integrationProviders, type IntegrationProvider } from '@metrivo/integration-store';
import { z } from 'zod';
import { secretFormatProblem } from '../providers';

/** One failing input field, as listed in a 422 `validation_failed` body. */
export interface FieldIssue {
  path: string;
  message: string;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; issues: FieldIssue[] };

export function issuesOf(error: z.ZodError): FieldIssue[] {
  return error.issues.map((i) => ({ path: i.path.length ? i.path.map(String).join('.') : '(body)', message: i.message }));
}

function validate<S extends z.ZodType>(schema: S, input: unknown): Validated<z.infer<S>> {
  const r = schema.safeParse(input);
  return r.success ? { ok: true, value: r.data } : { ok: false, issues: issuesOf(r.error) };
}

/**
 * Website ids come from the rest of Metrivo; we only require something that is safe as one URL path
 * segment and Kafka key: 1-255 visible characters without spaces, slashes, '?' or '#', and not only dots:
 * encodeURIComponent keeps "." and "..", which URL resolution then treats as "this" and "parent" segment, so
 * `/websites/../api-keys` would lead to another page. Longer runs of dots are refused too, for one simple rule.
 */
export const websiteIdSchema = z
  .string({ error: 'is required' })
  .trim()
  .min(1, 'is required')
  .max(255, 'must be at most 255 characters')
  .regex(/^[^\s/?#\\]*$/, 'must not contain spaces, slashes, "?" or "#"')
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters')
  .refine((s) => !/^\.+$/.test(s), 'must not consist only of dots');

export const providerSchema = z.enum(integrationProviders, { error: `must be one of ${integrationProviders.join(', ')}` });

/**
 * `livemode` (extension to the contract body, default true): Razorpay and Dodo payloads do not say
 * whether they are test or live, so the integration carries the mode and the merchant registers a
 * test and a live endpoint as two integrations. Stripe events carry their own mode; manual API keys too.
 */
export const createIntegrationSchema = z.strictObject(
  { websiteId: websiteIdSchema, provider: providerSchema, livemode: z.boolean({ error: 'must be true or false' }).optional() },
  { error: 'must be a JSON object' },
);
export type CreateIntegrationInput = z.infer<typeof createIntegrationSchema>;

/** Stripe keeps an old secret valid for up to 24 h on a roll; we allow a week for slower merchants. */
export const MAX_KEEP_PREVIOUS_HOURS = 168;

const keepPreviousForHours = z
  .number({ error: 'must be a whole number of hours' })
  .int('must be a whole number of hours')
  .min(0, 'must be 0 or more')
  .max(MAX_KEEP_PREVIOUS_HOURS, `must be at most ${MAX_KEEP_PREVIOUS_HOURS} (one week)`);

const secretValue = z.string({ error: 'is required' }).min(1, 'is required').max(4096, 'must be at most 4096 characters');

export function setSecretSchema(provider: IntegrationProvider) {
  return z.strictObject(
    {
      secret: secretValue.superRefine((secret, ctx) => {
        const problem = secretFormatProblem(provider, secret);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
      keepPreviousForHours: keepPreviousForHours.optional(),
    },
    { error: 'must be a JSON object' },
  );
}
export type SetSecretInput = { secret: string; keepPreviousForHours?: number | undefined };

export const createApiKeySchema = z.strictObject({ livemode: z.boolean({ error: 'must be true or false' }).optional() }, { error: 'must be a JSON object' });

export const validateCreateIntegration = (body: unknown) => validate(createIntegrationSchema, body);
export const validateSetSecret = (provider: IntegrationProvider, body: unknown): Validated<SetSecretInput> => validate(setSecretSchema(provider), body);
/** An absent body means "defaults" (a live key). */
export const validateCreateApiKey = (body: unknown) => validate(createApiKeySchema, body ?? {});
export const validateWebsiteId = (value: unknown) => validate(websiteIdSchema, value);

/** HTML forms send strings: "24" → 24, "" → undefined. Anything else is left for the schema to reject. */
export function hoursFromForm(value: unknown): unknown {
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'string' && /^\s*-?\d+\s*$/.test(value)) return Number(value);
  return value;
}

/** Only same-site relative paths, so a crafted `next` cannot send staff elsewhere after login. */
export function safeNextPath(next: unknown): string {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  if (/[\u0000-\u001f]/.test(next) || next.length > 1000) return '/';
  return next;
}

/** `?limit=` with a default and a cap; junk falls back to the default rather than erroring. */
export function limitParam(value: unknown, fallback: number, max: number): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : fallback;
  return Math.min(Math.max(n, 1), max);
}
