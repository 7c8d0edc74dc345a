import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BatchingProducer } from '@metrivo/kafka';
import type { Kafka } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { startLedger, type LedgerApp } from './main';
import { createLedgerStore, LedgerConflictError, type LedgerStore } from './ledger-store';
import {
  apiFigures,
  dropDatabase,
  entryIdsOf,
  fastConsumer,
  mongodbUri,
  publishStates,
  runId,
  startGroupAtEnd,
  storeFigures,
  testConfig,
  testKafka,
  testLogger,
  uniqueId,
  waitForRecorded,
} from './test-support/int-helpers';
import { expectedSummary, inOrder, latestOf, paymentHistories } from './test-support/workload';

/**
 * Kill the ledger in the middle of a batch (SIGKILL of a real process, after it wrote a batch's entries and
 * before it advanced the payment records and committed the offsets), restart it on the same database and
 * consumer group, and check it converges to exactly what a ledger that never crashed holds.
 */
const prefix = `w_led_${runId}_crash`;
const websiteId = `${prefix}_1`;
const database = uniqueId('ledger_int_crash');
const referenceDb = uniqueId('ledger_int_crash_ref');
const groupId = uniqueId('ledger-crash');
const repoRoot = join(__dirname, '..', '..', '..');

let kafka: Kafka;
let producer: BatchingProducer;
let child: ChildProcess | undefined;
let app: LedgerApp | undefined;
let referenceClient: MongoClient;
let reference: LedgerStore;

const histories = paymentHistories({ websiteId, payments: 14, seed: 23 });
const states = inOrder(histories);
const latest = latestOf(histories);

beforeAll(async () => {
  kafka = testKafka('ledger-crash');
  producer = new BatchingProducer(kafka);
  await producer.connect();
  await startGroupAtEnd(kafka, groupId);
  // The reference: the same states applied straight to a store that never crashes.
  referenceClient = new MongoClient(mongodbUri());
  await referenceClient.connect();
  reference = createLedgerStore(referenceClient.db(referenceDb));
  await reference.ensureIndexes();
  await reference.applyStates(states);
}, 30_000);

afterAll(async () => {
  child?.kill('SIGKILL');
  await app?.stop();
  await producer?.disconnect();
  await referenceClient?.close();
  await Promise.all([dropDatabase(database), dropDatabase(referenceDb)]);
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
    await publishStates(producer, states);
    const hanging = await crashing.next('hanging', 30_000);
    expect(hanging.entries).toBeGreaterThan(0);
    child!.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));

    // What the crash left: entries written for payments whose records are still pending, offsets not committed.
    const client = new MongoClient(mongodbUri());
    await client.connect();
    try {
      const crashed = createLedgerStore(client.db(database));
      const report = await crashed.reconcileRecorded(websiteId);
      expect(report.pendingPayments).toBeGreaterThan(0);
      expect(await crashed.entries.countDocuments({ websiteId })).toBeGreaterThan(0);
    } finally {
      await client.close();
    }

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

    const base = `http://127.0.0.1:${app.port}`;
    expect(await apiFigures(base, websiteId)).toEqual(await storeFigures(reference, websiteId));
    expect(await entryIdsOf(app.store, websiteId)).toEqual(await entryIdsOf(reference, websiteId));
    expect(await app.store.summary({ websiteId, livemode: true })).toEqual(expectedSummary(latest, true));
    expect(await app.store.reconcileRecorded(websiteId)).toMatchObject({ ok: true, pendingPayments: 0 });
  }, 90_000);
});
