import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  applySourcePatch,
  ConfigError,
  exportLine,
  FERRETDB_BUILD_ID,
  FERRETDB_COMMIT,
  FERRETDB_PATCHES,
  FERRETDB_VERSION,
  ferretdbArgs,
  ferretdbBuildId,
  formatDuration,
  infraPaths,
  isKafkaClusterId,
  kafkaFormatArgs,
  kafkaServerArgs,
  kafkaVersionFromPom,
  lastLines,
  localMongoUri,
  mavenResolveArgs,
  mongodArgs,
  newKafkaClusterId,
  parseBrokerList,
  parseInfraEnv,
  parseProperties,
  renderLog4j2Properties,
  renderServerProperties,
} from './config';

describe('parseInfraEnv', () => {
  it('has the documented defaults', () => {
    expect(parseInfraEnv({})).toEqual({
      kafkaPort: 9092,
      kafkaControllerPort: 9093,
      mongoPort: 27017,
      kafkaHeap: '768m',
      startTimeoutMs: 120_000,
    });
  });

  it('reads ports, heap, timeout and the external services', () => {
    const env = parseInfraEnv({
      METRIVO_KAFKA_PORT: '19092',
      METRIVO_KAFKA_CONTROLLER_PORT: ' 19093 ',
      METRIVO_MONGO_PORT: '27018',
      METRIVO_KAFKA_HEAP: '1g',
      METRIVO_INFRA_START_TIMEOUT_MS: '5000',
      KAFKA_BROKERS: 'a:9092, b:9093,',
      MONGODB_URI: 'mongodb://db:27017/x',
    });
    expect(env).toEqual({
      kafkaPort: 19092,
      kafkaControllerPort: 19093,
      mongoPort: 27018,
      kafkaHeap: '1g',
      startTimeoutMs: 5000,
      kafkaBrokers: ['a:9092', 'b:9093'],
      mongodbUri: 'mongodb://db:27017/x',
    });
  });

  it('treats empty variables as unset', () => {
    const env = parseInfraEnv({ KAFKA_BROKERS: ' ', MONGODB_URI: '', METRIVO_KAFKA_PORT: '' });
    expect(env.kafkaBrokers).toBeUndefined();
    expect(env.mongodbUri).toBeUndefined();
    expect(env.kafkaPort).toBe(9092);
  });

  it.each([
    [{ METRIVO_KAFKA_PORT: 'abc' }, /METRIVO_KAFKA_PORT/],
    [{ METRIVO_KAFKA_PORT: '0' }, /between 1 and 65535/],
    [{ METRIVO_MONGO_PORT: '70000' }, /between 1 and 65535/],
    [{ METRIVO_KAFKA_PORT: '9000', METRIVO_KAFKA_CONTROLLER_PORT: '9000' }, /must differ/],
    [{ METRIVO_MONGO_PORT: '9093' }, /collides/],
    [{ METRIVO_KAFKA_HEAP: 'lots' }, /METRIVO_KAFKA_HEAP/],
    [{ METRIVO_INFRA_START_TIMEOUT_MS: '-1' }, /positive integer/],
    [{ MONGODB_URI: 'http://x' }, /mongodb:\/\//],
    [{ KAFKA_BROKERS: 'localhost' }, /host:port/],
  ])('rejects %j', (env, msg) => {
    expect(() => parseInfraEnv(env)).toThrow(ConfigError);
    expect(() => parseInfraEnv(env)).toThrow(msg);
  });

  it('accepts mongodb+srv URIs', () => {
    expect(parseInfraEnv({ MONGODB_URI: 'mongodb+srv://u:p@cluster.example.net/db' }).mongodbUri).toBe('mongodb+srv://u:p@cluster.example.net/db');
  });
});

describe('parseBrokerList', () => {
  it('splits, trims and keeps order', () => {
    expect(parseBrokerList('127.0.0.1:9092,kafka-1.internal:19092 , [::1]:9094')).toEqual(['127.0.0.1:9092', 'kafka-1.internal:19092', '[::1]:9094']);
  });
  it.each(['', ',', 'host', 'host:', ':9092', 'host:99999', 'a b:1'])('rejects %j', (s) => {
    expect(() => parseBrokerList(s)).toThrow(ConfigError);
  });
});

describe('renderServerProperties', () => {
  const props = parseProperties(renderServerProperties({ host: '127.0.0.1', port: 9092, controllerPort: 9093, logDirs: '/r/.local/kafka/data/kraft-logs' }));

  it('is a KRaft combined broker+controller, single voter, on loopback', () => {
    expect(props.get('process.roles')).toBe('broker,controller');
    expect(props.get('node.id')).toBe('1');
    expect(props.get('controller.quorum.voters')).toBe('1@127.0.0.1:9093');
    expect(props.get('listeners')).toBe('PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093');
    expect(props.get('advertised.listeners')).toBe('PLAINTEXT://127.0.0.1:9092');
    expect(props.get('controller.listener.names')).toBe('CONTROLLER');
    expect(props.get('listener.security.protocol.map')).toBe('PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT');
    expect(props.get('log.dirs')).toBe('/r/.local/kafka/data/kraft-logs');
  });

  it('is tuned for a single dev/test node', () => {
    expect(props.get('offsets.topic.replication.factor')).toBe('1');
    expect(props.get('transaction.state.log.replication.factor')).toBe('1');
    expect(props.get('transaction.state.log.min.isr')).toBe('1');
    expect(props.get('group.initial.rebalance.delay.ms')).toBe('0');
    expect(props.get('auto.create.topics.enable')).toBe('false');
    expect(props.get('log.cleaner.enable')).toBe('true');
    expect(props.get('min.insync.replicas')).toBe('1');
  });

  it('uses the given ports and node id', () => {
    const p = parseProperties(renderServerProperties({ host: '127.0.0.1', port: 19092, controllerPort: 19093, logDirs: '/d', nodeId: 7 }));
    expect(p.get('controller.quorum.voters')).toBe('7@127.0.0.1:19093');
    expect(p.get('listeners')).toBe('PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093');
  });

  it('has no duplicate keys and ends with a newline', () => {
    const text = renderServerProperties({ host: '127.0.0.1', port: 1, controllerPort: 2, logDirs: '/d' });
    const keys = text
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.slice(0, l.indexOf('=')));
    expect(new Set(keys).size).toBe(keys.length);
    expect(text.endsWith('\n')).toBe(true);
  });

  it('escapes backslashes in paths', () => {
    const text = renderServerProperties({ host: '127.0.0.1', port: 1, controllerPort: 2, logDirs: 'C:\\kafka' });
    expect(text).toContain('log.dirs=C:\\\\kafka');
    expect(parseProperties(text).get('log.dirs')).toBe('C:\\kafka');
  });
});

