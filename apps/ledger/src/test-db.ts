import { randomBytes } from 'node:crypto';
import { type Db, MongoClient } from 'mongodb';

/**
 * A throwaway database on the real MongoDB (or FerretDB) of the integration setup, for the ledger's
 * *.int.test.ts files. Not used by production code.
 */
export interface TestDb {
  client: MongoClient;
  db: Db;
  drop(): Promise<void>;
}

export async function openTestDb(prefix = 'ledger_test'): Promise<TestDb> {
  const uri = process.env.MONGODB_URI;
  if (!uri) throw new Error('MONGODB_URI is not set: run integration tests through jest --selectProjects integration (its global setup starts MongoDB)');
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
  await client.connect();
  const db = client.db(`${prefix}_${randomBytes(6).toString('hex')}`);
  return {
    client,
    db,
    async drop() {
      try {
        await db.dropDatabase();
      } finally {
        await client.close();
      }
    },
  };
}
