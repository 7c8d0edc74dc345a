// Pure configuration for the local infrastructure launcher: environment parsing, file layout,
// rendered config files and command lines. No I/O here (unit-tested in config.test.ts).
import { createHash, randomBytes } from 'node:crypto';
import * as path from 'node:path';

export type Service = 'kafka' | 'mongo';
export const SERVICES: readonly Service[] = ['kafka', 'mongo'];

/** FerretDB release built when neither MONGODB_URI nor `mongod` is available (DESIGN §8). */
export const FERRETDB_MODULE = 'github.com/FerretDB/FerretDB';
export const FERRETDB_VERSION = 'v1.24.2';
/** Upstream commit of the v1.24.2 tag (stamped into the binary's build info). */
export const FERRETDB_COMMIT = 'cda72d440810406a208c4670aa7047f5bc8d528f';

export interface InfraEnv {
  /** Brokers of an external cluster (KAFKA_BROKERS); when set, no Kafka is started. */
  kafkaBrokers?: string[];
  /** External MongoDB (MONGODB_URI); when set, no MongoDB/FerretDB is started. */
  mongodbUri?: string;
  kafkaPort: number;
  kafkaControllerPort: number;
  mongoPort: number;
  /** -Xmx of the broker JVM, e.g. "768m". */
  kafkaHeap: string;
  /** How long `up` waits for a started service to become healthy. */
  startTimeoutMs: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function parsePort(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const s = raw.trim();
  if (!/^\d+$/.test(s)) throw new ConfigError(`${name} must be a TCP port number, got "${raw}"`);
  const n = Number(s);
  if (n < 1 || n > 65535) throw new ConfigError(`${name} must be between 1 and 65535, got ${n}`);
  return n;
}

function parsePositiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const s = raw.trim();
  if (!/^\d+$/.test(s) || Number(s) <= 0) throw new ConfigError(`${name} must be a positive integer, got "${raw}"`);
  return Number(s);
}

/** Splits and validates a comma-separated `host:port` list (IPv6 as `[::1]:9092`). */
export function parseBrokerList(raw: string, name = 'KAFKA_BROKERS'): string[] {
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (items.length === 0) throw new ConfigError(`${name} is set but lists no broker`);
  for (const item of items) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/.exec(item);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) {
      throw new ConfigError(`${name}: "${item}" is not host:port`);
    }
  }
  return items;
}

