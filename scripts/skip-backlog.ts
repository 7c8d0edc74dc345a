// `npm run dev:skip-backlog` (with `npm start` stopped): moves the local apps' consumer groups to the end
// of their input topics, so that `npm start` and `npm run demo` do not first work through records that
// benchmarks and tests left on the shared dev topics. Development only: in production the backlog is data.
//
//   npm run dev:skip-backlog                 # metrivo-attribution and metrivo-ledger (the defaults of npm start)
//   npm run dev:skip-backlog -- --group g    # another group (repeatable); its topics are the app's
import { TOPICS } from '@metrivo/contracts';
import { commitGroupOffsets, createKafka, fetchPartitionOffsets } from '@metrivo/kafka';
import { logLevel } from 'kafkajs';
import { cli as createCli, runMain } from './cli';

const APP_TOPICS: Record<string, string[]> = {
  'metrivo-attribution': [TOPICS.payments.name, TOPICS.visitorSessions.name],
  'metrivo-ledger': [TOPICS.revenueAttributed.name],
};

const cli = createCli(
  [
    'usage: npm run dev:skip-backlog -- [--group <id> ...] [--topic <name> ...]',
    '  --group  consumer group to move (default: metrivo-attribution and metrivo-ledger)',
    '  --topic  topics of a --group not listed above (default: the topics of the app whose group it is)',
    'Stop `npm start` first: Kafka refuses to move the offsets of a group that has members.',
    'env: KAFKA_BROKERS (default 127.0.0.1:9092)',
  ].join('\n'),
);

const { values: args } = cli.parse({
  options: {
    group: { type: 'string', multiple: true },
    topic: { type: 'string', multiple: true },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) cli.help();
const unknownGroup = args.topic ? undefined : args.group?.find((g) => !APP_TOPICS[g]);
if (unknownGroup) cli.fail(`no topics known for group "${unknownGroup}": name them with --topic`);

async function main(): Promise<void> {
  const kafka = createKafka({ brokers: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092', clientId: 'metrivo-skip-backlog', logLevel: logLevel.NOTHING });
  const groups = args.group ?? Object.keys(APP_TOPICS);
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (const groupId of groups) {
      const topics = args.topic ?? APP_TOPICS[groupId];
      if (!topics) throw new Error(`no topics known for group "${groupId}": name them with --topic`);
      const behind = await admin.fetchOffsets({ groupId, topics });
      for (const topic of topics) {
        const ends = await fetchPartitionOffsets(kafka, topic);
        const committed = new Map((behind.find((t) => t.topic === topic)?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
        const skipped = ends.reduce((n, p) => {
          const at = committed.get(p.partition) ?? -1n;
          return n + (at < 0n ? BigInt(p.high) - BigInt(p.low) : BigInt(p.high) - at);
        }, 0n);
        // Refuses a group with running members (npm start still up).
        await commitGroupOffsets(kafka, groupId, ends.map((p) => ({ topic, partition: p.partition, offset: p.high })));
        console.log(`✔ ${groupId} on ${topic}: moved to the end, ${skipped.toLocaleString('en-US')} records skipped`);
      }
    }
  } finally {
    await admin.disconnect();
  }
}

runMain(main);