describe('parseProperties', () => {
  it('skips comments and blank lines', () => {
    expect([...parseProperties('# c\n! c\n\na=1\n b = two \nnoequals\n').entries()]).toEqual([
      ['a', '1'],
      ['b', 'two'],
    ]);
  });
});

describe('renderLog4j2Properties', () => {
  it('logs to the console at the requested root level', () => {
    const p = parseProperties(renderLog4j2Properties());
    expect(p.get('appender.out.type')).toBe('Console');
    expect(p.get('rootLogger.level')).toBe('INFO');
    expect(p.get('rootLogger.appenderRef.out.ref')).toBe('OUT');
    expect(parseProperties(renderLog4j2Properties('WARN')).get('rootLogger.level')).toBe('WARN');
  });
});

describe('command lines', () => {
  const java = { libsDir: '/r/.local/kafka/libs', heap: '768m', log4jProperties: '/r/l4j.properties' };

  it('runs kafka.Kafka with the libs classpath, heap and log4j config', () => {
    const args = kafkaServerArgs({ ...java, serverProperties: '/r/server.properties' });
    expect(args.slice(-2)).toEqual(['kafka.Kafka', '/r/server.properties']);
    expect(args).toContain('-Xmx768m');
    expect(args).toContain('-Dlog4j2.configurationFile=/r/l4j.properties');
    expect(args[args.indexOf('-cp') + 1]).toBe('/r/.local/kafka/libs/*');
  });

  it('formats storage with the cluster id, without --standalone (static quorum)', () => {
    const args = kafkaFormatArgs({ ...java, serverProperties: '/r/server.properties', clusterId: 'abc' });
    const i = args.indexOf('kafka.tools.StorageTool');
    expect(args.slice(i)).toEqual(['kafka.tools.StorageTool', 'format', '--ignore-formatted', '--cluster-id=abc', '-c', '/r/server.properties']);
    // An id starting with '-' (1 in 64 of the random ones) stays the value of --cluster-id.
    expect(kafkaFormatArgs({ ...java, serverProperties: '/r/server.properties', clusterId: '-1lYVyPkydJAxw_VldN4JA' })).toContain('--cluster-id=-1lYVyPkydJAxw_VldN4JA');
    expect(args).not.toContain('--standalone');
    expect(args).toContain('-Xmx256m');
  });

  it('resolves jars with maven quietly into the given folder', () => {
    expect(mavenResolveArgs('/r/pom.xml', '/out')).toEqual(['-q', '-B', '-f', '/r/pom.xml', 'dependency:copy-dependencies', '-DoutputDirectory=/out']);
  });

  it('runs FerretDB with the SQLite handler (commits without fsync), loopback, telemetry off', () => {
    const args = ferretdbArgs({ host: '127.0.0.1', port: 27017, dataDir: '/r/.local/ferretdb/data', stateDir: '/r/s' });
    expect(args).toEqual(
      expect.arrayContaining([
        '--handler=sqlite',
        '--sqlite-url=file:/r/.local/ferretdb/data/?_pragma=synchronous(normal)',
        '--listen-addr=127.0.0.1:27017',
        '--telemetry=disable',
        '--state-dir=/r/s',
        '--debug-addr=-',
      ]),
    );
    expect(ferretdbArgs({ host: 'h', port: 1, dataDir: '/d/', stateDir: '/s' })).toContain('--sqlite-url=file:/d/?_pragma=synchronous(normal)');
  });

  it('runs mongod on loopback with the data dir', () => {
    expect(mongodArgs({ host: '127.0.0.1', port: 27018, dataDir: '/d' })).toEqual(['--dbpath', '/d', '--bind_ip', '127.0.0.1', '--port', '27018']);
    expect(localMongoUri('127.0.0.1', 27018)).toBe('mongodb://127.0.0.1:27018/');
  });
});

