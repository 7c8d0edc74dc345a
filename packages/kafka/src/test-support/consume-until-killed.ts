// Child process for the crash test (consumer.int.test.ts): consumes a topic with runConsumer, a few
// records per handler call, and on the handler call named by HANG_ON_CALL never returns, so the process
// is SIGKILLed by the test in the middle of a batch, with nothing of that batch committed.
// Prints one JSON line per event on stdout.
import { createKafka } from '../client';
import { runConsumer } from '../consumer';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

async function main(): Promise<void> {
  const topic = env('TOPIC');
  const hangOnCall = Number(env('HANG_ON_CALL'));
  const kafka = createKafka({ brokers: env('KAFKA_BROKERS'), clientId: 'crash-test-child' });
  let calls = 0;
  await runConsumer({
    kafka,
    groupId: env('GROUP_ID'),
    topics: [topic],
    schemas: { [topic]: null },
    maxRecordsPerCall: Number(env('MAX_RECORDS_PER_CALL')),
    sessionTimeout: 6000,
    heartbeatInterval: 1000,
    rebalanceTimeout: 5000,
    maxWaitTimeInMs: 100,
    handler: async ({ records }) => {
      calls += 1;
      const offsets = records.map((r) => r.offset);
      if (calls === hangOnCall) {
        process.stdout.write(`${JSON.stringify({ event: 'hanging', offsets })}\n`);
        await new Promise(() => undefined);
      }
      process.stdout.write(`${JSON.stringify({ event: 'handled', offsets })}\n`);
    },
  });
  process.stdout.write(`${JSON.stringify({ event: 'started' })}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${String(e)}\n`);
  process.exit(1);
});
