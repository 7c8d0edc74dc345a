// Helpers for the ledger's *.int.test.ts files: the real broker and database of the jest integration global
// setup, per-run names, consumer groups that start at the current end of the shared revenue topic (records
// of other runs are never read), publishing states, and waiting for the ledger to settle.
import { paymentStateKey, TOPICS, type PaymentState } from '@metrivo/contracts';
import { BatchingProducer, createKafka, startGroupAtEnd as startGroupAtEndOf } from '@metrivo/kafka';
import { createLogger, type Logger } from '@metrivo/observability';
import type { Kafka } from 'kafkajs';
import { MongoClient, type Collection, type Db } from 'mongodb';
import { loadLedgerConfig, type LedgerConfig } from '../env';
import { createLedgerStore, LEDGER_ENTRIES, paymentDocId, type LedgerStore, type RevenueGrouping } from '../ledger-store';

import { brokers, dropDatabase, mongodbUri, runId, uniqueId, waitFor } from '@metrivo/testing';
import { expectedSummary, inOrder, latestOf, paymentHistories } from './workload';

export { brokers, dropDatabase, fastConsumer, mongodbUri, runId, uniqueId, waitFor } from '@metrivo/testing';

/** Quiet unless LEDGER_TEST_LOG names a level (e.g. debug). */
export function testLogger(): Logger {
  return createLogger({ service: 'ledger-test', level: process.env.LEDGER_TEST_LOG ?? 'silent' });
}

export function testKafka(clientId: string): Kafka {
  return createKafka({ brokers: brokers(), clientId: `${clientId}-${runId}`, logger: testLogger() });
}

export function testConfig(env: Record<string, string>): LedgerConfig {
  return loadLedgerConfig({
    ...process.env,
    LEDGER_PORT: '0',
    LOG_LEVEL: process.env.LEDGER_TEST_LOG ?? 'silent',
    LEDGER_PENDING_SWEEP_MS: '0',
    ...env,
  });
}

/** Starts a new group at the current end of the revenue topic (or `topic`), so it never reads older runs' records. */
export function startGroupAtEnd(kafka: Kafka, groupId: string, topic: string = TOPICS.revenueAttributed.name): Promise<void> {
  return startGroupAtEndOf(kafka, groupId, [topic]);
}

/** Publishes states to the revenue topic keyed like attribution does, in the given order (per partition). */
export async function publishStates(producer: BatchingProducer, states: readonly PaymentState[], topic: string = TOPICS.revenueAttributed.name): Promise<void> {
  await Promise.all(states.map((s) => producer.publish(topic, { key: paymentStateKey(s), value: s })));
}

