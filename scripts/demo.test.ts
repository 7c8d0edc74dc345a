import type { SessionEvent } from '@metrivo/contracts';
import { runDemo, type DemoDeps, type DemoOptions } from './demo';

// The demo against stubbed apps: whether it reports success decides its exit code (main exits 1 when not ok).
const options: DemoOptions = {
  websiteId: 'w_demo_test',
  admin: 'http://admin.test',
  gateway: 'http://gateway.test',
  ledger: 'http://ledger.test',
  attribution: 'http://attribution.test',
  apiVersion: '2024-06-20',
  adminToken: 'token',
  emailHashKey: 'demo-test-email-hash-key',
  ledgerWaitMs: 200,
};

type Route = (url: string, init?: RequestInit) => Response | undefined;

function stubApps(overrides: { gateway?: () => Response; ledger?: () => Response; attribution?: () => Response } = {}) {
  const calls: string[] = [];
  const published: SessionEvent[] = [];
  const lines: string[] = [];
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  const routes: Route[] = [
    (url, init) => (url === 'http://admin.test/api/integrations' && init?.method === 'POST' ? json({ id: 'int_1', webhookUrl: 'http://gateway.test/v1/webhooks/stripe/int_1' }, 201) : undefined),
    (url) => (url === 'http://admin.test/api/integrations/int_1/secret' ? new Response(null, { status: 204 }) : undefined),
    (url) => (url.startsWith('http://gateway.test/') ? (overrides.gateway?.() ?? json({ received: true })) : undefined),
    (url) =>
      url.startsWith('http://ledger.test/')
        ? (overrides.ledger?.() ?? json({ state: { attribution: { confidence: 'high', matchedBy: 'session_id' } } }))
        : undefined,
    (url) => (url === 'http://attribution.test/metrics' ? (overrides.attribution?.() ?? json({ consumer: { lagTotal: 0 } })) : undefined),
  ];
  const deps: DemoDeps = {
    fetch: (async (input: string | URL | Request, init?: RequestInit) => {
      const url = String(input);
      calls.push(`${init?.method ?? 'GET'} ${url}`);
      for (const route of routes) {
        const res = route(url, init);
        if (res) return res;
      }
      throw new Error(`unexpected request ${url}`);
    }) as typeof fetch,
    publishSessions: async (_websiteId, events) => {
      published.push(...events);
    },
    log: (line) => lines.push(line),
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 10))),
  };
  return { deps, calls, published, lines };
}

describe('runDemo', () => {
  it('succeeds when every webhook is accepted and the payment reaches the ledger', async () => {
    const apps = stubApps();
    await expect(runDemo(options, apps.deps)).resolves.toEqual({ ok: true });
    expect(apps.published).toHaveLength(3);
    expect(apps.calls.filter((c) => c.startsWith('POST http://gateway.test/'))).toHaveLength(3);
    expect(apps.lines.some((l) => l.startsWith('✔ ledger: stripe:'))).toBe(true);
  });

  it('fails at once when the gateway refuses a webhook (the payment cannot reach the ledger)', async () => {
    const apps = stubApps({ gateway: () => new Response('{"error":{"code":"unavailable"}}', { status: 503 }) });
    const result = await runDemo(options, apps.deps);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problem).toMatch(/^webhook [\w.]+ → 503 .*the gateway did not accept the payment/);
    expect(apps.calls.filter((c) => c.includes('gateway.test'))).toHaveLength(1);
    expect(apps.calls.some((c) => c.includes('ledger.test'))).toBe(false);
  });

  it('fails when the payment is not in the ledger in time, saying why it may be late', async () => {
    const apps = stubApps({
      ledger: () => new Response('{"error":{"code":"not_found"}}', { status: 404 }),
      attribution: () => new Response(JSON.stringify({ consumer: { lagTotal: 123_456 } }), { status: 200 }),
    });
    const result = await runDemo(options, apps.deps);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problem).toMatch(/^stripe:pi_\w+ not in the ledger after \d+ s: attribution is still 123,456 records behind/);
  });
});
