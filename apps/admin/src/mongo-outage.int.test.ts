// Admin while MongoDB cannot be reached: its JSON API answers 503 `unavailable` with Retry-After (callers and
// balancers retry), not a 500, and works again once MongoDB is back. MongoDB is reached through a proxy that the test
// switches off; the driver's server selection timeout is kept short so the request fails instead of waiting.
import { expectUnavailableWhileMongoDown, SwitchableMongoProxy } from '@metrivo/testing';
import { HttpLedgerClient } from './ledger-client';
import { startAdminHarness, type AdminHarness } from './test-support/harness';

let proxy: SwitchableMongoProxy;
let h: AdminHarness;

beforeAll(async () => {
  proxy = await SwitchableMongoProxy.start();
  // The ledger is never called here.
  h = await startAdminHarness({ name: 'outage', ledger: new HttpLedgerClient('http://127.0.0.1:9', 500), mongodbUri: proxy.uri, serverSelectionTimeoutMS: 1000 });
}, 30_000);

afterAll(async () => {
  proxy?.comeBack();
  await h?.close();
  await proxy?.close();
});

it('MongoDB unreachable → 503 unavailable with Retry-After; 200 again once it is back', async () => {
  const list = () => fetch(`${h.baseUrl}/api/integrations?websiteId=w_outage`, { headers: { authorization: `Bearer ${h.adminToken}` } });
  await expectUnavailableWhileMongoDown(proxy, list, { retryAfter: '5' });
  expect(h.logs.some((line) => line.includes('database unavailable'))).toBe(true);
}, 30_000);
