// `npm run dlq -- list <topic>` / `npm run dlq -- redrive <topic> [--reason handler_error] [--dry-run] [--allow-compacted]`
//
// What went to `<topic>.dlq` and why, and sending records back once what rejected them is fixed. Records are
// published back with their key, value bytes and own headers (the DLQ headers removed, `x-dlq-redriven-from`
// added); one group per reason (`metrivo-dlq-redrive.<topic>` for handler_error, `….<topic>.<reason>` for the
// others) remembers what was sent back, so a second redrive sends only newer dead letters and letters left behind
// because of their reason can still be sent back later with `--reason`. Only `handler_error` records go back by
// default: `invalid_json` and `schema_validation` records would be rejected again (fix the producer instead).
// Consumers are idempotent, so a record whose effect already happened changes nothing — but on a compacted topic
// an old revision appended after a newer one would be what compaction keeps, so redrive refuses compacted topics
// unless `--allow-compacted`, and then leaves out the letters whose key already has a later record on the topic.
import { topicCatalog } from '@metrivo/contracts';
import { CompactedTopicRedriveError, createKafka, DEAD_LETTER_REASONS, readDeadLetters, redriveDeadLetters, type DeadLetter, type RedriveResult } from '@metrivo/kafka';
import { logLevel } from 'kafkajs';
import { cli as createCli, runMain, type Cli } from './cli';

const COMMANDS = ['list', 'redrive'] as const;
/** The topics whose dead letters can be listed (`<topic>.dlq`), as the usage lists them. */
const TOPICS = topicCatalog().filter((t) => !t.name.endsWith('.dlq')).map((t) => t.name);
const COMPACTED = new Set(topicCatalog().filter((t) => t.cleanupPolicy === 'compact').map((t) => t.name));
/** How many redriven records are printed. */
const SAMPLE = 20;

const usage = [
  'usage: npm run dlq -- list <topic> [--limit 50]          the latest dead letters by failure time, newest last',
  '       npm run dlq -- redrive <topic> [--reason handler_error ...] [--dry-run] [--allow-compacted]',
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
      'allow-compacted': { type: 'boolean', default: false },
      limit: { type: 'string', default: '50' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) cli.help();
  const [command, topic, ...extra] = positionals;
  if (!command) cli.fail('no command given');
  if (!topic) cli.fail(`${command} needs a <topic>`);
  if (extra.length > 0) cli.fail(`unexpected argument "${extra[0]}"`);
  const parsed = {
    command: cli.oneOf('the command', command, COMMANDS),
    // A mistyped topic would otherwise read an empty `<topic>.dlq` and report nothing to do.
    topic: cli.oneOf('<topic>', topic, TOPICS),
    reasons: (values.reason ?? ['handler_error']).map((r) => cli.oneOf('--reason', r, DEAD_LETTER_REASONS)),
    limit: cli.positiveInteger('limit', values.limit),
    dryRun: values['dry-run'],
    allowCompacted: values['allow-compacted'],
  };
  // Refused before connecting (the catalog says which topics are compacted), in the library's own words; the
  // library checks the broker's setting again when it runs.
  if (parsed.command === 'redrive' && COMPACTED.has(parsed.topic) && !parsed.allowCompacted) {
    cli.fail(new CompactedTopicRedriveError(parsed.topic).message);
  }
  return parsed;
}

function describe(l: DeadLetter): string {
  const error = (l.error ?? '').length > 160 ? `${l.error!.slice(0, 159)}…` : l.error ?? '';
  return `  ${l.dlqPartition}/${l.dlqOffset}  from ${l.sourcePartition ?? '?'}/${l.sourceOffset ?? '?'}  ${l.failedAt ?? '?'}  ${l.reason ?? '?'}  group ${l.consumerGroup ?? '?'}  key ${l.key ?? '-'}\n      ${error}`;
}

async function main(): Promise<void> {
  const { command, topic, reasons, limit, dryRun, allowCompacted } = options();
  const kafka = createKafka({ brokers: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092', clientId: 'metrivo-dlq', logLevel: logLevel.NOTHING });
  if (command === 'list') {
    const { letters } = await readDeadLetters(kafka, topic);
    const byReason = letters.reduce<Record<string, number>>((acc, l) => ({ ...acc, [l.reason ?? '?']: (acc[l.reason ?? '?'] ?? 0) + 1 }), {});
    console.log(`${topic}.dlq: ${letters.length} record(s) ${JSON.stringify(byReason)}; the latest ${Math.min(limit, letters.length)} by failure time, newest last:`);
    for (const l of letters.slice(-limit)) console.log(describe(l));
    return;
  }
  const result = await redriveDeadLetters(kafka, topic, { reasons, dryRun, allowCompacted });
  for (const line of redriveReport(result, { topic, reasons, dryRun })) console.log(line);
}

/** What `redrive` prints: the counts, then the first records sent back and how many more were not printed. */
export function redriveReport(result: RedriveResult, run: { topic: string; reasons: readonly string[]; dryRun: boolean }): string[] {
  const verb = run.dryRun ? 'would send back' : 'sent back';
  const lines = [`✔ ${verb} ${result.redriven.length} record(s) to ${run.topic}; left ${result.skipped.length} in the DLQ (reason not in ${run.reasons.join(', ')})`];
  if (result.superseded.length > 0) {
    lines.push(`  left out ${result.superseded.length} whose key already has a later record on ${run.topic} (or whose source position is unknown)`);
  }
  lines.push(...result.redriven.slice(0, SAMPLE).map(describe));
  if (result.redriven.length > SAMPLE) lines.push(`  … and ${result.redriven.length - SAMPLE} more not printed`);
  return lines;
}

if (require.main === module) runMain(main);
