#!/usr/bin/env node
// `npm run check:production-build`: replays infra/docker/Dockerfile without Docker and runs what it would ship.
// In a temporary copy of the repository's files: `npm ci`, `turbo run build` for the four apps, `npm prune
// --omit=dev`; then starts each app the way the image does (`node apps/<app>/dist/main.js`, NODE_ENV=production)
// against the local Kafka and MongoDB, waits for /readyz, sends SIGTERM and expects a clean exit (0).
// Catches what `npm test` cannot (it runs from sources with every devDependency installed): a runtime
// dependency declared as a devDependency, a package `exports` entry that points at sources, a dist that does not
// start. Uses a throw-away database and consumer groups, removed afterwards. Needs the local infrastructure
// (`npm run infra:up`) or KAFKA_BROKERS / MONGODB_URI; downloads packages from the npm registry.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';

const { values: opts } = parseArgs({ options: { keep: { type: 'boolean', default: false } } });
const APPS = ['gateway', 'attribution', 'ledger', 'admin'];
const root = new URL('..', import.meta.url).pathname;
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const mongoUri = process.env.MONGODB_URI ?? 'mongodb://127.0.0.1:27017/';
const run = randomBytes(4).toString('hex');
const db = `metrivo_prodcheck_${run}`;
const work = mkdtempSync(join(tmpdir(), 'metrivo-prodcheck-'));
const step = (msg) => console.log(`[prodcheck] ${msg}`);

function sh(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: work, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status})`);
}

/** The Dockerfile's COPY lines: the root manifests, then packages/ and apps/ as tracked (with uncommitted edits). */
function copySources() {
  for (const f of ['package.json', 'package-lock.json', 'turbo.json', 'tsconfig.base.json']) cpSync(join(root, f), join(work, f));
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', 'packages', 'apps'], { cwd: root })
    .toString().split('\0').filter(Boolean);
  for (const f of files) {
    mkdirSync(dirname(join(work, f)), { recursive: true });
    try { cpSync(join(root, f), join(work, f)); } catch (e) { if (e.code !== 'ENOENT') throw e; } // deleted, not committed
  }
}

const freePort = () => new Promise((resolve, reject) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); }).on('error', reject);
});

async function startAndStop(app, port) {
  const env = {
    PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', LOG_LEVEL: 'warn',
    KAFKA_BROKERS: brokers.join(','), MONGODB_URI: mongoUri, MONGODB_DB: db,
    KAFKA_GROUP_ID: `metrivo-prodcheck-${run}-${app}`,
    METRIVO_EMAIL_HASH_KEY: `prodcheck-email-hash-key-${run}`,
    METRIVO_SECRET_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    METRIVO_ADMIN_TOKEN: `prodcheck-admin-token-${randomBytes(16).toString('hex')}`,
    [`${app.toUpperCase()}_PORT`]: String(port),
    // One app with an exporter: the OpenTelemetry SDK is loaded on demand (require in startTelemetry), which only an
    // exporter exercises; `console` prints the few readiness-probe spans and the metrics flushed at shutdown.
    ...(app === 'gateway' ? { METRIVO_OTEL_EXPORTER: 'console' } : {}),
  };
  const child = spawn(process.execPath, [`apps/${app}/dist/main.js`], { cwd: work, env, stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let early = null;
  void exited.then((r) => { early = r; });
  const started = Date.now();
  for (;;) {
    if (early) throw new Error(`${app} exited before it was ready (${JSON.stringify(early)})`);
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() - started > 90_000) { child.kill('SIGKILL'); throw new Error(`${app} not ready after 90 s`); }
    await new Promise((r) => setTimeout(r, 250));
  }
  const readyMs = Date.now() - started;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
  const { code, signal } = await exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${app} did not exit cleanly on SIGTERM (code ${code}, signal ${signal})`);
  step(`${app}: ready in ${readyMs} ms from dist, stopped cleanly on SIGTERM`);
}

async function cleanUp() {
  const mongo = new MongoClient(mongoUri, { serverSelectionTimeoutMS: 5000 });
  await mongo.connect().then(() => mongo.db(db).dropDatabase()).catch((e) => step(`could not drop ${db}: ${e.message}`)).finally(() => mongo.close());
  const admin = new Kafka({ brokers, clientId: 'metrivo-prodcheck', logLevel: logLevel.NOTHING }).admin();
  await admin.connect()
    .then(() => admin.deleteGroups(['attribution', 'ledger'].map((a) => `metrivo-prodcheck-${run}-${a}`)))
    .catch((e) => step(`could not delete the consumer groups: ${e.message}`))
    .finally(() => admin.disconnect());
  if (!opts.keep) rmSync(work, { recursive: true, force: true });
}

try {
  step(`building in ${work} as the Dockerfile does`);
  copySources();
  sh('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error']);
  sh('npx', ['turbo', 'run', 'build', '--output-logs=errors-only', ...APPS.map((a) => `--filter=@metrivo/${a}...`)]);
  sh('npm', ['prune', '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error']);
  for (const app of APPS) await startAndStop(app, await freePort());
  step('OK: every app starts from its production build without devDependencies');
} catch (err) {
  console.error(`[prodcheck] FAILED: ${err.message}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}
