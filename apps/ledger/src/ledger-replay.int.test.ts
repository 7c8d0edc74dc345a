import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { BatchingProducer } from '@metrivo/kafka';
import type { Kafka } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { nextRevision } from './test-states';
import { startLedger, type LedgerApp } from './main';
import { createLedgerStore, type LedgerStore } from './ledger-store';
import { ledgerTotalsByCurrency, NonEmptyLedgerError, rebuildFromTopic, reconcileWithTopic } from './topic-replay';
import {
  apiFigures,
  dropDatabase,
  entryIdsOf,
  fastConsumer,
  getJson,
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
import { inOrder, latestOf, paymentHistories } from './test-support/workload';

/** Rebuild from the compacted topic into an empty database, hand over to a live consumer, reconcile against the topic. */
const prefix = `w_led_${runId}_replay`;
const websiteId = `${prefix}_1`;
const liveDb = uniqueId('ledger_int_live');
const rebuiltDb = uniqueId('ledger_int_rebuilt');
const handoverGroup = uniqueId('ledger-handover');
const repoRoot = join(__dirname, '..', '..', '..');

let kafka: Kafka;
let producer: BatchingProducer;
let live: LedgerApp;
let liveBase: string;
let client: MongoClient;
let rebuilt: LedgerStore;

const histories = paymentHistories({ websiteId, payments: 16, seed: 31 });
const latest = latestOf(histories);

/** Runs `npm run <script> -w @metrivo/ledger -- <args>`; resolves with the exit code and the JSON line it printed. */
function runCli(script: 'rebuild' | 'reconcile' | 'rollups', args: string[]): Promise<{ code: number | null; json: any; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', script, '-w', '@metrivo/ledger', '--', ...args, '--json'], { cwd: repoRoot, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      resolve({ code, json: line ? JSON.parse(line) : null, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  kafka = testKafka('ledger-replay');
  producer = new BatchingProducer(kafka);
  await producer.connect();
  const liveGroup = uniqueId('ledger-live');
  await startGroupAtEnd(kafka, liveGroup);
  live = await startLedger(testConfig({ MONGODB_DB: liveDb, KAFKA_GROUP_ID: liveGroup }), {
    logger: testLogger(),
    consumer: fastConsumer,
    acceptState: (s) => s.websiteId.startsWith(prefix),
  });
  liveBase = `http://127.0.0.1:${live.port}`;
  await live.consumer.joined;
  await publishStates(producer, inOrder(histories));
  await waitForRecorded(live.store, latest);
  client = new MongoClient(mongodbUri());
  await client.connect();
  rebuilt = createLedgerStore(client.db(rebuiltDb));
}, 60_000);

afterAll(async () => {
  await live?.stop();
  await producer?.disconnect();
  await client?.close();
  await Promise.all([dropDatabase(liveDb), dropDatabase(rebuiltDb)]);
}, 30_000);

