import { createHash } from 'node:crypto';
import type { Confidence } from '@metrivo/contracts';
import type { LedgerEntry, LedgerStep, RecordedPayment } from './ledger-entries';

/**
 * Rollups: per (website, mode, UTC day) and per (website, mode, UTC month) the sums the summary and revenue API
 * need, so that a query reads a few small documents by `_id` (whole months, then the days at the range's ends)
 * instead of aggregating every entry (FerretDB uses no secondary index, and even MongoDB would read all of a
 * website's entries for an all-time summary).
 *
 * A rollup is derived data: it always equals the sum of the entries of its period, which stay the source of truth.
 * It is kept up to date by read-modify-write with a version check (no transactions), and made idempotent by
 * per-payment markers: `applied[paymentDocId] = {revision, atMs}` says "this payment's transitions up to that
 * revision are in this document". A retry after a crash or a conflict, or another instance that recomputes the
 * same chain, adds only the steps above the marker. Markers of finalized payments are removed again; a writer
 * that finds no marker checks the payment's record first (see applyRollups in the store).
 *
 * Everything in this file is pure: the store does the reads and conditional writes.
 */

export interface RollupCell {
  currency: string;
  confidence: Confidence;
  channel: string;
  sourceName: string;
  grossMinor: number;
  refundedMinor: number;
  netMinor: number;
}

export interface AppliedMarker {
  revision: number;
  /** When the marker was written (epoch ms): markers a crash left behind expire. */
  atMs: number;
}

export interface RollupKey {
  websiteId: string;
  livemode: boolean;
  /** A UTC day (YYYY-MM-DD, an entry's occurredDay) or a UTC month (YYYY-MM): the entries whose day starts with it. */
  period: string;
}

export interface Rollup extends RollupKey {
  /** Sums of the period's entries per (currency, confidence, channel, sourceName); a cell is kept even at zero. */
  cells: RollupCell[];
  /** Per currency: payments whose gross held in this period is positive (each payment's gross sits at one instant). */
  payments: Record<string, number>;
  /** paymentDocId → the revision up to which that payment's transitions are included. */
  applied: Record<string, AppliedMarker>;
}

export function rollupId(key: RollupKey): string {
  return createHash('sha256').update(JSON.stringify(['rollup', key.websiteId, key.livemode, key.period])).digest('base64url');
}

export function emptyRollup(key: RollupKey): Rollup {
  return { websiteId: key.websiteId, livemode: key.livemode, period: key.period, cells: [], payments: {}, applied: {} };
}

/** The day rollup and the month rollup an entry of `day` counts in. */
export function periodsOf(websiteId: string, livemode: boolean, day: string): [RollupKey, RollupKey] {
  return [
    { websiteId, livemode, period: day },
    { websiteId, livemode, period: day.slice(0, 7) },
  ];
}

/** A payment's transition as the store applies it: recorded state before, then one step per fresh revision. */
export interface PaymentSteps {
  paymentDocId: string;
  before: RecordedPayment | null;
  steps: LedgerStep[];
}

/** Every rollup (mode, day and month) a payment's steps touch: those of its entries (count changes come with gross entries). */
export function touchedRollups(p: PaymentSteps): RollupKey[] {
  const seen = new Map<string, RollupKey>();
  for (const step of p.steps) {
    for (const e of step.entries) {
      for (const key of periodsOf(e.websiteId, e.livemode, e.occurredDay)) seen.set(rollupId(key), key);
    }
  }
  return [...seen.values()];
}

/** Per currency, 1 when the payment's recorded holdings put positive gross in this (mode, period). */
function countedIn(recorded: RecordedPayment | null, key: RollupKey): Record<string, number> {
  if (!recorded || recorded.state.livemode !== key.livemode) return {};
  let gross = 0;
  for (const h of recorded.holdings) if (h.component === 'gross' && h.occurredAt.startsWith(key.period)) gross += h.amountMinor;
  return gross > 0 ? { [recorded.state.currency]: 1 } : {};
}

export interface Contribution {
  cells: RollupCell[];
  payments: Record<string, number>;
  /** The revision the payment's marker moves to. */
  revision: number;
}