describe('kafka cluster id', () => {
  it('is 16 bytes in base64url (22 chars)', () => {
    const id = newKafkaClusterId();
    expect(isKafkaClusterId(id)).toBe(true);
    expect(newKafkaClusterId(Buffer.alloc(16, 0xff))).toBe('_____________________w');
    expect(newKafkaClusterId()).not.toBe(id);
    expect(() => newKafkaClusterId(Buffer.alloc(8))).toThrow();
  });
  it.each(['', 'short', 'has spaces in it ......', 'a'.repeat(23), 'abc/def+ghi=jklmnopqrs'])('rejects %j', (s) => {
    expect(isKafkaClusterId(s)).toBe(false);
  });
});

describe('pom', () => {
  it('reads <kafka.version>', () => {
    expect(kafkaVersionFromPom('<properties>\n  <kafka.version> 3.9.1 </kafka.version>\n</properties>')).toBe('3.9.1');
    expect(() => kafkaVersionFromPom('<project/>')).toThrow(/kafka\.version/);
  });

  it('pins a Kafka 4.x (or 3.9) broker with a log4j2 binding', () => {
    const pom = fs.readFileSync(path.join(__dirname, 'kafka', 'pom.xml'), 'utf8');
    expect(kafkaVersionFromPom(pom)).toMatch(/^(4\.\d+|3\.9)\.\d+$/);
    for (const a of ['kafka_2.13', 'kafka-storage', 'log4j-slf4j-impl', 'log4j-core']) expect(pom).toContain(`<artifactId>${a}</artifactId>`);
  });
});

describe('infraPaths', () => {
  it('keeps everything under <repo>/.local except the pom', () => {
    const p = infraPaths('/repo');
    const all: string[] = [];
    const walk = (o: unknown) => {
      if (typeof o === 'string') all.push(o);
      else if (o && typeof o === 'object') Object.values(o).forEach(walk);
    };
    walk({ ...p, repoRoot: undefined, kafka: { ...p.kafka, pom: undefined } });
    for (const f of all) expect(f.startsWith('/repo/.local')).toBe(true);
    expect(p.kafka.pom).toBe('/repo/infra/local/kafka/pom.xml');
    expect(p.kafka.libsDir).toBe('/repo/.local/kafka/libs');
    expect(p.ferretdb.binary).toBe('/repo/.local/bin/ferretdb');
    expect(p.kafka.clusterIdFile.startsWith(p.kafka.dataDir)).toBe(true);
    expect(p.kafka.logDirs.startsWith(p.kafka.dataDir)).toBe(true);
  });
});

