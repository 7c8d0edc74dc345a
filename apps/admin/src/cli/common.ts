import { userInfo } from 'node:os';
import { MongoClient, type Db } from 'mongodb';
import type { Actor } from '../audit';

/** The audit actor of a CLI run: the operating-system user on the server. */
export const cliActor = (): Extract<Actor, { type: 'cli' }> => {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers)
  }
  return { type: 'cli', user };
};

/** Connects on first use (so `--help` and argument errors need no database) and hands back how to close. */
export const mongoOpener = (config: { MONGODB_URI: string; MONGODB_DB: string }) => async (): Promise<{ db: Db; close: () => Promise<void> }> => {
  const client = new MongoClient(config.MONGODB_URI, { serverSelectionTimeoutMS: 5000 });
  await client.connect();
  return { db: client.db(config.MONGODB_DB), close: () => client.close() };
};
