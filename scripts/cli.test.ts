import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// The operator scripts run as `npm run <script>` does (tsx with the source condition), with bad arguments: a usage
// error is exit 2 with the problem and the usage on stderr, never a stack trace — checked before anything connects
// to Kafka or an app.
const root = join(__dirname, '..');

function run(script: string, args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=metrivo-source', join(__dirname, script), ...args], {
    cwd: root,
    // Nothing may be reached: a script that got past its argument checks fails fast instead of finding a broker.
    env: { ...process.env, KAFKA_BROKERS: '127.0.0.1:1', METRIVO_EMAIL_HASH_KEY: '', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const STACK_LINE = /^\s+at /m;

describe.each([
  ['dlq.ts', ['list', 'metrivo.payments.v1', '--bogus'], "Unknown option '--bogus'"],
  ['dlq.ts', [], 'no command given'],
  ['dlq.ts', ['list'], 'list needs a <topic>'],
  ['dlq.ts', ['purge', 'metrivo.payments.v1'], 'the command must be one of list, redrive; got "purge"'],
  ['dlq.ts', ['list', 'metrivo.payment.v1'], '<topic> must be one of metrivo.'],
  ['dlq.ts', ['redrive', 'metrivo.payments.v1', '--reason', 'bogus'], '--reason must be one of handler_error, invalid_json, schema_validation; got "bogus"'],
  ['dlq.ts', ['list', 'metrivo.payments.v1', '--limit', 'abc'], '--limit must be a positive whole number, got "abc"'],
  ['dlq.ts', ['list', 'metrivo.payments.v1', '--limit', '0'], '--limit must be a positive whole number, got "0"'],
  ['dlq.ts', ['list', 'metrivo.payments.v1', '--limit'], "Option '--limit <value>' argument missing"],
  ['dlq.ts', ['redrive', 'metrivo.revenue.attributed.v1'], 'metrivo.revenue.attributed.v1 is compacted: a re-driven record is appended after any newer record with the same key'],
  ['dlq.ts', ['redrive', 'metrivo.revenue.attributed.v1', '--dry-run'], 'npm run reconcile -w @metrivo/ledger'],
  ['dlq.ts', ['redrive', 'metrivo.revenue.attributed.v1', '--reason', 'schema_validation'], 'pass --allow-compacted'],
  ['skip-backlog.ts', ['--bogus'], "Unknown option '--bogus'"],
  ['skip-backlog.ts', ['metrivo-ledger'], 'Unexpected argument'],
  ['skip-backlog.ts', ['--group', 'someone-else'], 'no topics known for group "someone-else": name them with --topic'],
  ['simulate.ts', ['--seed', 'abc'], '--seed must be a whole number, got "abc"'],
  ['simulate.ts', ['--visitors', '0'], '--visitors must be a positive whole number, got "0"'],
  ['simulate.ts', ['--rate', ''], '--rate must be a positive number, got ""'],
  ['simulate.ts', ['--bogus'], "Unknown option '--bogus'"],
  ['demo.ts', ['--bogus'], "Unknown option '--bogus'"],
  ['demo.ts', ['w_demo'], 'Unexpected argument'],
])('%s %j', (script, args, problem) => {
  it('is a usage error: exit 2, the problem and the usage on stderr, no stack trace', () => {
    const result = run(script, args);
    expect(result.stderr).toContain(problem);
    expect(result.stderr).toContain('usage:');
    expect(result.stderr).not.toMatch(STACK_LINE);
    expect(result.status).toBe(2);
  });
});

describe('scripts', () => {
  it.each(['dlq.ts', 'skip-backlog.ts', 'simulate.ts', 'demo.ts'])('%s --help prints the usage and exits 0', (script) => {
    const result = run(script, ['--help']);
    expect(result.stdout).toMatch(/^usage: npm run /);
    expect(result.status).toBe(0);
  });

  it('a failure after the arguments (an app unreachable) is one line and exit 1', () => {
    const result = run('demo.ts', ['--admin', 'http://127.0.0.1:1'], { METRIVO_ADMIN_TOKEN: 'token', METRIVO_EMAIL_HASH_KEY: 'demo-cli-test-email-key' });
    expect(result.stderr).toMatch(/^✖ fetch failed\n$/);
    expect(result.status).toBe(1);
  });
});
