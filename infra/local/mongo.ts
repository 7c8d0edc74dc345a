// MongoDB for local runs: MONGODB_URI if given; else `mongod` if on PATH; else FerretDB (SQLite backend).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MongoClient } from 'mongodb';
import {
  FERRETDB_BUILD_ID,
  FERRETDB_COMMIT,
  FERRETDB_MODULE,
  FERRETDB_PATCHES,
  FERRETDB_VERSION,
  applySourcePatch,
  ferretdbArgs,
  formatDuration,
  localMongoUri,
  mongodArgs,
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
  runCapture,
  runToLog,
  sleep,
  spawnDetached,
  tailBlock,
  terminate,
  waitPortFree,
  which,
  writePidFile,
} from './proc';

export const MONGO_HOST = '127.0.0.1';
export type Log = (line: string) => void;
export type MongoImpl = 'ferretdb' | 'mongod';

export interface MongoUp {
  uri: string;
  started: boolean;
  external: boolean;
  pid?: number;
  impl?: MongoImpl;
}

/** The official driver can connect and `ping`. Resolves with the error text when not. */
export async function mongoHealth(uri: string, timeoutMs = 5000, direct = false): Promise<string | undefined> {
  const client = new MongoClient(uri, {
    serverSelectionTimeoutMS: timeoutMs,
    connectTimeoutMS: Math.min(timeoutMs, 3000),
    socketTimeoutMS: timeoutMs,
    maxPoolSize: 1,
    ...(direct ? { directConnection: true } : {}),
  });
  try {
    await client.connect();
    await client.db('admin').command({ ping: 1 });
    return undefined;
  } catch (e) {
    return (e as Error).message || String(e);
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** The mongod/FerretDB process this launcher started, if any. */
export function mongoProcess(p: InfraPaths): { pid: number; impl: MongoImpl; logFile: string; pidFile: string } | undefined {
  const f = livePid(p.ferretdb.pidFile, 'ferretdb');
  if (f !== undefined) return { pid: f, impl: 'ferretdb', logFile: p.ferretdb.logFile, pidFile: p.ferretdb.pidFile };
  const m = livePid(p.mongo.pidFile, 'mongod');
  if (m !== undefined) return { pid: m, impl: 'mongod', logFile: p.mongo.logFile, pidFile: p.mongo.pidFile };
  return undefined;
}

export async function checkExternalMongo(uri: string, waitMs = 20_000): Promise<void> {
  const until = Date.now() + waitMs;
  let err: string | undefined;
  for (;;) {
    err = await mongoHealth(uri, 5000);
    if (err === undefined) return;
    if (Date.now() >= until) break;
    await sleep(1000);
  }
  throw new Error(`MONGODB_URI is set but the server does not answer a ping: ${err}`);
}

/** Starts mongod or FerretDB unless something already answers on the port. Call under the mongo lock. */
export async function mongoUp(env: InfraEnv, p: InfraPaths, log: Log): Promise<MongoUp> {
  const uri = localMongoUri(MONGO_HOST, env.mongoPort);
  const running = mongoProcess(p);
  if ((await mongoHealth(uri, 2000, true)) === undefined) {
    return running ? { uri, started: false, external: false, pid: running.pid, impl: running.impl } : { uri, started: false, external: true };
  }
  if (running) {
    log(`mongo: ${running.impl} pid ${running.pid} is running but not healthy yet, waiting`);
    await waitMongoHealthy(env, p, running.pid, running.logFile, undefined, log);
    return { uri, started: false, external: false, pid: running.pid, impl: running.impl };
  }
  if (!(await portFree(MONGO_HOST, env.mongoPort))) {
    throw new Error(
      `port ${MONGO_HOST}:${env.mongoPort} is taken by a process that does not answer a MongoDB ping; ` +
        'stop it or choose another port with METRIVO_MONGO_PORT=...',
    );
  }

  const mongod = which('mongod');
  let cmd: string;
  let args: string[];
  let impl: MongoImpl;
  let logFile: string;
  let pidFile: string;
  let cwd: string;
  if (mongod) {
    impl = 'mongod';
    fs.mkdirSync(p.mongo.dataDir, { recursive: true });
    cmd = mongod;
    args = mongodArgs({ host: MONGO_HOST, port: env.mongoPort, dataDir: p.mongo.dataDir });
    logFile = p.mongo.logFile;
    pidFile = p.mongo.pidFile;
    cwd = p.mongo.dir;
  } else {
    impl = 'ferretdb';
    await ensureFerretdb(p, log);
    fs.mkdirSync(p.ferretdb.dataDir, { recursive: true });
    fs.mkdirSync(p.ferretdb.stateDir, { recursive: true });
    cmd = p.ferretdb.binary;
    args = ferretdbArgs({ host: MONGO_HOST, port: env.mongoPort, dataDir: p.ferretdb.dataDir, stateDir: p.ferretdb.stateDir });
    logFile = p.ferretdb.logFile;
    pidFile = p.ferretdb.pidFile;
    cwd = p.ferretdb.dir;
  }
  rotateLog(logFile);
  const t0 = Date.now();
  const proc = spawnDetached(cmd, args, { cwd, logFile, env: { ...process.env, DO_NOT_TRACK: '1' } });
  writePidFile(pidFile, proc.pid);
  log(`mongo: started ${impl} pid ${proc.pid} on ${uri} (log ${path.relative(p.repoRoot, logFile)})`);
  try {
    await waitMongoHealthy(env, p, proc.pid, logFile, proc.exited, log);
  } catch (e) {
    await terminate(proc.pid, 10_000).catch(() => undefined);
    removeFile(pidFile);
    throw e;
  }
  log(`mongo: healthy after ${formatDuration(Date.now() - t0)}`);
  return { uri, started: true, external: false, pid: proc.pid, impl };
}

async function waitMongoHealthy(
  env: InfraEnv,
  p: InfraPaths,
  pid: number,
  logFile: string,
  exited: (() => { code: number | null; signal: NodeJS.Signals | null } | undefined) | undefined,
  log: Log,
): Promise<void> {
  const uri = localMongoUri(MONGO_HOST, env.mongoPort);
  const until = Date.now() + env.startTimeoutMs;
  let nextNote = Date.now() + 15_000;
  for (;;) {
    const ended = await endedDuringStartup(exited, () => mongoProcess(p)?.pid === pid);
    if (ended !== undefined) throw new Error(`MongoDB server (pid ${pid}) exited during startup${ended}.\n${tailBlock(logFile, 40)}`);
    const err = await mongoHealth(uri, 2000, true);
    if (err === undefined) return;
    if (Date.now() >= until) {
      throw new Error(
        `MongoDB server (pid ${pid}) does not answer a ping on ${uri} after ${formatDuration(env.startTimeoutMs)} ` +
          `(last error: ${err}; raise METRIVO_INFRA_START_TIMEOUT_MS on a slow machine).\n${tailBlock(logFile, 40)}`,
      );
    }
    if (Date.now() >= nextNote) {
      log(`mongo: still waiting (${err})`);
      nextNote = Date.now() + 15_000;
    }
    await sleep(300);
  }
}

/**
 * Builds .local/bin/ferretdb once.
 *
 * `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2` compiles, but the binary panics at
 * start ("Invalid build/version/version.txt file content"): the release expects a generated
 * build/version/version.txt that the module zip does not contain. So: download the module with the
 * Go toolchain (module proxy), copy it, add version.txt/commit.txt, apply FERRETDB_PATCHES, `go build`.
 */
export async function ensureFerretdb(p: InfraPaths, log: Log): Promise<void> {
  try {
    if (fs.readFileSync(p.ferretdb.binaryMarker, 'utf8').trim() === FERRETDB_BUILD_ID && fs.existsSync(p.ferretdb.binary)) return;
  } catch {
    /* not built yet */
  }
  const go = requireTool(
    'go',
    `build FerretDB ${FERRETDB_VERSION} (the MongoDB-compatible server used when neither MONGODB_URI nor mongod is available)`,
    'Install Go 1.24+ (https://go.dev/dl), or put mongod on PATH, or set MONGODB_URI.',
  );
  const buildLog = p.ferretdb.buildLogFile;
  fs.mkdirSync(p.ferretdb.dir, { recursive: true });
  fs.mkdirSync(p.binDir, { recursive: true });
  fs.writeFileSync(buildLog, '');
  log(`mongo: no MONGODB_URI and no mongod on PATH: building FerretDB ${FERRETDB_VERSION} with Go (first time only, takes a few minutes; log ${path.relative(p.repoRoot, buildLog)})`);
  const t0 = Date.now();
  const goEnv: NodeJS.ProcessEnv = { ...process.env, GOWORK: 'off', GOFLAGS: '-mod=readonly' };

  // 1. module source from the module proxy (cached in GOMODCACHE)
  const json = await runCapture(go, ['mod', 'download', '-json', `${FERRETDB_MODULE}@${FERRETDB_VERSION}`], {
    cwd: p.ferretdb.dir,
    env: { ...goEnv, GOFLAGS: '' },
    what: `Downloading ${FERRETDB_MODULE}@${FERRETDB_VERSION}`,
  });
  fs.appendFileSync(buildLog, `go mod download:\n${json}\n`);
  const info = JSON.parse(json) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download gave no source directory${info.Error ? `: ${info.Error}` : ''}`);
  log(`mongo: FerretDB source downloaded in ${formatDuration(Date.now() - t0)}; compiling`);

  // 2. writable copy + generated version files + patches
  const src = p.ferretdb.srcDir;
  makeWritable(src);
  fs.rmSync(src, { recursive: true, force: true });
  fs.cpSync(info.Dir, src, { recursive: true });
  makeWritable(src);
  fs.writeFileSync(path.join(src, 'build', 'version', 'version.txt'), `${FERRETDB_VERSION}\n`);
  fs.writeFileSync(path.join(src, 'build', 'version', 'commit.txt'), `${FERRETDB_COMMIT}\n`);
  fs.writeFileSync(path.join(src, 'build', 'version', 'package.txt'), 'metrivo-local\n');
  for (const patch of FERRETDB_PATCHES) {
    const file = path.join(src, patch.file);
    fs.writeFileSync(file, applySourcePatch(fs.readFileSync(file, 'utf8'), patch));
    fs.appendFileSync(buildLog, `patched ${patch.file}: ${patch.why}\n`);
  }

  // 3. compile (pure Go SQLite: no C toolchain needed)
  const tmpBin = `${p.ferretdb.binary}.tmp-${process.pid}`;
  const t1 = Date.now();
  await runToLog(go, ['build', '-buildvcs=false', '-o', tmpBin, './cmd/ferretdb'], { cwd: src, env: goEnv, logFile: buildLog, append: true, what: `Building FerretDB ${FERRETDB_VERSION}` });
  const version = await runCapture(tmpBin, ['--version'], { cwd: src, what: 'ferretdb --version' });
  if (!version.includes(`version: ${FERRETDB_VERSION}`)) throw new Error(`built FerretDB reports an unexpected version:\n${version}`);
  fs.renameSync(tmpBin, p.ferretdb.binary);
  fs.writeFileSync(p.ferretdb.binaryMarker, `${FERRETDB_BUILD_ID}\n`);
  makeWritable(src);
  fs.rmSync(src, { recursive: true, force: true });
  log(`mongo: FerretDB built in ${formatDuration(Date.now() - t0)} (compile ${formatDuration(Date.now() - t1)}): ${path.relative(p.repoRoot, p.ferretdb.binary)}`);
}

/** The module cache is read-only (dirs 0555): make a copy of it writable/removable. */
function makeWritable(dir: string): void {
  if (!fs.existsSync(dir)) return;
  const walk = (d: string) => {
    fs.chmodSync(d, 0o755);
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.isFile()) fs.chmodSync(full, 0o644);
    }
  };
  walk(dir);
}

/** Stops the mongod/FerretDB this launcher started (pid files). */
export async function mongoDown(env: InfraEnv, p: InfraPaths, log: Log): Promise<boolean> {
  const proc = mongoProcess(p);
  if (!proc) return false;
  log(`mongo: stopping ${proc.impl} pid ${proc.pid}`);
  const t0 = Date.now();
  const how = await terminate(proc.pid, proc.impl === 'mongod' ? 30_000 : 10_000);
  removeFile(proc.pidFile);
  if (!(await waitPortFree(MONGO_HOST, env.mongoPort, 15_000))) log(`mongo: warning: port ${env.mongoPort} still busy after the server stopped`);
  log(`mongo: stopped (${how}) in ${formatDuration(Date.now() - t0)}`);
  return true;
}
