import { paymentStateSchema, type PaymentState } from '@metrivo/contracts';
import { outgoingTraceHeaders } from '@metrivo/observability';
import { z } from 'zod';

/**
 * What admin reads from the ledger app (DESIGN.md §4, ledger API). An interface so tests and the UI
 * can run against a fake ledger; the HTTP implementation is the real one.
 */
export interface LedgerClient {
  /** Latest payments of a website in one mode, newest first. */
  listPayments(websiteId: string, query: { livemode: boolean; limit: number }): Promise<PaymentState[]>;
  /** A payment's current state and its explain trail, or null when the ledger has no such payment. */
  getPayment(websiteId: string, paymentKey: string): Promise<PaymentExplanation | null>;
}

/**
 * A ledger entry as support sees it. Parsed leniently: only what the explain trail displays, every
 * field optional, so a ledger that adds or renames a field degrades one column, not the page.
 */
export const explainEntrySchema = z
  .object({
    id: z.string().optional(),
    revision: z.number().optional(),
    seq: z.number().optional(),
    kind: z.string().optional(),
    component: z.string().optional(),
    currency: z.string().optional(),
    amountMinor: z.number().int().optional(),
    occurredAt: z.string().optional(),
    recordedAt: z.string().optional(),
    rule: z.string().optional(),
    explanation: z.string().optional(),
    eventIds: z.array(z.string()).optional(),
    attribution: z
      .object({ confidence: z.string().optional(), matchedBy: z.string().optional(), channel: z.string().optional(), sessionId: z.string().nullable().optional() })
      .partial()
      .nullable()
      .optional(),
  })
  .loose();
export type ExplainEntry = z.infer<typeof explainEntrySchema>;

export interface PaymentExplanation {
  state: PaymentState;
  entries: ExplainEntry[];
}

export class LedgerUnavailableError extends Error {
  override name = 'LedgerUnavailableError';
}

/** Newest money first; among equal paidAt the most recently updated. */
export function sortPaymentsNewestFirst(payments: readonly PaymentState[]): PaymentState[] {
  return [...payments].sort((a, b) => b.paidAt.localeCompare(a.paidAt) || b.updatedAt.localeCompare(a.updatedAt));
}

export class HttpLedgerClient implements LedgerClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 3000,
    private readonly onInvalidRecord: (what: string, problem: string) => void = () => {},
  ) {}

  private async getJson(path: string): Promise<{ status: number; body: unknown }> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl.replace(/\/+$/, '')}${path}`, { headers: { accept: 'application/json', ...outgoingTraceHeaders() }, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new LedgerUnavailableError(`the ledger did not answer: ${err instanceof Error ? err.message : String(err)}`);
    }
    const text = await res.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      if (res.ok) throw new LedgerUnavailableError(`the ledger answered ${res.status} with a body that is not JSON`);
    }
    return { status: res.status, body };
  }

  async listPayments(websiteId: string, query: { livemode: boolean; limit: number }): Promise<PaymentState[]> {
    const { status, body } = await this.getJson(`/v1/websites/${encodeURIComponent(websiteId)}/payments?livemode=${query.livemode}&limit=${query.limit}`);
    if (status !== 200) throw new LedgerUnavailableError(`the ledger answered ${status} to the payments list`);
    const list = (body as { payments?: unknown } | null)?.payments;
    if (!Array.isArray(list)) throw new LedgerUnavailableError('the ledger payments list has no "payments" array');
    const states: PaymentState[] = [];
    for (const item of list) {
      const r = paymentStateSchema.safeParse(item);
      if (r.success) states.push(r.data);
      else this.onInvalidRecord('PaymentState', r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    }
    return sortPaymentsNewestFirst(states);
  }

  async getPayment(websiteId: string, paymentKey: string): Promise<PaymentExplanation | null> {
    const { status, body } = await this.getJson(`/v1/websites/${encodeURIComponent(websiteId)}/payments/${encodeURIComponent(paymentKey)}`);
    // Only the ledger's own "no such payment" is an answer; any other 404 means METRIVO_LEDGER_URL points elsewhere.
    if (status === 404 && (body as { error?: { code?: unknown } } | null)?.error?.code === 'unknown_payment') return null;
    if (status !== 200) throw new LedgerUnavailableError(`the ledger answered ${status} for payment ${paymentKey}`);
    const b = body as { state?: unknown; entries?: unknown } | null;
    const state = paymentStateSchema.safeParse(b?.state);
    if (!state.success) throw new LedgerUnavailableError(`the ledger returned an invalid PaymentState for ${paymentKey}`);
    const entries = Array.isArray(b?.entries) ? b.entries.flatMap((e) => {
      const r = explainEntrySchema.safeParse(e);
      return r.success ? [r.data] : [];
    }) : [];
    return { state: state.data, entries };
  }
}
