import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PaymentState } from '@metrivo/contracts';
import type { ExplainEntry } from '../ledger-client';

/**
 * A stand-in for the ledger app's read API (DESIGN.md §4) so admin can be tested before/without the
 * real ledger: GET /v1/websites/:w/payments?livemode=&limit= and GET /v1/websites/:w/payments/:key.
 * Tests put states in with `upsert`; `failing` makes it answer 503.
 */
export class FakeLedgerServer {
  private readonly states = new Map<string, PaymentState>();
  private readonly entries = new Map<string, ExplainEntry[]>();
  failing = false;
  readonly requests: string[] = [];
  private server: Server | null = null;
  url = '';

  upsert(state: PaymentState, entries: ExplainEntry[] = []): void {
    const key = `${state.websiteId}\u0000${state.paymentKey}`;
    const current = this.states.get(key);
    if (!current || current.revision <= state.revision) this.states.set(key, state);
    this.entries.set(key, [...(this.entries.get(key) ?? []), ...entries]);
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.requests.push(req.url ?? '');
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (this.failing) return send(503, { error: { code: 'unavailable', message: 'fake ledger is failing' } });
      const url = new URL(req.url ?? '/', 'http://x');
      const parts = url.pathname.split('/').map((p) => decodeURIComponent(p));
      // ['', 'v1', 'websites', w, 'payments', key?]
      if (req.method !== 'GET' || parts[1] !== 'v1' || parts[2] !== 'websites' || parts[4] !== 'payments' || parts.length > 6) {
        return send(404, { error: { code: 'not_found', message: 'no route' } });
      }
      const websiteId = parts[3]!;
      if (parts.length === 6) {
        const key = `${websiteId}\u0000${parts[5]}`;
        const state = this.states.get(key);
        return state ? send(200, { state, entries: this.entries.get(key) ?? [] }) : send(404, { error: { code: 'unknown_payment', message: 'no such payment' } });
      }
      const livemode = url.searchParams.get('livemode') !== 'false';
      const limit = Number(url.searchParams.get('limit') ?? 20);
      const payments = [...this.states.values()]
        .filter((s) => s.websiteId === websiteId && s.livemode === livemode)
        .sort((a, b) => b.paidAt.localeCompare(a.paidAt))
        .slice(0, limit);
      send(200, { payments });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}

/** A valid test-mode PaymentState (contract shape) for the fake ledger. */
export function testPaymentState(over: Partial<PaymentState> & { websiteId: string; paymentKey: string }): PaymentState {
  const at = new Date().toISOString();
  return {
    schemaVersion: 1,
    revision: 1,
    provider: 'stripe',
    livemode: false,
    currency: 'eur',
    grossMinor: 4900,
    refundedMinor: 0,
    netMinor: 4900,
    status: 'paid',
    mergedInto: null,
    paidAt: at,
    refundedAt: null,
    kind: 'one_time',
    subscriptionKey: null,
    attribution: {
      confidence: 'high',
      matchedBy: 'session',
      visitorId: 'v_9',
      sessionId: 's_3',
      source: { referrer: 'https://www.google.com/', channel: 'paid_search', utm: { source: 'google', medium: 'cpc', campaign: 'bf' }, landingPage: '/pricing', country: 'DE', device: 'desktop' },
    },
    refs: { paymentIntent: 'pi_test_1', invoice: null, checkoutSession: 'cs_test_1', charges: ['ch_test_1'], subscription: null },
    emailMasked: 'j***@example.com',
    eventIds: ['evt_test_1'],
    updatedAt: at,
    ...over,
  };
}
