#!/usr/bin/env node
// Makes sure headless Chromium is available for the admin browser tests (apps/admin/src/browser.int.test.ts),
// which drive the Debian `chromium` package through playwright-core. Idempotent: does nothing when
// /usr/bin/chromium (or METRIVO_CHROMIUM_PATH) exists; otherwise installs the package with apt-get when
// running as root, and explains what to do when it cannot.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const path = process.env.METRIVO_CHROMIUM_PATH || '/usr/bin/chromium';
if (existsSync(path)) {
  console.log(`chromium: ${path} is present`);
  process.exit(0);
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
if (!isRoot || !hasApt) {
  console.error(
    `chromium: ${path} is missing and cannot be installed automatically (${!hasApt ? 'no apt-get' : 'not root'}).\n` +
      '  Debian/Ubuntu: sudo apt-get update && sudo apt-get install -y chromium\n' +
      '  Elsewhere: install Chromium and set METRIVO_CHROMIUM_PATH to its executable.',
  );
  process.exit(1);
}

const run = (args) => {
  console.log(`chromium: apt-get ${args.join(' ')}`);
  const r = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) {
    console.error(`chromium: apt-get ${args[0]} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
};
run(['update']);
run(['install', '-y', '--no-install-recommends', 'chromium']);
if (!existsSync(path)) {
  console.error(`chromium: installed, but ${path} still does not exist`);
  process.exit(1);
}
console.log(`chromium: installed ${path}`);
