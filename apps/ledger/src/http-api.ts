import { isDatabaseUnavailable } from '@metrivo/observability';
import { Router, type NextFunction, type Request, type Response } from 'express';
import type { LedgerEntry } from './ledger-entries';
import { type LedgerStore, type PaymentsPosition, type RevenueGrouping, revenueGroupings } from './ledger-store';

/**
 * The ledger's HTTP read API (DESIGN.md section 4), as an Express 5 router to mount at the app's root.
 *
 * GET /v1/websites/:websiteId/summary?livemode=&from=&to=
 *   {"currencies":{"eur":{"grossMinor","refundedMinor","netMinor","payments"}},"byConfidence":{"high":{"eur":net},…}}
 * GET /v1/websites/:websiteId/payments?livemode=&limit=&cursor=
 *   {"payments":[PaymentState…],"nextCursor"}: latest recorded states, newest paidAt first (admin's payments pages)
 * GET /v1/websites/:websiteId/payments/:paymentKey        (key URL-encoded)
 *   {"state":PaymentState,"entries":[entry…]} (entries by revision, then seq) | 404 unknown_payment
 * GET /v1/websites/:websiteId/revenue?groupBy=day|channel|source|confidence&livemode=&from=&to=&limit=&cursor=
 *   {"groupBy","livemode","from","to","rows":[{"key","currency","grossMinor","refundedMinor","netMinor"}],"nextCursor"}
 * GET /v1/reconciliation?websiteId=&against=recorded|topic
 *   against=recorded (default): entries vs the ledger's own recorded states
 *     {"ok","checked","pendingPayments","mismatches":[{"websiteId","paymentKey","expected","actual"}]}
 *   against=topic: entries vs the latest PaymentStates read from the compacted revenue topic (reads the topic:
 *     seconds, not milliseconds); mismatches carry "ledgerRevision"/"topicRevision"/"lagging".
 *
 * Query semantics, shared by summary and revenue:
 *  - livemode: `true` (default) or `false`. Live and test money are never added together.
 *  - from / to filter on each entry's money time (occurredAt): paidAt for revenue, the refund's time
 *    (refundedAt, else the state's updatedAt) for refunds; attribution moves and merge reversals keep the money
 *    time of what they move, so a range always shows its money under the attribution known now.
 *    `from` is inclusive, `to` exclusive. Each is an ISO-8601 timestamp with a zone (`2026-11-29T10:00:00Z`,
 *    `…+01:00`) or a UTC date `YYYY-MM-DD`; a date in `from` means that day's 00:00 UTC, a date in `to` includes
 *    that whole day (up to the next day's 00:00 UTC). Both optional; from must be before to.
 *  - payments (summary): distinct payments whose revenue booked in the range is positive (a payment merged into
 *    another one nets to zero and is counted once, under the key that carries the money).
 *  - revenue rows: one per (group key, currency), sorted by key then currency; days are UTC `YYYY-MM-DD`;
 *    channel/source are `unattributed` when no session is credited; source is utm.source, else the referrer's host,
 *    else `direct`. Groups whose amounts all cancel out are omitted. Pagination: `limit` (1–1000, default 100)
 *    rows per page; when more follow, `nextCursor` is an opaque string to pass as `cursor` for the next page
 *    (keyset: pages stay consistent while new entries arrive).
 *  - cost: whole UTC months and days are read from the store's rollups; a bound inside a UTC day sums that
 *    partial day from the entries (an index range on MongoDB, a collection scan on FerretDB).
 * Errors: {"error":{"code","message"}}: 400 invalid_query (the message names the parameter), 404 unknown_payment,
 * 503 unavailable + Retry-After while MongoDB cannot be reached (failover, outage), 500 internal_error otherwise.
 */

export type LedgerReader = Pick<LedgerStore, 'summary' | 'revenue' | 'getPayment' | 'reconcileRecorded' | 'listPayments'>;

export interface LedgerRouterOptions {
  store: LedgerReader;
  /** Reconciliation against the revenue topic (GET /v1/reconciliation?against=topic); absent: 400 for that value. */
  reconcileWithTopic?: (websiteId: string) => Promise<unknown>;
  /** Called with unexpected errors before answering 500 or 503 (e.g. the app's logger). */
  onError?: (err: unknown, req: Request) => void;
}

export class InvalidQueryError extends Error {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message);
    this.name = 'InvalidQueryError';
  }
}

type QueryValue = unknown;

function single(param: string, value: QueryValue): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new InvalidQueryError(param, `${param} must be given once, as a plain value`);
  return value;
}

