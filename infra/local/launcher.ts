// Local infrastructure launcher (DESIGN §8): Kafka (KRaft, single node) and MongoDB (mongod or FerretDB),
// started detached under <repo>/.local/, re-used when already running. Used by `npm run infra:*`
// (cli.ts), the integration tests (jest/global-setup.ts) and `npm start`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  FERRETDB_VERSION,
  formatDuration,
  infraPaths,
  localMongoUri,
  parseInfraEnv,
  SERVICES,
  type InfraEnv,
  type InfraPaths,
  type Service,
} from './config';
import { checkExternalKafka, kafkaDown, kafkaHealth, kafkaPid, kafkaUp, KAFKA_HOST, localBrokers, pomKafkaVersion } from './kafka';
import { checkExternalMongo, mongoDown, mongoHealth, mongoProcess, mongoUp, MONGO_HOST } from './mongo';
import { withLock } from './proc';

export type { Service } from './config';

export interface InfraUpResult {
  kafkaBrokers: string[];
  mongodbUri: string;
  /** services this call started (the others were already running, or external) */
  started: Service[];
}

export interface InfraServiceStatus {
  service: Service;
  state: 'running' | 'stopped' | 'external';
  /** brokers (host:port,…) or MongoDB URI */
  where: string;
  pid?: number;
  logFile?: string;
  /** answered a kafkajs admin listTopics / a MongoDB ping just now (absent when stopped) */
  healthy?: boolean;
  /** e.g. "Apache Kafka 4.1.2 (KRaft)", "FerretDB v1.24.2 (SQLite)", "mongod" */
  detail?: string;
}

export interface InfraOptions {
  log?: (line: string) => void;
  /** defaults to process.env */
  env?: NodeJS.ProcessEnv;
}

/** Repository root (this file is <root>/infra/local/launcher.ts). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** A first `up` may hold a service lock for minutes (Maven download, FerretDB build). */
const LOCK_WAIT_MS = 20 * 60_000;

const defaultLog = (line: string) => process.stderr.write(`[infra] ${line}\n`);

function setup(opts: InfraOptions): { env: InfraEnv; p: InfraPaths; log: (line: string) => void } {
  const env = parseInfraEnv(opts.env ?? process.env);
  const p = infraPaths(REPO_ROOT);
  fs.mkdirSync(p.localDir, { recursive: true });
  return { env, p, log: opts.log ?? defaultLog };
}

/**
 * Starts what is not already running/reachable and waits until it is healthy.
 * "Already running" = the port answers a health check, whoever started it.
 * On failure, stops whatever this call started and throws (message includes the service log tail).
 */
export async function infraUp(opts: InfraOptions = {}): Promise<InfraUpResult> {
  const { env, p, log } = setup(opts);
  const t0 = Date.now();
  const waitNote = (service: Service) => (owner: number) => log(`${service}: another launcher (pid ${owner}) is busy with it, waiting`);

  const kafkaTask = env.kafkaBrokers
    ? (async () => {
        const brokers = env.kafkaBrokers ?? [];
        await checkExternalKafka(brokers, log);
        log(`kafka: using KAFKA_BROKERS=${brokers.join(',')}`);
        return { brokers, started: false };
      })()
    : withLock(p.kafka.lockDir, LOCK_WAIT_MS, waitNote('kafka'), () => kafkaUp(env, p, log));

  const mongoTask = env.mongodbUri
    ? (async () => {
        const uri = env.mongodbUri ?? '';
        await checkExternalMongo(uri);
        log('mongo: using MONGODB_URI');
        return { uri, started: false };
      })()
    : withLock(p.mongo.lockDir, LOCK_WAIT_MS, waitNote('mongo'), () => mongoUp(env, p, log));

  const [k, m] = await Promise.allSettled([kafkaTask, mongoTask]);
  const started: Service[] = [];
  if (k.status === 'fulfilled' && k.value.started) started.push('kafka');
  if (m.status === 'fulfilled' && m.value.started) started.push('mongo');

  if (k.status === 'rejected' || m.status === 'rejected') {
    if (started.length > 0) {
      log(`stopping what this attempt started (${started.join(', ')})`);
      await infraDown(started, { log, env: opts.env }).catch((e: Error) => log(`cleanup failed: ${e.message}`));
    }
    const errors = [k, m].filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => errorText(r.reason));
    throw new Error(`infra up failed:\n${errors.join('\n\n')}`);
  }
  log(`up in ${formatDuration(Date.now() - t0)}${started.length ? ` (started: ${started.join(', ')})` : ' (nothing to start)'}`);
  return { kafkaBrokers: k.value.brokers, mongodbUri: m.value.uri, started };
}

