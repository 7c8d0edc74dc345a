// `npm run bench:ledger [-- --payments 200 --entries 10000 --requests 20 --batch 500 --keep]`: the ledger on the
// real broker and MongoDB (FerretDB locally). Prints numbers; asserts nothing about timings.
//
// 1. Recording: generated payment histories (refunds, attribution upgrades, merges; apps/ledger test workload) are
//    published to a bench topic first, then one ledger instance (startLedger, in this process) consumes them from
//    the beginning into an empty database. Entries/s = entries inserted ÷ time from its first store call to its
//    last. MongoDB command monitoring splits that time by command (find / update / insert).
// 2. Raw: the same entry documents (same ids, same fields, same indexes) inserted with one insertMany into a fresh
//    collection of the same server. Ratio = recording ÷ raw (the goal: ≥ 0.6).
// 3. Summary API latency: --entries synthetic entries of one website inserted straight into a fresh ledger
//    database (with the ledger's indexes), their day and month rollups built with rebuildRollups (the backfill/repair
//    path), then sequential GET /v1/websites/:id/summary over HTTP: all time, the last 30 whole UTC days (both
//    from rollups only), and the last 30 days from an instant (the partial first day is read from the entries):
//    p50 / p99 (with few requests p99 is the slowest one).
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { paymentStateKey, type PaymentState } from '@metrivo/contracts';
import { BatchingProducer, createKafka, ensureTopics } from '@metrivo/kafka';
import { createLogger } from '@metrivo/observability';
import express from 'express';
import { logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { loadLedgerConfig } from '../../apps/ledger/src/env';
import { createLedgerRouter } from '../../apps/ledger/src/http-api';
import { computeLedgerChain } from '../../apps/ledger/src/ledger-entries';
import { createLedgerStore, LEDGER_ENTRIES, toEntryDoc, type LedgerEntryDoc } from '../../apps/ledger/src/ledger-store';
import { startLedger } from '../../apps/ledger/src/main';
import { inOrder, paymentHistories } from '../../apps/ledger/src/test-support/workload';
import { infraStatus, infraUp } from '../../infra/local/launcher';
import { processCpuSeconds } from '../common/cpu';
import { CommandTimer, commandTable } from '../common/mongo-commands';
import { benchLog, fmt, percentile, sleep } from '../common/report';

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    payments: { type: 'string', default: '200' },
    entries: { type: 'string', default: '10000' },
    requests: { type: 'string', default: '20' },
    batch: { type: 'string', default: '500' },
    keep: { type: 'boolean', default: false },
  },
});