/** `true` (default) or `false`. */
export function parseLivemode(value: QueryValue): boolean {
  const v = single('livemode', value);
  if (v === undefined || v === '' || v === 'true') return true;
  if (v === 'false') return false;
  throw new InvalidQueryError('livemode', `livemode must be "true" or "false", got "${v.slice(0, 50)}"`);
}

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function validCalendarDate(y: string, m: string, d: string): boolean {
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(m) - 1, Number(d)); // Date.UTC would read years 0–99 as 1900–1999
  return date.getUTCFullYear() === Number(y) && date.getUTCMonth() === Number(m) - 1 && date.getUTCDate() === Number(d);
}

/** A from/to bound; date-only `to` means the end of that day (next day 00:00 UTC, exclusive). */
export function parseBound(param: 'from' | 'to', value: QueryValue): Date | undefined {
  const v = single(param, value);
  if (v === undefined || v === '') return undefined;
  const dateOnly = DATE_ONLY.exec(v);
  const dateTime = dateOnly ? null : DATE_TIME.exec(v);
  const parts = dateOnly ?? dateTime;
  const ms = parts ? Date.parse(dateOnly ? `${v}T00:00:00Z` : v) : NaN;
  if (!parts || Number.isNaN(ms) || !validCalendarDate(parts[1]!, parts[2]!, parts[3]!)) {
    throw new InvalidQueryError(param, `${param} must be an ISO-8601 timestamp with a zone (2026-11-29T10:00:00Z) or a date (2026-11-29), got "${v.slice(0, 50)}"`);
  }
  return new Date(dateOnly && param === 'to' ? ms + 24 * 60 * 60 * 1000 : ms);
}

export function parseRange(query: Record<string, QueryValue>): { from?: Date; to?: Date } {
  const from = parseBound('from', query.from);
  const to = parseBound('to', query.to);
  if (from && to && from.getTime() >= to.getTime()) throw new InvalidQueryError('to', 'to must be after from');
  return { ...(from ? { from } : {}), ...(to ? { to } : {}) };
}

export function parseGroupBy(value: QueryValue): RevenueGrouping {
  const v = single('groupBy', value);
  if (v === undefined || v === '') throw new InvalidQueryError('groupBy', `groupBy is required: one of ${revenueGroupings.join(', ')}`);
  if (!(revenueGroupings as readonly string[]).includes(v)) {
    throw new InvalidQueryError('groupBy', `groupBy must be one of ${revenueGroupings.join(', ')}, got "${v.slice(0, 50)}"`);
  }
  return v as RevenueGrouping;
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

export function parseLimit(value: QueryValue): number {
  const v = single('limit', value);
  if (v === undefined || v === '') return DEFAULT_LIMIT;
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > MAX_LIMIT) throw new InvalidQueryError('limit', `limit must be an integer from 1 to ${MAX_LIMIT}`);
  return Number(v);
}

export function encodePaymentsCursor(position: PaymentsPosition): string {
  return Buffer.from(JSON.stringify([position.paidAt.toISOString(), position.id])).toString('base64url');
}

export function decodePaymentsCursor(value: QueryValue): PaymentsPosition | undefined {
  const v = single('cursor', value);
  if (v === undefined || v === '') return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(v, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === 'string' && typeof parsed[1] === 'string') {
      const paidAt = new Date(parsed[0]);
      // Exactly what encodePaymentsCursor wrote (toISOString), so a cursor of another list is refused.
      if (!Number.isNaN(paidAt.getTime()) && paidAt.toISOString() === parsed[0]) return { paidAt, id: parsed[1] };
    }
  } catch {
    // fall through
  }
  throw new InvalidQueryError('cursor', 'cursor is not one this API returned (pass nextCursor unchanged)');
}

export function encodeCursor(position: { key: string; currency: string }): string {
  return Buffer.from(JSON.stringify([position.key, position.currency])).toString('base64url');
}

export function decodeCursor(value: QueryValue): { key: string; currency: string } | undefined {
  const v = single('cursor', value);
  if (v === undefined || v === '') return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(v, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === 'string' && typeof parsed[1] === 'string') {
      return { key: parsed[0], currency: parsed[1] };
    }
  } catch {
    // fall through
  }
  throw new InvalidQueryError('cursor', 'cursor is not one this API returned (pass nextCursor unchanged)');
}

/** The explain trail as the API shows it (storage-only fields left out). */
export function presentEntry(e: LedgerEntry): Omit<LedgerEntry, 'attributionKey'> {
  const { attributionKey: _omit, ...shown } = e;
  return shown;
}

