import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { expectUnavailableWhileMongoDown, SwitchableMongoProxy } from '@metrivo/testing';
import { startLedger, type LedgerApp } from './main';
import { createLedgerStore, LedgerConflictError } from './ledger-store';
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
 * Kill the ledger in the middle of a batch (SIGKILL of a real process, after it wrote a batch's entries and
 * before it advanced the payment records and committed the offsets), restart it on the same database and
 * consumer group, and check it converges to exactly what a ledger that never crashed holds. Then the same point
 * without a crash: MongoDB goes away there while the ledger keeps running (see the second describe).
 */
const scenario = ledgerScenario('crash', 23);
const { prefix, websiteId, database, groupId, states, latest } = scenario;
const repoRoot = join(__dirname, '..', '..', '..');

let resources: ScenarioResources;
let child: ChildProcess | undefined;
let app: LedgerApp | undefined;

beforeAll(async () => {
  resources = await scenarioResources(scenario, 'ledger-crash');
}, 30_000);

afterAll(async () => {
  child?.kill('SIGKILL');
  await app?.stop();
  await resources?.close();
}, 30_000);

/** Starts the crashing ledger process; resolves with a reader of its JSON lines. */
function startCrashingLedger(): { next: (event: string, timeoutMs: number) => Promise<Record<string, unknown>> } {
  // node with tsx's loader, not the tsx CLI: the CLI runs the script in a child process of its own, which a
  // SIGKILL of the CLI would leave running.
  child = spawn(process.execPath, ['--import', 'tsx', '--conditions=metrivo-source', join(__dirname, 'test-support', 'run-until-killed.ts')], {
    cwd: repoRoot,
    env: {
      ...process.env,
      MONGODB_DB: database,
      KAFKA_GROUP_ID: groupId,
      WEBSITE_PREFIX: prefix,
      HANG_ON_ENTRIES_INSERT: '4',
      LEDGER_MAX_RECORDS_PER_BATCH: '3',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const events: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      return; // not one of ours
    }
    for (const w of waiters.splice(0)) w();
  });
  return {
    next: async (event, timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events.find((e) => e.event === event || e.event === 'failed');
        if (found) {
          if (found.event === 'failed') throw new Error(`crashing ledger failed: ${String(found.error)}`);
          return found;
        }
        if (Date.now() > deadline) throw new Error(`crashing ledger did not report "${event}" within ${timeoutMs} ms`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
  };
}

describe('ledger crash in the middle of a batch', () => {
  it('converges after SIGKILL and restart to what a ledger that never crashed holds', async () => {
    const crashing = startCrashingLedger();
    await crashing.next('ready', 30_000);
    await publishStates(resources.producer, states);
    const hanging = await crashing.next('hanging', 30_000);
    expect(hanging.entries).toBeGreaterThan(0);
    child!.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));

    // What the crash left: entries written for payments whose records are still pending, offsets not committed.
    const crashed = createLedgerStore(resources.client.db(database));
    const report = await crashed.reconcileRecorded(websiteId);
    expect(report.pendingPayments).toBeGreaterThan(0);
    expect(await crashed.entries.countDocuments({ websiteId })).toBeGreaterThan(0);

    // Restart on the same database and group. Its first batch also meets a write conflict (as when another
    // instance moved a record meanwhile): the consumer must retry it, not skip it.
    let conflictsThrown = 0;
    app = await startLedger(testConfig({ MONGODB_DB: database, KAFKA_GROUP_ID: groupId, LEDGER_MAX_RECORDS_PER_BATCH: '3' }), {
      logger: testLogger(),
      consumer: fastConsumer,
      acceptState: (s) => s.websiteId.startsWith(prefix),
      wrapStore: (store) => ({
        ...store,
        applyStates: async (batch, now) => {
          if (conflictsThrown === 0) {
            conflictsThrown += 1;
            throw new LedgerConflictError(1);
          }
          return store.applyStates(batch, now);
        },
      }),
    });
    await waitForRecorded(app.store, latest, 45_000);
    const metrics = app.metrics();
    expect(metrics.apply.pendingCompleted).toBeGreaterThan(0); // the startup completed what the crash left
    expect(metrics.apply.conflicts).toBe(1);
    expect(metrics.consumer.handlerFailures).toBeGreaterThanOrEqual(1); // retried, with backoff
    expect(conflictsThrown).toBe(1);

    await expectSameAsReference({ apiBase: `http://127.0.0.1:${app.port}`, store: app.store }, resources.reference, websiteId, latest);
  }, 90_000);
});

