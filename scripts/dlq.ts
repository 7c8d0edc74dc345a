// `npm run dlq -- list <topic>` / `npm run dlq -- redrive <topic> [--reason handler_error] [--dry-run]`
//
// What went to `<topic>.dlq` and why, and sending records back once what rejected them is fixed. Records are
// published back with their key, value bytes and own headers (the DLQ headers removed, `x-dlq-redriven-from`
// added); the group `metrivo-dlq-redrive.<topic>` remembers what was sent back, so a second redrive sends only
// newer dead letters. Only `handler_error` records go back by default: `invalid_json` and `schema_validation`
// records would be rejected again (fix the producer instead). Consumers are idempotent, so a record whose
// effect already happened changes nothing.
import { topicCatalog } from '@metrivo/contracts';
import { createKafka, readDeadLetters, redriveDeadLetters, type DeadLetter } from '@metrivo/kafka';
import { logLevel } from 'kafkajs';
import { cli as createCli, runMain, type Cli } from './cli';

const REASONS = ['handler_error', 'invalid_json', 'schema_validation'] as const;
const COMMANDS = ['list', 'redrive'] as const;
/** The topics whose dead letters can be listed (`<topic>.dlq`), as the usage lists them. */
const TOPICS = topicCatalog().filter((t) => !t.name.endsWith('.dlq')).map((t) => t.name);

const usage = [
  'usage: npm run dlq -- list <topic> [--limit 50]',
  '       npm run dlq -- redrive <topic> [--reason handler_error ...] [--dry-run]',
  `topics: ${TOPICS.join(', ')}`,
  'env: KAFKA_BROKERS (default 127.0.0.1:9092)',
].join('\n');
// Annotated: TypeScript narrows after a never-returning call (cli.fail) only through a declared type.
const cli: Cli = createCli(usage);

function options() {
  const { values, positionals } = cli.parse({
    allowPositionals: true,
    options: {
      reason: { type: 'string', multiple: true },
      'dry-run': { type: 'boolean', default: false },
      limit: { type: 'string', default: '50' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) cli.help();
  const [command, topic, ...extra] = positionals;
  if (!command) cli.fail('no command given');
  if (!topic) cli.fail(`${command} needs a <topic>`);
  if (extra.length > 0) cli.fail(`unexpected argument "${extra[0]}"`);
  return {
    command: cli.oneOf('the command', command, COMMANDS),
    // A mistyped topic would otherwise read an empty `<topic>.dlq` and report nothing to do.
    topic: cli.oneOf('<topic>', topic, TOPICS),
    reasons: (values.reason ?? ['handler_error']).map((r) => cli.oneOf('--reason', r, REASONS)),
    limit: cli.positiveInteger('limit', values.limit),
    dryRun: values['dry-run'],
  };
}

function describe(l: DeadLetter): string {
  const error = (l.error ?? '').length > 160 ? `${l.error!.slice(0, 159)}…` : l.error ?? '';
  return `  ${l.dlqPartition}/${l.dlqOffset}  from ${l.sourcePartition ?? '?'}/${l.sourceOffset ?? '?'}  ${l.failedAt ?? '?'}  ${l.reason ?? '?'}  group ${l.consumerGroup ?? '?'}  key ${l.key ?? '-'}\n      ${error}`;
}

async function main(): Promise<void> {
  const { command, topic, reasons, limit, dryRun } = options();
  const kafka = createKafka({ brokers: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092', clientId: 'metrivo-dlq', logLevel: logLevel.NOTHING });
  if (command === 'list') {
    const { letters } = await readDeadLetters(kafka, topic);
    const byReason = letters.reduce<Record<string, number>>((acc, l) => ({ ...acc, [l.reason ?? '?']: (acc[l.reason ?? '?'] ?? 0) + 1 }), {});
    console.log(`${topic}.dlq: ${letters.length} record(s) ${JSON.stringify(byReason)}; the latest ${Math.min(limit, letters.length)}:`);
    for (const l of letters.slice(-limit)) console.log(describe(l));
    return;
  }
  const result = await redriveDeadLetters(kafka, topic, { reasons, dryRun });
  const verb = dryRun ? 'would send back' : 'sent back';
  console.log(`✔ ${verb} ${result.redriven.length} record(s) to ${topic}; left ${result.skipped.length} in the DLQ (reason not in ${reasons.join(', ')})`);
  for (const l of result.redriven.slice(0, 20)) console.log(describe(l));
}

runMain(main);