/** Retry-After of a 503 while MongoDB is unreachable: about a replica-set election. */
const DATABASE_RETRY_AFTER_SECONDS = 5;

function sendError(res: Response, status: number, code: string, message: string): void {
  res.status(status).json({ error: { code, message } });
}

export function createLedgerRouter({ store, onError, reconcileWithTopic }: LedgerRouterOptions): Router {
  const router = Router();

  router.get('/v1/websites/:websiteId/summary', async (req, res) => {
    const query = req.query as Record<string, QueryValue>;
    const livemode = parseLivemode(query.livemode);
    const range = parseRange(query);
    res.json(await store.summary({ websiteId: req.params.websiteId, livemode, ...range }));
  });

  router.get('/v1/websites/:websiteId/payments', async (req, res) => {
    const query = req.query as Record<string, QueryValue>;
    const livemode = parseLivemode(query.livemode);
    const limit = parseLimit(query.limit);
    const after = decodePaymentsCursor(query.cursor);
    const page = await store.listPayments({ websiteId: req.params.websiteId, livemode, limit, after });
    res.json({ payments: page.payments, nextCursor: page.next ? encodePaymentsCursor(page.next) : null });
  });

  router.get('/v1/websites/:websiteId/payments/:paymentKey', async (req, res) => {
    const { websiteId, paymentKey } = req.params;
    const found = await store.getPayment(websiteId, paymentKey);
    if (!found) {
      sendError(res, 404, 'unknown_payment', `No payment ${JSON.stringify(paymentKey)} is recorded for website ${JSON.stringify(websiteId)}.`);
      return;
    }
    res.json({ state: found.state, entries: found.entries.map(presentEntry) });
  });

  router.get('/v1/websites/:websiteId/revenue', async (req, res) => {
    const query = req.query as Record<string, QueryValue>;
    const groupBy = parseGroupBy(query.groupBy);
    const livemode = parseLivemode(query.livemode);
    const range = parseRange(query);
    const limit = parseLimit(query.limit);
    const after = decodeCursor(query.cursor);
    const page = await store.revenue({ websiteId: req.params.websiteId, livemode, groupBy, limit, after, ...range });
    res.json({
      groupBy,
      livemode,
      from: range.from?.toISOString() ?? null,
      to: range.to?.toISOString() ?? null,
      rows: page.rows,
      nextCursor: page.next ? encodeCursor(page.next) : null,
    });
  });

  router.get('/v1/reconciliation', async (req, res) => {
    const query = req.query as Record<string, QueryValue>;
    const websiteId = single('websiteId', query.websiteId);
    if (!websiteId) throw new InvalidQueryError('websiteId', 'websiteId is required');
    const against = single('against', query.against) ?? 'recorded';
    if (against === 'recorded') {
      res.json(await store.reconcileRecorded(websiteId));
    } else if (against === 'topic' && reconcileWithTopic) {
      res.json(await reconcileWithTopic(websiteId));
    } else {
      throw new InvalidQueryError('against', `against must be ${reconcileWithTopic ? '"recorded" or "topic"' : '"recorded" (this instance cannot read the topic)'}`);
    }
  });

  // Last route of the API: every answer is JSON, also for a wrong path (the admin app tells "no such payment"
  // from "wrong ledger URL" by the error code, not by the status alone).
  router.use((req: Request, res: Response) => {
    sendError(res, 404, 'not_found', `No ledger route for ${req.method} ${req.path.slice(0, 200)}.`);
  });

  router.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    if (err instanceof InvalidQueryError) {
      sendError(res, 400, 'invalid_query', err.message);
      return;
    }
    // Express's own client errors, e.g. a path parameter that is not valid percent-encoding (URIError, 400).
    const status = (err as { status?: unknown } | null)?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      sendError(res, status, 'bad_request', status === 400 && err instanceof URIError
        ? 'A path segment is not valid percent-encoding (encode payment keys with encodeURIComponent).'
        : 'The request could not be read.');
      return;
    }
    onError?.(err, req);
    if (isDatabaseUnavailable(err)) {
      // Not the request and not a bug: callers (the admin app, dashboards) and balancers retry a 503.
      res.setHeader('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
      sendError(res, 503, 'unavailable', 'The ledger database is unavailable; try again shortly.');
      return;
    }
    sendError(res, 500, 'internal_error', 'The ledger could not answer this request; try again later.');
  });

  return router;
}