function cellKey(c: Pick<RollupCell, 'currency' | 'confidence' | 'channel' | 'sourceName'>): string {
  return JSON.stringify([c.currency, c.confidence, c.channel, c.sourceName]);
}

type CellEntry = Pick<LedgerEntry, 'currency' | 'attribution' | 'component' | 'amountMinor'>;

/** The cells of one rollup, looked up by (currency, confidence, channel, sourceName); creates cells as needed. */
class CellTable {
  private readonly index: Map<string, RollupCell>;

  constructor(private readonly cells: RollupCell[]) {
    this.index = new Map(cells.map((c) => [cellKey(c), c]));
  }

  private cellFor(probe: Pick<RollupCell, 'currency' | 'confidence' | 'channel' | 'sourceName'>): RollupCell {
    const k = cellKey(probe);
    let cell = this.index.get(k);
    if (!cell) {
      cell = { currency: probe.currency, confidence: probe.confidence, channel: probe.channel, sourceName: probe.sourceName, grossMinor: 0, refundedMinor: 0, netMinor: 0 };
      this.cells.push(cell);
      this.index.set(k, cell);
    }
    return cell;
  }

  addEntry(e: CellEntry): void {
    const cell = this.cellFor({ currency: e.currency, confidence: e.attribution.confidence, channel: e.attribution.channel, sourceName: e.attribution.sourceName });
    if (e.component === 'gross') cell.grossMinor += e.amountMinor;
    else cell.refundedMinor -= e.amountMinor;
    cell.netMinor += e.amountMinor;
  }

  addCell(c: RollupCell): void {
    const cell = this.cellFor(c);
    cell.grossMinor += c.grossMinor;
    cell.refundedMinor += c.refundedMinor;
    cell.netMinor += c.netMinor;
  }
}

/**
 * What one payment adds to one rollup, given the marker the rollup holds for it (undefined: none of this
 * chain is in it). Only steps above the marker count; the payment count moves from what the payment held at the
 * marker (or before the chain) to what it holds after the last step. Null when nothing is left to add.
 */
export function rollupContribution(p: PaymentSteps, key: RollupKey, markerRevision: number | undefined): Contribution | null {
  const last = p.steps[p.steps.length - 1];
  if (!last) return null;
  const marker = markerRevision ?? Number.NEGATIVE_INFINITY;
  if (last.revision <= marker) return null;
  let base = p.before;
  const cells: RollupCell[] = [];
  for (const step of p.steps) {
    if (step.revision <= marker) {
      base = step.after;
      continue;
    }
    const table = new CellTable(cells);
    for (const e of step.entries) if (e.livemode === key.livemode && e.occurredDay.startsWith(key.period) && e.websiteId === key.websiteId) table.addEntry(e);
  }
  const payments: Record<string, number> = {};
  const was = countedIn(base, key);
  const now = countedIn(last.after, key);
  for (const c of new Set([...Object.keys(was), ...Object.keys(now)])) {
    const delta = (now[c] ?? 0) - (was[c] ?? 0);
    if (delta !== 0) payments[c] = delta;
  }
  return { cells, payments, revision: last.revision };
}

/** Adds a contribution to a rollup (mutates it) and sets the payment's marker. */
export function addContribution(rollup: Rollup, paymentDocId: string, c: Contribution, nowMs: number): void {
  const table = new CellTable(rollup.cells);
  for (const add of c.cells) table.addCell(add);
  for (const [currency, delta] of Object.entries(c.payments)) rollup.payments[currency] = (rollup.payments[currency] ?? 0) + delta;
  rollup.applied[paymentDocId] = { revision: c.revision, atMs: nowMs };
}

/** Markers older than `ttlMs` that this process did not see finalized: candidates for expiry (see pruneMarkers). */
export function expiredMarkers(rollup: Rollup, nowMs: number, ttlMs: number, finalized: ReadonlyMap<string, number>): string[] {
  return Object.entries(rollup.applied)
    .filter(([pid, marker]) => nowMs - marker.atMs > ttlMs && !((finalized.get(pid) ?? -1) >= marker.revision))
    .map(([pid]) => pid);
}

