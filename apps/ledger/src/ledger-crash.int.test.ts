import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startLedger, type LedgerApp } from './main';
import { createLedgerStore, LedgerConflictError } from './ledger-store';
import {
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
 * consumer group, and check it converges to exactly what a ledger that never crashed holds.
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
