// Run by ledger-crash.int.test.ts as its own process (tsx): the ledger app with a crash point. The
// HANG_ON_ENTRIES_INSERT-th insert of ledger entries completes, then the process says so on stdout (one JSON
// line) and waits for the parent's SIGKILL: what a power cut between "entries written" and "payment records
// advanced, offsets committed" leaves behind.
import type { Collection, Db } from 'mongodb';
import { startLedger } from '../main';
import { LEDGER_ENTRIES } from '../ledger-store';
import { fastConsumer, testConfig, testLogger } from './int-helpers';

const prefix = process.env.WEBSITE_PREFIX;
const hangOn = Number(process.env.HANG_ON_ENTRIES_INSERT);
if (!prefix || !Number.isInteger(hangOn) || hangOn < 1) throw new Error('WEBSITE_PREFIX and HANG_ON_ENTRIES_INSERT are required');
const say = (event: object) => process.stdout.write(`${JSON.stringify(event)}\n`);

let inserts = 0;

/** Property access on a proxy, with methods bound to the real object (the driver's classes expect `this` to be theirs). */
function passThrough<T extends object>(target: T, prop: string | symbol): unknown {
  const value = Reflect.get(target, prop, target) as unknown;
  return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
}

function crashingEntries(collection: Collection): Collection {
  return new Proxy(collection, {
    get(target, prop) {
      if (prop !== 'insertMany') return passThrough(target, prop);
      return async (...args: Parameters<Collection['insertMany']>) => {
        const result = await target.insertMany(...args);
        inserts += 1;
        if (inserts === hangOn) {
          say({ event: 'hanging', inserts, entries: args[0].length });
          await new Promise(() => undefined); // until killed
        }
        return result;
      };
    },
  });
}

function crashingDb(db: Db): Db {
  return new Proxy(db, {
    get(target, prop) {
      if (prop !== 'collection') return passThrough(target, prop);
      return (name: string, options?: Parameters<Db['collection']>[1]) => {
        const collection = target.collection(name, options);
        return name === LEDGER_ENTRIES ? crashingEntries(collection) : collection;
      };
    },
  });
}

startLedger(testConfig({}), {
  logger: testLogger(),
  consumer: fastConsumer,
  acceptState: (s) => s.websiteId.startsWith(prefix),
  wrapDb: crashingDb,
})
  .then(async (app) => {
    await app.consumer.joined;
    say({ event: 'ready', port: app.port });
  })
  .catch((err: unknown) => {
    say({ event: 'failed', error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  });
