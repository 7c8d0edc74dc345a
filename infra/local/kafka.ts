// Apache Kafka (KRaft, single node) from the Maven Central jars, run with the machine's Java.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import {
  formatDuration,
  kafkaFormatArgs,
  kafkaServerArgs,
  kafkaVersionFromPom,
  isKafkaClusterId,
  mavenResolveArgs,
  newKafkaClusterId,
  renderLog4j2Properties,
  renderServerProperties,
  type InfraEnv,
  type InfraPaths,
} from './config';
import {
  endedDuringStartup,
  livePid,
  portFree,
  removeFile,
  requireTool,
  rotateLog,
  runToLog,
  sleep,
  spawnDetached,
  tailBlock,
  terminate,
  waitPortFree,
  writePidFile,
} from './proc';

export const KAFKA_HOST = '127.0.0.1';
/** What identifies our broker in /proc/<pid>/cmdline. */
export const KAFKA_MARKER = 'kafka.Kafka';

export type Log = (line: string) => void;

export interface KafkaUp {
  brokers: string[];
  started: boolean;
  external: boolean;
  pid?: number;
}

/** A kafkajs admin can connect and list topics. Resolves with the error text when not. */
export async function kafkaHealth(brokers: string[], timeoutMs = 5000): Promise<string | undefined> {
  const kafka = new Kafka({
    clientId: 'metrivo-infra-health',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: Math.min(timeoutMs, 3000),
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  });
  const admin = kafka.admin({ retry: { retries: 0 } });
  try {
    await admin.connect();
    await admin.listTopics();
    return undefined;
  } catch (e) {
    return (e as Error).message || String(e);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export function localBrokers(env: InfraEnv): string[] {
  return [`${KAFKA_HOST}:${env.kafkaPort}`];
}

export function kafkaPid(p: InfraPaths): number | undefined {
  return livePid(p.kafka.pidFile, KAFKA_MARKER);
}

export function pomKafkaVersion(p: InfraPaths): string {
  return kafkaVersionFromPom(fs.readFileSync(p.kafka.pom, 'utf8'));
}

/** Brokers of KAFKA_BROKERS must answer; waits a little (they may be starting). */
export async function checkExternalKafka(brokers: string[], log: Log, waitMs = 20_000): Promise<void> {
  const until = Date.now() + waitMs;
  let err: string | undefined;
  for (;;) {
    err = await kafkaHealth(brokers);
    if (err === undefined) return;
    if (Date.now() >= until) break;
    await sleep(1000);
  }
  throw new Error(`KAFKA_BROKERS=${brokers.join(',')} is set but the cluster does not answer a kafkajs admin: ${err}`);
}

/** Starts the local broker unless one already answers. Call under the kafka lock. */
export async function kafkaUp(env: InfraEnv, p: InfraPaths, log: Log): Promise<KafkaUp> {
  const brokers = localBrokers(env);
  const running = kafkaPid(p);

  if ((await kafkaHealth(brokers, 3000)) === undefined) {
    return running !== undefined ? { brokers, started: false, external: false, pid: running } : { brokers, started: false, external: true };
  }
  if (running !== undefined) {
    // Ours, but not answering yet (another `up` started it a moment ago, or it is slow): wait for it.
    log(`kafka: pid ${running} is running but not healthy yet, waiting`);
    await waitKafkaHealthy(env, p, running, undefined, log);
    return { brokers, started: false, external: false, pid: running };
  }
  for (const [name, port] of [
    ['METRIVO_KAFKA_PORT', env.kafkaPort],
    ['METRIVO_KAFKA_CONTROLLER_PORT', env.kafkaControllerPort],
  ] as const) {
    if (!(await portFree(KAFKA_HOST, port))) {
      throw new Error(
        `port ${KAFKA_HOST}:${port} is taken by a process that is not a healthy Kafka broker started by this launcher; ` +
          `stop it or choose another port with ${name}=...`,
      );
    }
  }

  const java = requireTool('java', 'run the local Kafka broker', 'Install a Java 17+ runtime (e.g. apt-get install openjdk-17-jre-headless), or set KAFKA_BROKERS to use an existing cluster.');
  await checkJavaVersion(java);
  await ensureKafkaLibs(p, log);

  fs.mkdirSync(p.kafka.logDirs, { recursive: true });
  fs.writeFileSync(
    p.kafka.serverProperties,
    renderServerProperties({ host: KAFKA_HOST, port: env.kafkaPort, controllerPort: env.kafkaControllerPort, logDirs: p.kafka.logDirs }),
  );
  fs.writeFileSync(p.kafka.log4jProperties, renderLog4j2Properties());
  await formatStorageOnce(java, p, log);

  rotateLog(p.kafka.logFile);
  const args = kafkaServerArgs({ libsDir: p.kafka.libsDir, heap: env.kafkaHeap, log4jProperties: p.kafka.log4jProperties, serverProperties: p.kafka.serverProperties });
  const t0 = Date.now();
  const proc = spawnDetached(java, args, { cwd: p.kafka.dir, logFile: p.kafka.logFile, env: { ...process.env, KAFKA_LOG4J_OPTS: '' } });
  writePidFile(p.kafka.pidFile, proc.pid);
  log(`kafka: started broker pid ${proc.pid} on ${brokers.join(',')} (log ${path.relative(p.repoRoot, p.kafka.logFile)})`);
  try {
    await waitKafkaHealthy(env, p, proc.pid, proc.exited, log);
  } catch (e) {
    await terminate(proc.pid, 10_000).catch(() => undefined);
    removeFile(p.kafka.pidFile);
    throw e;
  }
  log(`kafka: healthy after ${formatDuration(Date.now() - t0)}`);
  return { brokers, started: true, external: false, pid: proc.pid };
}

async function waitKafkaHealthy(
  env: InfraEnv,
  p: InfraPaths,
  pid: number,
  exited: (() => { code: number | null; signal: NodeJS.Signals | null } | undefined) | undefined,
  log: Log,
): Promise<void> {
  const brokers = localBrokers(env);
  const until = Date.now() + env.startTimeoutMs;
  let lastErr = '';
  let nextNote = Date.now() + 15_000;
  for (;;) {
    const ended = await endedDuringStartup(exited, () => kafkaPid(p) === pid);
    if (ended !== undefined) throw new Error(`Kafka broker (pid ${pid}) exited during startup${ended}.\n${tailBlock(p.kafka.logFile, 40)}`);
    const err = await kafkaHealth(brokers, 3000);
    if (err === undefined) return;
    lastErr = err;
    if (Date.now() >= until) {
      throw new Error(
        `Kafka broker (pid ${pid}) not healthy on ${brokers.join(',')} after ${formatDuration(env.startTimeoutMs)} ` +
          `(last error: ${lastErr}; raise METRIVO_INFRA_START_TIMEOUT_MS on a slow machine).\n${tailBlock(p.kafka.logFile, 40)}`,
      );
    }
    if (Date.now() >= nextNote) {
      log(`kafka: still waiting for the broker (${lastErr})`);
      nextNote = Date.now() + 15_000;
    }
    await sleep(500);
  }
}

async function checkJavaVersion(java: string): Promise<void> {
  // `java -version` prints to stderr, e.g. `openjdk version "17.0.15" 2025-04-15` (or "1.8.0_392" for Java 8).
  const res = spawnSync(java, ['-version'], { encoding: 'utf8', timeout: 30_000 });
  const m = /version "(\d+)(?:\.(\d+))?/.exec(`${res.stderr ?? ''}${res.stdout ?? ''}`);
  if (!m) return;
  const major = Number(m[1]) === 1 ? Number(m[2]) : Number(m[1]);
  if (major < 17) {
    throw new Error(`Kafka 4.x brokers need Java 17 or newer; "${java}" is Java ${major}. Put a Java 17+ first on PATH, or set KAFKA_BROKERS.`);
  }
}

/** Resolves the broker jars into .local/kafka/libs once (re-resolves when the pom's Kafka version changes). */
export async function ensureKafkaLibs(p: InfraPaths, log: Log): Promise<void> {
  const version = pomKafkaVersion(p);
  try {
    if (fs.readFileSync(p.kafka.libsMarker, 'utf8').trim() === version) return;
  } catch {
    /* not resolved yet */
  }
  const mvn = requireTool(
    'mvn',
    `download the Apache Kafka ${version} broker jars from Maven Central (once, into .local/kafka/libs)`,
    'Install Maven 3.6+ (e.g. apt-get install maven), or set KAFKA_BROKERS to use an existing cluster.',
  );
  const tmp = `${p.kafka.libsDir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(p.kafka.dir, { recursive: true });
  log(`kafka: resolving Apache Kafka ${version} jars with Maven (first time only; log ${path.relative(p.repoRoot, p.kafka.mvnLogFile)})`);
  const t0 = Date.now();
  await runToLog(mvn, mavenResolveArgs(p.kafka.pom, tmp), { cwd: p.kafka.dir, logFile: p.kafka.mvnLogFile, what: 'Resolving the Kafka jars with Maven' });
  const jars = fs.readdirSync(tmp).filter((f) => f.endsWith('.jar'));
  if (!jars.some((j) => j.startsWith(`kafka_2.13-${version}`))) {
    throw new Error(`Maven finished but ${tmp} has no kafka_2.13-${version}.jar\n${tailBlock(p.kafka.mvnLogFile)}`);
  }
  fs.writeFileSync(path.join(tmp, '.resolved'), `${version}\n`);
  fs.rmSync(p.kafka.libsDir, { recursive: true, force: true });
  fs.renameSync(tmp, p.kafka.libsDir);
  // maven-dependency-plugin may leave target/ next to the pom: it is git-ignored, but keep the tree clean.
  fs.rmSync(path.join(path.dirname(p.kafka.pom), 'target'), { recursive: true, force: true });
  log(`kafka: ${jars.length} jars resolved in ${formatDuration(Date.now() - t0)}`);
}

/** Formats the KRaft storage on first start, with a random cluster id kept in .local/kafka/data/cluster-id. */
async function formatStorageOnce(java: string, p: InfraPaths, log: Log): Promise<void> {
  if (fs.existsSync(path.join(p.kafka.logDirs, 'meta.properties'))) return;
  let clusterId = '';
  try {
    clusterId = fs.readFileSync(p.kafka.clusterIdFile, 'utf8').trim();
  } catch {
    /* first start */
  }
  if (!isKafkaClusterId(clusterId)) {
    clusterId = newKafkaClusterId();
    fs.mkdirSync(path.dirname(p.kafka.clusterIdFile), { recursive: true });
    fs.writeFileSync(p.kafka.clusterIdFile, `${clusterId}\n`);
  }
  fs.writeFileSync(p.kafka.log4jProperties, renderLog4j2Properties('WARN'));
  log(`kafka: formatting KRaft storage (cluster id ${clusterId})`);
  try {
    await runToLog(java, kafkaFormatArgs({ libsDir: p.kafka.libsDir, heap: '256m', log4jProperties: p.kafka.log4jProperties, serverProperties: p.kafka.serverProperties, clusterId }), {
      cwd: p.kafka.dir,
      logFile: p.kafka.formatLogFile,
      what: 'Formatting the Kafka storage (kafka.tools.StorageTool format)',
    });
  } finally {
    fs.writeFileSync(p.kafka.log4jProperties, renderLog4j2Properties());
  }
}

/** Stops the broker this launcher started (pid file). */
export async function kafkaDown(env: InfraEnv, p: InfraPaths, log: Log): Promise<boolean> {
  const pid = kafkaPid(p);
  if (pid === undefined) return false;
  log(`kafka: stopping broker pid ${pid}`);
  const t0 = Date.now();
  const how = await terminate(pid, 30_000);
  removeFile(p.kafka.pidFile);
  for (const port of [env.kafkaPort, env.kafkaControllerPort]) {
    if (!(await waitPortFree(KAFKA_HOST, port, 15_000))) log(`kafka: warning: port ${port} still busy after the broker stopped`);
  }
  log(`kafka: stopped (${how}) in ${formatDuration(Date.now() - t0)}`);
  return true;
}