/**
 * Drops markers that are no longer needed: those of payments this process finalized at (or beyond) the marked
 * revision, and those older than `ttlMs` (left by a writer that crashed) unless their payment is still pending
 * (`stillPending`: its transition may be completed later and must find the marker). Returns how many went.
 */
export function pruneMarkers(rollup: Rollup, nowMs: number, ttlMs: number, finalized: ReadonlyMap<string, number>, stillPending: ReadonlySet<string> = new Set()): number {
  let dropped = 0;
  for (const [pid, marker] of Object.entries(rollup.applied)) {
    const finalizedAt = finalized.get(pid);
    if ((finalizedAt !== undefined && finalizedAt >= marker.revision) || (nowMs - marker.atMs > ttlMs && !stillPending.has(pid))) {
      delete rollup.applied[pid];
      dropped += 1;
    }
  }
  return dropped;
}

/** Entry fields the rollups are built from (what `foldEntries` reads). */
export type RollupEntryFields = Pick<LedgerEntry, 'websiteId' | 'paymentKey' | 'livemode' | 'occurredDay' | 'currency' | 'attribution' | 'component' | 'amountMinor'>;

/**
 * Rollups computed from scratch from entries (backfill, repair, verification). Payment counts follow the
 * entries-based definition: per (mode, period, currency), payments whose gross entries sum to more than zero.
 */
export class RollupFolder {
  private readonly rollups = new Map<string, Rollup>();
  private readonly tables = new Map<string, CellTable>();
  private readonly grossByPayment = new Map<string, number>();

  add(e: RollupEntryFields): void {
    for (const key of periodsOf(e.websiteId, e.livemode, e.occurredDay)) this.addTo(key, e);
  }

  private addTo(key: RollupKey, e: RollupEntryFields): void {
    const id = rollupId(key);
    let table = this.tables.get(id);
    if (!table) {
      const rollup = emptyRollup(key);
      table = new CellTable(rollup.cells);
      this.rollups.set(id, rollup);
      this.tables.set(id, table);
    }
    table.addEntry(e);
    if (e.component === 'gross') {
      const pk = JSON.stringify([id, e.currency, e.paymentKey]);
      this.grossByPayment.set(pk, (this.grossByPayment.get(pk) ?? 0) + e.amountMinor);
    }
  }

  /** The rollups by id, with payment counts. */
  result(): Map<string, Rollup> {
    for (const r of this.rollups.values()) r.payments = {};
    for (const [pk, gross] of this.grossByPayment) {
      if (gross <= 0) continue;
      const [id, currency] = JSON.parse(pk) as [string, string, string];
      const r = this.rollups.get(id)!;
      r.payments[currency] = (r.payments[currency] ?? 0) + 1;
    }
    return this.rollups;
  }
}

/** Whether two rollups hold the same figures (cells compared as sets; zero cells and counts ignored). */
export function sameFigures(a: Pick<Rollup, 'cells' | 'payments'>, b: Pick<Rollup, 'cells' | 'payments'>): boolean {
  const norm = (r: Pick<Rollup, 'cells' | 'payments'>): string => {
    const cells = r.cells
      .filter((c) => c.grossMinor !== 0 || c.refundedMinor !== 0 || c.netMinor !== 0)
      .map((c) => JSON.stringify([cellKey(c), c.grossMinor, c.refundedMinor, c.netMinor]))
      .sort();
    const payments = Object.entries(r.payments).filter(([, n]) => n !== 0).sort();
    return JSON.stringify([cells, payments]);
  };
  return norm(a) === norm(b);
}

// ---------- time ranges: which parts a query reads from rollups and which from entries ----------

const DAY_MS = 86_400_000;
const FIRST_INSTANT = Date.parse('0000-01-01T00:00:00.000Z');
/** The end of 9999-12-31 (exclusive). */
const LAST_INSTANT = Date.parse('9999-12-31T00:00:00.000Z') + DAY_MS;

export function utcDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function dayStart(day: string): Date {
  return new Date(`${day}T00:00:00.000Z`);
}

