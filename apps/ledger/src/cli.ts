// Operator commands of the ledger (run from the repository root):
//   npm run rebuild -w @metrivo/ledger -- --db <empty database> [--website <id> | --website-prefix <p>] [--commit-group <group>] [--resume] [--timeout-s <s>] [--json]
//   npm run reconcile -w @metrivo/ledger -- [--db <database>] [--website <id> | --website-prefix <p>] [--fail-on-lagging] [--json]
//   npm run rollups -w @metrivo/ledger -- check --website <id> [--db <database>] [--json]
//   npm run rollups -w @metrivo/ledger -- rebuild [--website <id>] [--db <database>] [--json]
// Kafka and MongoDB come from KAFKA_BROKERS and MONGODB_URI (as for the service); --db defaults to MONGODB_DB.
// Exit codes: 0 done / reconciled, 1 mismatches found or the command failed, 2 bad usage.
import { parseArgs } from 'node:util';
import { formatMinor } from '@metrivo/contracts';
import { createKafka } from '@metrivo/kafka';
import { createLogger, EnvError } from '@metrivo/observability';
import { MongoClient } from 'mongodb';
import { loadLedgerConfig } from './env';
import { createLedgerStore } from './ledger-store';
import { NonEmptyLedgerError, rebuildFromTopic, reconcileWithTopic, type LedgerTotalsRow, type TopicMismatch } from './topic-replay';

const usage = `usage:
  ledger rebuild   --db <name> [--website <id>] [--website-prefix <prefix>] [--commit-group <groupId>] [--topic <name>]
                   [--resume] [--timeout-s <seconds>] [--json]
  ledger reconcile [--db <name>] [--website <id>] [--website-prefix <prefix>] [--topic <name>] [--group <groupId>]
                   [--fail-on-lagging] [--json]
  ledger rollups check --website <id> [--db <name>] [--json]
  ledger rollups rebuild [--website <id>] [--db <name>] [--json]

rebuild    reads the compacted revenue topic from the beginning up to its current end into an EMPTY database and
           prints the totals. --commit-group stores the end offsets for that consumer group, so a ledger started
           with MONGODB_DB=<name> KAFKA_GROUP_ID=<groupId> continues where the rebuild stopped (the offsets are the
           whole topic's: with --website/--website-prefix that ledger never sees other websites). --resume
           finishes an interrupted rebuild of the same database; --timeout-s bounds reading and applying the
           topic (default 600).
reconcile  reads the latest PaymentState per key from the topic and compares it with the ledger's entries;
           exits 1 when a payment does not add up. With the consumer group that fills the database (KAFKA_GROUP_ID
           when --db is not given, else --group) past the topic's end, a payment still behind missed its record:
           a mismatch. Otherwise payments the ledger has not caught up with are listed apart
           (exit 0, or 1 with --fail-on-lagging: one that stays there missed a record, e.g. to the DLQ), and so are
           payments the ledger applied a newer revision of while the topic was being read.
rollups    check: compares a website's day and month rollups (what summary and revenue read) with its entries;
           exits 1 on a difference. rebuild: recomputes them from the entries (stop the ledger consumers first).`;

class UsageError extends Error {}

function line(text = ''): void {
  process.stdout.write(`${text}\n`);
}

function totalsTable(rows: LedgerTotalsRow[]): string[] {
  if (rows.length === 0) return ['  (no entries)'];
  return rows.map(
    (r) =>
      `  ${r.livemode ? 'live' : 'test'} ${r.currency}: gross ${formatMinor(r.grossMinor, r.currency)}, refunded ${formatMinor(r.refundedMinor, r.currency)}, net ${formatMinor(r.netMinor, r.currency)}`,
  );
}

function describeMismatch(m: TopicMismatch): string {
  const e = m.expected;
  const a = m.actual;
  const expected = e ? `${e.currency} net ${e.netMinor} (gross ${e.grossMinor}, refunded ${e.refundedMinor})` : 'nothing (key not on the topic)';
  return `  ${m.websiteId} ${m.paymentKey}: topic rev ${m.topicRevision ?? '-'}, ledger rev ${m.ledgerRevision ?? '-'}; expected ${expected}, entries give ${a.currency} net ${a.netMinor} (gross ${a.grossMinor}, refunded ${a.refundedMinor}, at its attribution ${a.attributedNetMinor}, elsewhere ${a.elsewhereMinor})`;
}