describe('ledger rebuild from the revenue topic', () => {
  it('rebuilds into an empty database (npm run rebuild) with the same entries and totals as the live ledger', async () => {
    const { code, json, stderr } = await runCli('rebuild', ['--db', rebuiltDb, '--website', websiteId, '--commit-group', handoverGroup]);
    // The test topic is shared with other tests' websites, hence --website with --commit-group, which warns.
    expect({ code, stderr }).toEqual({ code: 0, stderr: expect.stringMatching(/^warning: --commit-group with --website: the group starts after the WHOLE topic[^\n]*\n$/) });
    expect(json.read.statesAccepted).toBe(histories.flat().length);
    expect(json.payments).toBe(latest.length);
    expect(json.totals).toEqual(await ledgerTotalsByCurrency(live.store, websiteId));
    expect(json.committedGroupId).toBe(handoverGroup);
    // Same revisions in the same order per key → the same entries (ids), hence every figure, money days included.
    expect(await entryIdsOf(rebuilt, websiteId)).toEqual(await entryIdsOf(live.store, websiteId));
    expect(await storeFigures(rebuilt, websiteId)).toEqual(await apiFigures(liveBase, websiteId));
  }, 60_000);

  it('refuses a database that is not empty', async () => {
    await expect(rebuildFromTopic({ kafka, store: rebuilt, websiteId })).rejects.toBeInstanceOf(NonEmptyLedgerError);
  });

  it('refuses a database whose entries and records were dropped but whose rollups were left (they would be added to)', async () => {
    const leftovers = createLedgerStore(client.db(uniqueId('ledger_int_leftover_rollups')));
    try {
      await leftovers.rollups.insertOne({ _id: 'stale', websiteId, livemode: true, period: '2026-11-29', cells: [], payments: {}, applied: {}, version: 1 } as never);
      await expect(rebuildFromTopic({ kafka, store: leftovers, websiteId })).rejects.toThrow(/1 rollups/);
    } finally {
      await leftovers.entries.db.dropDatabase();
    }
  });

  it('reconciles with the topic, telling a ledger that lags apart from a mismatch', async () => {
    expect(await reconcileWithTopic(rebuilt, { kafka, websiteId })).toMatchObject({ ok: true, checked: latest.length, mismatches: [], lagging: [] });
    // A new revision on the topic: the rebuilt database (no consumer) lags; the live ledger catches up.
    const target = latest.find((s) => s.status === 'paid' && s.livemode)!;
    const refunded = nextRevision(target, { refundedMinor: 100, refundedAt: '2026-12-20T00:00:00.000Z', updatedAt: '2026-12-20T00:00:00.000Z' });
    await publishStates(producer, [refunded]);
    await waitForRecorded(live.store, [refunded]);
    const lagging = await reconcileWithTopic(rebuilt, { kafka, websiteId });
    expect(lagging.ok).toBe(true);
    expect(lagging.lagging.map((m) => [m.paymentKey, m.ledgerRevision, m.topicRevision])).toEqual([[target.paymentKey, target.revision, refunded.revision]]);
    expect((await getJson(liveBase, `/v1/reconciliation?websiteId=${websiteId}&against=topic`)).body).toMatchObject({ ok: true, mismatches: [], lagging: [] });
    // Had a consumer of the rebuilt database consumed past the refund without recording it (sent to the DLQ, say),
    // the payment is not lagging but missed: a mismatch.
    const pastEnd = uniqueId('ledger_int_past_end');
    await startGroupAtEnd(kafka, pastEnd);
    const missed = await reconcileWithTopic(rebuilt, { kafka, websiteId, consumerGroupId: pastEnd });
    expect(missed).toMatchObject({ ok: false, consumerGroup: { groupId: pastEnd, caughtUp: true }, lagging: [] });
    expect(missed.mismatches.map((m) => [m.paymentKey, m.ledgerRevision, m.topicRevision])).toEqual([[target.paymentKey, target.revision, refunded.revision]]);
    // A group that never consumed says nothing of the kind.
    expect((await reconcileWithTopic(rebuilt, { kafka, websiteId, consumerGroupId: uniqueId('ledger_int_never') })).consumerGroup).toMatchObject({ caughtUp: false });
  }, 30_000);

  it('hands over to a ledger started with the committed group: it applies only what came after the rebuild', async () => {
    const app = await startLedger(testConfig({ MONGODB_DB: rebuiltDb, KAFKA_GROUP_ID: handoverGroup }), {
      logger: testLogger(),
      consumer: fastConsumer,
      acceptState: (s) => s.websiteId.startsWith(prefix),
    });
    try {
      const liveStates = (await live.store.states.find({ websiteId }).toArray()).map((d) => d.state!);
      await waitForRecorded(app.store, liveStates);
      expect(app.metrics().apply.statesApplied).toBe(1); // the one refund published after the rebuild
      expect(await storeFigures(rebuilt, websiteId)).toEqual(await apiFigures(liveBase, websiteId));
    } finally {
      await app.stop();
    }
  }, 40_000);

  it('reports injected mismatches (npm run reconcile): a deleted entry and an entry for a key the topic does not have', async () => {
    const victim = await rebuilt.entries.findOne({ websiteId, kind: 'revenue', livemode: true });
    await rebuilt.entries.deleteOne({ _id: victim!._id });
    await rebuilt.entries.insertOne({ ...victim!, _id: 'bogus-entry', paymentKey: 'stripe:pi_bogus', amountMinor: 1234, grossMinor: 1234 });
    const { code, json } = await runCli('reconcile', ['--db', rebuiltDb, '--website', websiteId]);
    expect(code).toBe(1);
    expect(json.ok).toBe(false);
    expect(json.lagging).toEqual([]);
    const byKey = Object.fromEntries(json.mismatches.map((m: any) => [m.paymentKey, m]));
    expect(Object.keys(byKey).sort()).toEqual([victim!.paymentKey, 'stripe:pi_bogus'].sort());
    expect(byKey[victim!.paymentKey].actual.grossMinor).toBe(byKey[victim!.paymentKey].expected.grossMinor - victim!.amountMinor);
    expect(byKey['stripe:pi_bogus']).toMatchObject({ expected: null, topicRevision: null, actual: { grossMinor: 1234 } });

    // The rollups (what summary and revenue read) no longer equal the entries either: reported, then rebuilt.
    const check = await runCli('rollups', ['check', '--db', rebuiltDb, '--website', websiteId]);
    expect(check.code).toBe(1);
    expect(check.json.mismatched).toEqual(expect.arrayContaining([{ livemode: true, period: victim!.occurredDay }, { livemode: true, period: victim!.occurredDay.slice(0, 7) }]));
    const rebuiltRollups = await runCli('rollups', ['rebuild', '--db', rebuiltDb, '--website', websiteId]);
    expect(rebuiltRollups.code).toBe(0);
    expect(rebuiltRollups.json.entries).toBe(await rebuilt.entries.countDocuments({ websiteId }));
    expect((await runCli('rollups', ['check', '--db', rebuiltDb, '--website', websiteId])).json).toMatchObject({ ok: true, mismatched: [], unlisted: [] });
  }, 60_000);
});