export interface RangePlan {
  /** Whole UTC days read from rollups: fromDay ≤ day < toDay; null bounds are open. Absent: no whole day. */
  days: { fromDay: string | null; toDay: string | null } | null;
  /** Parts of days at the edges (a bound that is not a UTC midnight), read from entries. */
  edges: { from: Date; to: Date }[];
}

/**
 * Splits [from, to) into whole UTC days (rollups) and at most two partial days (entries). A UTC date as bound
 * (the API's `to=2026-11-29` means up to the end of that day) is always whole days.
 */
export function planRange(fromBound: Date | undefined, toBound: Date | undefined): RangePlan {
  // Periods are YYYY-MM-DD strings: bounds outside years 0000–9999 (`to=9999-12-31` is 10000-01-01) hold no
  // money and would not compare as strings; they mean "open" (or an empty range when the whole range is outside).
  if ((fromBound && fromBound.getTime() >= LAST_INSTANT) || (toBound && toBound.getTime() <= FIRST_INSTANT)) return { days: null, edges: [] };
  const from = fromBound && fromBound.getTime() > FIRST_INSTANT ? fromBound : undefined;
  const to = toBound && toBound.getTime() < LAST_INSTANT ? toBound : undefined;
  const sinceMidnight = (d: Date): number => ((d.getTime() % DAY_MS) + DAY_MS) % DAY_MS;
  const isMidnight = (d: Date): boolean => sinceMidnight(d) === 0;
  if (from && to && from.getTime() >= to.getTime()) return { days: null, edges: [] };
  const firstWholeMs = from ? (isMidnight(from) ? from.getTime() : from.getTime() - sinceMidnight(from) + DAY_MS) : null;
  // `from` inside the last day there is (9999-12-31): no whole day follows, and year 10000 has no day string.
  if (firstWholeMs !== null && firstWholeMs >= LAST_INSTANT) return { days: null, edges: [{ from: from!, to: to ?? new Date(LAST_INSTANT) }] };
  const firstWhole = firstWholeMs !== null ? utcDay(new Date(firstWholeMs)) : null;
  const endWhole = to ? utcDay(new Date(to.getTime() - sinceMidnight(to))) : null;
  if (firstWhole !== null && endWhole !== null && firstWhole >= endWhole) {
    // No whole day inside: the range lies within one day or spans one midnight.
    return { days: null, edges: [{ from: from!, to: to! }] };
  }
  const edges: { from: Date; to: Date }[] = [];
  if (from && !isMidnight(from)) edges.push({ from, to: dayStart(firstWhole!) });
  if (to && !isMidnight(to)) edges.push({ from: dayStart(endWhole!), to });
  return { days: { fromDay: firstWhole, toDay: endWhole }, edges };
}

export function dayInPlan(day: string, days: NonNullable<RangePlan['days']>): boolean {
  return (days.fromDay === null || day >= days.fromDay) && (days.toDay === null || day < days.toDay);
}

function nextMonthStart(month: string): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  // After 9999-12 comes year 10000, which has no YYYY-MM-DD string: a value above every day string instead, so
  // only an open end (`toDay` null) covers all of December 9999.
  if (y === 9999 && m === 12) return '9999-12-32';
  return m === 12 ? `${String(y + 1).padStart(4, '0')}-01-01` : `${String(y).padStart(4, '0')}-${String(m + 1).padStart(2, '0')}-01`;
}

/**
 * The periods to read for the whole days of a plan, given the days that have rollups: a month when the range
 * covers all of it (unless every day is wanted on its own, e.g. revenue by day), else its days.
 */
export function periodsToRead(listedDays: readonly string[], days: NonNullable<RangePlan['days']>, byDay: boolean): string[] {
  const periods = new Set<string>();
  for (const day of listedDays) {
    if (!dayInPlan(day, days)) continue;
    const month = day.slice(0, 7);
    const wholeMonth = (days.fromDay === null || days.fromDay <= `${month}-01`) && (days.toDay === null || days.toDay >= nextMonthStart(month));
    periods.add(!byDay && wholeMonth ? month : day);
  }
  return [...periods].sort();
}