/**
 * Stops what this launcher started (pid files under .local/): SIGTERM, SIGKILL after a deadline,
 * then waits until the ports are free. Services started by someone else are left alone.
 */
export async function infraDown(only?: Service[], opts: InfraOptions = {}): Promise<void> {
  const { env, p, log } = setup(opts);
  const which = only ?? [...SERVICES];
  const results = await Promise.allSettled(
    which.map(async (s) => {
      const stopped = s === 'kafka' ? await kafkaDown(env, p, log) : await mongoDown(env, p, log);
      if (!stopped) log(`${s}: not running (nothing started by this launcher)`);
    }),
  );
  const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => errorText(r.reason));
  if (errors.length) throw new Error(`infra down failed:\n${errors.join('\n')}`);
}

export async function infraStatus(opts: InfraOptions = {}): Promise<InfraServiceStatus[]> {
  const { env, p } = setup(opts);
  return Promise.all([kafkaStatus(env, p), mongoStatus(env, p)]);
}

async function kafkaStatus(env: InfraEnv, p: InfraPaths): Promise<InfraServiceStatus> {
  let version = '?';
  try {
    version = pomKafkaVersion(p);
  } catch {
    /* pom missing */
  }
  const detail = `Apache Kafka ${version} (KRaft, single node)`;
  if (env.kafkaBrokers) {
    const where = env.kafkaBrokers.join(',');
    const local = kafkaPid(p);
    return {
      service: 'kafka',
      state: 'external',
      where,
      healthy: (await kafkaHealth(env.kafkaBrokers, 3000)) === undefined,
      detail: `KAFKA_BROKERS${local !== undefined ? ` (a local broker started earlier is still running, pid ${local})` : ''}`,
    };
  }
  const brokers = localBrokers(env);
  const where = brokers.join(',');
  const pid = kafkaPid(p);
  const healthy = (await kafkaHealth(brokers, 3000)) === undefined;
  if (pid !== undefined) return { service: 'kafka', state: 'running', where, pid, logFile: p.kafka.logFile, healthy, detail };
  if (healthy) return { service: 'kafka', state: 'external', where, healthy, detail: `a broker not started by this launcher answers on ${KAFKA_HOST}:${env.kafkaPort}` };
  return { service: 'kafka', state: 'stopped', where, detail };
}

async function mongoStatus(env: InfraEnv, p: InfraPaths): Promise<InfraServiceStatus> {
  if (env.mongodbUri) {
    return { service: 'mongo', state: 'external', where: env.mongodbUri, healthy: (await mongoHealth(env.mongodbUri, 3000)) === undefined, detail: 'MONGODB_URI' };
  }
  const uri = localMongoUri(MONGO_HOST, env.mongoPort);
  const proc = mongoProcess(p);
  const healthy = (await mongoHealth(uri, 2000, true)) === undefined;
  if (proc) {
    const detail = proc.impl === 'ferretdb' ? `FerretDB ${FERRETDB_VERSION} (SQLite backend)` : 'mongod';
    return { service: 'mongo', state: 'running', where: uri, pid: proc.pid, logFile: proc.logFile, healthy, detail };
  }
  if (healthy) return { service: 'mongo', state: 'external', where: uri, healthy, detail: `a server not started by this launcher answers on ${MONGO_HOST}:${env.mongoPort}` };
  return { service: 'mongo', state: 'stopped', where: uri };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