describe('applySourcePatch', () => {
  const patch = { file: 'x.go', find: 'a := 1\nuse(a)', replace: 'use(1)' };
  it('replaces the anchor once', () => {
    expect(applySourcePatch('before\na := 1\nuse(a)\nafter', patch)).toBe('before\nuse(1)\nafter');
  });
  it('refuses a missing or repeated anchor', () => {
    expect(() => applySourcePatch('nothing here', patch)).toThrow(/x\.go/);
    expect(() => applySourcePatch('a := 1\nuse(a)\na := 1\nuse(a)', patch)).toThrow(/exactly once/);
  });
  it('the FerretDB $group patch gives each accumulator its own iterator', () => {
    const [groupPatch] = FERRETDB_PATCHES;
    expect(groupPatch).toBeDefined();
    const upstream = [
      '\tfor _, groupedDocument := range groupedDocuments {',
      '\t\tdoc := must.NotFail(types.NewDocument("_id", groupedDocument.groupID))',
      '',
      groupPatch!.find,
      '\t\t\tif err != nil {',
    ].join('\n');
    const patched = applySourcePatch(upstream, groupPatch!);
    const loop = patched.indexOf('for _, accumulation := range g.groupBy {');
    expect(loop).toBeGreaterThan(0);
    expect(patched.indexOf('groupIter := iterator.Values')).toBeGreaterThan(loop);
    expect(patched).not.toContain('defer groupIter.Close()');
  });
});

describe('FerretDB _id pushdown patches', () => {
  const byFile = new Map(FERRETDB_PATCHES.map((p) => [p.file, p]));
  it('compares the _id index expression instead of a look-alike', () => {
    const metadata = byFile.get('internal/backends/sqlite/metadata/metadata.go')!;
    const patched = applySourcePatch(`\tDefaultColumn = backends.ReservedPrefix + "sjson"\n\t${metadata.find}\n`, metadata);
    expect(patched).toContain(`IDColumn = DefaultColumn + "->'_id'"`);
    expect(patched).not.toContain("'$._id'");
  });
  it('pushes down _id equality and _id $in of any filter', () => {
    const collection = byFile.get('internal/backends/sqlite/collection.go')!;
    const patched = applySourcePatch(`\tvar args []any\n\n${collection.find}\n\tq += prepareOrderByClause(params.Sort)\n`, collection);
    expect(patched).toContain('if params.Filter != nil {');
    expect(patched).not.toContain('params.Filter.Len() == 1');
    expect(patched).toContain('WHERE %s IN (%s)');
  });
});

describe('small helpers', () => {
  it('lastLines drops trailing blank lines', () => {
    expect(lastLines('a\nb\nc\n\n', 2)).toEqual(['b', 'c']);
    expect(lastLines('a\r\nb', 5)).toEqual(['a', 'b']);
    expect(lastLines('', 3)).toEqual([]);
  });
  it('formatDuration', () => {
    expect(formatDuration(12)).toBe('12 ms');
    expect(formatDuration(1500)).toBe('1.5 s');
    expect(formatDuration(131_000)).toBe('2 min 11 s');
  });
  it('exportLine quotes only when needed', () => {
    expect(exportLine({ KAFKA_BROKERS: '127.0.0.1:9092,h:1', MONGODB_URI: 'mongodb://127.0.0.1:27017/' })).toBe(
      'export KAFKA_BROKERS=127.0.0.1:9092,h:1 MONGODB_URI=mongodb://127.0.0.1:27017/',
    );
    expect(exportLine({ MONGODB_URI: "mongodb://u:p'w@h/?a=b&c=d" })).toBe(`export MONGODB_URI='mongodb://u:p'\\''w@h/?a=b&c=d'`);
  });
});

describe('FerretDB build id', () => {
  const recipe = { version: FERRETDB_VERSION, commit: FERRETDB_COMMIT, patches: FERRETDB_PATCHES };
  it('names the version and is the one recorded for the current recipe', () => {
    expect(FERRETDB_BUILD_ID).toBe(ferretdbBuildId(recipe));
    expect(FERRETDB_BUILD_ID).toMatch(/^v1\.24\.2\+metrivo\.[0-9a-f]{12}$/);
  });
  it('changes with any source edit, the commit or the version (an old binary is rebuilt), not with a reason', () => {
    const [first, ...rest] = FERRETDB_PATCHES;
    const variants = [
      { ...recipe, patches: [{ ...first!, replace: `${first!.replace}\n` }, ...rest] },
      { ...recipe, patches: [{ ...first!, find: `${first!.find} ` }, ...rest] },
      { ...recipe, patches: rest },
      { ...recipe, commit: '0'.repeat(40) },
      { ...recipe, version: 'v1.24.3' },
    ];
    const ids = new Set([FERRETDB_BUILD_ID, ...variants.map(ferretdbBuildId)]);
    expect(ids.size).toBe(variants.length + 1);
    expect(ferretdbBuildId({ ...recipe, patches: [{ ...first!, why: 'reworded' }, ...rest] })).toBe(FERRETDB_BUILD_ID);
  });
});
