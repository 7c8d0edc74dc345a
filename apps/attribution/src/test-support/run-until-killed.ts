// Run by crash.int.test.ts as its own process (tsx): attribution with a crash point. When the payment path
// of website CRASH_WEBSITE has written its records and is about to produce them, it says so on stdout (one
// JSON line) and waits for the parent's SIGKILL: the state a power cut at that moment leaves behind.
import { startAttribution } from '../main';
import { fastConsumer, testConfig, testLogger } from './int-helpers';

const crashWebsite = process.env.CRASH_WEBSITE;
if (!crashWebsite) throw new Error('CRASH_WEBSITE is required');
const say = (event: object) => process.stdout.write(`${JSON.stringify(event)}\n`);

startAttribution(testConfig({}), {
  logger: testLogger(),
  consumer: fastConsumer,
  hooks: {
    afterRecordWrites: async ({ websiteId, path, writes }) => {
      if (path !== 'payments' || websiteId !== crashWebsite) return;
      say({ event: 'hanging', websiteId, keys: writes.map((w) => w.record.paymentKey) });
      await new Promise(() => undefined); // until killed
    },
  },
})
  .then(async (app) => {
    await app.consumer.joined;
    say({ event: 'ready' });
  })
  .catch((err: unknown) => {
    say({ event: 'failed', error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  });