/** The first line of the error's message, prefixed with the service it came from when that is known. */
function describeFailure(err: unknown): string {
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0];
  const name = err instanceof Error ? err.name : '';
  if (name.startsWith('Mongo')) return `MongoDB (MONGODB_URI): ${message}`;
  if (name.startsWith('KafkaJS')) return `Kafka (KAFKA_BROKERS): ${message}`;
  return message ?? '';
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    line(usage);
    return 0;
  }
  const [command, ...afterCommand] = argv;
  if (command !== 'rebuild' && command !== 'reconcile' && command !== 'rollups') throw new UsageError(command ? `unknown command "${command}"` : 'no command given');
  const [rollupAction, ...rollupArgs] = command === 'rollups' ? afterCommand : [];
  if (command === 'rollups' && rollupAction !== 'check' && rollupAction !== 'rebuild') throw new UsageError('rollups needs "check" or "rebuild"');
  const rest = command === 'rollups' ? rollupArgs : afterCommand;
  const { values } = parseArgs({
    args: rest,
    options: {
      db: { type: 'string' },
      website: { type: 'string' },
      'website-prefix': { type: 'string' },
      'commit-group': { type: 'string' },
      topic: { type: 'string' },
      resume: { type: 'boolean', default: false },
      'timeout-s': { type: 'string' },
      'fail-on-lagging': { type: 'boolean', default: false },
      group: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const timeoutS = values['timeout-s'] === undefined ? undefined : Number(values['timeout-s']);
  if (timeoutS !== undefined && !(Number.isFinite(timeoutS) && timeoutS > 0)) throw new UsageError('--timeout-s must be a positive number of seconds');
  if (command !== 'rebuild' && (values.resume || timeoutS !== undefined)) throw new UsageError('--resume and --timeout-s are for rebuild');
  if (command !== 'reconcile' && (values['fail-on-lagging'] || values.group !== undefined)) throw new UsageError('--fail-on-lagging and --group are for reconcile');
  // The end offsets are the whole topic's: a ledger started on them never sees the other websites' history. Allowed
  // (a dedicated test topic shared with other data needs it), but said loudly.
  if (values['commit-group'] && (values.website || values['website-prefix'])) {
    process.stderr.write(`warning: --commit-group with ${values.website ? '--website' : '--website-prefix'}: the group starts after the WHOLE topic, so a ledger started on it never records the other websites' history\n`);
  }
  if (command === 'rebuild' && !values.db) throw new UsageError('rebuild needs --db <name> (an empty database to rebuild into)');
  if (command !== 'rebuild' && values['commit-group']) throw new UsageError('--commit-group is for rebuild');
  if (command === 'rollups' && (values['website-prefix'] || values.topic)) throw new UsageError('rollups takes --website, --db and --json');
  if (rollupAction === 'check' && !values.website) throw new UsageError('rollups check needs --website <id>');
  const config = loadLedgerConfig({ ...process.env, ...(values.db ? { MONGODB_DB: values.db } : {}) });
  const logger = createLogger({ service: 'ledger-cli', level: process.env.LOG_LEVEL ?? 'warn', destination: process.stderr });
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'metrivo-ledger-cli', logger });
  const mongo = new MongoClient(config.MONGODB_URI, { serverSelectionTimeoutMS: 5000, ignoreUndefined: true });
  await mongo.connect();
  try {
    const store = createLedgerStore(mongo.db(config.MONGODB_DB));
    const filter = { websiteId: values.website, websitePrefix: values['website-prefix'] };
    const scope = values.website ? `website ${values.website}` : values['website-prefix'] ? `websites ${values['website-prefix']}*` : 'all websites';

    if (command === 'rollups') {
      if (rollupAction === 'rebuild') {
        const r = await store.rebuildRollups(values.website ? { websiteId: values.website } : {});
        if (values.json) line(JSON.stringify({ command: 'rollups rebuild', database: config.MONGODB_DB, ...r }));
        else line(`rebuilt ${r.rollups} day and month rollups of ${scope} from ${r.entries} entries in ${(r.ms / 1000).toFixed(1)} s`);
        return 0;
      }
      const check = await store.checkRollups(values.website!);
      if (values.json) {
        line(JSON.stringify({ command: 'rollups check', database: config.MONGODB_DB, websiteId: values.website, ...check }));
        return check.ok ? 0 : 1;
      }
      line(`checked ${check.checked} rollups of ${scope} against the entries (${check.skipped} skipped: a payment mid-transition touches them)`);
      for (const m of check.mismatched) line(`  MISMATCH ${m.livemode ? 'live' : 'test'} ${m.period}: the rollup is not the sum of its entries`);
      for (const m of check.unlisted) line(`  UNLISTED ${m.livemode ? 'live' : 'test'} ${m.period}: open-ended queries would miss this rollup`);
      line(check.ok ? 'OK: the rollups add up' : 'run `npm run rollups -w @metrivo/ledger -- rebuild --website <id>` with the consumers stopped');
      return check.ok ? 0 : 1;
    }

    if (command === 'rebuild') {
      let lastReport = Date.now();
      const result = await rebuildFromTopic({
        kafka,
        store,
        ...filter,
        ...(values.topic ? { topic: values.topic } : {}),
        commitGroupId: values['commit-group'],
        allowNonEmpty: values.resume,
        ...(timeoutS !== undefined ? { timeoutMs: timeoutS * 1000 } : {}),
        logger,
        onProgress: ({ statesApplied, entriesInserted }) => {
          if (values.json || Date.now() - lastReport < 5000) return;
          lastReport = Date.now();
          process.stderr.write(`… ${statesApplied} states applied, ${entriesInserted} entries\n`);
        },
      });
      if (values.json) {
        line(JSON.stringify({ command, database: config.MONGODB_DB, ...result }));
        return 0;
      }
      line(`rebuilt ${config.MONGODB_DB} from ${result.read.topic} (${scope}) in ${(result.read.ms / 1000).toFixed(1)} s`);
      line(`  read ${result.read.recordsRead} records up to end offsets ${JSON.stringify(result.read.endOffsets)}`);
      line(`  applied ${result.read.statesAccepted} states (${result.read.statesSkipped} of other websites skipped, ${result.read.invalidRecords} invalid), ${result.applied.staleRevisions} stale`);
      line(`  ${result.payments} payments, ${result.entries} entries (${result.applied.entriesInserted} inserted)`);
      line('totals:');
      for (const t of totalsTable(result.totals)) line(t);
      if (result.committedGroupId) line(`consumer group ${result.committedGroupId} now starts at the end offsets above`);
      return 0;
    }

    // The service's own database is filled by KAFKA_GROUP_ID; another database (--db) only with an explicit --group.
    const consumerGroupId = values.group ?? (values.db ? undefined : config.KAFKA_GROUP_ID);
    const report = await reconcileWithTopic(store, { kafka, ...filter, ...(values.topic ? { topic: values.topic } : {}), logger, ...(consumerGroupId ? { consumerGroupId } : {}) });
    const failed = !report.ok || (values['fail-on-lagging'] && report.lagging.length > 0);
    if (values.json) {
      line(JSON.stringify({ command, database: config.MONGODB_DB, ...report }));
      return failed ? 1 : 0;
    }
    line(`reconciled ${config.MONGODB_DB} against the topic (${scope}): ${report.checked} payments checked, ${report.topic.recordsRead} records read in ${(report.topic.ms / 1000).toFixed(1)} s`);
    if (report.consumerGroup) {
      line(report.consumerGroup.caughtUp
        ? `consumer group ${report.consumerGroup.groupId} had consumed past the read: a payment still behind missed its record (listed as a mismatch)`
        : `consumer group ${report.consumerGroup.groupId} had not consumed the whole read yet: payments behind are listed as not caught up`);
    }
    if (report.lagging.length > 0) {
      line(`${report.lagging.length} payment(s) not caught up yet (the ledger's revision is older or pending; a persistent entry here means it missed a record):`);
      for (const m of report.lagging) line(describeMismatch(m));
    }
    if (report.ahead.length > 0) {
      line(`${report.ahead.length} payment(s) the ledger applied a newer revision of while the topic was read (re-run to check them):`);
      for (const m of report.ahead) line(describeMismatch(m));
    }
    if (report.ok) {
      const apart = report.lagging.length + report.ahead.length;
      line(apart === 0 ? 'OK: every payment adds up' : `OK: every payment the ledger has caught up with adds up (${apart} listed above are not compared yet)`);
      return failed ? 1 : 0;
    }
    line(`MISMATCH: ${report.mismatches.length} payment(s) do not add up:`);
    for (const m of report.mismatches) line(describeMismatch(m));
    return 1;
  } finally {
    await mongo.close();
  }
}

main(process.argv.slice(2))
  .then((code) => process.exit(code))
  .catch((err: unknown) => {
    if (err instanceof UsageError || (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`${err.message}\n\n${usage}\n`);
      process.exit(2);
    }
    if (err instanceof NonEmptyLedgerError || err instanceof EnvError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    // One line naming what failed (MongoDB or Kafka unreachable is the usual case): the driver's stack says nothing
    // an operator can act on. LOG_LEVEL=debug shows it.
    process.stderr.write(`ledger ${process.argv[2] ?? ''} failed: ${describeFailure(err)}\n`);
    if (process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace') process.stderr.write(`${err instanceof Error ? err.stack : ''}\n`);
    process.exit(1);
  });
