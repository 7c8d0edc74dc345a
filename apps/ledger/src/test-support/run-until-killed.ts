// Run by ledger-crash.int.test.ts as its own process (tsx): the ledger app with a crash point. The
// HANG_ON_ENTRIES_INSERT-th insert of ledger entries completes, then the process says so on stdout (one JSON
// line) and waits for the parent's SIGKILL: what a power cut between "entries written" and "payment records
// advanced, offsets committed" leaves behind.
import { startLedger } from '../main';
import { afterEntriesInsert, fastConsumer, testConfig, testLogger } from './int-helpers';

const prefix = process.env.WEBSITE_PREFIX;
const hangOn = Number(process.env.HANG_ON_ENTRIES_INSERT);
if (!prefix || !Number.isInteger(hangOn) || hangOn < 1) throw new Error('WEBSITE_PREFIX and HANG_ON_ENTRIES_INSERT are required');
const say = (event: object) => process.stdout.write(`${JSON.stringify(event)}\n`);

startLedger(testConfig({}), {
  logger: testLogger(),
  consumer: fastConsumer,
  acceptState: (s) => s.websiteId.startsWith(prefix),
  wrapDb: (db) =>
    afterEntriesInsert(db, async (inserts, entries) => {
      if (inserts !== hangOn) return;
      say({ event: 'hanging', inserts, entries });
      await new Promise(() => undefined); // until killed
    }),
})
  .then(async (app) => {
    await app.consumer.joined;
    say({ event: 'ready', port: app.port });
  })
  .catch((err: unknown) => {
    say({ event: 'failed', error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  });