/** Waits until the store recorded (and settled) exactly the given latest revision of every payment. */
export async function waitForRecorded(store: LedgerStore, latest: readonly PaymentState[], timeoutMs = 30_000): Promise<void> {
  const want = new Map(latest.map((s) => [paymentDocId(s.websiteId, s.paymentKey), s.revision]));
  let behind = want.size;
  await waitFor(
    async () => {
      const docs = await store.states.find({ _id: { $in: [...want.keys()] } }, { projection: { revision: 1, pendingRevision: 1 } }).toArray();
      behind = want.size - docs.filter((d) => d.revision === want.get(d._id) && (d.pendingRevision === null || d.pendingRevision === undefined)).length;
      return behind === 0;
    },
    timeoutMs,
    `${want.size} payments to be recorded at their latest revision`,
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message} (${behind} still behind)`);
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read API bodies field by field
export async function getJson(base: string, path: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: await res.json() };
}

/** Every figure the read API gives for one website, for comparing two ledgers that must agree. */
export async function apiFigures(base: string, websiteId: string, options: { byDay?: boolean } = {}): Promise<Record<string, unknown>> {
  const w = encodeURIComponent(websiteId);
  const out: Record<string, unknown> = {};
  for (const livemode of [true, false]) {
    out[`summary:${livemode}`] = (await getJson(base, `/v1/websites/${w}/summary?livemode=${livemode}`)).body;
    const groupings = ['confidence', 'channel', 'source', ...(options.byDay === false ? [] : ['day'])];
    for (const groupBy of groupings) {
      out[`revenue:${groupBy}:${livemode}`] = (await getJson(base, `/v1/websites/${w}/revenue?groupBy=${groupBy}&livemode=${livemode}&limit=1000`)).body.rows;
    }
  }
  return out;
}

/** The same figures as apiFigures, straight from a store (for a reference ledger that has no HTTP server). */
export async function storeFigures(store: LedgerStore, websiteId: string, options: { byDay?: boolean } = {}): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const livemode of [true, false]) {
    out[`summary:${livemode}`] = await store.summary({ websiteId, livemode });
    const groupings: RevenueGrouping[] = ['confidence', 'channel', 'source', ...(options.byDay === false ? [] : (['day'] as const))];
    for (const groupBy of groupings) {
      out[`revenue:${groupBy}:${livemode}`] = (await store.revenue({ websiteId, livemode, groupBy, limit: 1000 })).rows;
    }
  }
  return out;
}

/** Entry ids of one website, sorted (same revisions applied → same ids, however they were batched). */
export async function entryIdsOf(store: LedgerStore, websiteId: string): Promise<string[]> {
  return (await store.entries.find({ websiteId }, { projection: { _id: 1 } }).toArray()).map((d) => d._id).sort();
}

/** Property access on a proxy, with methods bound to the real object (the driver's classes expect `this` to be theirs). */
function passThrough<T extends object>(target: T, prop: string | symbol): unknown {
  const value = Reflect.get(target, prop, target) as unknown;
  return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
}

/**
 * `db` for `startLedger`'s `wrapDb`, calling `afterInsert` (and waiting for it) after every completed `insertMany` of
 * ledger entries: the point between "entries written" and "payment records advanced, offsets committed" where the
 * crash and outage tests strike.
 */
export function afterEntriesInsert(db: Db, afterInsert: (count: number, entries: number) => Promise<void> | void): Db {
  let inserts = 0;
  const entries = (collection: Collection): Collection =>
    new Proxy(collection, {
      get(target, prop) {
        if (prop !== 'insertMany') return passThrough(target, prop);
        return async (...args: Parameters<Collection['insertMany']>) => {
          const result = await target.insertMany(...args);
          inserts += 1;
          await afterInsert(inserts, args[0].length);
          return result;
        };
      },
    });
  return new Proxy(db, {
    get(target, prop) {
      if (prop !== 'collection') return passThrough(target, prop);
      return (name: string, options?: Parameters<Db['collection']>[1]) => {
        const collection = target.collection(name, options);
        return name === LEDGER_ENTRIES ? entries(collection) : collection;
      };
    },
  });
}

/** A website of its own with 14 seeded payment histories, and the databases and consumer group a test of it uses. */
export function ledgerScenario(name: string, seed: number) {
  const prefix = `w_led_${runId}_${name}`;
  const websiteId = `${prefix}_1`;
  const histories = paymentHistories({ websiteId, payments: 14, seed });
  return {
    prefix,
    websiteId,
    database: uniqueId(`ledger_int_${name}`),
    referenceDb: uniqueId(`ledger_int_${name}_ref`),
    groupId: uniqueId(`ledger-${name}`),
    states: inOrder(histories),
    latest: latestOf(histories),
  };
}

export interface ScenarioResources {
  producer: BatchingProducer;
  /** What a ledger that never failed holds: the scenario's states applied straight to a store of their own. */
  reference: LedgerStore;
  /** A direct connection to the test server (not through any proxy). */
  client: MongoClient;
  close(): Promise<void>;
}

/** A connected producer, the scenario's group started at the end of the topic, and the reference ledger. */
export async function scenarioResources(scenario: ReturnType<typeof ledgerScenario>, clientId: string): Promise<ScenarioResources> {
  const kafka = testKafka(clientId);
  const producer = new BatchingProducer(kafka);
  await producer.connect();
  await startGroupAtEnd(kafka, scenario.groupId);
  const client = new MongoClient(mongodbUri());
  await client.connect();
  const reference = createLedgerStore(client.db(scenario.referenceDb));
  await reference.ensureIndexes();
  await reference.applyStates(scenario.states);
  return {
    producer,
    reference,
    client,
    close: async () => {
      await producer.disconnect();
      await client.close();
      await Promise.all([dropDatabase(scenario.database), dropDatabase(scenario.referenceDb)]);
    },
  };
}

/**
 * The ledger under test holds exactly what `reference` holds for the website: the API's figures, the entry ids, the
 * summary the latest states imply (live mode), and nothing left pending.
 */
export async function expectSameAsReference(
  under: { apiBase: string; store: LedgerStore },
  reference: LedgerStore,
  websiteId: string,
  latest: readonly PaymentState[],
): Promise<void> {
  expect(await apiFigures(under.apiBase, websiteId)).toEqual(await storeFigures(reference, websiteId));
  expect(await entryIdsOf(under.store, websiteId)).toEqual(await entryIdsOf(reference, websiteId));
  expect(await under.store.summary({ websiteId, livemode: true })).toEqual(expectedSummary(latest, true));
  expect(await under.store.reconcileRecorded(websiteId)).toMatchObject({ ok: true, pendingPayments: 0 });
}
