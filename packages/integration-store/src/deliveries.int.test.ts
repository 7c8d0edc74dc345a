import { randomBytes } from 'node:crypto';
import { MongoClient, type Db } from 'mongodb';
import type { DeliveryDoc } from './documents';
import { DeliveryLog } from './deliveries';

let client: MongoClient;
let db: Db;

beforeAll(async () => {
  const uri = process.env.MONGODB_URI;
  if (!uri) throw new Error('MONGODB_URI is not set: run through jest --selectProjects integration');
  client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
  await client.connect();
  db = client.db(`deliveries_${randomBytes(4).toString('hex')}`);
});
afterAll(async () => {
  await db?.dropDatabase().catch(() => undefined);
  await client?.close();
});

/** FerretDB answers buildInfo with its own version; its v1 explain never reports index use, so plans are checked on MongoDB only. */
async function isFerretDb(): Promise<boolean> {
  const info = await db.admin().command({ buildInfo: 1 });
  return typeof info.ferretdbVersion === 'string';
}

describe('DeliveryLog indexes', () => {
  it('serve the by-website queries of Manual API deliveries (admin), and ensureIndexes can run again', async () => {
    const log = new DeliveryLog(db);
    await log.ensureIndexes();
    await log.ensureIndexes(); // every start runs it on existing indexes
    const keys = (await log.collection.listIndexes().toArray()).map((i) => i.key as Record<string, number>);
    expect(keys).toContainEqual({ websiteId: 1, provider: 1, receivedAt: -1 });
    expect(keys).toContainEqual({ integrationId: 1, receivedAt: -1 });

    if (await isFerretDb()) return;
    const now = new Date();
    const docs: DeliveryDoc[] = Array.from({ length: 200 }, (_, i) => ({
      _id: `d_${i}`, integrationId: `int_${i % 20}`, websiteId: `w_${i % 10}`, provider: i % 2 ? 'manual' : 'stripe', receivedAt: new Date(now.getTime() - i * 1000),
      providerEventId: null, eventType: null, livemode: false, outcome: 'accepted', httpStatus: 200, errorCode: null, published: 1, hadMetrivoSignals: null, durationMs: 1, expireAt: now,
    }));
    await log.insertMany(docs);
    // The shapes admin-service sends: the test-connection poll's $or, and the manual integration's list / health.
    const plans = await Promise.all([
      log.collection.find({ $or: [{ integrationId: { $in: ['int_1', 'int_2'] } }, { websiteId: 'w_1', provider: 'manual' }], livemode: { $ne: true } }).sort({ receivedAt: -1 }).limit(10).explain(),
      log.collection.find({ websiteId: 'w_1', provider: 'manual' }).sort({ receivedAt: -1 }).limit(25).explain(),
      log.collection.find({ websiteId: 'w_1', provider: 'manual', receivedAt: { $gte: new Date(now.getTime() - 86_400_000) } }).sort({ receivedAt: -1 }).limit(5000).explain(),
    ]);
    for (const plan of plans) expect(JSON.stringify(plan.queryPlanner.winningPlan)).not.toContain('COLLSCAN');
  });
});
