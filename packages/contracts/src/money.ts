import { z } from 'zod';

/**
 * ISO 4217 codes known to the runtime's ICU data (Node ships full ICU). Using ICU instead of a
 * hand-kept list means new codes arrive with Node upgrades, not with our edits.
 */
export const KNOWN_CURRENCIES: ReadonlySet<string> = new Set(
  Intl.supportedValuesOf('currency').map((c) => c.toLowerCase()),
);

/** Lowercase ISO 4217 code, as Stripe sends it. Upper-case input is accepted and lower-cased. */
export const currencyCode = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z]{3}$/, 'must be a three-letter ISO 4217 currency code')
  .refine((c) => KNOWN_CURRENCIES.has(c), 'is not a known ISO 4217 currency code');

/** Integer amount in the currency's minor unit. Never a float. */
export const minorUnits = z.number().int('must be an integer amount in minor units').safe();
export const nonNegativeMinorUnits = minorUnits.nonnegative();

// Exponents as Stripe documents them; used only to display amounts, never to compute.
const ZERO_DECIMAL = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'vnd', 'vuv', 'xaf', 'xof', 'xpf']);
const THREE_DECIMAL = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);

/** Number of decimals the provider uses for `currency` (ISK and UGX are sent as two-decimal). */
export function currencyExponent(currency: string): number {
  const c = currency.toLowerCase();
  if (ZERO_DECIMAL.has(c)) return 0;
  if (THREE_DECIMAL.has(c)) return 3;
  return 2;
}

/** Display-only rendering: formatMinor(4900, 'eur') === '49.00 EUR'. Uses bigint-free string math. */
export function formatMinor(amountMinor: number, currency: string): string {
  const exp = currencyExponent(currency);
  const sign = amountMinor < 0 ? '-' : '';
  const digits = Math.abs(amountMinor).toString().padStart(exp + 1, '0');
  const whole = exp === 0 ? digits : digits.slice(0, -exp);
  const frac = exp === 0 ? '' : `.${digits.slice(-exp)}`;
  return `${sign}${whole}${frac} ${currency.toUpperCase()}`;
}