/**
 * MongoDB goes away in the middle of a batch while the ledger keeps running: the entries of the batch are written,
 * then every connection is cut before the payment records are advanced and the offsets committed (the crash point
 * above). The same process retries the batch until MongoDB is back and must converge to exactly what a ledger that
 * never lost its database holds: no entry twice, none missing, nothing left pending. The shared server keeps serving
 * the other tests: this ledger reaches it through a switchable proxy.
 */
describe('ledger losing MongoDB in the middle of a batch', () => {
  const outage = ledgerScenario('outage', 31);
  const OUTAGE_MS = 2500;
  let outageResources: ScenarioResources;
  let proxy: SwitchableMongoProxy;
  let running: LedgerApp | undefined;

  beforeAll(async () => {
    outageResources = await scenarioResources(outage, 'ledger-outage');
    proxy = await SwitchableMongoProxy.start();
  }, 30_000);

  afterAll(async () => {
    proxy?.comeBack();
    await running?.stop();
    await proxy?.close();
    await outageResources?.close();
  }, 30_000);

  it('MongoDB cut after a batch wrote its entries, back seconds later: the running ledger converges to the reference', async () => {
    let cutAfterEntries = 0;
    running = await startLedger(
      testConfig({ MONGODB_URI: proxy.uri, MONGODB_DB: outage.database, KAFKA_GROUP_ID: outage.groupId, LEDGER_MAX_RECORDS_PER_BATCH: '3' }),
      {
        logger: testLogger(),
        consumer: fastConsumer,
        acceptState: (s) => s.websiteId.startsWith(outage.prefix),
        // Shorter than the outage, so the driver's own retry (it waits for a server up to this long) cannot hide it
        // and the batch fails back to the consumer.
        mongoClientOptions: { serverSelectionTimeoutMS: 1000 },
        wrapDb: (db) =>
          afterEntriesInsert(db, (inserts, entries) => {
            if (inserts !== 2) return;
            cutAfterEntries = entries;
            proxy.goDown();
            setTimeout(() => proxy.comeBack(), OUTAGE_MS);
          }),
      },
    );
    await running.consumer.joined;
    await publishStates(outageResources.producer, outage.states);

    // Watched through a direct connection: the ledger's own store is behind the proxy.
    const recorded = createLedgerStore(outageResources.client.db(outage.database));
    await waitForRecorded(recorded, outage.latest, 60_000);
    expect(cutAfterEntries).toBeGreaterThan(0); // the cut happened, after a batch's entries were written
    expect(running.metrics().consumer.handlerFailures).toBeGreaterThanOrEqual(1); // the batch failed and was retried

    await expectSameAsReference({ apiBase: `http://127.0.0.1:${running.port}`, store: recorded }, outageResources.reference, outage.websiteId, outage.latest);
  }, 90_000);

  it('while MongoDB is unreachable the API answers 503 unavailable with Retry-After (not a 500), and 200 once it is back', async () => {
    const port = running?.port;
    if (!port) throw new Error('needs the ledger of the previous test (it failed to start)');
    const summary = () => fetch(`http://127.0.0.1:${port}/v1/websites/${encodeURIComponent(outage.websiteId)}/summary`);
    await expectUnavailableWhileMongoDown(proxy, summary, { retryAfter: '5' });
  }, 30_000);
});