function positive(name: string, raw: string | undefined, min = 1): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer ≥ ${min}, got "${raw}"`);
  return value;
}

const settings = {
  payments: positive('payments', args.payments),
  entries: positive('entries', args.entries),
  // 0: only measure how long inserting --entries takes (the summary over many entries can take minutes on FerretDB).
  requests: positive('requests', args.requests, 0),
  batch: positive('batch', args.batch),
};

const log = benchLog;

/** Cores used by this process and by the MongoDB server while `work` runs. */
async function withCpu<T>(mongoPid: number | undefined, work: () => Promise<T>): Promise<{ result: T; ms: number; cores: { node: number | null; mongo: number | null } }> {
  const started = Date.now();
  const node0 = processCpuSeconds(process.pid);
  const mongo0 = processCpuSeconds(mongoPid);
  const result = await work();
  const ms = Date.now() - started;
  const node1 = processCpuSeconds(process.pid);
  const mongo1 = processCpuSeconds(mongoPid);
  const cores = (a: number | null, b: number | null) => (a === null || b === null || ms === 0 ? null : (b - a) / (ms / 1000));
  return { result, ms, cores: { node: cores(node0, node1), mongo: cores(mongo0, mongo1) } };
}

async function main(): Promise<void> {
  const runId = randomBytes(4).toString('hex');
  const infra = await infraUp({ log });
  const mongoStatus = (await infraStatus()).find((s) => s.service === 'mongo');
  const mongoPid = mongoStatus?.pid;
  const server = mongoStatus?.detail ?? infra.mongodbUri;
  const kafka = createKafka({ brokers: infra.kafkaBrokers, clientId: `bench-ledger-${runId}`, logLevel: logLevel.ERROR });
  const topic = `bench.ledger.${runId}`;
  const recordDb = `metrivo_bench_ledger_${runId}`;
  const summaryDb = `metrivo_bench_ledger_${runId}_summary`;
  const mongo = new MongoClient(infra.mongodbUri, { serverSelectionTimeoutMS: 5000 });
  await mongo.connect();
  const lines: string[] = [];
  const out = (line = '') => {
    lines.push(line);
    log(line);
  };
  try {
    // ------------------------------------------------------------------------------------------ 1. recording
    const websiteId = `w_bench_${runId}`;
    const histories = paymentHistories({ websiteId, payments: settings.payments, seed: 1 });
    const states: PaymentState[] = inOrder(histories);
    const recordedAt = new Date().toISOString();
    const entryDocs: LedgerEntryDoc[] = histories.flatMap((h) => computeLedgerChain(null, h, recordedAt)?.entries.map(toEntryDoc) ?? []);
    out(`workload: ${fmt(histories.length)} payments, ${fmt(states.length)} PaymentState revisions → ${fmt(entryDocs.length)} entries (${fmt(entryDocs.length / histories.length, 2)} per payment)`);

    await ensureTopics(kafka, [
      { name: topic, partitions: 6, cleanupPolicy: 'delete', retentionMs: 3_600_000 },
      { name: `${topic}.dlq`, partitions: 1, cleanupPolicy: 'delete', retentionMs: 3_600_000 },
    ]);
    const producer = new BatchingProducer(kafka, { sendTimeoutMs: 30_000 });
    await producer.connect();
    const published = Date.now();
    await Promise.all(states.map((s) => producer.publish(topic, { key: paymentStateKey(s), value: s })));
    await producer.disconnect();
    log(`published ${fmt(states.length)} states to ${topic} in ${fmt(Date.now() - published)} ms`);

    const timer = new CommandTimer(recordDb);
    let firstApply = 0;
    let lastApplyEnd = 0;
    let applyCalls = 0;
    let paymentDocs = 0;
    const config = loadLedgerConfig({
      ...process.env,
      KAFKA_BROKERS: infra.kafkaBrokers.join(','),
      MONGODB_URI: infra.mongodbUri,
      MONGODB_DB: recordDb,
      KAFKA_GROUP_ID: `bench-ledger-${runId}`,
      LEDGER_PORT: '0',
      LOG_LEVEL: 'warn',
      LEDGER_MAX_RECORDS_PER_BATCH: String(settings.batch),
      LEDGER_PENDING_SWEEP_MS: '0',
    });
    log(`starting one ledger instance (batch ${settings.batch} records per store call) on ${recordDb}…`);
    const recording = await withCpu(mongoPid, async () => {
      const app = await startLedger(config, {
        logger: createLogger({ service: 'ledger-bench', level: 'warn' }),
        topic,
        mongoClientOptions: { monitorCommands: true },
        onMongoClient: (client) => timer.attach(client),
        consumer: { maxWaitTimeInMs: 100 },
        wrapStore: (store) => ({
          ...store,
          applyStates: async (batch, now) => {
            if (firstApply === 0) firstApply = performance.now();
            applyCalls += 1;
            try {
              return await store.applyStates(batch, now);
            } finally {
              lastApplyEnd = performance.now();
            }
          },
        }),
      });
      const deadline = Date.now() + 30 * 60_000;
      let lastLog = Date.now();
      while (app.metrics().apply.statesApplied < states.length) {
        if (Date.now() > deadline) throw new Error('the ledger did not record the workload within 30 minutes');
        if (Date.now() - lastLog > 10_000) {
          lastLog = Date.now();
          log(`… ${fmt(app.metrics().apply.statesApplied)} / ${fmt(states.length)} states, ${fmt(app.metrics().apply.entriesInserted)} entries`);
        }
        await sleep(50);
      }
      const metrics = app.metrics();
      const entries = await app.store.entries.countDocuments({ websiteId });
      paymentDocs = await app.store.states.countDocuments({});
      await app.stop();
      return { metrics, entries };
    });
    const applySeconds = (lastApplyEnd - firstApply) / 1000;
    const recordedPerSecond = recording.result.metrics.apply.entriesInserted / applySeconds;
    out();
    out(`recording from the topic (one instance, ${server}):`);
    out(`  ${fmt(recording.result.metrics.apply.entriesInserted)} entries (${fmt(recording.result.entries)} in the collection, ${fmt(entryDocs.length)} expected) from ${fmt(states.length)} states in ${fmt(applyCalls)} store calls`);
    out(`  the payment-records collection ended with ${fmt(paymentDocs)} documents (FerretDB's update cost grows with it: see apps/ledger/README.md)`);
    out(`  first store call → last: ${fmt(applySeconds, 2)} s → ${fmt(recordedPerSecond)} entries/s (${fmt(states.length / applySeconds)} states/s); incl. start and group join: ${fmt(recording.ms / 1000, 2)} s`);
    out(`  CPU while recording: ledger process ${recording.cores.node === null ? '?' : fmt(recording.cores.node, 2)} cores, MongoDB server ${recording.cores.mongo === null ? '?' : fmt(recording.cores.mongo, 2)} cores`);
    out('  where the store time goes (MongoDB commands of the ledger database, wall ms summed over commands):');
    for (const line of commandTable(timer)) out(`    ${line}`);

    // ------------------------------------------------------------------------------------------------ 2. raw
    const rawCollection = mongo.db(recordDb).collection<LedgerEntryDoc>('raw_entries');
    await rawCollection.createIndex({ websiteId: 1, livemode: 1, occurredAt: 1 }, { name: 'website_mode_occurredAt' });
    await rawCollection.createIndex({ websiteId: 1, paymentKey: 1, revision: 1, seq: 1 }, { name: 'website_payment_revision_seq' });
    const raw = await withCpu(mongoPid, () => rawCollection.insertMany(entryDocs, { ordered: false }));
    const rawPerSecond = entryDocs.length / (raw.ms / 1000);
    out();
    out(`raw insertMany of the same ${fmt(entryDocs.length)} entry documents (same ids, fields and indexes), one call: ${fmt(raw.ms)} ms → ${fmt(rawPerSecond)} entries/s`);
    out(`  CPU: this process ${raw.cores.node === null ? '?' : fmt(raw.cores.node, 2)} cores, MongoDB server ${raw.cores.mongo === null ? '?' : fmt(raw.cores.mongo, 2)} cores`);
    out(`RATIO recording ÷ raw insertMany = ${(recordedPerSecond / rawPerSecond).toPrecision(2)} (goal ≥ 0.6)`);

    // ---------------------------------------------------------------------------------------------- 3. summary
    out();
    const summaryStore = createLedgerStore(mongo.db(summaryDb));
    await summaryStore.ensureIndexes();
    const summarySite = `w_bench_${runId}_summary`;
    const perPayment = Math.max(1, entryDocs.length / histories.length);
    const payments = Math.ceil(settings.entries / perPayment) + 10;
    // Up to a year of payments ending now (one a minute at most: 1M entries ≈ 360k payments ≈ 250 days).
    const spacingMinutes = Math.max(1, Math.floor((365 * 24 * 60) / payments));
    const generated = paymentHistories({ websiteId: summarySite, payments, seed: 2, start: new Date(Date.now() - payments * spacingMinutes * 60_000), spacingMinutes });
    // Keep the newest: the oldest payments are the ones left out when more entries were generated than asked for.
    const docs = generated.flatMap((h) => computeLedgerChain(null, h, recordedAt)?.entries.map(toEntryDoc) ?? []).slice(-settings.entries);
    log(`inserting ${fmt(docs.length)} entries into ${summaryDb}.${LEDGER_ENTRIES} (with the ledger's indexes)…`);
    const inserted = await withCpu(mongoPid, async () => {
      for (let i = 0; i < docs.length; i += 10_000) {
        await summaryStore.entries.insertMany(docs.slice(i, i + 10_000), { ordered: false });
        if (i > 0 && i % 50_000 === 0) log(`… ${fmt(i)} inserted`);
      }
    });
    out(`summary latency with ${fmt(docs.length)} entries of one website (size set by --entries; the issue asks for 1,000,000):`);
    out(`  inserting them took ${fmt(inserted.ms / 1000, 1)} s (${fmt(docs.length / (inserted.ms / 1000))} entries/s) → 1,000,000 would take ≈ ${fmt((1_000_000 / docs.length) * (inserted.ms / 60_000), 1)} min`);
    // The entries went in behind the store's back: build their rollups the way a backfill or repair does.
    log('building the day and month rollups from the entries (rebuildRollups)…');
    const rolled = await withCpu(mongoPid, () => summaryStore.rebuildRollups());
    out(`  rollups built from the entries (rebuildRollups, the backfill/repair path): ${fmt(rolled.result.rollups)} day and month documents from ${fmt(rolled.result.entries)} entries in ${fmt(rolled.ms / 1000, 1)} s`);

    const api = express();
    api.use(createLedgerRouter({ store: summaryStore }));
    const http = api.listen(0, '127.0.0.1');
    await new Promise((r) => http.once('listening', r));
    const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    try {
      if (settings.requests === 0) out('  (--requests 0: no summary requests)');
      const from = new Date(Date.now() - 30 * 86_400_000).toISOString();
      for (const [label, path, requests] of [
        ['all time', `/v1/websites/${summarySite}/summary?livemode=true`, settings.requests],
        ['last 30 whole UTC days', `/v1/websites/${summarySite}/summary?livemode=true&from=${from.slice(0, 10)}`, settings.requests],
        // A bound inside a day reads that partial day from the entries: on FerretDB a scan of the collection.
        // Skipped above 100k entries: on FerretDB each request would scan them all (minutes at 1M).
        ['last 30 days from this instant: partial first day from entries', `/v1/websites/${summarySite}/summary?livemode=true&from=${encodeURIComponent(from)}`, docs.length > 100_000 ? 0 : Math.min(settings.requests, 3)],
      ] as const) {
        if (requests === 0) {
          if (settings.requests > 0) out(`  GET summary (${label}): skipped with more than 100,000 entries (FerretDB would scan them all per request)`);
          continue;
        }
        const warm = await fetch(`${base}${path}`);
        const body = (await warm.json()) as { currencies?: Record<string, { payments: number }> };
        if (warm.status !== 200) throw new Error(`summary answered ${warm.status}`);
        const timings: number[] = [];
        const measured = await withCpu(mongoPid, async () => {
          for (let i = 0; i < requests; i += 1) {
            const t = performance.now();
            const res = await fetch(`${base}${path}`);
            await res.arrayBuffer();
            timings.push(performance.now() - t);
          }
        });
        timings.sort((a, b) => a - b);
        const paymentsCounted = Object.values(body.currencies ?? {}).reduce((a, c) => a + c.payments, 0);
        out(`  GET summary (${label}, ${fmt(paymentsCounted)} payments counted): ${requests} sequential requests after 1 warm-up: p50 ${fmt(percentile(timings, 50))} ms, p99 ${fmt(percentile(timings, 99))} ms, max ${fmt(timings[timings.length - 1]!)} ms (goal p99 ≤ 200 ms); MongoDB server ${measured.cores.mongo === null ? '?' : fmt(measured.cores.mongo, 2)} cores`);
      }
    } finally {
      await new Promise((r) => http.close(r));
    }
  } finally {
    if (!args.keep) {
      await mongo.db(recordDb).dropDatabase().catch(() => undefined);
      await mongo.db(summaryDb).dropDatabase().catch(() => undefined);
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: [topic, `${topic}.dlq`] }).catch(() => undefined);
      await admin.disconnect();
    } else {
      log(`kept databases ${recordDb}, ${summaryDb} and topic ${topic}`);
    }
    await mongo.close();
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
