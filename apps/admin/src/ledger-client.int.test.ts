import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { activeTraceId, withSpan } from '@metrivo/observability';
import { HttpLedgerClient, LedgerUnavailableError } from './ledger-client';
import { testPaymentState } from './test-support/fake-ledger';

/** The HTTP ledger client against a scripted server: contract parsing, ordering, failure modes. */
let server: Server;
let base = '';
let reply: { status: number; body: string } = { status: 200, body: '{}' };
const paths: string[] = [];
const traceparents: (string | undefined)[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    paths.push(req.url ?? '');
    traceparents.push(req.headers.traceparent as string | undefined);
    res.writeHead(reply.status, { 'content-type': 'application/json' });
    res.end(reply.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('HttpLedgerClient', () => {
  it('asks for the assumed routes with encoded ids, sorts newest first, skips records that break the contract', async () => {
    const older = testPaymentState({ websiteId: 'w/1', paymentKey: 'stripe:pi_old', paidAt: '2026-11-28T10:00:00.000Z' });
    const newer = testPaymentState({ websiteId: 'w/1', paymentKey: 'stripe:pi_new', paidAt: '2026-11-29T10:00:00.000Z' });
    const broken = { ...newer, paymentKey: 'stripe:pi_broken', netMinor: 1 }; // net ≠ gross − refunded
    reply = { status: 200, body: JSON.stringify({ payments: [older, broken, newer] }) };
    const invalid: string[] = [];
    const client = new HttpLedgerClient(base, 2000, (what, problem) => invalid.push(`${what}: ${problem}`));
    const payments = await client.listPayments('w/1', { livemode: false, limit: 20 });
    expect(paths.at(-1)).toBe('/v1/websites/w%2F1/payments?livemode=false&limit=20');
    expect(payments.map((p) => p.paymentKey)).toEqual(['stripe:pi_new', 'stripe:pi_old']);
    expect(invalid).toEqual([expect.stringContaining('netMinor')]);
  });

  it('continues the active trace in the ledger request (traceparent), so both apps log one trace id', async () => {
    reply = { status: 200, body: JSON.stringify({ payments: [] }) };
    const client = new HttpLedgerClient(base);
    const traceId = await withSpan('admin request', {}, async () => {
      await client.listPayments('w_1', { livemode: true, limit: 1 });
      return activeTraceId();
    });
    expect(traceparents.at(-1)).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-0[01]$`));
  });

  it('returns the state and leniently parsed entries for one payment; null on 404', async () => {
    const state = testPaymentState({ websiteId: 'w_1', paymentKey: 'stripe:pi_1' });
    reply = { status: 200, body: JSON.stringify({ state, entries: [{ revision: 1, kind: 'revenue', amountMinor: 4900, currency: 'eur', futureField: true }, 'junk'] }) };
    const client = new HttpLedgerClient(base);
    const x = await client.getPayment('w_1', 'stripe:pi_1');
    expect(paths.at(-1)).toBe('/v1/websites/w_1/payments/stripe%3Api_1');
    expect(x?.state.paymentKey).toBe('stripe:pi_1');
    expect(x?.entries).toEqual([expect.objectContaining({ revision: 1, kind: 'revenue', amountMinor: 4900 })]);
    reply = { status: 404, body: JSON.stringify({ error: { code: 'unknown_payment', message: 'no' } }) };
    expect(await client.getPayment('w_1', 'stripe:pi_2')).toBeNull();
    // A 404 that is not the ledger's "unknown payment" (a wrong METRIVO_LEDGER_URL path, a proxy) is not "no payment".
    for (const body of [JSON.stringify({ error: { code: 'not_found', message: 'No ledger route' } }), '<html>Cannot GET</html>']) {
      reply = { status: 404, body };
      await expect(client.getPayment('w_1', 'stripe:pi_2')).rejects.toBeInstanceOf(LedgerUnavailableError);
    }
  });

  it('turns 5xx, non-JSON, a missing list and an unreachable ledger into LedgerUnavailableError', async () => {
    const client = new HttpLedgerClient(base);
    for (const r of [{ status: 503, body: '{}' }, { status: 200, body: '<html>' }, { status: 200, body: '{"items":[]}' }]) {
      reply = r;
      await expect(client.listPayments('w', { livemode: true, limit: 1 })).rejects.toBeInstanceOf(LedgerUnavailableError);
    }
    await expect(new HttpLedgerClient('http://127.0.0.1:1', 500).listPayments('w', { livemode: true, limit: 1 })).rejects.toBeInstanceOf(LedgerUnavailableError);
  });
});
