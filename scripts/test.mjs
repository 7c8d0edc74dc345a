#!/usr/bin/env node
// `npm test`: the one command CI runs (.ci/run). Typecheck + lint + build every workspace, then the
// unit tests, then the integration tests against a real Kafka broker and MongoDB server. The jest
// integration global setup starts whatever infrastructure is not already running and stops only
// what it started, so a developer's running `npm run infra:up` is left alone.
import { spawnSync } from 'node:child_process';

const steps = [
  ['typecheck, lint, build', 'npx', ['turbo', 'run', 'typecheck', 'lint', 'build', '--continue', '--output-logs=errors-only']],
  ['typecheck and lint of infra, jest, scripts, bench', 'npm', ['run', '-s', 'typecheck:root', '&&', 'npm', 'run', '-s', 'lint:root'], { shell: true }],
  ['unit tests', 'npx', ['jest', '--selectProjects', 'unit', '--maxWorkers=2']],
  ['browser for the admin UI tests', 'node', ['scripts/ensure-chromium.mjs']],
  ['integration tests', 'npx', ['jest', '--selectProjects', 'integration', '--runInBand']],
];
const extra = process.argv.slice(2);
for (const [name, cmd, args, opts = {}] of steps) {
  const started = Date.now();
  console.log(`\n▶ ${name}`);
  const r = spawnSync(cmd, [...args, ...(name.endsWith('tests') ? extra : [])], { ...opts, stdio: 'inherit', env: { ...process.env, FORCE_COLOR: process.env.CI ? '0' : '1' } });
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (r.status !== 0) {
    console.error(`\n✖ ${name} failed after ${secs}s`);
    process.exit(r.status ?? 1);
  }
  console.log(`✔ ${name} (${secs}s)`);
}
