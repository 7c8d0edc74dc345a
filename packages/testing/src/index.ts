// Shared by the apps' *.int.test.ts files: the real broker and database that the jest integration global
// setup started (KAFKA_BROKERS, MONGODB_URI), names unique per run so that tests never see each other's data,
// consumer-group timings that make joins and shutdowns take a second or two, polling, and a MongoDB that can be
// switched off for one app under test.
import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { mongodbUri } from './env';

/** Six hex characters, fixed for the whole test process. */
export const runId = randomBytes(3).toString('hex');

/** `{what}_{runId}_{random}`: a website id, database name or group id no other test uses. */
export function uniqueId(what: string): string {
  return `${what}_${runId}_${randomBytes(3).toString('hex')}`;
}

export { brokers, mongodbUri } from './env';
export { expectUnavailableWhileMongoDown, SwitchableMongoProxy } from './mongo-proxy';

/** Group timings that make joins, rebalances and shutdowns take a second or two. */
export const fastConsumer = {
  sessionTimeout: 6000, // the broker's group.min.session.timeout.ms
  heartbeatInterval: 1000,
  rebalanceTimeout: 5000,
  maxWaitTimeInMs: 100,
  retryBackoff: { initialMs: 50, maxMs: 500 },
} as const;

/** Polls `predicate` every `everyMs` until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function dropDatabase(name: string): Promise<void> {
  const client = new MongoClient(mongodbUri(), { serverSelectionTimeoutMS: 5000 });
  await client.connect();
  try {
    await client.db(name).dropDatabase();
  } finally {
    await client.close();
  }
}
export { expectCountersMatchStats, testMeterProvider, type CollectedPoint } from './metrics';
