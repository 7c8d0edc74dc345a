import { SwitchableMongoProxy } from '@metrivo/testing';
import { createLedgerStore } from './ledger-store';
import { startLedger, type LedgerApp } from './main';
import {
  afterEntriesInsert,
  expectSameAsReference,
  fastConsumer,
  ledgerScenario,
  publishStates,
  scenarioResources,
  testConfig,
  testLogger,
  waitForRecorded,
  type ScenarioResources,
} from './test-support/int-helpers';

/**
 * MongoDB goes away in the middle of a batch while the ledger keeps running: the entries of the batch are written,
 * then every connection is cut before the payment records are advanced and the offsets committed (the point the crash
 * test kills the process at). The same process retries the batch until MongoDB is back and must converge to exactly
 * what a ledger that never lost its database holds: no entry twice, none missing, nothing left pending. The shared
 * server keeps serving the other tests: this ledger reaches it through a switchable proxy.
 */
const scenario = ledgerScenario('outage', 31);
const { prefix, websiteId, database, groupId, states, latest } = scenario;
const OUTAGE_MS = 2500;

let resources: ScenarioResources;
let proxy: SwitchableMongoProxy;
let app: LedgerApp | undefined;

beforeAll(async () => {
  resources = await scenarioResources(scenario, 'ledger-outage');
  proxy = await SwitchableMongoProxy.start();
}, 30_000);

afterAll(async () => {
  proxy?.comeBack();
  await app?.stop();
  await proxy?.close();
  await resources?.close();
}, 30_000);

it('MongoDB cut after a batch wrote its entries, back seconds later: the running ledger converges to the reference', async () => {
  let cutAfterEntries = 0;
  app = await startLedger(testConfig({ MONGODB_URI: proxy.uri, MONGODB_DB: database, KAFKA_GROUP_ID: groupId, LEDGER_MAX_RECORDS_PER_BATCH: '3' }), {
    logger: testLogger(),
    consumer: fastConsumer,
    acceptState: (s) => s.websiteId.startsWith(prefix),
    // Shorter than the outage, so the driver's own retry (it waits for a server up to this long) cannot hide it and
    // the batch fails back to the consumer.
    mongoClientOptions: { serverSelectionTimeoutMS: 1000 },
    wrapDb: (db) =>
      afterEntriesInsert(db, (inserts, entries) => {
        if (inserts !== 2) return;
        cutAfterEntries = entries;
        proxy.goDown();
        setTimeout(() => proxy.comeBack(), OUTAGE_MS);
      }),
  });
  await app.consumer.joined;
  await publishStates(resources.producer, states);

  // Watched through a direct connection: the ledger's own store is behind the proxy.
  const recorded = createLedgerStore(resources.client.db(database));
  await waitForRecorded(recorded, latest, 60_000);
  expect(cutAfterEntries).toBeGreaterThan(0); // the cut happened, after a batch's entries were written
  const metrics = app.metrics();
  expect(metrics.consumer.handlerFailures).toBeGreaterThanOrEqual(1); // the batch failed and was retried

  await expectSameAsReference({ apiBase: `http://127.0.0.1:${app.port}`, store: recorded }, resources.reference, websiteId, latest);
}, 90_000);
