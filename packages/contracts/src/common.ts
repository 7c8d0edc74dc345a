import { z } from 'zod';

export const SCHEMA_VERSION = 1 as const;
export const schemaVersion = z.literal(SCHEMA_VERSION);

/** ISO-8601 UTC timestamp with milliseconds optional, e.g. 2026-11-29T10:00:00.000Z. */
export const isoTimestamp = z.iso.datetime({ offset: false, message: 'must be an ISO-8601 UTC timestamp (…Z)' });

/** The longest id the contracts accept (event ids, provider ids, refs, keys' id part). */
export const MAX_ID_LENGTH = 255;
export const id = z.string().min(1, 'must not be empty').max(MAX_ID_LENGTH, `must be at most ${MAX_ID_LENGTH} characters`);
export const nullableId = id.nullable();

export const providers = ['stripe', 'razorpay', 'dodo', 'manual'] as const;
export const provider = z.enum(providers);
export type Provider = z.infer<typeof provider>;

/** Lowercase hex HMAC-SHA256 (64 chars). */
export const emailHash = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex HMAC-SHA256 (64 characters)');
