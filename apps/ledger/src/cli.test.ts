import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// The operator CLI as `npm run reconcile -w @metrivo/ledger` runs it, against nothing reachable.
function cli(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=metrivo-source', join(__dirname, 'cli.ts'), ...args], {
    cwd: join(__dirname, '..'),
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, stderr: result.stderr, stdout: result.stdout };
}

describe('ledger cli', () => {
  it('bad usage: exit 2 with the problem and the usage, no stack trace', () => {
    const result = cli(['reconcile', '--bogus']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("Unknown option '--bogus'");
    expect(result.stderr).toContain('usage:');
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  it.each([
    [['rebuild', '--db', 'x', '--timeout-s', 'soon'], /--timeout-s must be a positive number/],
    [['reconcile', '--resume'], /--resume and --timeout-s are for rebuild/],
    [['rebuild', '--db', 'x', '--fail-on-lagging'], /--fail-on-lagging and --group are for reconcile/],
    [['rollups', 'check', '--website', 'w_1', '--group', 'g'], /--fail-on-lagging and --group are for reconcile/],
  ])('refuses %j before connecting (exit 2)', (args, message) => {
    const result = cli(args as string[], { MONGODB_URI: 'mongodb://127.0.0.1:1/' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('--help prints the usage and exits 0', () => {
    const result = cli(['rebuild', '--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('ledger reconcile');
  });

  it('MongoDB unreachable: exit 1 with one line naming it, no stack trace', () => {
    // Port 1: refused at once; the client still tries for its 5 s server selection timeout.
    const result = cli(['reconcile'], { MONGODB_URI: 'mongodb://127.0.0.1:1/' });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('ledger reconcile failed: MongoDB (MONGODB_URI): connect ECONNREFUSED 127.0.0.1:1\n');
  });
});