export function parseInfraEnv(env: NodeJS.ProcessEnv): InfraEnv {
  const kafkaPort = parsePort('METRIVO_KAFKA_PORT', env.METRIVO_KAFKA_PORT, 9092);
  const kafkaControllerPort = parsePort('METRIVO_KAFKA_CONTROLLER_PORT', env.METRIVO_KAFKA_CONTROLLER_PORT, 9093);
  const mongoPort = parsePort('METRIVO_MONGO_PORT', env.METRIVO_MONGO_PORT, 27017);
  if (kafkaPort === kafkaControllerPort) {
    throw new ConfigError(`METRIVO_KAFKA_PORT and METRIVO_KAFKA_CONTROLLER_PORT must differ (both ${kafkaPort})`);
  }
  if (mongoPort === kafkaPort || mongoPort === kafkaControllerPort) {
    throw new ConfigError(`METRIVO_MONGO_PORT (${mongoPort}) collides with a Kafka port`);
  }
  const kafkaHeap = (env.METRIVO_KAFKA_HEAP ?? '').trim() || '768m';
  if (!/^\d+[kmgKMG]?$/.test(kafkaHeap)) throw new ConfigError(`METRIVO_KAFKA_HEAP must look like 768m, got "${kafkaHeap}"`);
  const out: InfraEnv = {
    kafkaPort,
    kafkaControllerPort,
    mongoPort,
    kafkaHeap,
    startTimeoutMs: parsePositiveInt('METRIVO_INFRA_START_TIMEOUT_MS', env.METRIVO_INFRA_START_TIMEOUT_MS, 120_000),
  };
  const brokers = env.KAFKA_BROKERS;
  if (brokers !== undefined && brokers.trim() !== '') out.kafkaBrokers = parseBrokerList(brokers);
  const uri = env.MONGODB_URI;
  if (uri !== undefined && uri.trim() !== '') {
    const u = uri.trim();
    if (!/^mongodb(\+srv)?:\/\//.test(u)) throw new ConfigError(`MONGODB_URI must start with mongodb:// or mongodb+srv://, got "${u}"`);
    out.mongodbUri = u;
  }
  return out;
}

/** Everything the launcher keeps on disk, all under `<repo>/.local/` (git-ignored). */
export interface InfraPaths {
  repoRoot: string;
  localDir: string;
  binDir: string;
  kafka: {
    dir: string;
    pom: string;
    libsDir: string;
    /** written last by a successful resolve; holds the Kafka version the libs are for */
    libsMarker: string;
    dataDir: string;
    /** KRaft log.dirs (a sub-folder of dataDir) */
    logDirs: string;
    clusterIdFile: string;
    serverProperties: string;
    log4jProperties: string;
    logFile: string;
    formatLogFile: string;
    mvnLogFile: string;
    pidFile: string;
    lockDir: string;
  };
  mongo: {
    /** mongod */
    dir: string;
    dataDir: string;
    logFile: string;
    pidFile: string;
    lockDir: string;
  };
  ferretdb: {
    dir: string;
    dataDir: string;
    stateDir: string;
    srcDir: string;
    binary: string;
    binaryMarker: string;
    buildLogFile: string;
    logFile: string;
    pidFile: string;
  };
}

export function infraPaths(repoRoot: string): InfraPaths {
  const localDir = path.join(repoRoot, '.local');
  const k = path.join(localDir, 'kafka');
  const m = path.join(localDir, 'mongo');
  const f = path.join(localDir, 'ferretdb');
  const binDir = path.join(localDir, 'bin');
  return {
    repoRoot,
    localDir,
    binDir,
    kafka: {
      dir: k,
      pom: path.join(repoRoot, 'infra', 'local', 'kafka', 'pom.xml'),
      libsDir: path.join(k, 'libs'),
      libsMarker: path.join(k, 'libs', '.resolved'),
      dataDir: path.join(k, 'data'),
      logDirs: path.join(k, 'data', 'kraft-logs'),
      clusterIdFile: path.join(k, 'data', 'cluster-id'),
      serverProperties: path.join(k, 'server.properties'),
      log4jProperties: path.join(k, 'log4j2.properties'),
      logFile: path.join(k, 'kafka.log'),
      formatLogFile: path.join(k, 'format.log'),
      mvnLogFile: path.join(k, 'mvn.log'),
      pidFile: path.join(k, 'kafka.pid'),
      lockDir: path.join(k, '.lock'),
    },
    mongo: {
      dir: m,
      dataDir: path.join(m, 'data'),
      logFile: path.join(m, 'mongod.log'),
      pidFile: path.join(m, 'mongod.pid'),
      lockDir: path.join(m, '.lock'),
    },
    ferretdb: {
      dir: f,
      dataDir: path.join(f, 'data'),
      stateDir: path.join(f, 'state'),
      srcDir: path.join(f, 'src'),
      binary: path.join(binDir, 'ferretdb'),
      binaryMarker: path.join(binDir, 'ferretdb.build-id'),
      buildLogFile: path.join(f, 'build.log'),
      logFile: path.join(f, 'ferretdb.log'),
      pidFile: path.join(f, 'ferretdb.pid'),
    },
  };
}

/** `<kafka.version>` of infra/local/kafka/pom.xml. */
export function kafkaVersionFromPom(pomXml: string): string {
  const m = /<kafka\.version>\s*([^<\s]+)\s*<\/kafka\.version>/.exec(pomXml);
  if (!m?.[1]) throw new ConfigError('infra/local/kafka/pom.xml has no <kafka.version> property');
  return m[1];
}

/** A KRaft cluster id: 16 random bytes, base64url without padding (what `kafka-storage random-uuid` prints). */
export function newKafkaClusterId(bytes: Buffer = randomBytes(16)): string {
  if (bytes.length !== 16) throw new Error('a Kafka cluster id is 16 bytes');
  return bytes.toString('base64url');
}

export function isKafkaClusterId(s: string): boolean {
  return /^[A-Za-z0-9_-]{22}$/.test(s);
}

export interface KafkaServerOptions {
  host: string;
  port: number;
  controllerPort: number;
  logDirs: string;
  nodeId?: number;
}

/** Renders server.properties: KRaft combined broker+controller, single node, tuned for dev/test on 2 cores. */
export function renderServerProperties(o: KafkaServerOptions): string {
  const nodeId = o.nodeId ?? 1;
  const props: Array<[string, string | number | boolean] | string> = [
    '# Generated by infra/local/launcher.ts on every `infra:up`: edit config.ts, not this file.',
    '# KRaft, single node acting as broker and controller.',
    ['process.roles', 'broker,controller'],
    ['node.id', nodeId],
    ['controller.quorum.voters', `${nodeId}@${o.host}:${o.controllerPort}`],
    ['listeners', `PLAINTEXT://${o.host}:${o.port},CONTROLLER://${o.host}:${o.controllerPort}`],
    ['advertised.listeners', `PLAINTEXT://${o.host}:${o.port}`],
    ['listener.security.protocol.map', 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT'],
    ['controller.listener.names', 'CONTROLLER'],
    ['inter.broker.listener.name', 'PLAINTEXT'],
    ['log.dirs', o.logDirs],
    '# Single node: every internal topic has one replica.',
    ['offsets.topic.replication.factor', 1],
    ['offsets.topic.num.partitions', 10],
    ['transaction.state.log.replication.factor', 1],
    ['transaction.state.log.min.isr', 1],
    ['transaction.state.log.num.partitions', 10],
    ['share.coordinator.state.topic.replication.factor', 1],
    ['share.coordinator.state.topic.min.isr', 1],
    ['default.replication.factor', 1],
    ['min.insync.replicas', 1],
    '# Applications provision their topics (partitions, compaction) themselves.',
    ['auto.create.topics.enable', false],
    ['num.partitions', 1],
    ['delete.topic.enable', true],
    '# Tests join consumer groups often: no initial rebalance delay.',
    ['group.initial.rebalance.delay.ms', 0],
    '# Compacted topics are used.',
    ['log.cleaner.enable', true],
    ['log.cleaner.threads', 1],
    ['log.cleaner.dedupe.buffer.size', 33554432],
    ['log.cleaner.backoff.ms', 5000],
    '# Small machine (2 cores): few threads.',
    ['num.network.threads', 2],
    ['num.io.threads', 4],
    ['background.threads', 4],
    ['num.recovery.threads.per.data.dir', 1],
    ['num.replica.fetchers', 1],
    '# Dev retention: a week, or 1 GiB per partition.',
    ['log.retention.hours', 168],
    ['log.retention.bytes', 1073741824],
    ['log.segment.bytes', 134217728],
    ['log.retention.check.interval.ms', 300000],
  ];
  return (
    props
      .map((p) => (typeof p === 'string' ? p : `${p[0]}=${escapePropertyValue(String(p[1]))}`))
      .join('\n') + '\n'
  );
}

/** Java .properties escaping for values (backslashes; leading spaces are not produced). */
function escapePropertyValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Minimal .properties parser (key=value lines, # comments): enough to check what we render. */
export function parseProperties(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    const i = line.indexOf('=');
    if (i < 0) continue;
    out.set(line.slice(0, i).trim(), line.slice(i + 1).trim().replace(/\\n/g, '\n').replace(/\\\\/g, '\\'));
  }
  return out;
}

/** log4j2 configuration for the broker: console (the launcher redirects it to kafka.log), INFO, chatty loggers quieter. */
export function renderLog4j2Properties(rootLevel: 'INFO' | 'WARN' = 'INFO'): string {
  return [
    '# Generated by infra/local/launcher.ts.',
    'status = warn',
    'name = metrivo-local-kafka',
    'appender.out.type = Console',
    'appender.out.name = OUT',
    'appender.out.layout.type = PatternLayout',
    'appender.out.layout.pattern = [%d] %p %m (%c)%n',
    `rootLogger.level = ${rootLevel}`,
    'rootLogger.appenderRef.out.ref = OUT',
    'logger.request.name = kafka.request.logger',
    'logger.request.level = WARN',
    'logger.clients.name = org.apache.kafka.clients',
    'logger.clients.level = WARN',
    'logger.appinfo.name = org.apache.kafka.common.utils.AppInfoParser',
    'logger.appinfo.level = WARN',
    'logger.cleaner.name = kafka.log.LogCleaner',
    'logger.cleaner.level = WARN',
    '',
  ].join('\n');
}

export interface JavaArgsOptions {
  libsDir: string;
  heap: string;
  log4jProperties: string;
}

function javaBaseArgs(o: JavaArgsOptions): string[] {
  return [
    `-Xmx${o.heap}`,
    '-Xms256m',
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:InitiatingHeapOccupancyPercent=35',
    '-XX:+ExplicitGCInvokesConcurrent',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${o.log4jProperties}`,
    '-cp',
    `${o.libsDir}${path.sep}*`,
  ];
}

/** `java … kafka.Kafka server.properties` */
export function kafkaServerArgs(o: JavaArgsOptions & { serverProperties: string }): string[] {
  return [...javaBaseArgs(o), 'kafka.Kafka', o.serverProperties];
}

/** `java … kafka.tools.StorageTool format` (static quorum: no --standalone, it conflicts with controller.quorum.voters). */
export function kafkaFormatArgs(o: JavaArgsOptions & { serverProperties: string; clusterId: string }): string[] {
  return [
    ...javaBaseArgs({ ...o, heap: '256m' }).filter((a) => a !== '-Xms256m'),
    'kafka.tools.StorageTool',
    'format',
    '--ignore-formatted',
    // One argument with `=`: a base64url id may start with '-', which the tool's parser would take for an option.
    `--cluster-id=${o.clusterId}`,
    '-c',
    o.serverProperties,
  ];
}

export function mavenResolveArgs(pom: string, outputDir: string): string[] {
  return ['-q', '-B', '-f', pom, 'dependency:copy-dependencies', `-DoutputDirectory=${outputDir}`];
}

export function ferretdbArgs(o: { host: string; port: number; dataDir: string; stateDir: string }): string[] {
  // --sqlite-url is a directory URI that must end with a slash; one SQLite file per database.
  // synchronous(normal): in WAL mode a commit then no longer waits for an fsync (one per write statement,
  // ~50 ms on this machine's disk); a commit survives a crash of FerretDB, only an OS crash or power loss
  // can take the last ones back. Right for a local stand-in; production runs MongoDB.
  const dir = o.dataDir.endsWith('/') ? o.dataDir : `${o.dataDir}/`;
  return [
    '--handler=sqlite',
    `--sqlite-url=file:${dir}?_pragma=synchronous(normal)`,
    `--state-dir=${o.stateDir}`,
    `--listen-addr=${o.host}:${o.port}`,
    '--debug-addr=-',
    '--telemetry=disable',
    '--log-level=warn',
  ];
}

export function mongodArgs(o: { host: string; port: number; dataDir: string }): string[] {
  return ['--dbpath', o.dataDir, '--bind_ip', o.host, '--port', String(o.port)];
}

export function localMongoUri(host: string, port: number): string {
  return `mongodb://${host}:${port}/`;
}

/**
 * Source edits applied to FerretDB v1.24.2 before building (the only release line with the SQLite backend
 * has no further releases):
 *  - $group shares one iterator between accumulators, so every accumulator after the first sees no
 *    document (`{ total: { $sum: '$n' }, count: { $sum: 1 } }` returns count 0). Each accumulator gets
 *    its own iterator.
 *  - Lookups by `_id` never used the `_id` index: the SQLite table's unique index is on
 *    `_ferretdb_sjson->"_id"` but queries compare `_ferretdb_sjson->'$._id'` (the same value, a different
 *    expression, so SQLite's planner scans). Every update, replace and delete by `_id` scanned the whole
 *    table (120 ms at 20 000 documents, growing with it). Queries now use the index's expression.
 *  - Only a filter that is exactly `{_id: <string|ObjectId>}` was pushed down to SQLite; anything else read
 *    the whole collection into FerretDB and filtered there. Now any filter with a top-level `_id` equal to a
 *    string/ObjectId, or `_id: {$in: [strings/ObjectIds]}`, narrows the SQL query to those ids (FerretDB still
 *    applies the whole filter afterwards, so the result is the same): compare-and-set writes
 *    (`{_id, version}`) and `$in` reads by id become index lookups.
 */
export const FERRETDB_PATCHES: ReadonlyArray<{ file: string; find: string; replace: string; why: string }> = [
  {
    file: 'internal/handler/common/aggregations/stages/group.go',
    why: '$group: every accumulator after the first one saw an exhausted iterator',
    find: [
      '\t\tgroupIter := iterator.Values(iterator.ForSlice(groupedDocument.documents))',
      '\t\tdefer groupIter.Close()',
      '',
      '\t\tfor _, accumulation := range g.groupBy {',
      '\t\t\tout, err := accumulation.accumulator.Accumulate(groupIter)',
    ].join('\n'),
    replace: [
      '\t\tfor _, accumulation := range g.groupBy {',
      '\t\t\tgroupIter := iterator.Values(iterator.ForSlice(groupedDocument.documents))',
      '\t\t\tout, err := accumulation.accumulator.Accumulate(groupIter)',
      '\t\t\tgroupIter.Close()',
    ].join('\n'),
  },
  {
    file: 'internal/backends/sqlite/metadata/metadata.go',
    why: "lookups by _id: compare the _id index's own expression (->'_id'), so SQLite uses the index instead of scanning",
    find: `IDColumn = DefaultColumn + "->'$._id'"`,
    replace: `IDColumn = DefaultColumn + "->'_id'"`,
  },
  {
    file: 'internal/backends/sqlite/collection.go',
    why: 'push down a top-level _id equality or _id $in of any filter, not only a filter that is exactly {_id: value}',
    find: [
      '\tif params.Filter.Len() == 1 {',
      '\t\tv, _ := params.Filter.Get("_id")',
      '\t\tswitch v.(type) {',
      '\t\tcase string, types.ObjectID:',
      '\t\t\twhereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)',
      '\t\t\targs = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}',
      '\t\t}',
      '\t}',
      '',
      '\tq += whereClause',
    ].join('\n'),
    replace: [
      '\tif params.Filter != nil {',
      '\t\tv, _ := params.Filter.Get("_id")',
      '\t\tswitch v := v.(type) {',
      '\t\tcase string, types.ObjectID:',
      '\t\t\twhereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)',
      '\t\t\targs = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}',
      '\t\tcase *types.Document:',
      '\t\t\t// {_id: {$in: [ids]}}: only strings and ObjectIDs (their JSON form is the index value).',
      '\t\t\tif in, _ := v.Get("$in"); v.Len() == 1 {',
      '\t\t\t\tif arr, ok := in.(*types.Array); ok && arr.Len() > 0 && arr.Len() <= 10000 {',
      '\t\t\t\t\tplaceholders := make([]string, 0, arr.Len())',
      '\t\t\t\t\tinArgs := make([]any, 0, arr.Len())',
      '\t\t\t\t\tfor i := 0; i < arr.Len(); i++ {',
      '\t\t\t\t\t\telem := must.NotFail(arr.Get(i))',
      '\t\t\t\t\t\tswitch elem.(type) {',
      '\t\t\t\t\t\tcase string, types.ObjectID:',
      '\t\t\t\t\t\t\tplaceholders = append(placeholders, "?")',
      '\t\t\t\t\t\t\tinArgs = append(inArgs, string(must.NotFail(sjson.MarshalSingleValue(elem))))',
      '\t\t\t\t\t\t}',
      '\t\t\t\t\t}',
      '\t\t\t\t\tif len(inArgs) == arr.Len() {',
      '\t\t\t\t\t\twhereClause = fmt.Sprintf(` WHERE %s IN (%s)`, metadata.IDColumn, strings.Join(placeholders, ", "))',
      '\t\t\t\t\t\targs = inArgs',
      '\t\t\t\t\t}',
      '\t\t\t\t}',
      '\t\t\t}',
      '\t\t}',
      '\t}',
      '',
      '\tq += whereClause',
    ].join('\n'),
  },
];

/**
 * Identity of a FerretDB build: the version, the upstream commit and the source edits (not their `why`). A binary
 * whose recorded id differs is rebuilt, so changing a patch can never leave an old binary in use.
 */
export function ferretdbBuildId(recipe: { version: string; commit: string; patches: ReadonlyArray<{ file: string; find: string; replace: string }> }): string {
  const edits = recipe.patches.map(({ file, find, replace }) => [file, find, replace]);
  const digest = createHash('sha256').update(JSON.stringify([recipe.version, recipe.commit, edits])).digest('hex');
  return `${recipe.version}+metrivo.${digest.slice(0, 12)}`;
}

export const FERRETDB_BUILD_ID = ferretdbBuildId({ version: FERRETDB_VERSION, commit: FERRETDB_COMMIT, patches: FERRETDB_PATCHES });

/** Applies one FERRETDB_PATCHES entry; throws when the anchor is not found exactly once. */
export function applySourcePatch(source: string, patch: { file: string; find: string; replace: string }): string {
  const first = source.indexOf(patch.find);
  if (first < 0 || source.indexOf(patch.find, first + 1) >= 0) {
    throw new Error(`cannot patch ${patch.file}: expected code not found exactly once (FerretDB source changed?)`);
  }
  return source.slice(0, first) + patch.replace + source.slice(first + patch.find.length);
}

/** Last `n` non-empty lines of a log. */
export function lastLines(text: string, n: number): string[] {
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.slice(Math.max(0, lines.length - n));
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** `export …` line for a shell. */
export function exportLine(vars: Record<string, string>): string {
  const q = (v: string) => (/^[A-Za-z0-9_.,:/@%+=-]*$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`);
  return `export ${Object.entries(vars)
    .map(([k, v]) => `${k}=${q(v)}`)
    .join(' ')}`;
}
