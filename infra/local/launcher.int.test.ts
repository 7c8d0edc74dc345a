// Runs against the services jest/global-setup.ts brought up (KAFKA_BROKERS / MONGODB_URI are set by it).
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { MongoClient } from 'mongodb';
import { parseInfraEnv } from './config';
import { infraStatus, infraUp } from './launcher';

const brokers = (process.env.KAFKA_BROKERS ?? '').split(',').filter(Boolean);
const mongodbUri = process.env.MONGODB_URI ?? '';
const run = randomUUID().slice(0, 8);

describe('local infrastructure', () => {
  it('global setup exported where the services are', () => {
    expect(brokers.length).toBeGreaterThan(0);
    expect(mongodbUri).toMatch(/^mongodb(\+srv)?:\/\//);
  });

  it('status reports both services up and healthy where the tests were told they are', async () => {
    const rows = await infraStatus();
    const kafka = rows.find((r) => r.service === 'kafka');
    const mongo = rows.find((r) => r.service === 'mongo');
    expect(kafka).toMatchObject({ healthy: true, where: brokers.join(',') });
    expect(mongo).toMatchObject({ healthy: true, where: mongodbUri });
    expect(['running', 'external']).toContain(kafka?.state);
    expect(['running', 'external']).toContain(mongo?.state);
  });

  it('a second `up` of the launcher-managed services starts nothing', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.KAFKA_BROKERS;
    delete env.MONGODB_URI;
    const local = parseInfraEnv(env);
    if (brokers.join(',') !== `127.0.0.1:${local.kafkaPort}` || mongodbUri !== `mongodb://127.0.0.1:${local.mongoPort}/`) {
      return; // the run uses external services: nothing local to compare with
    }
    const lines: string[] = [];
    const t0 = Date.now();
    const again = await infraUp({ env, log: (l) => lines.push(l) });
    expect(again).toEqual({ kafkaBrokers: brokers, mongodbUri, started: [] });
    expect(Date.now() - t0).toBeLessThan(15_000);
    const rows = await infraStatus({ env });
    for (const r of rows) {
      expect(r.healthy).toBe(true);
      if (r.state === 'running') {
        expect(r.pid).toEqual(expect.any(Number));
        expect(r.logFile).toEqual(expect.stringContaining('.local'));
      }
    }
  });

  it('kafkajs: admin createTopics, produce, consume in a group, commit offsets', async () => {
    const kafka = new Kafka({ clientId: `infra-int-${run}`, brokers, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    const topic = `infra-int-${run}`;
    const compacted = `${topic}-compacted`;
    const groupId = `infra-int-${run}`;
    await admin.connect();
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          { topic, numPartitions: 3, replicationFactor: 1 },
          { topic: compacted, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
        ],
      });
      expect(await admin.listTopics()).toEqual(expect.arrayContaining([topic, compacted]));

      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      const messages = Array.from({ length: 12 }, (_, i) => ({ key: `k${i % 4}`, value: `v${i}`, headers: { run } }));
      await producer.send({ topic, messages });
      await producer.send({ topic: compacted, messages: [{ key: 'a', value: '1' }, { key: 'a', value: '2' }] });
      await producer.disconnect();

      const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const seen: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`consumed only ${seen.length}/12`)), 40_000);
        consumer
          .run({
            autoCommit: false,
            eachMessage: async ({ partition, message }) => {
              seen.push(message.value?.toString() ?? '');
              expect(message.headers?.run?.toString()).toBe(run);
              await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
              if (seen.length === messages.length) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch(reject);
      });
      await consumer.disconnect();
      expect(seen.sort()).toEqual(messages.map((m) => m.value).sort());

      const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
      const total = committed[0]?.partitions.reduce((n, p) => n + Number(p.offset), 0);
      expect(total).toBe(messages.length);
      await admin.deleteTopics({ topics: [topic, compacted] });
      await admin.deleteGroups([groupId]).catch(() => undefined);
    } finally {
      await admin.disconnect();
    }
  });

  it('mongodb driver: indexes, upserts, bulkWrite, aggregate $group', async () => {
    const client = new MongoClient(mongodbUri, { serverSelectionTimeoutMS: 10_000 });
    await client.connect();
    const db = client.db(`infra_int_${run}`);
    try {
      const col = db.collection<{ k: string; g: string; n: number }>('things');
      expect(await col.createIndex({ k: 1 }, { unique: true })).toBe('k_1');
      await col.insertOne({ k: 'a', g: 'x', n: 1 });
      const up = await col.updateOne({ k: 'b' }, { $set: { g: 'x' }, $inc: { n: 2 } }, { upsert: true });
      expect(up.upsertedCount).toBe(1);
      await col.updateOne({ k: 'b' }, { $inc: { n: 3 } }, { upsert: true });
      const bulk = await col.bulkWrite(
        [
          { insertOne: { document: { k: 'c', g: 'y', n: 10 } } },
          { updateOne: { filter: { k: 'd' }, update: { $set: { g: 'y', n: 20 } }, upsert: true } },
          { deleteOne: { filter: { k: 'nope' } } },
        ],
        { ordered: false },
      );
      expect(bulk.insertedCount + bulk.upsertedCount).toBe(2);
      await expect(col.insertOne({ k: 'a', g: 'z', n: 0 })).rejects.toMatchObject({ code: 11000 });
      expect((await col.find({ g: 'x' }).sort({ k: 1 }).toArray()).map((d) => [d.k, d.n])).toEqual([
        ['a', 1],
        ['b', 5],
      ]);
      // Several accumulators in one $group (FerretDB 1.24.2 needs the launcher's patch for this).
      const groups = await col.aggregate([{ $match: { n: { $gte: 0 } } }, { $group: { _id: '$g', total: { $sum: '$n' }, count: { $sum: 1 } } }, { $sort: { _id: 1 } }]).toArray();
      expect(groups).toEqual([
        { _id: 'x', total: 6, count: 2 },
        { _id: 'y', total: 30, count: 2 },
      ]);
    } finally {
      await db.dropDatabase().catch(() => undefined);
      await client.close();
    }
  });

  // The launcher's FerretDB patches push `_id` equality and `_id: {$in}` down to SQLite's index; the rest of
  // the filter must still apply (on mongod these are plain MongoDB semantics).
  it('mongodb driver: filters on _id plus other fields, $in by ids, compare-and-set by _id and version', async () => {
    const client = new MongoClient(process.env.MONGODB_URI!, { serverSelectionTimeoutMS: 5000 });
    await client.connect();
    const db = client.db(`launcher_ids_${Date.now()}`);
    try {
      const col = db.collection<{ _id: string | number; v: number; tag?: string }>('docs');
      await col.insertMany([
        { _id: 'a', v: 1, tag: 'x' },
        { _id: 'b', v: 1 },
        { _id: 'c', v: 2, tag: 'x' },
        { _id: 7, v: 1 },
      ]);
      expect(await col.find({ _id: 'a', v: 2 }).toArray()).toEqual([]);
      expect(await col.find({ _id: 'a', $or: [{ tag: 'x' }, { v: 9 }] }).toArray()).toEqual([{ _id: 'a', v: 1, tag: 'x' }]);
      expect((await col.find({ _id: { $in: ['c', 'a', 'zz'] } }).sort({ _id: 1 }).toArray()).map((d) => d._id)).toEqual(['a', 'c']);
      expect((await col.find({ _id: { $in: ['b', 7] } }).toArray()).map((d) => d._id).sort()).toEqual([7, 'b'].sort());
      expect((await col.find({ _id: { $in: ['a', 'b', 'c'] }, tag: 'x' }).sort({ _id: 1 }).toArray()).map((d) => d._id)).toEqual(['a', 'c']);
      // Compare-and-set: the first replace wins, the second (stale version) matches nothing.
      expect((await col.replaceOne({ _id: 'b', v: 1 }, { v: 2 })).matchedCount).toBe(1);
      expect((await col.replaceOne({ _id: 'b', v: 1 }, { v: 3 })).matchedCount).toBe(0);
      expect(await col.findOne({ _id: 'b' })).toEqual({ _id: 'b', v: 2 });
      expect((await col.updateOne({ _id: 'zz', v: 1 }, { $set: { tag: 'new' } }, { upsert: true })).upsertedCount).toBe(1);
      expect((await col.deleteMany({ _id: { $in: ['a', 'c'] }, v: 2 })).deletedCount).toBe(1);
      expect((await col.find({}).toArray()).map((d) => d._id).sort()).toEqual([7, 'a', 'b', 'zz'].sort());
    } finally {
      await db.dropDatabase().catch(() => undefined);
      await client.close();
    }
  });
});
