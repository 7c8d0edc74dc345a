// The launcher's `mongod` branch (DESIGN "Local infrastructure": mongod when one is on PATH). No real mongod can be
// installed on the development machine or in CI, so a stand-in named `mongod` goes first on PATH: a shell script that
// records the arguments the launcher gave it and then runs the FerretDB build under the name `mongod` (`exec -a`,
// as the launcher recognizes its processes by their command line). What this checks is the launcher's side: that it
// prefers mongod over FerretDB, its arguments and data directory, the pid file, waiting for health, recognizing
// the process on a second `up`, reporting a server that dies during start-up with its log, and stopping it.
import * as fs from 'node:fs';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { MongoClient } from 'mongodb';
import { infraPaths, parseInfraEnv } from './config';
import { mongoDown, mongoProcess, mongoUp } from './mongo';
import { isAlive, portFree } from './proc';

const repoRoot = path.resolve(__dirname, '..', '..');
const ferretdb = infraPaths(repoRoot).ferretdb.binary;
// The FerretDB binary exists whenever this run's global set-up had to start a local MongoDB-wire server (always in
// CI); a run against MONGODB_URI or a real mongod may not have built it.
const withStandIn = fs.existsSync(ferretdb) ? describe : describe.skip;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A `mongod` on PATH: writes its arguments (one per line) to args.txt, then either becomes the server or fails. */
function writeStandIn(binDir: string, behaviour: 'serve' | 'fail'): string {
  const script = path.join(binDir, 'mongod');
  const body = behaviour === 'serve'
    ? [
        'while [ $# -gt 0 ]; do',
        '  case "$1" in',
        '    --dbpath) dbpath="$2"; shift 2;;',
        '    --bind_ip) host="$2"; shift 2;;',
        '    --port) port="$2"; shift 2;;',
        '    *) echo "unexpected argument $1" >&2; exit 64;;',
        '  esac',
        'done',
        '[ -d "$dbpath" ] || { echo "dbpath $dbpath does not exist" >&2; exit 65; }',
        `exec -a mongod ${JSON.stringify(ferretdb)} --handler=sqlite "--sqlite-url=file:$dbpath/" "--state-dir=$dbpath" ` +
          '"--listen-addr=$host:$port" --debug-addr=- --telemetry=disable --log-level=warn',
      ]
    : ['echo "stand-in mongod: exception in initAndListen: DBPathInUse, terminating" >&2', 'exit 100'];
  fs.writeFileSync(script, ['#!/usr/bin/env bash', `printf '%s\\n' "$@" > ${JSON.stringify(path.join(binDir, 'args.txt'))}`, ...body, ''].join('\n'), { mode: 0o755 });
  return script;
}

withStandIn('local infrastructure: the mongod path (a stand-in mongod on PATH)', () => {
  let tmp: string;
  let binDir: string;
  const savedPath = process.env.PATH;

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'metrivo-mongod-'));
    binDir = path.join(tmp, 'bin');
    fs.mkdirSync(binDir);
    process.env.PATH = `${binDir}${path.delimiter}${savedPath ?? ''}`;
  });

  afterEach(() => {
    process.env.PATH = savedPath;
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('starts mongod (not FerretDB) with its data directory, recognizes it on a second up, and stops it', async () => {
    writeStandIn(binDir, 'serve');
    const port = await freePort();
    const env = parseInfraEnv({ METRIVO_MONGO_PORT: String(port) });
    const paths = infraPaths(tmp);
    const lines: string[] = [];
    const log = (line: string) => lines.push(line);

    const up = await mongoUp(env, paths, log);
    try {
      expect(up).toMatchObject({ uri: `mongodb://127.0.0.1:${port}/`, started: true, external: false, impl: 'mongod' });
      const args = fs.readFileSync(path.join(binDir, 'args.txt'), 'utf8').trim().split('\n');
      expect(args).toEqual(['--dbpath', paths.mongo.dataDir, '--bind_ip', '127.0.0.1', '--port', String(port)]);
      expect(fs.readFileSync(paths.mongo.pidFile, 'utf8').trim()).toBe(String(up.pid));
      expect(mongoProcess(paths)).toMatchObject({ pid: up.pid, impl: 'mongod', logFile: paths.mongo.logFile });
      expect(fs.existsSync(paths.ferretdb.dir)).toBe(false); // no FerretDB build or data for this root
      expect(lines.join('\n')).toContain(`mongo: started mongod pid ${up.pid}`);

      const client = new MongoClient(up.uri, { directConnection: true, serverSelectionTimeoutMS: 10_000 });
      try {
        await client.db('launcher_mongod').collection('c').insertOne({ _id: 'x' } as never);
        expect(await client.db('launcher_mongod').collection('c').countDocuments()).toBe(1);
      } finally {
        await client.close();
      }

      // A second `up` finds the running mongod by its pid file and command line and starts nothing.
      expect(await mongoUp(env, paths, log)).toEqual({ uri: up.uri, started: false, external: false, pid: up.pid, impl: 'mongod' });
    } finally {
      expect(await mongoDown(env, paths, log)).toBe(true);
    }
    expect(fs.existsSync(paths.mongo.pidFile)).toBe(false);
    expect(await portFree('127.0.0.1', port)).toBe(true);
    // Gone: not `kill -0`, which also succeeds for a zombie that this (its parent) process has not reaped yet.
    expect(isAlive(up.pid!)).toBe(false);
    expect(await mongoDown(env, paths, log)).toBe(false);
  }, 60_000);

  it('reports a mongod that exits during start-up with the tail of its log, and leaves no pid file', async () => {
    writeStandIn(binDir, 'fail');
    const port = await freePort();
    const env = parseInfraEnv({ METRIVO_MONGO_PORT: String(port) });
    const paths = infraPaths(tmp);

    const failure = mongoUp(env, paths, () => undefined);
    await expect(failure).rejects.toThrow(/MongoDB server \(pid \d+\) exited during startup with 100/);
    await expect(failure).rejects.toThrow(/DBPathInUse/);
    expect(fs.existsSync(paths.mongo.pidFile)).toBe(false);
    expect(mongoProcess(paths)).toBeUndefined();
  }, 60_000);
});
